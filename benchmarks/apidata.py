"""The data the API benchmarks read: one tenant with a token, a deployment with
a subscription and many events (the `show` subject), enough deployments for a
full list page, and a pool of active deployments to transition."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ApiData:
    token: str
    show_id: str
    show_events: int
    subscription: bool
    deployments: int
    transition_ids: list[str] = field(default_factory=list)


def build(*, events: int = 25, deployments: int = 200, transition_pool: int = 128) -> ApiData:
    """Everything through the services, as real traffic would have made it."""
    from django.core.management import call_command

    from arcadia_cloud.actors import Actor
    from arcadia_cloud.services import create_identity, create_tenant, issue_token
    from deployments.services import create_deployment
    from deployments.transitions import transition_state

    tenant = create_tenant(slug="bench", name="Bench")
    owner = create_identity(email="owner@bench.example", tenant=tenant)
    actor = Actor.for_identity(owner)
    token = issue_token(user=owner, name="bench").raw

    def make(slug: str):
        return create_deployment(
            tenant=tenant, slug=slug, display_name=slug.title(), region="us-east-1", actor=actor
        )

    show = make("show")
    # creation is event 1; each pause/activate pair adds two more
    state = "active"
    for _ in range(events - 1):
        state = "paused" if state == "active" else "active"
        transition_state(deployment_id=show.pk, to_state=state, actor=actor, reason="bench")
    subscription = False
    try:
        from deployments.services import create_subscription
    except ImportError:
        print("note: subscriptions not available yet; the show benchmark has no subscription")
    else:
        call_command("seed_catalog", verbosity=0)
        create_subscription(
            deployment_id=show.pk, plan_code="studio", addon_codes=["storage_50gb"], actor=actor
        )
        subscription = True
    for i in range(deployments - 1):
        make(f"app-{i}")
    pool = [str(make(f"flip-{i}").pk) for i in range(transition_pool)]
    return ApiData(
        token=token,
        show_id=str(show.pk),
        show_events=events,
        subscription=subscription,
        deployments=deployments + transition_pool,
        transition_ids=pool,
    )
