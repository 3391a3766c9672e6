"""`manage.py seed_catalog`: the demo catalog. Idempotent: plans, versions and
add-ons are created when missing and never modified, so an operator's later
catalog changes (a new price, a retired version) survive a re-run."""

from django.core.management.base import BaseCommand
from django.db import transaction

from catalog import selectors, services
from catalog.models import Addon, Plan

USD = "USD"

#: code, name, description, price_cents, included quotas, (trial days, when it ends)
PLANS = [
    (
        "hobby",
        "Hobby",
        "One small app for side projects.",
        900,
        {"storage_gb": 10, "seats": 1, "gpu_hours": 0, "llm_tokens_k": 500},
        (0, "activate"),
    ),
    (
        "studio",
        "Studio",
        "For freelancers and small studios shipping client work.",
        4900,
        {"storage_gb": 100, "seats": 5, "gpu_hours": 10, "llm_tokens_k": 5000},
        (14, "activate"),
    ),
    (
        "team",
        "Team",
        "Production apps with a team behind them.",
        19900,
        {"storage_gb": 500, "seats": 25, "gpu_hours": 50, "llm_tokens_k": 25000},
        (14, "past_due"),
    ),
    (
        "enterprise",
        "Enterprise",
        "Dedicated capacity, priority support and an uptime SLA.",
        99900,
        {"storage_gb": 2000, "seats": 200, "gpu_hours": 250, "llm_tokens_k": 200000},
        (30, "cancel"),
    ),
]

#: code, name, resource_kind, qty, price_cents
ADDONS = [
    ("storage_50gb", "Extra storage 50 GB", "storage_gb", 50, 750),
    ("storage_500gb", "Extra storage 500 GB", "storage_gb", 500, 6000),
    ("seats_5", "5 extra seats", "seats", 5, 2500),
    ("gpu_hours_10", "10 GPU hours", "gpu_hours", 10, 2900),
    ("gpu_hours_100", "100 GPU hours", "gpu_hours", 100, 24900),
    ("llm_tokens_10m", "10M LLM tokens", "llm_tokens_k", 10000, 1500),
    ("backups_daily", "Daily backups (30 days kept)", "backup_days", 30, 1000),
]


class Command(BaseCommand):
    help = "Load the demo catalog (plans with a published version, add-ons); idempotent."

    def handle(self, *args, **options):
        created = 0
        with transaction.atomic():
            for code, name, description, price_cents, quotas, trial in PLANS:
                plan = Plan.objects.filter(code=code).first()
                if plan is None:
                    plan = services.create_plan(code=code, name=name, description=description)
                    created += 1
                # nothing on sale (no version, or only drafts/retired ones): a
                # demo plan must have a version a deployment can subscribe to
                if selectors.active_version(plan) is None:
                    version = services.create_plan_version(
                        plan=plan,
                        price_cents=price_cents,
                        currency=USD,
                        included_quotas=quotas,
                        trial_days=trial[0],
                        trial_end_behavior=trial[1],
                    )
                    services.publish_plan_version(plan_version=version)
                    created += 1
            for code, name, kind, qty, price_cents in ADDONS:
                if not Addon.objects.filter(code=code).exists():
                    services.create_addon(
                        code=code,
                        name=name,
                        resource_kind=kind,
                        qty=qty,
                        price_cents=price_cents,
                        currency=USD,
                    )
                    created += 1
        if options["verbosity"] > 0:
            self.stdout.write(
                f"catalog: {created} rows created, {len(PLANS)} plans, {len(ADDONS)} add-ons"
            )
