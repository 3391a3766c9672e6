"""The delivery worker (`manage.py deliver_webhooks`): dispatch, claim, send,
record. See the package docstring for the guarantees; this module is the
machinery.

One main thread owns the database connection: it dispatches new feed events
into deliveries, claims due deliveries, hands them to a pool of sending
threads (which never touch the database) and writes their outcomes back in
batches. It sleeps on one queue that receives both finished attempts and
wake-ups (LISTEN/NOTIFY on PostgreSQL; a 1 s poll on SQLite), so an idle
worker uses no CPU and starts a delivery within a second of its fact's
commit (milliseconds, when listening).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from feed.envelope import envelope_json
from feed.selectors import FeedEvent
from feed.sql import EVENT_TABLE
from webhooks import policy, services
from webhooks.dispatch import (
    DEFAULT_BATCH,
    DELIVERY_TABLE,
    ENDPOINT_TABLE,
    RELEASE_NEXT_SQL,
    dispatch,
    lock_lanes_shared,
    needs_dispatch,
)
from webhooks.models import RESPONSE_KEEP_BYTES, Delivery, DeliveryStatus, EndpointSecret
from webhooks.sender import Outcome, Sender
from webhooks.signing import Signer

logger = logging.getLogger(__name__)

#: A claimed delivery is leased for this long: nobody else claims it, and if
#: its worker dies, it is due again when the lease ends.
LEASE = timedelta(seconds=60)
#: A claimed delivery not sent within this many seconds of its claim is
#: released instead: the attempt (10 s at most) must end inside the lease.
SEND_WITHIN_SECONDS = 40.0
MAX_CONCURRENCY = 64
#: The longest an idle worker sleeps without a wake-up (PostgreSQL), and the
#: polling interval without LISTEN (SQLite).
IDLE_SECONDS = 5.0
POLL_SECONDS = 1.0
#: How long the main thread gathers finished attempts into one write.
GATHER_SECONDS = 0.01
_WAKE = object()


@dataclass(slots=True)
class Claimed:
    id: int
    endpoint_id: UUID
    deployment_id: UUID | None
    position: int
    attempts: int  # after this claim: the fence for its result
    scheduled_at: datetime
    url: str
    failing_since: datetime | None
    event: FeedEvent | None  # None: the event was pruned from the feed
    signer: Signer | None = None
    claimed_at: float = 0.0  # time.monotonic()


@dataclass(slots=True)
class Result:
    claimed: Claimed
    outcome: Outcome | None  # None: released unsent
    finished_at: datetime


# ---- claiming -----------------------------------------------------------------------

_EVENT_COLUMNS = (
    "ev.id, ev.position, ev.type, ev.tenant_id, ev.deployment_id, ev.occurred_at, ev.data, "
    "ev.request_id"
)
_DUE = (
    "d.status = 'pending' AND d.next_attempt_at <= {now} AND ep.enabled "
    "AND (d.deployment_id IS NULL OR NOT EXISTS ("
    f"SELECT 1 FROM {DELIVERY_TABLE} AS p WHERE p.endpoint_id = d.endpoint_id "
    "AND p.deployment_id = d.deployment_id AND p.status = 'pending' "
    "AND p.position < d.position))"
)
# PostgreSQL: one statement (one round trip, its own short transaction): pick
# the due rows with SKIP LOCKED, lease them, return them with their endpoint
# and event.
_CLAIM_PG = (
    "WITH due AS ("
    f"SELECT d.id FROM {DELIVERY_TABLE} AS d JOIN {ENDPOINT_TABLE} AS ep "
    "ON ep.id = d.endpoint_id "
    f"WHERE {_DUE.format(now='now()')} "
    "ORDER BY d.next_attempt_at, d.id LIMIT %s FOR UPDATE OF d SKIP LOCKED), "
    f"leased AS (UPDATE {DELIVERY_TABLE} AS d SET attempts = d.attempts + 1, "
    "next_attempt_at = now() + %s, leased_until = now() + %s, last_attempt_at = now() "
    "FROM due WHERE d.id = due.id RETURNING d.id, d.endpoint_id, d.deployment_id, "
    "d.position, d.attempts, d.scheduled_at, d.event_id) "
    f"SELECT l.id, l.endpoint_id, l.deployment_id, l.position, l.attempts, l.scheduled_at, "
    f"ep.url, ep.failing_since, {_EVENT_COLUMNS}, now() "
    f"FROM leased AS l JOIN {ENDPOINT_TABLE} AS ep ON ep.id = l.endpoint_id "
    f"LEFT JOIN {EVENT_TABLE} AS ev ON ev.id = l.event_id ORDER BY l.id"
)
# SQLite (one writer): select, then lease.
_CLAIM_SQLITE = (
    "SELECT d.id, d.endpoint_id, d.deployment_id, d.position, d.attempts + 1, d.scheduled_at, "
    f"ep.url, ep.failing_since, {_EVENT_COLUMNS} FROM {DELIVERY_TABLE} AS d "
    f"JOIN {ENDPOINT_TABLE} AS ep ON ep.id = d.endpoint_id "
    f"LEFT JOIN {EVENT_TABLE} AS ev ON ev.id = d.event_id "
    f"WHERE {_DUE.format(now='%s')} ORDER BY d.next_attempt_at, d.id LIMIT %s"
)
#: How long a worker re-uses an endpoint's signing secrets. A rotation adds a
#: secret and keeps the old one valid for 24 h, so a few seconds of the old
#: set alone still verifies at the receiver.
SECRETS_TTL_SECONDS = 5.0


class SignerCache:
    """Each endpoint's `Signer`, reloaded after `SECRETS_TTL_SECONDS`."""

    def __init__(self, ttl: float = SECRETS_TTL_SECONDS):
        self._ttl = ttl
        self._cache: dict[UUID, tuple[float, Signer | None]] = {}

    def for_endpoints(self, endpoint_ids: set[UUID], now: datetime) -> dict[UUID, Signer | None]:
        clock = time.monotonic()
        stale = {e for e in endpoint_ids if clock - self._cache.get(e, (-1e9, None))[0] > self._ttl}
        if stale:
            if len(self._cache) > 10_000:
                self._cache.clear()
            loaded = _signers(stale, now)
            for endpoint_id in stale:
                self._cache[endpoint_id] = (clock, loaded.get(endpoint_id))
        return {e: self._cache[e][1] for e in endpoint_ids}


def use_async_commit() -> None:
    """The worker's own writes (claims, outcomes, dispatches) commit without
    waiting for the WAL flush (PostgreSQL `synchronous_commit = off`): a
    database crash can lose the last fraction of a second of them, which
    only means a delivery is sent again (at least once, same webhook-id) or
    dispatched again (its cursor is rolled back with it). Per session."""
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    raw = connection.connection
    if getattr(connection, "_webhooks_async_commit", None) is not raw:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        connection._webhooks_async_commit = raw


def claim(limit: int, signers: SignerCache | None = None) -> list[Claimed]:
    """Lease up to `limit` due deliveries, soonest due first: FOR UPDATE SKIP
    LOCKED (two workers never take the same row) and one UPDATE setting the
    lease and counting the attempt, in one short transaction (on PostgreSQL
    one statement). A delivery whose (endpoint, deployment) has an earlier
    delivery still pending is not due: per-deployment order. Then the
    endpoints' secrets (cached for a few seconds)."""
    if limit <= 0:
        return []
    lease = LEASE
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_PG, [limit, lease, lease])
            rows = cursor.fetchall()
        if not rows:
            return []
        now = rows[0][-1]
        rows = [row[:-1] for row in rows]
    else:
        now = timezone.now()
        with transaction.atomic():
            stamp = connection.ops.adapt_datetimefield_value(now)
            with connection.cursor() as cursor:
                cursor.execute(_CLAIM_SQLITE, [stamp, limit])
                rows = cursor.fetchall()
            if not rows:
                return []
            Delivery.objects.filter(pk__in=[row[0] for row in rows]).update(
                attempts=F("attempts") + 1,
                next_attempt_at=now + lease,
                leased_until=now + lease,
                last_attempt_at=now,
            )
    claimed = [_claimed(row) for row in rows]
    keys = (signers or SignerCache(ttl=0)).for_endpoints({c.endpoint_id for c in claimed}, now)
    started = time.monotonic()
    for c in claimed:
        c.signer = keys.get(c.endpoint_id)
        c.claimed_at = started
    return claimed


def _claimed(row) -> Claimed:
    (id_, endpoint_id, deployment_id, position, attempts, scheduled_at, url, failing_since) = row[
        :8
    ]
    to_uuid = _uuid
    event = None  # the event was pruned
    if row[8] is not None:
        ev_id, ev_position, ev_type, tenant_id, ev_deployment, occurred_at, data, request_id = row[
            8:
        ]
        event = FeedEvent(
            ev_id,
            ev_position,
            ev_type,
            to_uuid(tenant_id),
            to_uuid(ev_deployment),
            _aware(occurred_at),
            data if isinstance(data, str) else _json_text(data),
            request_id,
        )
    return Claimed(
        id=id_,
        endpoint_id=to_uuid(endpoint_id),
        deployment_id=to_uuid(deployment_id),
        position=position,
        attempts=attempts,
        scheduled_at=_aware(scheduled_at),
        url=url,
        failing_since=_aware(failing_since) if failing_since is not None else None,
        event=event,
    )


def _uuid(value) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    return UUID(str(value))


def _aware(value):
    if isinstance(value, str):  # SQLite
        value = datetime.fromisoformat(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_fixed_timezone(0))
    return value


def _json_text(data) -> str:
    import json

    return json.dumps(data, separators=(",", ":"))


def _signers(endpoint_ids: set[UUID], now: datetime) -> dict[UUID, Signer]:
    keys: dict[UUID, list[str]] = {}
    rows = (
        EndpointSecret.objects.filter(endpoint_id__in=endpoint_ids)
        .exclude(expires_at__lte=now)
        .order_by("created_at", "id")
        .values_list("endpoint_id", "secret")
    )
    for endpoint_id, secret in rows:
        keys.setdefault(endpoint_id, []).append(secret)
    return {endpoint_id: Signer(secrets) for endpoint_id, secrets in keys.items()}


# ---- sending (in the pool's threads: no database) ----------------------------------


def attempt(c: Claimed, sender: Sender, *, stopping: threading.Event) -> Result:
    if stopping.is_set() or time.monotonic() - c.claimed_at > SEND_WITHIN_SECONDS:
        return Result(c, None, timezone.now())
    if c.event is None:
        outcome = Outcome(status=None, error="the event is no longer in the feed (retention)")
    elif c.signer is None:
        outcome = Outcome(status=None, error="the endpoint has no signing secret")
    else:
        body = envelope_json(c.event)
        headers = c.signer.headers(message_id=f"evt_{c.event.id}", body=body)
        outcome = sender.post(c.url, body.encode("utf-8"), headers)
    return Result(c, outcome, timezone.now())


# ---- recording outcomes -------------------------------------------------------------

_FENCE = "WHERE id = %s AND attempts = %s AND status = 'pending'"


def record(results: list[Result]) -> Counter:
    """Write a batch of outcomes in one transaction; then the endpoint-level
    consequences (410 and 3 days of failures disable, through the service).

    Each row is written only if it is still this claim's (`attempts` and
    `pending` unchanged): a result that comes after its lease was taken over,
    or after the endpoint was disabled or the delivery resent, is dropped.
    """
    counts: Counter = Counter()
    stamp = connection.ops.adapt_datetimefield_value
    succeeded: list[tuple] = []
    retried: list[tuple] = []
    finished_failed: list[tuple] = []
    released: list[tuple] = []
    lanes: set[tuple[UUID, UUID]] = set()  # done: the next of their lane may go
    ok_endpoints: set[UUID] = set()
    failing: dict[UUID, Claimed] = {}
    gone: dict[UUID, str] = {}
    for result in results:
        c, outcome, at = result.claimed, result.outcome, result.finished_at
        if outcome is None:
            released.append((stamp(at), c.id, c.attempts))
            counts["released"] += 1
            continue
        body = outcome.body[:RESPONSE_KEEP_BYTES]
        if outcome.ok:
            succeeded.append((stamp(at), outcome.status, body, c.id, c.attempts))
            ok_endpoints.add(c.endpoint_id)
            counts["succeeded"] += 1
            if c.deployment_id is not None:
                lanes.add((c.endpoint_id, c.deployment_id))
            continue
        counts["failed_attempts"] += 1
        failing.setdefault(c.endpoint_id, c)
        error = outcome.error or f"HTTP {outcome.status}"
        if outcome.status == policy.GONE_STATUS:
            gone[c.endpoint_id] = "The endpoint answered 410 Gone."
        if (
            c.event is None
            or outcome.status == policy.GONE_STATUS
            or policy.gives_up(scheduled_at=c.scheduled_at, now=at)
        ):
            finished_failed.append((outcome.status, body, error[:500], c.id, c.attempts))
            if c.deployment_id is not None:
                lanes.add((c.endpoint_id, c.deployment_id))
            counts["gave_up"] += 1
            continue
        delay = None
        if outcome.status in policy.RETRY_AFTER_STATUSES:
            delay = policy.retry_after_seconds(outcome.retry_after, now=at)
        if delay is None:
            delay = policy.backoff_seconds(c.attempts)
        next_at = at + timedelta(seconds=delay)
        retried.append((stamp(next_at), outcome.status, body, error[:500], c.id, c.attempts))

    with transaction.atomic(), connection.cursor() as cursor:
        if lanes:
            lock_lanes_shared()
        if succeeded:
            cursor.executemany(
                f"UPDATE {DELIVERY_TABLE} SET status = 'succeeded', delivered_at = %s, "
                "next_attempt_at = NULL, leased_until = NULL, last_status_code = %s, "
                f"last_response = %s, last_error = '' {_FENCE}",
                succeeded,
            )
        if retried:
            cursor.executemany(
                f"UPDATE {DELIVERY_TABLE} SET next_attempt_at = %s, leased_until = NULL, "
                f"last_status_code = %s, last_response = %s, last_error = %s {_FENCE}",
                retried,
            )
        if finished_failed:
            cursor.executemany(
                f"UPDATE {DELIVERY_TABLE} SET status = 'failed', next_attempt_at = NULL, "
                "leased_until = NULL, last_status_code = %s, last_response = %s, "
                f"last_error = %s {_FENCE}",
                finished_failed,
            )
        if released:
            cursor.executemany(
                f"UPDATE {DELIVERY_TABLE} SET next_attempt_at = %s, leased_until = NULL, "
                f"attempts = attempts - 1 {_FENCE}",
                released,
            )
        # Per-deployment order: the next delivery of each lane that is done
        # becomes due (the others of the lane keep waiting behind it).
        if lanes:
            now = stamp(timezone.now())
            cursor.executemany(
                RELEASE_NEXT_SQL,
                [(now, _db_uuid(e), _db_uuid(d)) for e, d in sorted(lanes, key=str)],
            )
        recovered = [e for e in ok_endpoints if _was_failing(results, e)]
        if recovered:
            cursor.execute(
                f"UPDATE {ENDPOINT_TABLE} SET failing_since = NULL "
                f"WHERE id IN ({', '.join(['%s'] * len(recovered))})",
                [_db_uuid(e) for e in recovered],
            )
        newly_failing = [
            e for e, c in failing.items() if e not in ok_endpoints and c.failing_since is None
        ]
        if newly_failing:
            at = stamp(timezone.now())
            cursor.execute(
                f"UPDATE {ENDPOINT_TABLE} SET failing_since = %s WHERE failing_since IS NULL "
                f"AND id IN ({', '.join(['%s'] * len(newly_failing))})",
                [at, *[_db_uuid(e) for e in newly_failing]],
            )
    now = timezone.now()
    for endpoint_id, c in failing.items():
        if endpoint_id in ok_endpoints or endpoint_id in gone:
            continue
        if c.failing_since is not None and now - c.failing_since >= policy.DISABLE_AFTER:
            gone[endpoint_id] = (
                "Every delivery attempt failed for 3 days "
                f"(since {c.failing_since.isoformat(timespec='seconds')})."
            )
    for endpoint_id, reason in gone.items():
        if services.disable_endpoint(endpoint_id=endpoint_id, reason=reason):
            counts["endpoints_disabled"] += 1
    return counts


def _was_failing(results: list[Result], endpoint_id: UUID) -> bool:
    return any(
        r.claimed.endpoint_id == endpoint_id and r.claimed.failing_since is not None
        for r in results
    )


def _db_uuid(value: UUID):
    return Delivery._meta.get_field("deployment_id").get_db_prep_value(value, connection)


def next_due_in(now: datetime | None = None) -> float | None:
    """Seconds until the soonest pending delivery that is not due yet (a
    retry, a lease ending); None when there is none."""
    now = now or timezone.now()
    soonest = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__gt=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if soonest is None else max((soonest - now).total_seconds(), 0.0)


# ---- the loop -----------------------------------------------------------------------


class Worker:
    """`run()` until `stop()` (or, with `once`, until nothing is due)."""

    def __init__(
        self,
        *,
        concurrency: int = 8,
        sender: Sender | None = None,
        listen: bool | None = None,
        log: Callable[[str], None] | None = None,
    ):
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be 1-{MAX_CONCURRENCY}")
        self.concurrency = concurrency
        # Claimed but not yet sent wait in the pool's queue: enough that the
        # threads never idle while the main thread writes and claims.
        self.capacity = 4 * concurrency
        self.signers = SignerCache()
        self.sender = sender or Sender(connections_per_host=concurrency)
        self.listen = connection.vendor == "postgresql" if listen is None else listen
        self.stopping = threading.Event()
        self.counts: Counter = Counter()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._log = log or (lambda message: logger.info(message))

    def stop(self) -> None:
        """Stop claiming; attempts in flight finish, queued ones are released.
        Safe from a signal handler."""
        self.stopping.set()
        self._queue.put(_WAKE)

    def wake(self) -> None:
        self._queue.put(_WAKE)

    def run(self, *, once: bool = False) -> Counter:
        wakeup = None
        if self.listen and not once:
            from webhooks.wakeup import Wakeup

            wakeup = Wakeup(self.wake)
            wakeup.start()
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="arcadia-webhook")
        try:
            self._loop(pool, once=once, listening=wakeup is not None)
        finally:
            pool.shutdown(wait=True)
            if wakeup is not None:
                wakeup.stop()
            self.sender.close()
        return self.counts

    def _submit(self, pool: ThreadPoolExecutor, c: Claimed) -> None:
        def task() -> None:
            try:
                result = attempt(c, self.sender, stopping=self.stopping)
            except Exception as exc:  # never lose the claim's result
                logger.exception("webhook attempt crashed")
                result = Result(
                    c, Outcome(status=None, error=f"internal error: {exc}"[:500]), timezone.now()
                )
            self._queue.put(result)

        pool.submit(task)

    def _loop(self, pool: ThreadPoolExecutor, *, once: bool, listening: bool) -> None:
        in_flight = 0
        unwritten: list[Result] = []
        check_feed = True
        failures = 0
        items: list = []
        while True:
            for item in items:
                if item is _WAKE:
                    check_feed = True
                else:
                    unwritten.append(item)
                    in_flight -= 1
            items = []
            claimed_now = 0
            try:
                use_async_commit()
                if unwritten:
                    self.counts.update(record(unwritten))
                    unwritten = []
                if self.stopping.is_set():
                    if in_flight == 0:
                        return
                else:
                    if check_feed:
                        check_feed = False
                        if needs_dispatch():
                            result = dispatch()
                            check_feed = result.events >= DEFAULT_BATCH
                    room = self.capacity - in_flight
                    if room >= self.concurrency or in_flight == 0:
                        for c in claim(room, self.signers):
                            self._submit(pool, c)
                            in_flight += 1
                            claimed_now += 1
                failures = 0
            except DatabaseError:
                failures += 1
                logger.warning("webhooks worker: database error; retrying", exc_info=True)
                connection.close()
                self.stopping.wait(min(0.2 * 2**failures, 10.0))
                continue
            if once and in_flight == 0 and claimed_now == 0 and not check_feed:
                return
            if check_feed:
                timeout = 0.0  # more of the feed to dispatch right away
            elif in_flight:
                timeout = 1.0
            elif self.stopping.is_set():
                timeout = 0.0
            else:
                timeout = self._idle_timeout(listening)
            items = self._wait(timeout, in_flight=in_flight)
            if not listening and not items:
                # Nothing wakes a worker that cannot LISTEN (SQLite): each
                # idle poll looks at the feed again.
                check_feed = True

    def _idle_timeout(self, listening: bool) -> float:
        ceiling = IDLE_SECONDS if listening else POLL_SECONDS
        try:
            due = next_due_in()
        except DatabaseError:
            connection.close()
            return ceiling
        return ceiling if due is None else min(due, ceiling)

    def _wait(self, timeout: float, *, in_flight: int = 0) -> list:
        """The next items (attempt results, wake-ups), waiting up to `timeout`
        for the first. While attempts are in flight, results are gathered
        for up to `GATHER_SECONDS` more (a batch per write, not one each)."""
        items = []
        try:
            items.append(
                self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            )
        except queue.Empty:
            return items
        deadline = time.monotonic() + GATHER_SECONDS
        results = sum(1 for item in items if item is not _WAKE)
        while True:
            try:
                items.append(self._queue.get_nowait())
                results += items[-1] is not _WAKE
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if (
                remaining <= 0
                or results >= min(in_flight, self.concurrency)
                or self.stopping.is_set()
            ):
                return items
            try:
                items.append(self._queue.get(timeout=remaining))
                results += items[-1] is not _WAKE
            except queue.Empty:
                return items
