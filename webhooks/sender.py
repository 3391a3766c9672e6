"""The delivery worker's HTTP client: one POST, its outcome, nothing else.

urllib3 (already pinned, well kept; requests' own transport): keep-alive
pools per (scheme, host, checked address, port), as many connections per
pool as the worker has threads; a 10 s timeout on connecting and on each
read, and on the whole attempt: a watchdog cuts the connection of an attempt
still running 10 s after it started (a receiver that trickles its answer a
byte at a time), so an attempt never outlives the worker's lease on it;
never a redirect, never a retry of its own (retries are the worker's, on its
schedule). The connection goes to the address `ssrf` checked for this
delivery; for https the TLS handshake names and verifies the URL's host.
Response bodies are kept up to 1 KiB.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError

from webhooks import ssrf
from webhooks.models import RESPONSE_KEEP_BYTES

TIMEOUT_SECONDS = 10.0
#: A longer response body is not read to the end: the connection is closed.
DRAIN_LIMIT_BYTES = 64 * 1024
USER_AGENT = "Arcadia-Webhooks/1.0"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None  # None: no HTTP answer (refused, timeout, unsafe address)
    body: str = ""
    error: str = ""
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


#: The attempt running on this thread: (watchdog, deadline), read by the
#: connection when it sends the request.
_attempt = threading.local()


class _Watchdog:
    """Cuts the sockets of attempts past their deadline; one thread per sender,
    waking twice a second (an attempt ends within its deadline + 0.5 s)."""

    def __init__(self) -> None:
        self._running: dict[int, tuple[socket.socket, float]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="webhook-watchdog", daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    def watch(self, sock: socket.socket, deadline: float) -> None:
        with self._lock:
            self._running[threading.get_ident()] = (sock, deadline)

    def done(self) -> None:
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            with self._lock:
                late = [tid for tid, (_, deadline) in self._running.items() if deadline <= now]
                socks = [self._running.pop(tid)[0] for tid in late]
            for sock in socks:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """Connection mixin: hand the socket to the watchdog of the attempt that
    sends a request on it."""

    def request(self, *args, **kwargs):
        result = super().request(*args, **kwargs)
        running = getattr(_attempt, "running", None)
        if running is not None and self.sock is not None:
            watchdog, deadline = running
            watchdog.watch(self.sock, deadline)
        return result


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class Sender:
    """Thread-safe: the worker's threads share it."""

    def __init__(self, *, connections_per_host: int = 8, timeout: float = TIMEOUT_SECONDS):
        self._size = connections_per_host
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._budget = timeout
        self._watchdog = _Watchdog()
        self._vetter = ssrf.CachingVetter()
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        _attempt.running = (self._watchdog, time.monotonic() + self._budget)
        try:
            return self._post(url, body, headers)
        finally:
            self._watchdog.done()
            _attempt.running = None

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            target = self._vetter.vet(url)
        except ssrf.UnsafeUrl as exc:
            return Outcome(status=None, error=f"refused: {exc}")
        headers = {
            **headers,
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        pool = self._pool(target)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
                timeout=self._timeout,
            )
        except HTTPError as exc:
            return Outcome(status=None, error=_describe(exc))
        try:
            kept = response.read(RESPONSE_KEEP_BYTES)
            # Read a short rest to the end so the connection can be re-used;
            # past the limit, drop the connection instead of reading on.
            if len(kept) == RESPONSE_KEEP_BYTES and len(response.read(DRAIN_LIMIT_BYTES)) == (
                DRAIN_LIMIT_BYTES
            ):
                response.close()
        except HTTPError as exc:
            return Outcome(status=response.status, error=_describe(exc))
        finally:
            response.release_conn()
        return Outcome(
            status=response.status,
            body=kept.decode("utf-8", "replace"),
            retry_after=response.headers.get("Retry-After"),
        )

    def _pool(self, target: ssrf.Target) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.host, target.address, target.port)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if target.scheme == "https":
                    pool = urllib3.HTTPSConnectionPool(
                        target.address,
                        target.port,
                        maxsize=self._size,
                        block=False,
                        cert_reqs="CERT_REQUIRED",
                        server_hostname=target.host,
                        assert_hostname=target.host,
                    )
                else:
                    pool = urllib3.HTTPConnectionPool(
                        target.address, target.port, maxsize=self._size, block=False
                    )
                pool.ConnectionCls = (
                    _WatchedHTTPSConnection if target.scheme == "https" else _WatchedHTTPConnection
                )
                self._pools[key] = pool
            return pool

    def close(self) -> None:
        self._watchdog.stop()
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


def _describe(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = f"{type(exc).__name__}: {reason}"
    return text[:500]
