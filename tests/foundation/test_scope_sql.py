"""`Scope.sql`: the tenant scope for the fixed statements (the list's page,
the show's reads, the single-row move) selects exactly what `Scope.filter`
selects, for every kind of scope."""

import uuid

import pytest
from django.db import connection

from arcadia_cloud.actors import CONTROLLER, OPERATOR, SYSTEM, TENANT, Actor
from arcadia_cloud.scope import Scope, scope_for
from deployments.models import Deployment
from tests.factories import make_deployment

pytestmark = pytest.mark.django_db


def test_the_sql_of_each_kind_of_scope():
    tenant = uuid.uuid4()
    assert Scope(everything=True).sql("d.tenant_id") == ("TRUE", [])
    assert Scope().sql("d.tenant_id") == ("FALSE", [])
    assert Scope(tenant_id=tenant).sql("d.tenant_id") == ("d.tenant_id = %s", [tenant])
    assert Scope(tenant_id=tenant).sql("t", "%(x)s") == ("t = %(x)s", [tenant])
    assert Scope().nothing
    assert not Scope(everything=True).nothing
    assert not Scope(tenant_id=tenant).nothing


@pytest.mark.parametrize(
    "actor",
    [
        Actor(kind=TENANT, label="a", tenant_id=None),  # no tenant: nothing
        Actor(kind=OPERATOR, label="op"),
        Actor(kind=CONTROLLER, label="ctl"),
        Actor(kind=SYSTEM, label="system:x"),
        "tenant",
        "other",
    ],
)
def test_the_sql_selects_what_the_queryset_filter_selects(tenant, other_tenant, actor):
    make_deployment(tenant, slug="mine")
    make_deployment(other_tenant, slug="theirs")
    if actor == "tenant":
        actor = Actor(kind=TENANT, label="t", tenant_id=tenant.pk)
    elif actor == "other":
        actor = Actor(kind=TENANT, label="o", tenant_id=other_tenant.pk)
    scope = scope_for(actor)
    condition, values = scope.sql("d.tenant_id")
    values = [Deployment._meta.get_field("tenant").get_db_prep_value(v, connection) for v in values]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.slug FROM {Deployment._meta.db_table} d WHERE {condition}", values
        )
        by_sql = sorted(slug for (slug,) in cursor.fetchall())
    by_filter = sorted(scope.filter(Deployment.objects.all()).values_list("slug", flat=True))
    assert by_sql == by_filter
