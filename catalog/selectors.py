"""Catalog reads. The catalog is public to every authenticated caller, so these
are not tenant-scoped."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from catalog.models import Addon, Plan, PlanVersion

LIVE = Q(published_at__isnull=False, retired_at__isnull=True)


def plans_with_versions_on_sale() -> QuerySet[Plan]:
    """Plans annotated with `versions_on_sale` (one query for any number of plans)."""
    return Plan.objects.annotate(
        versions_on_sale=Count("versions", filter=Q(versions__in=live_versions()))
    )


def live_versions() -> QuerySet[PlanVersion]:
    """Versions on sale: published and not retired."""
    return PlanVersion.objects.filter(LIVE)


def active_version(plan: Plan) -> PlanVersion | None:
    """The plan's active version: the newest published, not retired one."""
    return live_versions().filter(plan=plan).order_by("-version").first()


def resolve_plan_version(*, plan_code: str, version: int | None = None) -> PlanVersion | None:
    """The version to sell for `plan_code`: `version` if given (it must be on
    sale), else the active version. None when there is nothing to sell."""
    rows = live_versions().select_related("plan").filter(plan__code=plan_code)
    if version is not None:
        return rows.filter(version=version).first()
    return rows.order_by("-version").first()


def plans_on_sale() -> list[tuple[Plan, PlanVersion]]:
    """Every plan with an active version, cheapest first, in two queries
    (plans, then their live versions)."""
    plans = Plan.objects.prefetch_related(
        Prefetch("versions", queryset=live_versions().order_by("-version"), to_attr="live")
    )
    pairs = [(plan, plan.live[0]) for plan in plans if plan.live]
    pairs.sort(key=lambda pair: (pair[1].price_cents, pair[0].code))
    return pairs


def addons_on_sale() -> QuerySet[Addon]:
    return Addon.objects.filter(active=True).order_by("resource_kind", "price_cents", "code")


def get_addons_on_sale(codes) -> dict[str, Addon]:
    """code -> add-on for those of `codes` that exist and are active."""
    return {a.code: a for a in Addon.objects.filter(code__in=set(codes), active=True)}


def resource_kind_is_defined(kind: str) -> bool:
    """Whether some published plan version includes a quota of `kind` or some
    add-on (on sale or not) is of that kind: the resource kinds that exist.
    At most two queries (asked only for a kind the deployment has no
    entitlement of)."""
    in_plans = PlanVersion.objects.filter(published_at__isnull=False, included_quotas__has_key=kind)
    return in_plans.exists() or Addon.objects.filter(resource_kind=kind).exists()


def newest_version(plan_id: int) -> PlanVersion | None:
    """The plan's highest-numbered version, draft or not (a new version's terms
    start as its copy)."""
    return PlanVersion.objects.filter(plan_id=plan_id).order_by("-version").first()


def versions_by_id(ids) -> dict[int, PlanVersion]:
    """The versions with these ids, by id: one query however many."""
    return PlanVersion.objects.select_related("plan").in_bulk(set(ids))
