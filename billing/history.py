"""Reading what `statement_for` needs, for many subscriptions at once.

A statement depends on three histories: the deployment's states (its
`DeploymentEvent`s), the plan versions in force (the subscription's start and
its `PlanChange`s) and the add-on lines (`attached_at` to `detached_at`).
`histories_for` reads them for a whole chunk of subscriptions in a fixed
number of queries (one per history, plus the plan versions once per run), so
the clock's cost grows with the rows it bills, never with round trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from arcadia_cloud.db import fetch_rows
from billing.statements import AddonTerm, BillingHistory, PlanTerm, StateChange
from catalog.models import PlanVersion
from deployments.models import DeploymentEvent
from subscriptions.models import PlanChange, SubscriptionAddon


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """The columns of a subscription the clock and the preview read."""

    id: int
    deployment_id: UUID
    tenant_id: UUID
    plan_version_id: int
    status: str
    current_period_start: date
    current_period_end: date
    created_at: datetime
    trial_ends_at: datetime | None = None
    trial_warned_at: datetime | None = None
    #: the deployment's state and override, as locked
    state: str = ""
    billing_action_suspended: bool = False


class PlanVersions:
    """Plan version id -> (plan code, name, version, price, currency), read once
    and kept for a run (the table is small and published terms never change)."""

    def __init__(self) -> None:
        self._terms: dict[int, tuple[str, str, int, int, str]] = {}

    def get(self, version_id: int) -> tuple[str, str, int, int, str]:
        if version_id not in self._terms:
            self.load()
        return self._terms[version_id]

    def load(self) -> None:
        rows = fetch_rows(
            PlanVersion.objects.order_by().values_list(
                "id", "plan__code", "plan__name", "version", "price_cents", "currency"
            )
        )
        self._terms = {row[0]: row[1:] for row in rows}


def any_of(rows, column: str, values: list):
    """`rows` whose `column` (a plain column of the queryset's own table) is
    one of `values`. On PostgreSQL one array parameter (`= ANY(%s)`, bound in
    binary by `fetch_rows`) instead of `IN (%s, %s, ...)`: for a chunk of a
    thousand ids, building, quoting and parsing a thousand placeholders cost
    more than the query. Elsewhere, `__in`."""
    if connection.vendor != "postgresql":
        return rows.filter(**{f"{column}__in": values})
    model = rows.model
    field = model._meta.get_field(column.removesuffix("_id"))
    # a foreign key's type is its target's (bigint, uuid)
    array = f"{field.db_type(connection)}[]"
    quote = connection.ops.quote_name
    where = f"{quote(model._meta.db_table)}.{quote(field.column)} = ANY(%s::{array})"
    return rows.filter(RawSQL(where, [list(values)], output_field=BooleanField()))


def histories_for(
    subscriptions: Iterable[SubscriptionRow],
    *,
    versions: PlanVersions | None = None,
) -> dict[int, BillingHistory]:
    """subscription id -> its BillingHistory, in four queries at most whatever
    the number of subscriptions."""
    rows = list(subscriptions)
    if not rows:
        return {}
    versions = versions or PlanVersions()
    deployment_ids = [row.deployment_id for row in rows]
    subscription_ids = [row.id for row in rows]

    states: dict[UUID, list[StateChange]] = defaultdict(list)
    for deployment_id, occurred_at, to_state in fetch_rows(
        any_of(DeploymentEvent.objects, "deployment_id", deployment_ids)
        .order_by("deployment_id", "id")
        .values_list("deployment_id", "occurred_at", "to_state")
    ):
        states[deployment_id].append(StateChange(occurred_at, to_state))

    changes: dict[int, list[tuple[datetime, int, int]]] = defaultdict(list)
    for subscription_id, changed_at, from_id, to_id in fetch_rows(
        any_of(PlanChange.objects, "subscription_id", subscription_ids)
        .order_by("subscription_id", "id")
        .values_list("subscription_id", "changed_at", "from_version_id", "to_version_id")
    ):
        changes[subscription_id].append((changed_at, from_id, to_id))

    addons: dict[int, list[AddonTerm]] = defaultdict(list)
    for line in fetch_rows(
        any_of(SubscriptionAddon.objects, "subscription_id", subscription_ids)
        .order_by("subscription_id", "id")
        .values_list(
            "subscription_id",
            "id",
            "code",
            "qty",
            "resource_kind",
            "price_cents",
            "currency",
            "attached_at",
            "detached_at",
        )
    ):
        subscription_id, line_id, code, qty, kind, price, currency, attached, detached = line
        addons[subscription_id].append(
            AddonTerm(line_id, code, f"{code} ({qty} {kind})", price, currency, attached, detached)
        )

    histories = {}
    for row in rows:
        plan_changes = changes.get(row.id, ())
        first_version = plan_changes[0][1] if plan_changes else row.plan_version_id
        terms = [_plan_term(row.created_at, first_version, versions)]
        terms.extend(_plan_term(at, to_id, versions) for at, _, to_id in plan_changes)
        histories[row.id] = BillingHistory(
            subscription_id=row.id,
            deployment_id=row.deployment_id,
            currency=terms[-1].currency,
            starts_at=row.created_at,
            states=tuple(states.get(row.deployment_id, ())),
            plans=tuple(terms),
            addons=tuple(addons.get(row.id, ())),
        )
    return histories


def _plan_term(since: datetime, version_id: int, versions: PlanVersions) -> PlanTerm:
    code, name, number, price, currency = versions.get(version_id)
    return PlanTerm(since, version_id, code, number, price, currency, f"{name} v{number}")
