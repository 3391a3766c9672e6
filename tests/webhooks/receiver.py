"""A real webhook receiver on loopback: `http.server` in a thread, HTTP/1.1
with keep-alive, verifying every request it gets with the `standardwebhooks`
library, as a customer's receiver would.

`behave(fn)` decides each answer: fn(hit) -> Answer, where `hit` is what
arrived (in arrival order). Every request is kept, with its verification
result per known secret and its start and end times (to see whether two
attempts of one webhook-id ever overlapped).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

from tests import live


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Hit:
    index: int
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float = 0.0
    answer: Answer | None = None
    #: secret -> verified?
    verified: dict[str, bool] = field(default_factory=dict)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def envelope(self) -> dict:
        return json.loads(self.body)

    @property
    def signatures(self) -> list[str]:
        return self.headers.get("webhook-signature", "").split()


class Receiver:
    def __init__(self):
        self.hits: list[Hit] = []
        self.secrets: list[str] = []
        self._behaviour: Callable[[Hit], Answer] = lambda hit: Answer()
        self._lock = threading.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def behave(self, fn: Callable[[Hit], Answer]) -> None:
        self._behaviour = fn

    def trust(self, secret: str) -> None:
        self.secrets.append(secret)

    def wait_for(self, count: int, timeout: float = 30.0, predicate=None) -> list[Hit]:
        """Wait until `count` hits (matching `predicate`) have been answered."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                done = [h for h in self.hits if h.ended and (predicate is None or predicate(h))]
                if len(done) >= count:
                    return done
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(done)} of {count} webhooks arrived in {timeout} s")
                self._lock.wait(remaining)

    def answered(self) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.ended]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            hit = Hit(len(self.hits), handler.path, headers, body, time.monotonic())
            self.hits.append(hit)
        for secret in list(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
                hit.verified[secret] = True
            except WebhookVerificationError:
                hit.verified[secret] = False
        answer = self._behaviour(hit)
        if answer.delay:
            time.sleep(answer.delay)
        hit.answer = answer
        with contextlib.suppress(OSError):
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        with self._lock:
            hit.ended = time.monotonic()
            self._lock.notify_all()


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY the
        # second waits for the client's delayed ACK (40 ms).
        disable_nagle_algorithm = True

        def do_POST(self):
            receiver._handle(self)

        def log_message(self, format, *args):
            pass

    port = live.free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    receiver.port = port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
