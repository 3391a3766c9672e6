"""The demo's cast and stories, replayed by `manage.py load_demo`: four
tenants, staff logins, a provisioning controller, and each demo deployment's
history (created some days ago on a plan with add-ons and a few resources,
then moved by its tenant, an operator or a batch job, the lifecycle driving
its resources). Data only: the command plays it through the real services."""

from __future__ import annotations

from dataclasses import dataclass

OPERATOR_EMAIL = "operator@arcadia.example"
BILLING_EMAIL = "billing@arcadia.example"
SUPPORT_EMAIL = "support@arcadia.example"
TENANT_EMAIL = "owner@acme.example"
#: The demo's provisioning controller (role `controller`): it has reported
#: the status of every resource except those of the stories below that say
#: it has not caught up, which stay pending.
CONTROLLER_EMAIL = "controller@arcadia.example"
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
    #: (kind, name, qty), created with the deployment, within its plan's limits
    resources: tuple[tuple[str, str, int], ...] = ()
    #: False: the controller has not reported this deployment's latest
    #: changes yet, so its resources stay pending
    controller_caught_up: bool = True


STORIES = [
    Story(
        "acme",
        "shop",
        "Acme Shop",
        "us-east-1",
        "team",
        ("storage_50gb", "seats_5"),
        90,
        resources=(
            ("storage_gb", "uploads", 200),
            ("storage_gb", "postgres", 100),
            ("gpu_hours", "recommendations", 20),
        ),
    ),
    Story(
        "acme",
        "blog",
        "Acme Blog",
        "eu-west-1",
        "hobby",
        (),
        75,
        ((12, "paused", TENANT, "Pausing over the holidays"),),
        resources=(("storage_gb", "wordpress", 8),),
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
        resources=(("gpu_hours", "notebooks", 15), ("storage_gb", "warehouse", 80)),
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
        resources=(("storage_gb", "site", 5),),
        controller_caught_up=False,
    ),
    Story(
        "globex",
        "portal",
        "Globex Portal",
        "eu-central-1",
        "enterprise",
        ("storage_500gb", "backups_daily"),
        120,
        resources=(
            ("storage_gb", "assets", 1500),
            ("backup_days", "nightly", 30),
            ("seats", "editors", 40),
        ),
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
        resources=(("llm_tokens_k", "assistant", 20000), ("storage_gb", "contacts", 50)),
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
        resources=(("storage_gb", "site", 10),),
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
        resources=(("llm_tokens_k", "reports", 3000),),
        controller_caught_up=False,
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
        resources=(("storage_gb", "staging", 10),),
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
        resources=(("seats", "staff", 10),),
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
        resources=(("gpu_hours", "training", 300), ("storage_gb", "datasets", 1800)),
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
        resources=(("storage_gb", "records", 400), ("backup_days", "archive", 30)),
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
        resources=(("storage_gb", "kiosk", 2),),
        controller_caught_up=False,
    ),
]
