"""What every benchmark shares: a scratch PostgreSQL database it creates and
drops, Django configured against it, medians, and a description of the machine.

`DATABASE_URL` names the server (its database part is ignored); the default is
postgres://postgres@127.0.0.1:5432. Each script works in its own database
`arcadia_bench_<name>_<pid>` and drops it when done, also on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
RESULT_MARK = "BENCH-RESULT "

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def server_url() -> str:
    """The server from DATABASE_URL (any database part dropped), or the default."""
    raw = os.environ.get("DATABASE_URL", "")
    if not raw.startswith(("postgres://", "postgresql://")):
        return DEFAULT_SERVER
    parts = urlsplit(raw)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def database_url(name: str) -> str:
    return f"{server_url()}/{name}"


def _admin_connection():
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=10)


@contextlib.contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """Create `arcadia_bench_<label>_<pid>`, yield its URL, drop it afterwards."""
    name = f"arcadia_bench_{label}_{os.getpid()}"
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(url: str) -> None:
    """Configure Django against `url` as production would run (DEBUG off)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(16).hex())
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")
    import warnings

    import django

    # whitenoise: no collectstatic in a scratch checkout; the API does not care
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict:
    """nproc, RAM, CPU model, PostgreSQL version, date: the row that says where
    the figures were measured."""
    ram_gib = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = "unknown"
    with contextlib.suppress(Exception), _admin_connection() as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": ram_gib,
        "cpu": cpu,
        "postgresql": pg,
        "python": platform.python_version(),
    }


def emit(result: dict) -> None:
    """The machine-readable last line run_all.py collects."""
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_script(script: str, *args: str) -> dict:
    """Run one benchmark script in its own process (its own database and Django
    set-up), stream its output, and return the result it emitted."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK) :])
        else:
            sys.stdout.write(line)
            sys.stdout.flush()
    if proc.wait() != 0:
        raise SystemExit(f"benchmarks/{script} failed with exit code {proc.returncode}")
    return result
