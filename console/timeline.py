"""One timeline per deployment (and per tenant), read from the events feed.

Every audit fact of a deployment is one feed event (transitions, override
changes, subscriptions and plan changes, scheduled and withdrawn changes,
closed periods with their statements, resources), written in the fact's own
transaction; so the feed is the one place a deployment's history is read
from, in the order it committed, in one query per page
(`feed.selectors.latest_events`). This module only turns an event into a row
an operator reads: who, what, why, when, request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from arcadia_cloud.money import format_money
from console.charts import state_badge
from console.dates import utc_text
from deployments.diagram import DEFAULT_COLOUR, state_colour
from deployments.models import Deployment
from feed.selectors import FeedEvent, FeedPage, latest_events

#: Rows per page of a deployment's timeline (older ones: the "Older" link).
PAGE = 50
#: Recent events on a tenant's page.
TENANT_RECENT = 20

SYSTEM_CLOCK = "system:billing_clock"
OVERRIDE_ON = "#a50e0e"
OVERRIDE_OFF = "#137333"
SUBSCRIPTION = "#1a73e8"
STATEMENT = "#6d4c41"
RESOURCE = "#5f6368"


@dataclass(frozen=True)
class TimelineRow:
    position: int
    type: str
    when: datetime
    who: str
    what: SafeString
    why: str
    notes: str
    request_id: str
    colour: str
    deployment_id: UUID | None


@dataclass(frozen=True)
class Timeline:
    rows: list[TimelineRow]
    #: the `before` of the next (older) page, or None when this is the oldest
    older: int | None


def deployment_timeline(
    deployment_id: UUID, *, before: int | None = None, limit: int = PAGE
) -> Timeline:
    """The deployment's events, newest first, one page. One query."""
    return _timeline(latest_events(deployment_id=deployment_id, before=before, limit=limit))


def tenant_recent(tenant_id: UUID, *, limit: int = TENANT_RECENT) -> Timeline:
    """The tenant's newest events, all its deployments together. One query."""
    return _timeline(latest_events(tenant_id=tenant_id, limit=limit))


def fleet_recent(*, limit: int = TENANT_RECENT) -> Timeline:
    """The newest events of every deployment together (the dashboard). One query."""
    return _timeline(latest_events(limit=limit))


def linked(rows: list[TimelineRow]) -> list[dict]:
    """Each row with its deployment's slug, tenant slug and page link (one
    query for all of them; none when no row names a deployment)."""
    ids = {row.deployment_id for row in rows if row.deployment_id}
    names = (
        {
            pk: (slug, tenant)
            for pk, slug, tenant in Deployment.objects.filter(pk__in=ids).values_list(
                "pk", "slug", "tenant__slug"
            )
        }
        if ids
        else {}
    )
    out = []
    for row in rows:
        slug, tenant = names.get(row.deployment_id, ("", ""))
        out.append(
            {
                "row": row,
                "slug": slug,
                "tenant": tenant,
                "url": (
                    reverse("admin:deployments_deployment_change", args=[row.deployment_id])
                    if slug
                    else ""
                ),
            }
        )
    return out


def _timeline(page: FeedPage) -> Timeline:
    return Timeline(
        rows=[row_of(e) for e in page.events],
        older=page.next_position if page.has_more else None,
    )


def _money(minor: Any, currency: Any) -> str:
    try:
        return format_money(int(minor), str(currency))
    except (TypeError, ValueError):
        return f"{minor} {currency}"


def _version(v: dict) -> str:
    return f"{v.get('plan_code')} v{v.get('plan_version')}"


def row_of(event: FeedEvent) -> TimelineRow:
    """What one event says, for people."""
    data = event.data
    who = data.get("actor") or ""
    why = data.get("reason") or ""
    notes = data.get("notes") or ""
    colour = SUBSCRIPTION
    kind = event.type
    if kind in ("deployment.created", "deployment.transitioned"):
        to_state = data.get("to_state") or ""
        colour = state_colour(to_state)
        if kind == "deployment.created":
            what = format_html("Created in {}", state_badge(to_state))
        else:
            what = format_html(
                "{} → {}", state_badge(data.get("from_state") or ""), state_badge(to_state)
            )
    elif kind == "deployment.override_changed":
        on = bool(data.get("billing_action_suspended"))
        colour = OVERRIDE_ON if on else OVERRIDE_OFF
        what = format_html(
            "{}",
            "Billing override on: automated billing actions suspended"
            if on
            else "Billing override off: automated billing actions apply again",
        )
    elif kind == "subscription.created":
        s = data.get("subscription") or {}
        what = format_html(
            "Subscribed to {} ({})", _version(s), _money(s.get("price_cents"), s.get("currency"))
        )
    elif kind in ("subscription.addon_attached", "subscription.addon_detached"):
        line = data.get("addon_line") or {}
        verb = "attached" if kind == "subscription.addon_attached" else "detached"
        what = format_html(
            "Add-on {} {} ({} {}, {})",
            line.get("code"),
            verb,
            line.get("qty"),
            line.get("resource_kind"),
            _money(line.get("price_cents"), line.get("currency")),
        )
    elif kind == "subscription.plan_changed":
        old, new = data.get("from_version") or {}, data.get("to_version") or {}
        what = format_html(
            "Plan changed: {} ({}) → {} ({})",
            _version(old),
            _money(old.get("price_cents"), old.get("currency")),
            _version(new),
            _money(new.get("price_cents"), new.get("currency")),
        )
    elif kind in ("subscription.change_scheduled", "subscription.change_withdrawn"):
        change = data.get("change") or {}
        target = (
            "cancellation"
            if change.get("kind") == "cancel"
            else f"plan change to {change.get('plan_code')} v{change.get('plan_version')}"
        )
        effective = _utc_iso(change.get("effective_at"))
        if kind == "subscription.change_scheduled":
            what = format_html("Scheduled: {} at the period's end ({})", target, effective)
            why = change.get("reason") or why
        else:
            what = format_html("Withdrawn: the scheduled {} ({})", target, effective)
            why = change.get("withdrawn_reason") or why
    elif kind == "subscription.period_closed":
        statement = data.get("statement") or {}
        colour = STATEMENT
        who = who or SYSTEM_CLOCK
        what = format_html(
            "Statement for {} to {} (end excluded): {}",
            statement.get("period_start"),
            statement.get("period_end"),
            _money(statement.get("total_cents"), statement.get("currency")),
        )
    elif kind == "subscription.trial_will_end":
        what = format_html("Trial ends {}", _utc_iso(data.get("trial_ends_at")))
    elif kind.startswith("resource."):
        colour = RESOURCE
        verb = {
            "resource.created": "created",
            "resource.updated": "changed",
            "resource.status_changed": "reported",
            "resource.deleted": "deleted",
        }.get(kind, kind)
        what = format_html(
            "Resource {} ({} {}) {}: wanted {}, observed {}",
            data.get("name"),
            data.get("qty"),
            data.get("kind"),
            verb,
            data.get("desired_state"),
            data.get("observed_state"),
        )
        notes = notes or data.get("status_message") or ""
    else:
        colour = DEFAULT_COLOUR
        what = format_html("{}", kind)
    return TimelineRow(
        position=event.position,
        type=kind,
        when=event.occurred_at,
        who=who,
        what=what,
        why=why,
        notes=notes,
        request_id=event.request_id or data.get("request_id") or "",
        colour=colour,
        deployment_id=event.deployment_id,
    )


def _utc_iso(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return utc_text(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text
