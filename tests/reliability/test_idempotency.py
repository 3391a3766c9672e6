"""Idempotency-Key on API POSTs: replay, reuse, scope, what is (not) stored, atomicity."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from arcadia_cloud.models import IdempotencyRecord
from deployments.models import Deployment, DeploymentEvent
from tests.factories import IdentityFactory, token_for
from tests.reliability.conftest import bearer, post_json

pytestmark = pytest.mark.django_db

CREATE = {"slug": "web", "display_name": "Web", "region": "us-east-1"}


def _create(client, body=None, key="key-1", **headers):
    return post_json(
        client, "/api/v1/deployments", body or CREATE, HTTP_IDEMPOTENCY_KEY=key, **headers
    )


def test_retry_with_same_key_and_body_replays_the_first_answer(tenant_client, tenant):
    first = _create(tenant_client)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    again = _create(tenant_client)

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == "application/json"
    assert Deployment.objects.filter(tenant=tenant).count() == 1
    assert DeploymentEvent.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.method, record.path, record.response_status) == (
        "key-1",
        "POST",
        "/api/v1/deployments",
        201,
    )


def test_replay_carries_the_new_request_id(tenant_client):
    _create(tenant_client, HTTP_X_REQUEST_ID="first-try")
    again = _create(tenant_client, HTTP_X_REQUEST_ID="second-try")
    assert again["Idempotent-Replayed"] == "true"
    assert again["X-Request-Id"] == "second-try"
    assert DeploymentEvent.objects.get().request_id == "first-try"


def test_same_key_with_json_keys_reordered_is_the_same_request(tenant_client):
    _create(tenant_client, '{"slug": "web", "display_name": "Web", "region": "us-east-1"}')
    again = _create(tenant_client, '{"region":"us-east-1","display_name":"Web","slug":"web"}')
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Deployment.objects.count() == 1


def test_same_key_with_another_body_is_422_and_changes_nothing(tenant_client):
    _create(tenant_client)
    reused = _create(tenant_client, {**CREATE, "slug": "other"})
    assert reused.status_code == 422
    assert reused.json() == {"error": "idempotency_key_reused"}
    assert list(Deployment.objects.values_list("slug", flat=True)) == ["web"]
    assert IdempotencyRecord.objects.count() == 1


def test_same_key_on_another_path_is_422(tenant_client, deployment):
    _create(tenant_client)
    reused = post_json(
        tenant_client,
        f"/api/v1/deployments/{deployment.pk}/transition",
        CREATE,
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert reused.status_code == 422
    assert reused.json() == {"error": "idempotency_key_reused"}
    deployment.refresh_from_db()
    assert deployment.state == "active"


def test_keys_are_scoped_to_the_identity(tenant_client, tenant):
    colleague = bearer(token_for(IdentityFactory(email="dev@acme.example", tenant=tenant)))
    assert _create(tenant_client).status_code == 201
    # Same key, same body, another identity: its own request, not a replay.
    theirs = _create(colleague)
    assert theirs.status_code == 422  # the slug is now taken in the tenant
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json() == {
        "error": {"slug": ["A deployment with this slug already exists in the tenant."]}
    }


def test_keys_survive_token_rotation(tenant_client, tenant_identity):
    first = _create(tenant_client)
    rotated = bearer(token_for(tenant_identity, name="rotated"))
    again = _create(rotated)
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_validation_failure_is_not_stored(tenant_client):
    bad = _create(tenant_client, {**CREATE, "region": "mars-1"})
    assert bad.status_code == 422
    assert IdempotencyRecord.objects.count() == 0
    # The corrected retry with the same key runs (not "key reused").
    fixed = _create(tenant_client)
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed
    assert Deployment.objects.count() == 1


def test_refused_transition_is_not_stored_and_a_retry_runs_again(tenant_client, deployment):
    path = f"/api/v1/deployments/{deployment.pk}/transition"
    refused = post_json(tenant_client, path, {"to_state": "archived"}, HTTP_IDEMPOTENCY_KEY="t1")
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_transition"
    assert IdempotencyRecord.objects.count() == 0
    assert DeploymentEvent.objects.filter(deployment=deployment).count() == 1
    # the corrected retry with the same key runs (no replay of the refusal)
    retry = post_json(tenant_client, path, {"to_state": "paused"}, HTTP_IDEMPOTENCY_KEY="t1")
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry
    assert retry.json()["deployment"]["state"] == "paused"
    assert DeploymentEvent.objects.filter(deployment=deployment).count() == 2


def test_transition_retry_moves_once(tenant_client, deployment):
    path = f"/api/v1/deployments/{deployment.pk}/transition"
    body = {"to_state": "paused", "reason": "holiday"}
    first = post_json(tenant_client, path, body, HTTP_IDEMPOTENCY_KEY="pause-1")
    again = post_json(tenant_client, path, body, HTTP_IDEMPOTENCY_KEY="pause-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert list(
        DeploymentEvent.objects.filter(deployment=deployment).values_list("to_state", flat=True)
    ) == ["active", "paused"]


def test_post_without_key_is_not_recorded(tenant_client):
    assert post_json(tenant_client, "/api/v1/deployments", CREATE).status_code == 201
    assert IdempotencyRecord.objects.count() == 0


def test_anonymous_post_with_key_is_401_and_not_recorded(anon_client):
    response = _create(anon_client)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthenticated"}
    assert IdempotencyRecord.objects.count() == 0
    assert Deployment.objects.count() == 0


@pytest.mark.parametrize(
    "key",
    ["", "   ", "a" * 256, "has space", "tab\there", "ctrl\x01", "\u00e9t\u00e9", '"a b"'],
)
def test_malformed_key_is_400_and_changes_nothing(tenant_client, key):
    response = _create(tenant_client, key=key)
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "detail": {"Idempotency-Key": ["1 to 255 printable ASCII characters, no spaces."]},
    }
    assert Deployment.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_longest_key_and_quoted_key_are_accepted(tenant_client):
    longest = "k" * 255
    assert _create(tenant_client, key=longest).status_code == 201
    # The structured-header form `"k...k"` is the same key.
    quoted = _create(tenant_client, key=f'"{longest}"')
    assert quoted["Idempotent-Replayed"] == "true"


def test_crash_after_the_business_write_leaves_neither_effect_nor_record(
    tenant_client, monkeypatch
):
    from deployments.api import views

    real_save = IdempotencyRecord.save
    real_create = views.create_deployment
    created = []

    def spy_create(**kwargs):
        created.append(real_create(**kwargs))
        return created[-1]

    def crash_on_storing_the_answer(self, *args, **kwargs):
        # The claim (an INSERT) goes through; storing the answer (the UPDATE of
        # the response fields, after the view wrote its rows) crashes.
        if kwargs.get("update_fields"):
            raise RuntimeError("power cut before the answer is stored")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(views, "create_deployment", spy_create)
    monkeypatch.setattr(IdempotencyRecord, "save", crash_on_storing_the_answer)
    tenant_client.raise_request_exception = False
    response = _create(tenant_client)
    assert response.status_code == 500
    assert len(created) == 1  # the business write did happen, then was rolled back
    assert Deployment.objects.count() == 0
    assert DeploymentEvent.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_crash_inside_the_view_leaves_neither_effect_nor_record(tenant_client, monkeypatch):
    from deployments.api import views

    real = views.create_deployment

    def create_then_crash(**kwargs):
        real(**kwargs)
        raise RuntimeError("crash after the deployment row was written")

    monkeypatch.setattr(views, "create_deployment", create_then_crash)
    response = _create(tenant_client)
    assert response.status_code == 500
    assert response.json() == {"error": "server_error"}
    assert Deployment.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_prune_keeps_records_for_at_least_24_hours(tenant_client):
    _create(tenant_client, key="old")
    _create(tenant_client, {**CREATE, "slug": "recent"}, key="recent")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    IdempotencyRecord.objects.filter(key="recent").update(
        created_at=timezone.now() - timedelta(hours=23)
    )

    call_command("prune_idempotency_keys")

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    with pytest.raises(CommandError, match="kept at least 24 hours"):
        call_command("prune_idempotency_keys", older_than_hours=1)
    with pytest.raises(CommandError, match="kept at least 24 hours"):
        call_command("prune_idempotency_keys", older_than_hours=0)
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_idempotency_keys", batch_size=-1)
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]


def test_prune_deletes_in_batches(tenant_client):
    for n in range(5):
        _create(tenant_client, {**CREATE, "slug": f"batch-{n}"}, key=f"k{n}")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=48))
    out = StringIO()
    call_command("prune_idempotency_keys", batch_size=2, stdout=out)
    assert "pruned 5 idempotency records" in out.getvalue()
    assert not IdempotencyRecord.objects.exists()


def _post_routes():
    from tests.reliability.test_authorization_matrix import api_routes

    return [(name, kwargs) for name, method, kwargs in api_routes() if method == "POST"]


@pytest.mark.parametrize(("name", "kwargs"), _post_routes())
def test_every_post_route_honours_the_header(tenant_client, deployment, name, kwargs):
    from django.urls import reverse

    # `pk` and `resource_id` are UUIDs, other path values (a delivery's id) numbers
    uuids = {"pk", "resource_id"}
    path = reverse(name, kwargs={k: deployment.pk if k in uuids else 1 for k in kwargs})
    response = post_json(tenant_client, path, {}, HTTP_IDEMPOTENCY_KEY="bad key")
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_a_replay_costs_a_handful_of_queries(tenant_client, django_assert_max_num_queries):
    _create(tenant_client)
    with django_assert_max_num_queries(5):
        # token lookup, SAVEPOINT/BEGIN, advisory try-lock (PostgreSQL),
        # record lookup, RELEASE/COMMIT — the view does not run
        again = _create(tenant_client)
    assert again["Idempotent-Replayed"] == "true"
