"""The demo's cast and stories, replayed by `manage.py load_demo`: four
tenants, staff logins, and each demo deployment's history (created some days
ago on a plan with add-ons, then moved by its tenant, an operator or a batch
job). Data only: the command plays it through the real services."""

from __future__ import annotations

from dataclasses import dataclass

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
