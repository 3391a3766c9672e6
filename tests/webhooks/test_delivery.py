"""Deliveries to a real HTTP receiver on loopback, verified there with the
`standardwebhooks` library: the success path, retries on the schedule,
timeouts, 410, Retry-After, per-deployment order, rotation."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.webhooks.conftest import commit_event, make_endpoint
from tests.webhooks.receiver import Answer
from webhooks.models import Delivery
from webhooks.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(concurrency: int = 4):
    return Worker(concurrency=concurrency, listen=False).run(once=True)


def test_a_committed_event_arrives_signed_and_verifiable(tenant, receiver):
    _, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    deployment = uuid.uuid4()
    event = commit_event(tenant, deployment, to_state="paused")

    counts = deliver()

    [hit] = receiver.wait_for(1)
    assert counts["succeeded"] == 1
    assert hit.verified == {secret: True}
    assert hit.webhook_id == f"evt_{event.id}"
    assert hit.envelope["id"] == f"evt_{event.id}"
    assert hit.envelope["data"] == {"to_state": "paused"}
    assert hit.envelope["subject"] == str(deployment)
    assert hit.headers["content-type"] == "application/json"
    delivery = Delivery.objects.get()
    assert delivery.status == "succeeded"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.last_response == "ok"
    assert delivery.delivered_at is not None


def _due_now(**filters):
    """Let time pass: what is scheduled later is due now (what waits for an
    earlier delivery of its deployment keeps waiting)."""
    Delivery.objects.filter(status="pending", next_attempt_at__isnull=False, **filters).update(
        next_attempt_at=timezone.now()
    )


def _seconds_until_next(delivery: Delivery) -> float:
    return (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()


def test_failures_are_retried_on_the_schedule_with_the_same_webhook_id(tenant, receiver):
    _, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(500, b"boom") if hit.index < 2 else Answer(204, b""))
    event = commit_event(tenant, uuid.uuid4())

    deliver()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_response == "boom"
    assert 4 <= _seconds_until_next(delivery) <= 6  # about 5 s, +-20%
    deliver()  # not due yet: nothing is sent
    assert len(receiver.answered()) == 1

    _due_now()
    deliver()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    assert 240 <= _seconds_until_next(delivery) <= 360  # about 5 min

    _due_now()
    deliver()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 204)
    hits = receiver.answered()
    assert [h.webhook_id for h in hits] == [f"evt_{event.id}"] * 3
    assert all(h.verified[secret] for h in hits)
    # a retry is a new attempt with a fresh timestamp, but the same message
    assert len({h.body for h in hits}) == 1


def test_the_schedule_spans_at_least_three_days_then_the_delivery_fails(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(500))
    commit_event(tenant, uuid.uuid4())
    deliver()
    delivery = Delivery.objects.get()
    # an attempt failing less than 3 days after scheduling is retried...
    Delivery.objects.update(
        scheduled_at=timezone.now() - timedelta(days=3) + timedelta(minutes=5),
        attempts=11,
        next_attempt_at=timezone.now(),
    )
    deliver()
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert 8 * 3600 <= _seconds_until_next(delivery) <= 12 * 3600  # 10 h +-20%
    # ...one failing 3 days after is the last
    Delivery.objects.update(
        scheduled_at=timezone.now() - timedelta(days=3), next_attempt_at=timezone.now()
    )
    deliver()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    assert delivery.last_error == "HTTP 500"


def test_a_timeout_is_a_failed_attempt(tenant, receiver):
    from webhooks.sender import Sender

    make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(200, delay=1.5))
    commit_event(tenant, uuid.uuid4())
    Worker(concurrency=1, listen=False, sender=Sender(timeout=0.3)).run(once=True)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "timed out" in delivery.last_error.lower()
    assert 4 <= _seconds_until_next(delivery) <= 6 + 0.3 + 0.5  # from the attempt's end


def test_the_default_timeout_is_ten_seconds():
    from webhooks.sender import TIMEOUT_SECONDS, Sender

    assert TIMEOUT_SECONDS == 10.0
    timeout = Sender()._timeout
    assert (timeout.connect_timeout, timeout.read_timeout) == (10.0, 10.0)


def test_a_connection_refused_is_a_failed_attempt(tenant, receiver):
    from tests import live

    make_endpoint(tenant, f"http://127.0.0.1:{live.free_port()}/nobody", receiver=receiver)
    commit_event(tenant, uuid.uuid4())
    deliver()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert "refused" in delivery.last_error.lower()


def test_410_disables_the_endpoint_and_fails_its_pending_deliveries(tenant, receiver):
    from feed.models import Event

    endpoint, _ = make_endpoint(tenant, receiver.url, receiver=receiver)
    make_endpoint(tenant, receiver.url + "/other", receiver=receiver)
    receiver.behave(lambda hit: Answer(410) if hit.path == "/hooks" else Answer(200))
    first = commit_event(tenant, uuid.uuid4())
    waiting = commit_event(tenant, uuid.uuid4())
    from webhooks.dispatch import dispatch

    dispatch()
    # one of them is scheduled for later: it is pending but not attempted
    Delivery.objects.filter(endpoint=endpoint, event_id=waiting.id).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    deliver()

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "The endpoint answered 410 Gone."
    statuses = dict(Delivery.objects.filter(endpoint=endpoint).values_list("event_id", "status"))
    assert statuses == {first.id: "failed", waiting.id: "failed"}
    assert Delivery.objects.get(endpoint=endpoint, event_id=first.id).last_status_code == 410
    # the owner's other endpoints learn it from the feed
    disabled = Event.objects.get(type="webhook_endpoint.disabled")
    assert disabled.tenant_id == tenant.pk
    assert disabled.data["endpoint"]["id"] == str(endpoint.pk)
    deliver()
    assert [h.envelope["type"] for h in receiver.answered() if h.path == "/hooks/other"][-1] == (
        "webhook_endpoint.disabled"
    )
    assert not Delivery.objects.filter(endpoint=endpoint, event_id=disabled.id).exists()


@pytest.mark.parametrize(
    ("status", "header", "seconds"),
    [(429, "120", 120), (503, "7", 7), (503, "0", 1), (429, "999999", 10 * 3600)],
)
def test_429_and_503_honour_retry_after_in_seconds(tenant, receiver, status, header, seconds):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(status, headers={"Retry-After": header}))
    commit_event(tenant, uuid.uuid4())
    deliver()
    delivery = Delivery.objects.get()
    assert delivery.last_status_code == status
    assert abs(_seconds_until_next(delivery) - seconds) < 2


def test_retry_after_as_an_http_date(tenant, receiver):
    from email.utils import format_datetime

    make_endpoint(tenant, receiver.url, receiver=receiver)
    at = timezone.now() + timedelta(minutes=17)
    receiver.behave(lambda hit: Answer(503, headers={"Retry-After": format_datetime(at, True)}))
    commit_event(tenant, uuid.uuid4())
    deliver()
    delivery = Delivery.objects.get()
    assert abs((delivery.next_attempt_at - at).total_seconds()) < 2


def test_retry_after_on_a_500_is_not_honoured(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(500, headers={"Retry-After": "3600"}))
    commit_event(tenant, uuid.uuid4())
    deliver()
    assert 4 <= _seconds_until_next(Delivery.objects.get()) <= 6


def test_redirects_are_not_followed(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(
        lambda hit: (
            Answer(307, headers={"Location": receiver.url + "/elsewhere"})
            if hit.path == "/hooks"
            else Answer(200)
        )
    )
    commit_event(tenant, uuid.uuid4())
    deliver()
    assert [h.path for h in receiver.answered()] == ["/hooks"]
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 307)


def test_response_bodies_are_kept_to_1_kib(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(500, body=b"x" * 5000))
    commit_event(tenant, uuid.uuid4())
    deliver()
    assert Delivery.objects.get().last_response == "x" * 1024


def test_one_deployment_waits_for_its_failing_event_others_do_not(tenant, receiver):
    _, secret = make_endpoint(tenant, receiver.url, receiver=receiver)
    stuck, flowing = uuid.uuid4(), uuid.uuid4()
    events = []
    for i in range(3):
        events.append(commit_event(tenant, stuck, step=i))
        events.append(commit_event(tenant, flowing, step=i))
        events.append(commit_event(tenant, None, step=i))  # no deployment: unordered
    first_of_stuck = f"evt_{events[0].id}"
    fail_once = {first_of_stuck}

    def answer(hit):
        if hit.webhook_id in fail_once:
            fail_once.discard(hit.webhook_id)
            return Answer(500)
        return Answer(200)

    receiver.behave(answer)
    deliver()

    def arrived(deployment):
        return [
            h.envelope["data"]["step"]
            for h in receiver.answered()
            if h.envelope["subject"] == (str(deployment) if deployment else None)
            and h.answer.status == 200
        ]

    assert arrived(flowing) == [0, 1, 2]
    assert sorted(arrived(None)) == [0, 1, 2]
    assert arrived(stuck) == []  # its first failed; the others wait behind it
    later = Delivery.objects.filter(deployment_id=stuck).exclude(event_id=events[0].id)
    assert {d.attempts for d in later} == {0}
    # they are not even scheduled: the one before them releases them when done
    assert {d.next_attempt_at for d in later} == {None}

    _due_now(deployment_id=stuck)
    deliver()
    assert arrived(stuck) == [0, 1, 2]
    assert all(h.verified[secret] for h in receiver.answered())


def test_a_delivery_given_up_lets_the_next_ones_of_its_deployment_go(tenant, receiver):
    make_endpoint(tenant, receiver.url, receiver=receiver)
    deployment = uuid.uuid4()
    first = commit_event(tenant, deployment, step=0)
    commit_event(tenant, deployment, step=1)
    receiver.behave(lambda hit: Answer(500) if hit.webhook_id == f"evt_{first.id}" else Answer())
    deliver()
    Delivery.objects.filter(event_id=first.id).update(
        scheduled_at=timezone.now() - timedelta(days=4), next_attempt_at=timezone.now()
    )
    deliver()
    assert Delivery.objects.get(event_id=first.id).status == "failed"
    assert [h.envelope["data"]["step"] for h in receiver.answered()] == [0, 0, 1]


def test_rotation_signs_with_both_secrets_for_24_hours(tenant, receiver):
    from tests.webhooks.conftest import OPERATOR
    from webhooks.models import EndpointSecret
    from webhooks.services import rotate_secret

    endpoint, old = make_endpoint(tenant, receiver.url, receiver=receiver)
    new = rotate_secret(actor=OPERATOR, endpoint_id=endpoint.pk)
    receiver.trust(new)
    commit_event(tenant, uuid.uuid4())
    deliver()
    [hit] = receiver.answered()
    assert len(hit.signatures) == 2
    assert hit.verified == {old: True, new: True}  # either secret alone verifies
    expiry = EndpointSecret.objects.get(secret=old).expires_at
    assert timedelta(hours=23, minutes=59) < expiry - timezone.now() <= timedelta(hours=24)

    EndpointSecret.objects.filter(secret=old).update(expires_at=timezone.now())
    commit_event(tenant, uuid.uuid4())
    deliver()
    latest = receiver.answered()[-1]
    assert len(latest.signatures) == 1
    assert latest.verified == {old: False, new: True}


def test_three_days_of_failures_disable_the_endpoint(tenant, receiver):
    endpoint, _ = make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(500))
    commit_event(tenant, uuid.uuid4())
    deliver()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    assert endpoint.enabled
    endpoint.failing_since = timezone.now() - timedelta(days=3)
    endpoint.save(update_fields=["failing_since"])
    _due_now()
    deliver()
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason.startswith("Every delivery attempt failed for 3 days")


def test_a_success_ends_the_failing_streak(tenant, receiver):
    endpoint, _ = make_endpoint(tenant, receiver.url, receiver=receiver)
    receiver.behave(lambda hit: Answer(500) if hit.index == 0 else Answer(200))
    commit_event(tenant, uuid.uuid4())
    deliver()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    _due_now()
    deliver()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_platform_wide_endpoints_receive_every_tenants_events(tenant, other_tenant, receiver):
    make_endpoint(None, receiver.url, receiver=receiver)
    make_endpoint(tenant, receiver.url + "/acme", receiver=receiver)
    commit_event(tenant, uuid.uuid4())
    commit_event(other_tenant, uuid.uuid4())
    deliver()
    paths = sorted((h.path, h.envelope["tenant_id"]) for h in receiver.answered())
    assert paths == sorted(
        [
            ("/hooks", str(tenant.pk)),
            ("/hooks", str(other_tenant.pk)),
            ("/hooks/acme", str(tenant.pk)),
        ]
    )


def test_a_pruned_event_fails_its_delivery(tenant, receiver):
    from feed.services import prune_events
    from webhooks.dispatch import dispatch

    make_endpoint(tenant, receiver.url, receiver=receiver)
    commit_event(tenant, uuid.uuid4())
    dispatch()
    prune_events(retention_days=0)  # retention went past it before it was sent
    deliver()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed"
    assert "retention" in delivery.last_error
    assert receiver.answered() == []


def test_an_answer_trickled_past_the_deadline_is_cut_whole():
    """A receiver that sends a byte a second never hits the per-read timeout:
    the attempt's own deadline cuts it, so it never outlives its lease."""
    import socket
    import time

    from webhooks.sender import Sender

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    sender = Sender(timeout=1.0)
    started = time.monotonic()
    with override_settings(ARCADIA_WEBHOOK_ALLOW_HOSTS=["127.0.0.1"]):
        outcome = sender.post(f"http://127.0.0.1:{port}/slow", b"{}", {})
    took = time.monotonic() - started
    stop.set()
    sender.close()
    listener.close()
    # each byte came well within the 1 s read timeout, yet the whole attempt
    # stopped at its deadline (checked twice a second)
    assert outcome.status is None
    assert took < 1.0 + 0.5 + 0.5
