"""Real servers for tests that must go over HTTP: gunicorn as production runs it,
or Django's runserver as `make run` does, against the test database.

The server is another process, so the test's data must be committed
(`transactional_db`) and, on PostgreSQL, the server connects to the same test
database. Ports come from ARCADIA_TEST_PORTS (default 8111-8119): the first
free one is taken.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def database_url() -> str:
    """The test database as a URL another process can use (PostgreSQL)."""
    s = connection.settings_dict
    user = s["USER"] or "postgres"
    auth = f"{user}:{s['PASSWORD']}" if s["PASSWORD"] else user
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    first, _, last = os.environ.get("ARCADIA_TEST_PORTS", "8111-8119").partition("-")
    for port in range(int(first), int(last or first) + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}: set ARCADIA_TEST_PORTS")


def server_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "live-test-server",
        "LOG_LEVEL": "ERROR",
        "ARCADIA_THROTTLE_READ": "off",
        "ARCADIA_THROTTLE_WRITE": "off",
        **extra,
    }


def wait_until_up(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.communicate()}")
        with contextlib.suppress(OSError):
            status, _, _ = request(port, "GET", "/healthz")
            if status == 200:
                return
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"the server on port {port} did not answer /healthz in {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def gunicorn(*, threads: int = 4, **env: str) -> Iterator[int]:
    """gunicorn serving arcadia_cloud.wsgi (1 worker, `threads` threads) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "arcadia_cloud.wsgi",
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            "--worker-class=gthread",
            f"--threads={threads}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=server_env(DATABASE_URL=database_url(), CONN_MAX_AGE="600", **env),
        start_new_session=True,
    )
    try:
        wait_until_up(port, proc)
        yield port
    finally:
        stop(proc)


@contextlib.contextmanager
def runserver(**env: str) -> Iterator[int]:
    """Django's development server (what `make run` serves) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=server_env(DATABASE_URL=database_url(), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(port, proc)
        yield port
    finally:
        stop(proc)


def request(
    port: int, method: str, path: str, body=None, headers: dict | None = None, timeout=30
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, headers, body). An iterable
    body is sent chunked (Transfer-Encoding: chunked)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = dict(headers or {})
        chunked = body is not None and not isinstance(body, bytes | str)
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def json_of(answer) -> dict:
    _status, headers, body = answer
    assert headers.get("Content-Type", "").startswith("application/json"), answer
    return json.loads(body)
