"""Reads of deployments.

The reads an actor makes go through its tenant scope (`deployments_visible_to`,
`get_deployment_visible_to`, `get_deployment_for_show`, `deployment_page`,
`show_reads`, all built on `arcadia_cloud.scope.scope_for`). The reads
further down (`tenant_deployments`, the dashboard counts, the batch
candidates) are for operators and batch commands, who see every tenant; no
API view uses them."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.db import RowModels, hot_cursor
from arcadia_cloud.scope import scope_for
from deployments.models import BillingOverrideChange, Deployment, DeploymentEvent, State
from subscriptions.selectors import SHAPE_PREFETCH

SHOW_EVENTS = 100


def deployments_visible_to(actor: Actor) -> QuerySet[Deployment]:
    return scope_for(actor).filter(Deployment.objects.all())


def get_deployment_visible_to(actor: Actor, deployment_id: UUID | str) -> Deployment | None:
    """The deployment if `actor` may see it; None for foreign and missing alike."""
    return deployments_visible_to(actor).filter(pk=deployment_id).first()


def lock_deployment_visible_to(actor: Actor, deployment_id: UUID | str) -> Deployment:
    """The deployment, its row locked (`SELECT ... FOR UPDATE`) for the
    caller's transaction, if `actor` may see it; DeploymentNotFound for a
    foreign and a missing one alike. Every single-row write on a deployment
    starts here."""
    from deployments.errors import DeploymentNotFound

    deployment = deployments_visible_to(actor).select_for_update().filter(pk=deployment_id).first()
    if deployment is None:
        raise DeploymentNotFound()
    return deployment


def get_deployment_for_show(actor: Actor, deployment_id: UUID | str) -> Deployment | None:
    """Like `get_deployment_visible_to`, with the subscription, its plan version
    and plan joined in the same query and its add-on lines prefetched (the show
    endpoint renders all of them on the API's hottest read)."""
    return (
        deployments_visible_to(actor)
        .select_related("subscription__plan_version__plan")
        .prefetch_related(
            *(
                Prefetch(f"subscription__{p.prefetch_through}", queryset=p.queryset)
                for p in SHAPE_PREFETCH
            )
        )
        .filter(pk=deployment_id)
        .first()
    )


# -- the list endpoint's page --------------------------------------------------------


def deployment_page(
    actor: Actor, conditions: dict[str, object], *, limit: int, offset: int
) -> tuple[int, list[dict]]:
    """The list endpoint's read: how many deployments `actor` may see match
    `conditions` (field name -> value, each an equality), and `limit` of them
    from `offset` in the model's order (newest first), each in the
    deployment's shape as `actor` sees it (`deployments.shapes`).

    On PostgreSQL one statement counts and reads the page, and builds each
    row's shape in SQL (`shapes.shape_columns_sql`): no queryset compiled, no
    model instance built. Elsewhere the ORM."""
    from deployments.shapes import SHAPE_KEYS, deployment_shape, shape_columns_sql

    scope = scope_for(actor)
    if scope.nothing:
        return 0, []
    if connection.vendor != "postgresql":
        queryset = scope.filter(Deployment.objects.filter(**conditions))
        page = queryset[offset : offset + limit]
        return queryset.count(), [deployment_shape(d, actor) for d in page]
    in_scope, tenant = scope.sql("d.tenant_id", "%(scope_tenant_id)s")
    where = [in_scope]
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if tenant:
        params["scope_tenant_id"] = tenant[0]
    for name, value in conditions.items():
        column = Deployment._meta.get_field(name).column
        where.append(f"d.{column} = %(where_{column})s")
        params[f"where_{column}"] = value
    columns, shape_params = shape_columns_sql("d", actor)
    params.update(shape_params)
    filtered = f"{Deployment._meta.db_table} d WHERE {' AND '.join(where)}"
    # One row even when the page is empty: the count, and the page's columns
    # NULL. The shape is computed over the page's rows only (outside the
    # LIMIT), not over every row the filter matches.
    sql = (
        f"SELECT n.total, {columns} FROM (SELECT count(*) AS total FROM {filtered}) n "
        f"LEFT JOIN LATERAL (SELECT * FROM {filtered} ORDER BY {_ORDER_BY} "
        f"LIMIT %(limit)s OFFSET %(offset)s) d ON TRUE ORDER BY {_ORDER_BY}"
    )
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    total = rows[0][0]
    return total, [
        dict(zip(SHAPE_KEYS, row[1:], strict=True)) for row in rows if row[1] is not None
    ]


def _order_by(model, alias: str) -> str:
    """The model's default ordering as SQL over `alias`."""
    terms = []
    for name in model._meta.ordering:
        field = model._meta.get_field(name.lstrip("-"))
        terms.append(f"{alias}.{field.column}{' DESC' if name.startswith('-') else ''}")
    return ", ".join(terms)


_ORDER_BY = _order_by(Deployment, "d")


# -- the show endpoint's reads on fixed SQL (PostgreSQL) -----------------------------


def _show_sql():
    from catalog.models import Plan, PlanVersion
    from subscriptions.models import PendingChange, Subscription, SubscriptionAddon

    q = connection.ops.quote_name
    table = lambda model: q(model._meta.db_table)  # noqa: E731
    main = RowModels((Deployment, "d"), (Subscription, "s"), (PlanVersion, "pv"), (Plan, "p"))
    addons = RowModels((SubscriptionAddon, "a"))
    changes = RowModels((PendingChange, "c"), (PlanVersion, "tv"), (Plan, "tp"))
    events = RowModels((DeploymentEvent, "e"))
    deployment_sql = (
        f"SELECT {main.columns} FROM {table(Deployment)} d "
        f"LEFT OUTER JOIN {table(Subscription)} s ON s.deployment_id = d.id "
        f"LEFT OUTER JOIN {table(PlanVersion)} pv ON pv.id = s.plan_version_id "
        f"LEFT OUTER JOIN {table(Plan)} p ON p.id = pv.plan_id WHERE d.id = %s"
    )
    return {
        "main": main,
        "addons": addons,
        "changes": changes,
        "events": events,
        # `+ AND <the actor's scope>` (`Scope.sql`)
        "deployment": deployment_sql,
        # The subscription's add-on lines and its pending changes, one list:
        # each row is a line ('a') or a change ('c'), the other part's columns
        # NULL, ordered by part and then as each selector orders its rows.
        "lines_sql": (
            # `subscriptions.selectors.addon_lines()`: attached now, in attach order
            f"SELECT 'a' AS part, NULL::timestamptz AS k1, a.id::bigint AS k2, "
            f"{addons.columns}, {_typed_nulls(changes)} FROM {table(SubscriptionAddon)} a "
            "WHERE a.subscription_id = %s AND a.detached_at IS NULL "
            "UNION ALL "
            # `subscriptions.selectors.pending_changes()`: PendingChange.PENDING, soonest first
            f"SELECT 'c', c.effective_at, c.id::bigint, {_typed_nulls(addons)}, "
            f"{changes.columns} FROM {table(PendingChange)} c "
            f"LEFT OUTER JOIN {table(PlanVersion)} tv ON tv.id = c.target_version_id "
            f"LEFT OUTER JOIN {table(Plan)} tp ON tp.id = tv.plan_id "
            "WHERE c.subscription_id = %s AND c.applied_at IS NULL "
            "AND c.withdrawn_at IS NULL AND c.failed_at IS NULL "
            "ORDER BY 1, 2, 3"
        ),
        "lines_split": 3 + len(addons.attnames[0]),
        # `newest_events`: the newest `limit`, newest first (reversed below)
        "events_sql": (
            f"SELECT {events.columns} FROM {table(DeploymentEvent)} e "
            "WHERE e.deployment_id = %s ORDER BY e.id DESC LIMIT %s"
        ),
    }


_SHOW: dict = {}


def _typed_nulls(rows: RowModels) -> str:
    """A NULL of each column's type, for `rows`' columns (the other branch of
    a UNION)."""
    return ", ".join(
        f"NULL::{f.db_type(connection)}"
        for model, _ in rows.parts
        for f in model._meta.concrete_fields
    )


def _prefetched(model, rows: list) -> QuerySet:
    """`rows` as a prefetch result (what `prefetch_related` stores)."""
    queryset = QuerySet(model=model)
    queryset._result_cache = rows
    queryset._prefetch_done = True
    return queryset


#: An event as the show reads it on PostgreSQL: the model's columns as
#: attributes (all `render_event` reads), without a model instance per row
#: (up to SHOW_EVENTS of them, most of the show's cost as instances).
EventRow = namedtuple("EventRow", [f.attname for f in DeploymentEvent._meta.concrete_fields])


def show_reads(actor: Actor, deployment_id: UUID | str):
    """The show endpoint's reads: (deployment, its newest events) with the
    subscription, its plan version and plan, its add-on lines and pending
    changes cached on it exactly as `get_deployment_for_show` and
    `newest_events` leave them; (None, []) outside the actor's scope.

    On PostgreSQL three fixed statements (built once: the deployment with its
    subscription, version and plan; the add-on lines and pending changes as
    one list; the events), rows turned into instances without compiling a
    queryset, the events into `EventRow`s; elsewhere the ORM selectors. (One
    statement gathering all of them was tried: it costs the server about
    twice the separate statements' planning and execution.)"""
    if connection.vendor != "postgresql":
        deployment = get_deployment_for_show(actor, deployment_id)
        if deployment is None:
            return None, []
        return deployment, newest_events(deployment.pk)
    from subscriptions.models import PendingChange, Subscription, SubscriptionAddon

    scope = scope_for(actor)
    if scope.nothing:
        return None, []
    if not _SHOW:
        _SHOW.update(_show_sql())
    in_scope, tenant = scope.sql("d.tenant_id")
    params: list = [Deployment._meta.pk.to_python(deployment_id), *tenant]
    with hot_cursor() as cursor:
        cursor.execute(f"{_SHOW['deployment']} AND {in_scope}", params)
        row = cursor.fetchone()
        if row is None:
            return None, []
        deployment, subscription, version, plan = _SHOW["main"].instances(row)
        Deployment.subscription.related.set_cached_value(deployment, subscription)
        if subscription is not None:
            Subscription.deployment.field.set_cached_value(subscription, deployment)
            Subscription.plan_version.field.set_cached_value(subscription, version)
            type(version).plan.field.set_cached_value(version, plan)
            cursor.execute(_SHOW["lines_sql"], [subscription.pk, subscription.pk])
            split = _SHOW["lines_split"]
            lines, changes = [], []
            for r in cursor.fetchall():
                if r[0] == "a":
                    lines.append(_SHOW["addons"].instances(r[3:split])[0])
                    continue
                change, target, target_plan = _SHOW["changes"].instances(r[split:])
                PendingChange.target_version.field.set_cached_value(change, target)
                if target is not None:
                    type(target).plan.field.set_cached_value(target, target_plan)
                changes.append(change)
            subscription._prefetched_objects_cache = {
                "addons": _prefetched(SubscriptionAddon, lines),
                "pending_changes": _prefetched(PendingChange, changes),
            }
        cursor.execute(_SHOW["events_sql"], [deployment.pk, SHOW_EVENTS])
        if _SHOW["events"].converts():
            events = [_SHOW["events"].instances(r)[0] for r in cursor.fetchall()]
        else:
            events = [EventRow._make(r) for r in cursor.fetchall()]
    events.reverse()
    return deployment, events


def subscription_of(deployment: Deployment):
    """The deployment's subscription from a `get_deployment_for_show` row, or None."""
    try:
        return deployment.subscription
    except ObjectDoesNotExist:
        return None


def newest_events(deployment_id: UUID, *, limit: int = SHOW_EVENTS) -> list[DeploymentEvent]:
    """The newest `limit` events, returned oldest first."""
    rows = list(DeploymentEvent.objects.filter(deployment_id=deployment_id).order_by("-id")[:limit])
    rows.reverse()
    return rows


def events_of(deployment_id: UUID) -> QuerySet[DeploymentEvent]:
    return DeploymentEvent.objects.filter(deployment_id=deployment_id).order_by("id")


def last_override_change(deployment_id: UUID) -> BillingOverrideChange | None:
    """The deployment's latest billing-override change (when, who, why), or None."""
    return (
        BillingOverrideChange.objects.filter(deployment_id=deployment_id)
        .order_by("-id")
        .only("occurred_at", "actor", "reason")
        .first()
    )


# -- Operator console reads (admin dashboard and deployment page) -------------
# Each is one aggregate query, however many deployments there are.

PAST_DUE_AGES_DAYS = (7, 14, 30)


def deployment_counts_by_state() -> dict[str, int]:
    """Deployments per state, every state present (0 when none), in map order."""
    counts = dict(
        Deployment.objects.order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return {state: counts.get(state, 0) for state in State.values}


def deployment_counts_by_region() -> dict[str, int]:
    """Deployments per region: the configured regions first (0 when none), then any other."""
    counts = dict(
        Deployment.objects.order_by()
        .values_list("region")
        .annotate(n=Count("id"))
        .values_list("region", "n")
    )
    ordered = {region: counts.pop(region, 0) for region in settings.ARCADIA_REGIONS}
    ordered.update(sorted(counts.items()))
    return ordered


def past_due_older_than(
    days: tuple[int, ...] = PAST_DUE_AGES_DAYS, *, now: datetime | None = None
) -> dict[int, int]:
    """How many deployments have been `past_due` for at least each of `days` days."""
    now = now or timezone.now()
    aggregates = {
        f"d{d}": Count("id", filter=Q(state_since__lte=now - timedelta(days=d))) for d in days
    }
    row = Deployment.objects.filter(state=State.PAST_DUE).aggregate(**aggregates)
    return {d: row[f"d{d}"] for d in days}


def tenant_deployments(tenant_id, *, exclude_id=None, limit: int = 10) -> list[Deployment]:
    """A tenant's deployments (newest first), for the console's "other deployments"."""
    rows = Deployment.objects.filter(tenant_id=tenant_id)
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    return list(rows.order_by("-created_at", "-id")[:limit])


# ---- batch selection (manage.py transition_deployments) ----------------------

#: Largest number of ids one `pk IN (...)` filter carries when selecting by ids.
_ID_SLICE = 10_000


def batch_candidates(
    *,
    from_state: str,
    tenant_id: UUID | None = None,
    region: str | None = None,
    state_since_before: datetime | None = None,
) -> QuerySet[Deployment]:
    """Deployments a batch move from `from_state` applies to (every tenant unless
    `tenant_id`). The overridden ones are included: the batch counts them as
    skipped, so the operator sees they exist."""
    queryset = Deployment.objects.filter(state=from_state)
    if tenant_id is not None:
        queryset = queryset.filter(tenant_id=tenant_id)
    if region is not None:
        queryset = queryset.filter(region=region)
    if state_since_before is not None:
        queryset = queryset.filter(state_since__lte=state_since_before)
    return queryset


def batch_candidate_count(
    candidates: QuerySet[Deployment], *, ids: list[UUID] | None = None
) -> int:
    """How many deployments `candidates` holds (only those of `ids` when given):
    what a batch run reports as matched when it starts."""
    if ids is None:
        return candidates.count()
    wanted = sorted(set(ids))
    return sum(
        candidates.filter(pk__in=wanted[start : start + _ID_SLICE]).count()
        for start in range(0, len(wanted), _ID_SLICE)
    )


def overrides_on_count() -> int:
    """Deployments whose automated billing actions are suspended (the override on)."""
    return Deployment.objects.filter(billing_action_suspended=True).order_by().count()


def state_counts_of_tenant(tenant_id: UUID) -> dict[str, int]:
    """The tenant's deployments per state, in the map's order, zeros included. One query."""
    rows = dict(
        Deployment.objects.filter(tenant_id=tenant_id)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
    )
    return {state: rows.get(state, 0) for state in State.values}
