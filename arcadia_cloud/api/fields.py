"""Input fields with strict JSON types: every input serializer of the API builds
on these, never on DRF's own.

DRF's fields are lenient for form data's sake: CharField turns 12 into "12"
and trims whitespace, IntegerField takes "1" and 1.0, ChoiceField matches 1
against "1", UUIDField takes an integer, RegexField's `$` lets a trailing
newline through. A JSON body has real types, so here a value of the wrong JSON
type is refused (not coerced) and a string is kept exactly as sent.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

MUST_BE_STRING = "Must be a string."
MUST_BE_INTEGER = "Must be an integer."


class CharField(serializers.CharField):
    """A JSON string, stored as sent (no trimming)."""

    default_error_messages = {"invalid": MUST_BE_STRING}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class RegexField(CharField):
    """A JSON string matching `regex` in full: the pattern's `$` does not let a
    trailing newline through (Python's `$` also matches before one)."""

    default_error_messages = {"invalid_pattern": "This value does not match the required pattern."}

    def __init__(self, regex: str, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(_to_the_end(regex), message=self.error_messages["invalid_pattern"])
        )


def _to_the_end(regex: str) -> re.Pattern:
    """`regex` anchored at the very end: a final `$` becomes `\\Z` (which
    drf-spectacular publishes as `$` again, the ECMA anchor)."""
    if regex.endswith("$") and not regex.endswith(r"\$"):
        return re.compile(regex[:-1] + r"\Z")
    return re.compile(rf"(?:{regex})\Z")


class ChoiceField(serializers.ChoiceField):
    """One of the choices, as a JSON string (1 does not match "1")."""

    default_error_messages = {"invalid": MUST_BE_STRING}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class IntegerField(serializers.IntegerField):
    """A JSON integer: not "1", not 1.0, not true."""

    default_error_messages = {"invalid": MUST_BE_INTEGER}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class BooleanField(serializers.BooleanField):
    """A JSON boolean: not "true", not 1."""

    default_error_messages = {"invalid": "Must be a boolean."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class UUIDField(serializers.UUIDField):
    """A UUID as a JSON string (DRF would also read an integer as one)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class RegionField(CharField):
    """One of `settings.ARCADIA_REGIONS`, read when the value is checked (the
    OpenAPI document publishes the same list as an enum: see api/schema.py)."""

    default_error_messages = {"unknown_region": "Unknown region; one of: {regions}."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in settings.ARCADIA_REGIONS:
            self.fail("unknown_region", regions=", ".join(settings.ARCADIA_REGIONS))
        return value
