"""Errors of the feed. Reading errors are domain errors with data (the API
turns them into 400 and 410); recording errors are programming errors."""

from __future__ import annotations

from arcadia_cloud.errors import DomainError, bad_request_body


class BadFeedQuery(DomainError):
    """A malformed read parameter: `{"error": "bad_request", "detail": {param: [msg]}}`."""

    category = "bad_request"
    code = "bad_request"

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        self.message = message
        super().__init__(f"{parameter}: {message}")

    def body(self) -> dict:
        return bad_request_body({self.parameter: [self.message]})


class CursorExpired(DomainError):
    """The cursor points before the retention watermark: events after it were
    pruned, so following it would skip them. The consumer must start again
    (without `after`, from the oldest retained event) and reconcile."""

    category = "gone"
    code = "cursor_expired"

    def __init__(self, *, after: int, pruned_through: int):
        self.after = after
        self.pruned_through = pruned_through
        super().__init__(
            f"cursor at {after} is before the retained feed (pruned through {pruned_through})"
        )


class RecordingOutsideTransaction(RuntimeError):
    """An event must commit with the fact it records: record inside the
    writer's `transaction.atomic()`."""
