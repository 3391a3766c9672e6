"""Operator groups for the admin console, defined in code.

"billing operator" may look at everything operators need, move deployments
(transition, billing override, plan changes, withdrawing scheduled changes)
and retry webhook deliveries; "support" may only look. The
groups are (re)built after every `migrate` (post_migrate, see apps.py) and by
`manage.py setup_operator_groups`: their permissions are set to exactly this
definition each time, so a hand-made change to a group does not outlive the
next deploy. Staff users are given a group; the admin checks the permissions.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

BILLING_OPERATOR = "billing operator"
SUPPORT = "support"

TRANSITION_PERM = "deployments.transition_deployment"
OVERRIDE_PERM = "deployments.override_billing_action"
CHANGE_PLAN_PERM = "subscriptions.change_plan_subscription"
RETRY_DELIVERY_PERM = "webhooks.retry_delivery"

#: Apps whose every model both groups may view.
VIEWABLE_APPS = ("deployments", "subscriptions", "catalog")
#: Single models outside those apps both groups may view.
VIEWABLE_MODELS = (
    ("arcadia_cloud", "tenant"),
    ("billing", "statement"),
    ("webhooks", "webhookendpoint"),
    ("webhooks", "delivery"),
)

#: group name -> permissions ("app_label.codename") on top of the view permissions.
EXTRA_PERMISSIONS: dict[str, tuple[str, ...]] = {
    BILLING_OPERATOR: (TRANSITION_PERM, OVERRIDE_PERM, CHANGE_PLAN_PERM, RETRY_DELIVERY_PERM),
    SUPPORT: (),
}


def _view_permissions() -> set[tuple[str, str]]:
    wanted: set[tuple[str, str]] = set()
    for label in VIEWABLE_APPS:
        for model in apps.get_app_config(label).get_models():
            wanted.add((label, f"view_{model._meta.model_name}"))
    for label, model_name in VIEWABLE_MODELS:
        wanted.add((label, f"view_{model_name}"))
    return wanted


def group_permissions(name: str) -> set[tuple[str, str]]:
    """The (app_label, codename) pairs group `name` holds."""
    extra = {tuple(perm.split(".", 1)) for perm in EXTRA_PERMISSIONS[name]}
    return _view_permissions() | extra


def ensure_operator_groups(*, using: str = "default") -> dict[str, int]:
    """Create or update the operator groups; idempotent. Returns permissions per group.

    Permissions are created first for the apps involved: on a fresh database
    this runs from post_migrate, possibly before Django has created the
    permissions of every app.
    """
    labels = {*VIEWABLE_APPS, *(label for label, _ in VIEWABLE_MODELS)}
    for label in sorted(labels):
        create_permissions(apps.get_app_config(label), verbosity=0, using=using)
    counts: dict[str, int] = {}
    with transaction.atomic(using=using):
        for name in EXTRA_PERMISSIONS:
            wanted = group_permissions(name)
            perms = [
                perm
                for perm in Permission.objects.using(using)
                .filter(content_type__app_label__in=labels)
                .select_related("content_type")
                if (perm.content_type.app_label, perm.codename) in wanted
            ]
            found = {(p.content_type.app_label, p.codename) for p in perms}
            missing = wanted - found
            if missing:
                raise LookupError(f"Permissions missing for group {name!r}: {sorted(missing)}")
            group, _ = Group.objects.using(using).get_or_create(name=name)
            group.permissions.set(perms)
            counts[name] = len(perms)
    return counts
