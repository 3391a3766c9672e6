"""Wake the delivery worker when there may be work: PostgreSQL LISTEN on the
feed's channel (an event committed: dispatch) and on the webhooks channel
(deliveries were created or made due by another process), on one dedicated
connection in a daemon thread that reconnects with backoff. Every
(re)connection wakes the worker too: anything may have committed while it
was not listening. SQLite has no NOTIFY: the worker polls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connections

from feed.sql import CHANNEL as FEED_CHANNEL
from webhooks.dispatch import WAKE_CHANNEL

logger = logging.getLogger(__name__)


class Wakeup:
    def __init__(self, on_wake: Callable[[], None], *, alias: str = "default"):
        self._on_wake = on_wake
        self._alias = alias
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="arcadia-webhooks-wakeup", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _params(self) -> dict:
        params = connections[self._alias].get_connection_params()
        for django_only in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(django_only, None)
        params.setdefault("keepalives", 1)
        params.setdefault("keepalives_idle", 10)
        params.setdefault("keepalives_interval", 5)
        params.setdefault("keepalives_count", 3)
        params.setdefault("connect_timeout", 5)
        params["application_name"] = "arcadia-webhooks-wakeup"
        return params

    def _run(self) -> None:
        import psycopg

        backoff = 0.2
        while not self._stopping.is_set():
            conn = None
            try:
                conn = psycopg.connect(**self._params(), autocommit=True)
                conn.execute(f"LISTEN {FEED_CHANNEL}")
                conn.execute(f"LISTEN {WAKE_CHANNEL}")
                self.connected.set()
                self._on_wake()
                backoff = 0.2
                while not self._stopping.is_set():
                    # Return at the first notification (the generator would
                    # otherwise keep listening until its timeout): the worker
                    # wakes within the round trip, and notifications that come
                    # while it works wake the next pass.
                    woke = False
                    for _notify in conn.notifies(timeout=1.0, stop_after=1):
                        woke = True
                    if woke:
                        self._on_wake()
            except Exception:
                if not self._stopping.is_set():
                    logger.warning("webhooks wakeup: connection lost; reconnecting", exc_info=True)
            finally:
                self.connected.clear()
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        logger.debug("webhooks wakeup: close failed", exc_info=True)
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)
