"""Bearer-token authentication against hashed API tokens."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from arcadia_cloud.models import ApiToken
from arcadia_cloud.services import hash_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer arc_...`.

    Lookup is by the clear 8-character prefix (indexed), then the SHA-256 digest
    is compared in constant time, so response timing does not leak how much of
    a guessed token matched.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        # Already resolved for this request (the idempotency middleware does it
        # before the view): one token lookup per request, not two.
        cached = getattr(request, "arcadia_bearer", None)
        if cached is not None and cached[0] == header:
            return cached[1]
        try:
            header_text = header.decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.") from exc
        parts = header_text.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed("Expected 'Authorization: Bearer <token>'.")
        return self.authenticate_raw(parts[1])

    def authenticate_raw(self, raw: str):
        if not raw.startswith("arc_") or len(raw) < 4 + ApiToken.PREFIX_LEN or len(raw) > 200:
            raise exceptions.AuthenticationFailed("Unknown token.")
        prefix = raw[4 : 4 + ApiToken.PREFIX_LEN]
        digest = hash_token(raw)
        # Every API request runs this query: no ORDER BY (the model's default
        # ordering would make the server sort and Django compile it each time).
        candidates = (
            ApiToken.objects.select_related("user", "user__tenant").filter(prefix=prefix).order_by()
        )
        token = next(
            (c for c in candidates if hmac.compare_digest(c.digest, digest)),
            None,
        )
        now = timezone.now()
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Token revoked.")
        if token.is_expired(now):
            raise exceptions.AuthenticationFailed("Token expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("Identity disabled.")
        self._touch(token, now)
        return token.user, token

    @staticmethod
    def _touch(token: ApiToken, now) -> None:
        # last_used_at is informational: write it at most once per resolution
        # window so a busy token does not turn every read into a write.
        resolution = timedelta(seconds=settings.ARCADIA_TOKEN_LAST_USED_RESOLUTION)
        if token.last_used_at is None or now - token.last_used_at >= resolution:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
