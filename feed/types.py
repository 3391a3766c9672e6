"""The event types of the feed (SPEC §7), and the `types` filter's patterns.

`EVENT_TYPES` is the one list: recording refuses anything else, the database
refuses anything else (a check constraint generated from this tuple), and
the read filter's patterns are expanded against it.
"""

from __future__ import annotations

import re

EVENT_TYPES: tuple[str, ...] = (
    "deployment.created",
    "deployment.transitioned",
    "deployment.override_changed",
    "subscription.created",
    "subscription.addon_attached",
    "subscription.addon_detached",
    "subscription.plan_changed",
    "subscription.change_scheduled",
    "subscription.change_withdrawn",
    "subscription.period_closed",
    "subscription.trial_will_end",
    "resource.created",
    "resource.updated",
    "resource.status_changed",
    "resource.deleted",
    # A webhook endpoint switched off by the delivery worker (it answered 410,
    # or failed continuously for 3 days): its owner's other consumers learn it.
    "webhook_endpoint.disabled",
)

#: The longest type name the column holds.
TYPE_MAX_LENGTH = 64

# A pattern is an exact type, or a prefix of types followed by one `*`
# (`resource.*`, `subscription.addon_*`, `*` alone for every type).
_PATTERN = re.compile(r"[a-z_.]*\*?")


class UnknownEventType(ValueError):
    """Recording an event whose type is not in `EVENT_TYPES` (a programming error)."""


class BadTypePattern(ValueError):
    """A `types` filter entry that is malformed or matches no event type."""


def check_type(type_: str) -> str:
    if type_ not in EVENT_TYPES:
        raise UnknownEventType(f"unknown event type {type_!r}; one of: {', '.join(EVENT_TYPES)}")
    return type_


def expand_patterns(patterns: list[str]) -> list[str]:
    """The exact types the patterns select, in `EVENT_TYPES` order.

    Every entry must select at least one type: an unknown type or a prefix
    that matches nothing is the caller's mistake (a typo would otherwise be a
    filter that silently never matches), as is any `*` not at the end.
    """
    selected: set[str] = set()
    for pattern in patterns:
        if not _PATTERN.fullmatch(pattern) or pattern == "":
            raise BadTypePattern(
                f"{pattern!r} is not an event type or a prefix ending in '*' (e.g. 'resource.*')."
            )
        if pattern.endswith("*"):
            matches = {t for t in EVENT_TYPES if t.startswith(pattern[:-1])}
        else:
            matches = {pattern} & set(EVENT_TYPES)
        if not matches:
            raise BadTypePattern(f"{pattern!r} matches no event type.")
        selected |= matches
    return [t for t in EVENT_TYPES if t in selected]


def _trie_regex(words: list[str]) -> str:
    """A regex matching exactly the prefixes of `words` (the empty one too)."""
    branches: dict[str, list[str]] = {}
    for word in words:
        if word:
            branches.setdefault(word[0], []).append(word[1:])
    if not branches:
        return ""
    parts = [re.escape(first) + _trie_regex(rests) for first, rests in sorted(branches.items())]
    return "(?:" + "|".join(parts) + ")?"


_ENTRY = (
    "(?:"
    + "|".join(re.escape(t) for t in EVENT_TYPES)
    + "|"
    + _trie_regex(list(EVENT_TYPES))
    + r"\*)"
)
#: What the `types` filter accepts, for the OpenAPI document: comma-separated
#: exact types and prefixes of types followed by `*`.
TYPES_PATTERN = rf"^{_ENTRY}(?:,{_ENTRY})*$"
#: One such entry alone (a JSON list of patterns, e.g. a webhook endpoint's `types`).
TYPE_PATTERN = rf"^{_ENTRY}$"
