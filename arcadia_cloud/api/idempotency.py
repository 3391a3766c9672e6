"""`Idempotency-Key` on every POST of the API (IETF httpapi draft, Stripe semantics).

A Django middleware, so every POST under /api/ has it without a line in the
views. For a POST carrying the header, from an authenticated caller:

1. the key must be 1-255 printable ASCII characters (a quoted sf-string is
   accepted too), else 400;
2. the request counts against the token's write rate here, before the
   transaction opens (the throttle's counter row must not stay locked for the
   length of the view);
3. in ONE transaction: claim the key, run the view, store the answer. The
   claim is a transaction-scoped advisory lock on PostgreSQL (never waits: a
   second request holding the same key while the first runs gets 409
   `idempotency_key_in_use`) plus the record row, whose unique
   (identity, key) constraint is the backstop. The business write happens in
   the same transaction, so a record exists exactly when the effect does: a
   crash at any point leaves both or neither.

A stored record replays its status and body with `Idempotent-Replayed: true`
if the method, path and body match (JSON compared canonically), and answers
422 `idempotency_key_reused` otherwise. Only successful answers (< 400) are
stored: a refused request changed nothing, so its transaction (claim included)
is rolled back and a retry simply runs again. Keys are scoped to the identity,
so rotating tokens keeps them. Records are kept at least 24 hours
(`ARCADIA_IDEMPOTENCY_TTL_HOURS`); `manage.py prune_idempotency_keys` drops older ones.
"""

from __future__ import annotations

import hashlib
import json
import re

from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse, JsonResponse
from rest_framework import authentication, exceptions

from arcadia_cloud.api.middleware import is_api_path
from arcadia_cloud.api.throttling import seconds_to_wait
from arcadia_cloud.auth import BearerTokenAuthentication
from arcadia_cloud.errors import bad_request_body, throttled_body
from arcadia_cloud.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
#: Printable ASCII, no spaces (also published in the OpenAPI document).
KEY_PATTERN = rf"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN.removesuffix("$") + r"\Z")


def parse_key(raw: str) -> str | None:
    """The key, or None if malformed. `"abc"` (an RFC 8941 string) and `abc` are
    the same key; `""` has nothing inside, so it is taken as the key `""`, and
    every value of the published pattern is a key."""
    value = raw.strip()
    if len(value) > 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value if _KEY.match(value) else None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of method, path and body; a JSON body is canonicalised first so a
    client that re-serialises with another key order still matches."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8", "surrogateescape"), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _try_lock(identity_id: int, key: str) -> bool:
    """PostgreSQL: a transaction-scoped advisory lock on (identity, key), taken
    without waiting. Released at commit, after the record became visible, so
    whoever gets it next finds the stored answer. SQLite serialises writers
    anyway; the unique constraint decides there."""
    if connection.vendor != "postgresql":
        return True
    digest = hashlib.blake2b(f"{identity_id}:{key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]
        )
        return bool(cursor.fetchone()[0])


def _error(status: int, body: dict, **headers) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _in_use() -> JsonResponse:
    return _error(409, {"error": "idempotency_key_in_use"}, Retry_After="1")


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.response_body,
        status=record.response_status,
        content_type=record.response_content_type or "application/json",
    )
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw_key = request.headers.get(HEADER)
        if raw_key is None or request.method != "POST" or not is_api_path(request.path):
            return self.get_response(request)
        identity, token = self._authenticate(request)
        if identity is None:
            return self.get_response(request)  # DRF answers 401 as for any request
        key = parse_key(raw_key)
        if key is None:
            return _error(
                400,
                bad_request_body(
                    {HEADER: [f"1 to {MAX_KEY_LENGTH} printable ASCII characters, no spaces."]}
                ),
            )
        wait = seconds_to_wait(token, request.method)
        request.arcadia_throttle_counted = True
        if wait is not None:
            return _error(429, throttled_body(wait), Retry_After=str(wait))
        path = request.get_full_path()
        return self._once(request, identity, key, fingerprint(request.method, path, request.body))

    @staticmethod
    def _authenticate(request):
        """Resolve the bearer token as DRF will (and leave the result for it)."""
        try:
            result = BearerTokenAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed:
            return None, None
        if result is None:
            return None, None
        request.arcadia_bearer = (authentication.get_authorization_header(request), result)
        return result

    def _once(self, request, identity, key: str, print_: str) -> HttpResponse:
        with transaction.atomic():
            if not _try_lock(identity.pk, key):
                return _in_use()
            record = IdempotencyRecord.objects.filter(identity=identity, key=key).first()
            if record is not None:
                if record.fingerprint != print_:
                    return _error(422, {"error": "idempotency_key_reused"})
                return _replay(record)
            try:
                record = IdempotencyRecord.objects.create(
                    identity=identity,
                    key=key,
                    fingerprint=print_,
                    method=request.method,
                    path=request.path[:2048],
                )
            except IntegrityError:
                # Lost a race on SQLite (no advisory lock): the other request holds the key.
                transaction.set_rollback(True)
                return _in_use()
            response = self.get_response(request)
            if response.status_code >= 400 or response.streaming:
                # Nothing to remember: the refused request wrote nothing, and
                # the claim goes with it so a corrected retry can run.
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = response.content.decode("utf-8")
            record.response_content_type = response.get("Content-Type", "")
            record.save(update_fields=["response_status", "response_body", "response_content_type"])
        return response
