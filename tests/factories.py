"""factory-boy factories. Deployments are created through the service so the
first event exists, as it does for every real deployment."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from arcadia_cloud.actors import Actor
from arcadia_cloud.models import Role, Tenant, User
from arcadia_cloud.services import issue_token


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    tenant = factory.SubFactory(TenantFactory)
    roles = factory.LazyFunction(list)


class PlatformAdminFactory(IdentityFactory):
    tenant = None
    roles = factory.LazyFunction(lambda: [Role.PLATFORM_ADMIN.value])
    is_staff = True


#: The actor of every test that stands in for a management command.
SYSTEM_ACTOR = Actor.system("system:tests")


def token_for(user: User, **kwargs) -> str:
    return issue_token(user=user, **kwargs).raw


def make_deployment(tenant: Tenant, *, slug: str | None = None, region: str = "us-east-1", **kw):
    from deployments.services import create_deployment

    make_deployment.counter += 1
    return create_deployment(
        tenant=tenant,
        slug=slug or f"app-{make_deployment.counter}",
        display_name=kw.pop("display_name", "An app"),
        region=region,
        actor=kw.pop("actor", SYSTEM_ACTOR),
        **kw,
    )


make_deployment.counter = 0


LONG_AGO = timedelta(days=30)


def put_in_state(deployment, state: str):
    """Given step: put `deployment` in `state` since a month ago, bypassing the map
    (a queryset update, no event), so a later move of `state_since` is visible."""
    from deployments.models import Deployment

    Deployment.objects.filter(pk=deployment.pk).update(
        state=state, state_since=timezone.now() - LONG_AGO
    )
    deployment.refresh_from_db()
    return deployment
