"""`arcadia_cloud.db.RowModels` builds the instances `Model.from_db` builds."""

import pytest
from django.db import connection
from django.db.models import signals

from arcadia_cloud.db import RowModels
from arcadia_cloud.models import ApiToken, Tenant
from arcadia_cloud.services import create_identity, issue_token
from deployments.models import Deployment, DeploymentEvent
from tests.factories import make_deployment

pytestmark = pytest.mark.django_db


def _pk(model, value):
    """`value` as this database stores `model`'s primary key."""
    return model._meta.pk.get_db_prep_value(value, connection)


def _row(rows: RowModels, where: str, params: list) -> tuple:
    tables = ", ".join(f"{model._meta.db_table} {alias}" for model, alias in rows.parts)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rows.columns} FROM {tables} WHERE {where}", params)
        return cursor.fetchone()


def _same_instance(built, model, pk) -> None:
    loaded = model.objects.get(pk=pk)
    assert type(built) is type(loaded)
    assert built._state.adding is False
    assert built._state.db == loaded._state.db
    mine = {k: v for k, v in vars(built).items() if k != "_state"}
    theirs = {k: v for k, v in vars(loaded).items() if k != "_state"}
    assert mine == theirs
    assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in theirs.items()}


def test_instances_hold_what_from_db_gives(tenant):
    deployment = make_deployment(tenant)
    identity = create_identity(email="rows@acme.example", tenant=tenant)
    token = issue_token(user=identity, name="rows").token
    rows = RowModels((Deployment, "d"), (Tenant, "n"), (ApiToken, "t"))
    built = rows.instances(
        _row(
            rows,
            "d.id = %s AND n.id = d.tenant_id AND t.id = %s",
            [_pk(Deployment, deployment.pk), _pk(ApiToken, token.pk)],
        )
    )
    for instance, model in zip(built, (Deployment, Tenant, ApiToken), strict=True):
        _same_instance(instance, model, instance.pk)
    # the deployment has its own __init__ (django-fsm's concurrent-transition
    # mixin): built by from_db, its loaded state recorded, protected
    assert vars(built[0])["_ConcurrentTransitionMixin__initial_states"] == {"state": "active"}
    with pytest.raises(AttributeError, match="Direct state modification"):
        built[0].state = "paused"
    # and the foreign key's id reads back its object
    assert built[0].tenant == tenant


def test_a_model_with_init_receivers_is_built_by_from_db(tenant):
    deployment = make_deployment(tenant)
    event = DeploymentEvent.objects.filter(deployment=deployment).first()
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(receiver, sender=DeploymentEvent)
    try:
        rows = RowModels((DeploymentEvent, "e"))
        (built,) = rows.instances(_row(rows, "e.id = %s", [_pk(DeploymentEvent, event.pk)]))
    finally:
        signals.post_init.disconnect(receiver, sender=DeploymentEvent)
    assert seen == [built]
    _same_instance(built, DeploymentEvent, event.pk)


def test_only_models_whose_init_would_do_nothing_more_skip_it():
    from django.apps import apps

    from arcadia_cloud.db import _plain

    # django-fsm's mixin (own __init__) and the protected state field's setter
    assert not _plain(Deployment)
    assert _plain(Tenant)
    assert _plain(ApiToken)
    assert _plain(DeploymentEvent)
    assert [m for m in apps.get_models() if not _plain(m)] == [Deployment]


def test_a_missing_left_join_part_is_none(tenant):
    deployment = make_deployment(tenant)
    rows = RowModels((Deployment, "d"))
    assert rows.instances([None] * len(rows.attnames[0])) == [None]
    assert (
        rows.instances(_row(rows, "d.id = %s", [_pk(Deployment, deployment.pk)]))[0].pk
        == deployment.pk
    )
