"""Demo data for `make run`: idempotent, and never a fixed password or token.

Every run generates fresh passwords for the staff users and a fresh demo API
token and prints them; the data itself is created once.

The demo is a small living platform: four tenants, deployments in every state
with subscriptions, add-ons and resources, and event histories written by the
real services (`create_deployment`, `create_subscription`, `create_resource`,
`transition_state`, `set_billing_override`, `report_status`), as tenants,
operators, batch jobs and a provisioning controller would; a few resources
stay pending (the controller has not caught up with them). So that
the console's aging figures mean something, each deployment's story
(`deployments.demo_stories`) is replayed over the past weeks: each step is
passed to its service with `at=` the story's date, on a clock taken once at
the start of the run.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.errors import DomainError
from arcadia_cloud.models import ApiToken, Role, User
from arcadia_cloud.selectors import get_tenant_by_slug
from arcadia_cloud.services import create_identity, create_tenant, issue_token, revoke_token
from deployments.demo_stories import (
    BILLING_EMAIL,
    CLEANUP,
    CONTROLLER_EMAIL,
    DUNNING,
    OPERATOR,
    OPERATOR_EMAIL,
    STAFF_TENANT,
    STORIES,
    SUPPORT_EMAIL,
    TENANT,
    TENANT_EMAIL,
    TENANTS,
    Story,
)
from deployments.models import CloudResource, Deployment
from deployments.operators import BILLING_OPERATOR, SUPPORT, ensure_operator_groups
from deployments.resources import create_resource, report_status
from deployments.services import create_deployment, create_subscription, set_billing_override
from deployments.transitions import transition_state
from webhooks.models import WebhookEndpoint
from webhooks.services import create_endpoint


class Command(BaseCommand):
    help = "Load the demo catalog, tenants, identities and deployments; print how to log in."

    def add_arguments(self, parser):
        parser.add_argument(
            "--token-dir",
            metavar="DIR",
            help="Also write the tenant's, the platform admin's and the controller's API "
            "tokens to DIR/demo_token, DIR/admin_token and DIR/controller_token (readable "
            "by you only), so the "
            "README's examples can read them (`make run` uses .run/).",
        )

    def handle(self, *args, **options):
        if "seed_catalog" in _commands():
            call_command("seed_catalog", verbosity=0)
        ensure_operator_groups()
        with transaction.atomic():
            operator = self._operator()
            billing, support = self._staff()
            controller = self._controller()
            owner = self._tenants_and_deployments(billing, controller, now=timezone.now())
        passwords = {}
        # New passwords and a new token together: printed below, and the demo
        # token of an earlier run is revoked, so only what this run prints works.
        with transaction.atomic():
            for user in (operator, billing, support):
                passwords[user.email] = secrets.token_urlsafe(12)
                user.set_password(passwords[user.email])
                user.save(update_fields=["password"])
            for earlier in ApiToken.objects.filter(
                user__in=[owner, operator, controller],
                name__in=["demo", "demo-admin", "demo-controller"],
                revoked_at__isnull=True,
            ):
                revoke_token(token=earlier)
            token = issue_token(user=owner, name="demo")
            admin_token = issue_token(user=operator, name="demo-admin")
            controller_token = issue_token(user=controller, name="demo-controller")
        if options.get("token_dir"):
            _write_tokens(
                Path(options["token_dir"]), token.raw, admin_token.raw, controller_token.raw
            )
        # `make run` passes the address it serves on; 8000 is its default.
        base = os.environ.get("ARCADIA_DEMO_URL", "http://127.0.0.1:8000").rstrip("/")
        receiver = self._demo_webhook(owner, f"{base}/demo/webhook-receiver")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Arcadia Cloud is starting on {base}",
                    f"  admin:  {base}/admin/  {OPERATOR_EMAIL} / "
                    f"{passwords[OPERATOR_EMAIL]}  (superuser)",
                    f"          billing operator: {BILLING_EMAIL} / {passwords[BILLING_EMAIL]}",
                    f"          support (read-only): {SUPPORT_EMAIL} / {passwords[SUPPORT_EMAIL]}",
                    f"  dashboard: {base}/admin/dashboard/",
                    f"  API token, tenant acme ({TENANT_EMAIL}): {token.raw}",
                    f"  API token, platform admin ({OPERATOR_EMAIL}): {admin_token.raw}",
                    f"  API token, controller ({CONTROLLER_EMAIL}): {controller_token.raw}",
                    f"  API:    curl -H 'Authorization: Bearer {token.raw}' {base}/api/v1/me",
                    f"  docs:   {base}/api/v1/docs",
                    f"  webhooks: acme's events are delivered to {receiver}"
                    if receiver
                    else "  webhooks: no demo receiver (DEBUG off or its host not allowed)",
                    "(new passwords and a new token are generated on every start)",
                    "",
                ]
            )
        )

    def _demo_webhook(self, owner: User, url: str) -> str | None:
        """Tenant acme's endpoint delivering to the app's own demo receiver
        (DEBUG only; `make run` allows its loopback host). Created once."""
        if not settings.DEBUG:
            return None
        if WebhookEndpoint.objects.filter(url=url).exists():
            return url
        try:
            create_endpoint(
                actor=Actor.for_identity(owner),
                url=url,
                description="make run: the demo receiver page",
            )
        except (DomainError, ValidationError):
            return None
        return url

    def _operator(self) -> User:
        operator = User.objects.filter(email=OPERATOR_EMAIL).first()
        if operator is None:
            operator = create_identity(email=OPERATOR_EMAIL, platform_admin=True, staff=True)
        operator.is_superuser = True
        operator.is_staff = True
        operator.roles = [Role.PLATFORM_ADMIN.value]
        operator.save(update_fields=["is_superuser", "is_staff", "roles"])
        return operator

    def _controller(self) -> User:
        return User.objects.filter(email=CONTROLLER_EMAIL).first() or create_identity(
            email=CONTROLLER_EMAIL, controller=True
        )

    def _staff(self) -> tuple[User, User]:
        slug, name = STAFF_TENANT
        staff_tenant = get_tenant_by_slug(slug) or create_tenant(slug=slug, name=name)
        users = []
        for email, group in ((BILLING_EMAIL, BILLING_OPERATOR), (SUPPORT_EMAIL, SUPPORT)):
            user = User.objects.filter(email=email).first()
            if user is None:
                user = create_identity(email=email, tenant=staff_tenant, staff=True)
            user.groups.add(Group.objects.get(name=group))
            users.append(user)
        return users[0], users[1]

    def _tenants_and_deployments(self, billing: User, controller: User, *, now: datetime) -> User:
        tenants = {
            slug: get_tenant_by_slug(slug) or create_tenant(slug=slug, name=name)
            for slug, name in TENANTS.items()
        }
        owners = {}
        for slug, tenant in tenants.items():
            email = TENANT_EMAIL if slug == "acme" else f"owner@{slug}.example"
            owners[slug] = User.objects.filter(email=email).first() or create_identity(
                email=email, tenant=tenant
            )
        operator = Actor.for_staff(billing)
        stories = [
            story
            for story in STORIES
            if not Deployment.objects.filter(tenant=tenants[story.tenant], slug=story.slug).exists()
        ]
        self._play(stories, tenants, owners, operator, Actor.for_identity(controller), now=now)
        return owners["acme"]

    def _play(
        self, stories: list[Story], tenants, owners, operator: Actor, controller: Actor, *, now
    ) -> None:
        """Replay the stories' steps in date order across all deployments, so event
        ids and times grow together as they do in production; `now` is the
        demo's present, each step happens `at` its date before it."""
        steps = []
        for story in stories:
            created = now - timedelta(days=story.created_days_ago)
            steps.append((created, story, "create", None))
            steps.extend(
                (now - timedelta(days=days, hours=2), story, "move", (to_state, who, reason))
                for days, to_state, who, reason in story.moves
            )
        steps.sort(key=lambda step: (step[0], STORIES.index(step[1])))
        deployments: dict[str, Deployment] = {}
        for at, story, kind, move in steps:
            owner = owners[story.tenant]
            actors = {
                TENANT: Actor.for_identity(owner),
                OPERATOR: operator,
                DUNNING: Actor.system(DUNNING),
                CLEANUP: Actor.system(CLEANUP),
            }
            key = f"{story.tenant}/{story.slug}"
            if kind == "create":
                deployments[key] = create_deployment(
                    tenant=tenants[story.tenant],
                    slug=story.slug,
                    display_name=story.name,
                    region=story.region,
                    actor=operator if story.trial else actors[TENANT],
                    initial_state="trial" if story.trial else "active",
                    at=at,
                )
                if story.plan:
                    create_subscription(
                        deployment_id=deployments[key].pk,
                        plan_code=story.plan,
                        addon_codes=story.addons,
                        actor=operator,
                        trial_ends_at=now + timedelta(days=8) if story.trial else None,
                        at=at,
                    )
                for kind_, name, qty in story.resources:
                    resource = create_resource(
                        deployment_id=deployments[key].pk,
                        kind=kind_,
                        name=name,
                        qty=qty,
                        actor=actors[TENANT],
                        at=at,
                    )
                    if story.controller_caught_up or story.moves:
                        # The controller brought it up a few minutes later.
                        report_status(
                            resource_id=resource.pk,
                            observed_state="running",
                            observed_generation=resource.generation,
                            actor=controller,
                            at=at + timedelta(minutes=4),
                        )
            else:
                to_state, who, reason = move
                transition_state(
                    deployment_id=deployments[key].pk,
                    to_state=to_state,
                    actor=actors[who],
                    reason=reason,
                    at=at,
                )
        # The controller has caught up with every change since, except for
        # the stories that say otherwise: their resources stay pending.
        caught_up = [
            deployments[f"{story.tenant}/{story.slug}"].pk
            for story in stories
            if story.controller_caught_up
        ]
        for resource in CloudResource.objects.filter(deployment_id__in=caught_up).order_by("id"):
            if resource.pending:
                report_status(
                    resource_id=resource.pk,
                    observed_state=resource.desired_state,
                    observed_generation=resource.generation,
                    actor=controller,
                )
        for story in stories:
            if story.override_reason:
                set_billing_override(
                    deployment_id=deployments[f"{story.tenant}/{story.slug}"].pk,
                    suspended=True,
                    actor=operator,
                    reason=story.override_reason,
                )


def _write_tokens(
    directory: Path, tenant_token: str, admin_token: str, controller_token: str
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in (
        ("demo_token", tenant_token),
        ("admin_token", admin_token),
        ("controller_token", controller_token),
    ):
        path = directory / name
        # Created readable by the owner only, before the secret goes in.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(raw + "\n")


def _commands() -> set[str]:
    return set(get_commands())
