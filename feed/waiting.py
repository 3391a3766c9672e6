"""Long polling: hold a feed request until an event commits or time runs out,
without holding a database connection while it waits.

On PostgreSQL each process runs one listener thread with one dedicated
connection doing `LISTEN arcadia_feed`; the commit-time trigger notifies the
highest position it assigned, and PostgreSQL delivers notifications after the
commit is visible, in commit order. Waiting requests sleep on a
`threading.Condition` until the notified head passes the head they last saw,
then read again. On SQLite (one process, no NOTIFY) they poll every 200 ms.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection, connections

from feed.cursor import Anchor
from feed.selectors import FeedPage
from feed.sql import CHANNEL, EVENT_TABLE

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 30
SQLITE_POLL_SECONDS = 0.2
#: How long a request waits for the listener to connect before polling instead.
LISTENER_READY_SECONDS = 1.0
#: Polling interval while the listener is down (the database is unreachable or
#: restarting): degraded, never stuck.
FALLBACK_POLL_SECONDS = 1.0
#: A silent listener checks its connection this often.
HEALTH_CHECK_SECONDS = 30.0


class FeedListener:
    """One LISTEN connection per process, shared by every waiting request.

    Started lazily by the first request that waits (after a fork, afresh:
    threads do not survive it), a daemon thread, reconnecting with backoff
    after any error. Each (re)connection LISTENs first and then reads the
    current head, so nothing committed in between is missed, and wakes every
    waiter to read again.
    """

    def __init__(self, alias: str = "default"):
        self._alias = alias
        self._cond = threading.Condition()
        self._head = 0
        self._connected = False
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = threading.Event()
        self._conn = None

    # -- for waiting requests ----------------------------------------------

    @property
    def head(self) -> int:
        """The highest position notified (or read at connection time)."""
        with self._cond:
            return self._head

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    @property
    def generation(self) -> int:
        """Bumped on every connect and disconnect."""
        with self._cond:
            return self._generation

    def ready(self, timeout: float = LISTENER_READY_SECONDS) -> bool:
        """Start the listener if needed; True once it is listening."""
        self._ensure_started()
        with self._cond:
            return self._cond.wait_for(lambda: self._connected, timeout)

    def wait_beyond(self, seen: int, timeout: float) -> bool:
        """Sleep until a position above `seen` is notified, the listener
        reconnects (anything may have committed meanwhile), or `timeout`
        passes. True when woken, False on timeout."""
        with self._cond:
            generation = self._generation
            return self._cond.wait_for(
                lambda: self._head > seen or self._generation != generation, timeout
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close its connection (tests; process exit does
        not need it)."""
        thread = self._thread
        self._stopping.set()
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._thread = None
            self._connected = False

    # -- the thread --------------------------------------------------------

    def _ensure_started(self) -> None:
        with self._cond:
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._connected = False
            self._stopping = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stopping,), name="arcadia-feed-listener", daemon=True
            )
            self._thread.start()

    def _connection_params(self) -> dict:
        if settings.ARCADIA_FEED_LISTEN_URL:
            # Behind a transaction-pooling PgBouncer LISTEN needs a session:
            # PostgreSQL directly (or a session-mode pool).
            params: dict = {"conninfo": settings.ARCADIA_FEED_LISTEN_URL}
        else:
            params = connections[self._alias].get_connection_params()
        for django_only in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(django_only, None)
        # A listener that only receives would not notice a dead peer: let TCP tell.
        params.setdefault("keepalives", 1)
        params.setdefault("keepalives_idle", 10)
        params.setdefault("keepalives_interval", 5)
        params.setdefault("keepalives_count", 3)
        params.setdefault("connect_timeout", 5)
        params["application_name"] = "arcadia-feed-listener"
        return params

    def _run(self, stopping: threading.Event) -> None:
        import psycopg

        backoff = 0.2
        while not stopping.is_set():
            conn = None
            try:
                conn = psycopg.connect(**self._connection_params(), autocommit=True)
                conn.execute(f"LISTEN {CHANNEL}")
                head = conn.execute(f"SELECT coalesce(max(position), 0) FROM {EVENT_TABLE}")
                head = head.fetchone()[0]
                with self._cond:
                    self._head = head
                    self._connected = True
                    self._generation += 1
                    self._cond.notify_all()
                backoff = 0.2
                quiet_since = time.monotonic()
                while not stopping.is_set():
                    woke = False
                    for notify in conn.notifies(timeout=1.0):
                        position = int(notify.payload)
                        woke = True
                        with self._cond:
                            if position > self._head:
                                self._head = position
                                self._cond.notify_all()
                    if woke:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > HEALTH_CHECK_SECONDS:
                        conn.execute("SELECT 1")
                        quiet_since = time.monotonic()
            except Exception:
                if not stopping.is_set():
                    logger.warning("feed listener: connection lost; reconnecting", exc_info=True)
            finally:
                with self._cond:
                    self._connected = False
                    self._generation += 1
                    self._cond.notify_all()
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # already broken
                        logger.debug("feed listener: close failed", exc_info=True)
            stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)


_listener = FeedListener()


def listener() -> FeedListener:
    return _listener


def long_poll(
    read: Callable[[int | Anchor], FeedPage], *, after: int | Anchor, wait: float
) -> FeedPage:
    """`read(after)`, and when it finds nothing, wait up to `wait` seconds for
    a commit and read again (from where the first read ended).

    While it waits the request holds its worker thread but not a database
    connection: Django's connection is closed first and reopened by the next
    read. A request already inside a transaction does not wait at all: it
    would sleep holding the transaction open (its locks, and the oldest
    snapshot that vacuum must respect).
    """
    deadline = time.monotonic() + wait
    can_wait = wait > 0 and not connection.in_atomic_block
    on_postgres = connection.vendor == "postgresql"
    feed_listener = _listener if (can_wait and on_postgres) else None
    listening = feed_listener.ready() if feed_listener is not None else False
    # Read the notified head before reading the feed: anything committing
    # after this read's snapshot is notified with a position above it.
    seen = feed_listener.head if feed_listener is not None else 0
    page = read(after)
    if page.events or not can_wait:
        return page
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return page
        after = page.next_position
        if feed_listener is not None:
            connection.close()
            if listening:
                woken = feed_listener.wait_beyond(seen, remaining)
                if not woken:
                    return page  # nothing committed during the whole wait
            else:
                time.sleep(min(remaining, FALLBACK_POLL_SECONDS))
            listening = feed_listener.connected
            seen = feed_listener.head
        else:
            # SQLite: a file, no server connection to give back; poll.
            time.sleep(min(remaining, SQLITE_POLL_SECONDS))
        page = read(after)
        if page.events:
            return page
