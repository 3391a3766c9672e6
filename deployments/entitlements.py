"""A deployment's entitlements: THE one computation of what it may use (SPEC §8).

For every resource kind: `included` is its plan version's
`included_quotas[kind]`, `addons` the qty of its attached (not detached)
add-on lines of that kind, `limit = included + addons`, and `used` the qty of
its resources of that kind whose desired state is not `deleted` (a resource is
released the moment its deletion is asked for, as its name is). A deployment
without a subscription has limit 0 for every kind.

Every quota decision reads this function and nothing else: creating or
growing a resource (`deployments.resources`), a plan change and an add-on
detach (`deployments.services`), and the API's and the admin's figures. The
callers that decide hold the deployment's row lock (`SELECT ... FOR UPDATE`)
and call it AFTER taking the lock, in a statement of its own: under READ
COMMITTED each statement sees what committed before it started, so sums read
after the lock include every resource a concurrent request committed before
releasing it (a sum computed in the locking statement itself could be older).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Sum

from catalog.models import PlanVersion
from deployments.errors import QuotaExceeded
from deployments.models import CloudResource, DesiredState
from subscriptions.models import Subscription, SubscriptionAddon


@dataclass(frozen=True)
class Entitlement:
    resource_kind: str
    included: int
    addons: int
    used: int

    @property
    def limit(self) -> int:
        return self.included + self.addons

    def as_dict(self) -> dict:
        return {
            "resource_kind": self.resource_kind,
            "included": self.included,
            "addons": self.addons,
            "limit": self.limit,
            "used": self.used,
        }


@dataclass(frozen=True)
class Entitlements:
    """A deployment's entitlements, one per kind that appears in its plan
    version's quotas, its attached add-on lines or its resources."""

    by_kind: dict[str, Entitlement]

    def __iter__(self):
        return iter(self.by_kind[kind] for kind in sorted(self.by_kind))

    def of(self, kind: str) -> Entitlement:
        """The entitlement of `kind` (all zero when nothing mentions it)."""
        return self.by_kind.get(kind) or Entitlement(kind, 0, 0, 0)

    def knows(self, kind: str) -> bool:
        return kind in self.by_kind

    def check_request(self, kind: str, requested: int) -> None:
        """QuotaExceeded unless `requested` more of `kind` fits its limit."""
        entitlement = self.of(kind)
        if requested > 0 and entitlement.used + requested > entitlement.limit:
            raise QuotaExceeded(
                kind, limit=entitlement.limit, used=entitlement.used, requested=requested
            )

    def check_within_limits(self) -> None:
        """QuotaExceeded for the first kind (by name) whose use is over its limit."""
        for entitlement in self:
            if entitlement.used > entitlement.limit:
                raise QuotaExceeded(
                    entitlement.resource_kind,
                    limit=entitlement.limit,
                    used=entitlement.used,
                    requested=0,
                )


def entitlements_of(
    deployment_id: UUID,
    *,
    plan_version: PlanVersion | None = None,
    without_lines: Collection[int] = (),
) -> Entitlements:
    """The entitlements of `deployment_id` now or, for a change being decided,
    as they would be with `plan_version` instead of the current one and
    without the add-on lines `without_lines`. Three queries (the plan
    version's quotas, the add-on sums, the resource sums), two without a
    subscription, whatever the number of kinds, lines and resources."""
    subscription = (
        Subscription.objects.filter(deployment_id=deployment_id)
        .values_list("pk", "plan_version__included_quotas")
        .first()
    )
    included: dict[str, int] = {}
    addons: dict[str, int] = {}
    if subscription is not None:
        subscription_id, quotas = subscription
        included = dict(plan_version.included_quotas if plan_version is not None else quotas or {})
        lines = SubscriptionAddon.objects.filter(
            subscription_id=subscription_id, detached_at__isnull=True
        ).exclude(pk__in=list(without_lines))
        addons = _sums(lines, "resource_kind")
    used = _sums(
        CloudResource.objects.filter(deployment_id=deployment_id).exclude(
            desired_state=DesiredState.DELETED
        ),
        "kind",
    )
    return _entitlements(included, addons, used)


def _entitlements(
    included: dict[str, int], addons: dict[str, int], used: dict[str, int]
) -> Entitlements:
    kinds: Iterable[str] = {*included, *addons, *used}
    return Entitlements(
        {
            kind: Entitlement(
                resource_kind=kind,
                included=int(included.get(kind, 0)),
                addons=addons.get(kind, 0),
                used=used.get(kind, 0),
            )
            for kind in kinds
        }
    )


def entitlements_with_version(
    subscriptions: Collection[tuple[int, UUID]], plan_version: PlanVersion
) -> dict[UUID, Entitlements]:
    """For many (subscription id, deployment id) at once, the entitlements each
    deployment would have on `plan_version` (a plan migration deciding a
    whole chunk): the same rule as `entitlements_of`, in two queries whatever
    the number of subscriptions."""
    subscription_ids = [subscription_id for subscription_id, _ in subscriptions]
    deployment_ids = [deployment_id for _, deployment_id in subscriptions]
    addons: dict[int, dict[str, int]] = {}
    for subscription_id, kind, total in (
        SubscriptionAddon.objects.filter(
            subscription_id__in=subscription_ids, detached_at__isnull=True
        )
        .order_by()
        .values_list("subscription_id", "resource_kind")
        .annotate(total=Sum("qty"))
        .values_list("subscription_id", "resource_kind", "total")
    ):
        addons.setdefault(subscription_id, {})[kind] = total
    used: dict[UUID, dict[str, int]] = {}
    for deployment_id, kind, total in (
        CloudResource.objects.filter(deployment_id__in=deployment_ids)
        .exclude(desired_state=DesiredState.DELETED)
        .order_by()
        .values_list("deployment_id", "kind")
        .annotate(total=Sum("qty"))
        .values_list("deployment_id", "kind", "total")
    ):
        used.setdefault(deployment_id, {})[kind] = total
    included = dict(plan_version.included_quotas or {})
    return {
        deployment_id: _entitlements(
            included, addons.get(subscription_id, {}), used.get(deployment_id, {})
        )
        for subscription_id, deployment_id in subscriptions
    }


def _sums(queryset, column: str) -> dict[str, int]:
    return dict(
        queryset.order_by()
        .values_list(column)
        .annotate(total=Sum("qty"))
        .values_list(column, "total")
    )


def over_quota_with_version(
    subscriptions: Collection[tuple[int, UUID]], plan_version: PlanVersion
) -> set[int]:
    """The subscription ids among (subscription id, deployment id) whose
    deployment would use more than `plan_version` allows of some kind (the
    quota rule of a plan change, `entitlements_of`'s, decided for a whole
    chunk of a plan migration). A deployment using nothing cannot exceed a
    limit (limits are never negative), so only the ones with resources in use
    are looked at: one query when none has any, two otherwise."""
    deployment_ids = [deployment_id for _, deployment_id in subscriptions]
    used: dict[UUID, dict[str, int]] = {}
    for deployment_id, kind, total in (
        resources_in_use()
        .filter(deployment_id__in=deployment_ids)
        .order_by()
        .values_list("deployment_id", "kind")
        .annotate(total=Sum("qty"))
        .values_list("deployment_id", "kind", "total")
    ):
        used.setdefault(deployment_id, {})[kind] = total
    if not used:
        return set()
    using = [(pk, deployment_id) for pk, deployment_id in subscriptions if deployment_id in used]
    entitlements = entitlements_with_version(using, plan_version)
    return {
        pk
        for pk, deployment_id in using
        if any(e.used > e.limit for e in entitlements[deployment_id])
    }


def resources_in_use():
    """The resources that count against a limit: every one not deleted."""
    return CloudResource.objects.exclude(desired_state=DesiredState.DELETED)
