"""Demo data for `make run`: idempotent, and never a fixed password or token.

Every run generates fresh passwords for the staff users and a fresh demo API
token and prints them; the data itself is created once.

The demo is a small living platform: four tenants, deployments in every state
with subscriptions and add-ons, and event histories written by the real
services (`create_deployment`, `create_subscription`, `transition_state`,
`set_billing_override`), as tenants, operators and batch jobs would. So that
the console's aging figures mean something, each deployment's story is
replayed on a simulated clock over the past weeks: the services run exactly as
in production, only `timezone.now()` answers the story's date.
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from unittest import mock

from django.contrib.auth.models import Group
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.models import ApiToken, Role, User
from arcadia_cloud.selectors import get_tenant_by_slug
from arcadia_cloud.services import create_identity, create_tenant, issue_token, revoke_token
from deployments.models import Deployment
from deployments.operators import BILLING_OPERATOR, SUPPORT, ensure_operator_groups
from deployments.services import create_deployment, set_billing_override
from deployments.transitions import transition_state
from subscriptions.services import create_subscription

OPERATOR_EMAIL = "operator@arcadia.example"
BILLING_EMAIL = "billing@arcadia.example"
SUPPORT_EMAIL = "support@arcadia.example"
TENANT_EMAIL = "owner@acme.example"
#: The platform's own organisation: staff identities that are not platform
#: admins belong to a tenant (the identity model requires one); this one owns
#: no deployments.
STAFF_TENANT = ("arcadia-staff", "Arcadia Cloud staff")

TENANTS = {
    "acme": "Acme Corp",
    "globex": "Globex",
    "initech": "Initech",
    "umbrella": "Umbrella Health",
}

# Who makes a move in a story: the tenant's owner, the billing operator, or a
# batch job (system).
TENANT, OPERATOR, DUNNING, CLEANUP = "tenant", "operator", "system:dunning", "system:cleanup"


@dataclass(frozen=True)
class Story:
    tenant: str
    slug: str
    name: str
    region: str
    plan: str | None
    addons: tuple[str, ...] = ()
    created_days_ago: int = 60
    #: (days ago, to_state, who, reason)
    moves: tuple[tuple[int, str, str, str], ...] = ()
    trial: bool = False
    override_reason: str = ""


STORIES = [
    Story("acme", "shop", "Acme Shop", "us-east-1", "team", ("storage_50gb", "seats_5"), 90),
    Story(
        "acme",
        "blog",
        "Acme Blog",
        "eu-west-1",
        "hobby",
        (),
        75,
        ((12, "paused", TENANT, "Pausing over the holidays"),),
    ),
    Story(
        "acme",
        "analytics",
        "Acme Analytics",
        "us-west-2",
        "studio",
        ("gpu_hours_10",),
        50,
        ((9, "past_due", DUNNING, "Invoice 2026-10 unpaid after 14 days"),),
    ),
    Story(
        "acme",
        "docs",
        "Acme Docs",
        "us-east-1",
        "hobby",
        (),
        40,
        (
            (30, "paused", TENANT, "Content freeze"),
            (20, "active", TENANT, "Back in business"),
        ),
    ),
    Story(
        "globex",
        "portal",
        "Globex Portal",
        "eu-central-1",
        "enterprise",
        ("storage_500gb", "backups_daily"),
        120,
    ),
    Story(
        "globex",
        "crm",
        "Globex CRM",
        "eu-central-1",
        "team",
        ("llm_tokens_10m",),
        80,
        (
            (40, "past_due", DUNNING, "Invoice 2026-09 unpaid after 14 days"),
            (25, "suspended", DUNNING, "Past due for 15 days"),
        ),
    ),
    Story(
        "globex",
        "legacy",
        "Globex Legacy Site",
        "us-east-1",
        "hobby",
        (),
        100,
        (
            (35, "cancelled", TENANT, "Replaced by the portal"),
            (4, "archived", CLEANUP, "Cancelled for 30 days"),
        ),
    ),
    Story(
        "initech",
        "tps",
        "TPS Reports",
        "us-east-1",
        "studio",
        ("llm_tokens_10m",),
        6,
        trial=True,
    ),
    Story(
        "initech",
        "staging",
        "Initech Staging",
        "ap-southeast-1",
        "hobby",
        (),
        70,
        ((33, "past_due", DUNNING, "Invoice 2026-09 unpaid after 14 days"),),
    ),
    Story(
        "initech",
        "intranet",
        "Initech Intranet",
        "us-west-2",
        "studio",
        ("seats_5",),
        65,
        (
            (45, "past_due", DUNNING, "Invoice 2026-09 unpaid after 14 days"),
            (42, "active", OPERATOR, "Payment received by wire transfer"),
        ),
    ),
    Story(
        "umbrella",
        "lab",
        "Umbrella Lab",
        "eu-west-1",
        "enterprise",
        ("gpu_hours_100", "storage_500gb"),
        110,
        override_reason="Enterprise contract: invoices settled quarterly, no dunning",
    ),
    Story(
        "umbrella",
        "records",
        "Patient Records",
        "eu-west-1",
        "team",
        ("backups_daily",),
        85,
        ((16, "past_due", DUNNING, "Invoice 2026-10 unpaid after 14 days"),),
    ),
    Story(
        "umbrella",
        "kiosk",
        "Waiting-room Kiosk",
        "eu-central-1",
        "hobby",
        (),
        30,
        (
            (8, "suspended", OPERATOR, "Abuse report: open relay"),
            (3, "cancelled", TENANT, "Decommissioned"),
        ),
    ),
]


@contextmanager
def simulated_clock(at):
    """Make `timezone.now()` answer `at` while the services run (demo history only)."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


class Command(BaseCommand):
    help = "Load the demo catalog, tenants, identities and deployments; print how to log in."

    def add_arguments(self, parser):
        parser.add_argument(
            "--token-dir",
            metavar="DIR",
            help="Also write the tenant's and the platform admin's API tokens to "
            "DIR/demo_token and DIR/admin_token (readable by you only), so the "
            "README's examples can read them (`make run` uses .run/).",
        )

    def handle(self, *args, **options):
        if "seed_catalog" in _commands():
            call_command("seed_catalog", verbosity=0)
        ensure_operator_groups()
        with transaction.atomic():
            operator = self._operator()
            billing, support = self._staff()
            owner = self._tenants_and_deployments(billing)
        passwords = {}
        # New passwords and a new token together: printed below, and the demo
        # token of an earlier run is revoked, so only what this run prints works.
        with transaction.atomic():
            for user in (operator, billing, support):
                passwords[user.email] = secrets.token_urlsafe(12)
                user.set_password(passwords[user.email])
                user.save(update_fields=["password"])
            for earlier in ApiToken.objects.filter(
                user__in=[owner, operator], name__in=["demo", "demo-admin"], revoked_at__isnull=True
            ):
                revoke_token(token=earlier)
            token = issue_token(user=owner, name="demo")
            admin_token = issue_token(user=operator, name="demo-admin")
        if options.get("token_dir"):
            _write_tokens(Path(options["token_dir"]), token.raw, admin_token.raw)
        # `make run` passes the address it serves on; 8000 is its default.
        base = os.environ.get("ARCADIA_DEMO_URL", "http://127.0.0.1:8000").rstrip("/")
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
                    f"  API:    curl -H 'Authorization: Bearer {token.raw}' {base}/api/v1/me",
                    f"  docs:   {base}/api/v1/docs",
                    "(new passwords and a new token are generated on every start)",
                    "",
                ]
            )
        )

    def _operator(self) -> User:
        operator = User.objects.filter(email=OPERATOR_EMAIL).first()
        if operator is None:
            operator = create_identity(email=OPERATOR_EMAIL, platform_admin=True, staff=True)
        operator.is_superuser = True
        operator.is_staff = True
        operator.roles = [Role.PLATFORM_ADMIN.value]
        operator.save(update_fields=["is_superuser", "is_staff", "roles"])
        return operator

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

    def _tenants_and_deployments(self, billing: User) -> User:
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
        operator = Actor.for_operator(billing)
        stories = [
            story
            for story in STORIES
            if not Deployment.objects.filter(tenant=tenants[story.tenant], slug=story.slug).exists()
        ]
        self._play(stories, tenants, owners, operator)
        return owners["acme"]

    def _play(self, stories, tenants, owners, operator: Actor) -> None:
        """Replay the stories' steps in date order across all deployments, so event
        ids and times grow together as they do in production."""
        now = timezone.now()
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
            with simulated_clock(at):
                if kind == "create":
                    deployments[key] = create_deployment(
                        tenant=tenants[story.tenant],
                        slug=story.slug,
                        display_name=story.name,
                        region=story.region,
                        actor=operator if story.trial else actors[TENANT],
                        initial_state="trial" if story.trial else "active",
                    )
                else:
                    to_state, who, reason = move
                    transition_state(
                        deployment_id=deployments[key].pk,
                        to_state=to_state,
                        actor=actors[who],
                        reason=reason,
                    )
            if kind == "create" and story.plan:
                # Subscriptions are sold at today's prices for the current period.
                create_subscription(
                    deployment_id=deployments[key].pk,
                    plan_code=story.plan,
                    addon_codes=story.addons,
                    actor=operator,
                    trial_ends_at=now + timedelta(days=8) if story.trial else None,
                )
        for story in stories:
            if story.override_reason:
                set_billing_override(
                    deployment_id=deployments[f"{story.tenant}/{story.slug}"].pk,
                    suspended=True,
                    actor=operator,
                    reason=story.override_reason,
                )


def _write_tokens(directory: Path, tenant_token: str, admin_token: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in (("demo_token", tenant_token), ("admin_token", admin_token)):
        path = directory / name
        # Created readable by the owner only, before the secret goes in.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(raw + "\n")


def _commands() -> set[str]:
    return set(get_commands())
