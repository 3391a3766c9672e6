"""Running test code in real threads, each on its own database connection."""

from __future__ import annotations

import threading

from django.db import connections


def run_threads(count: int, target) -> list[BaseException]:
    """Run `target(i)` in `count` threads, each on its own connection, closed at the
    end; returns the exceptions raised (an empty list when every thread succeeded)."""
    errors: list[BaseException] = []

    def wrapper(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors
