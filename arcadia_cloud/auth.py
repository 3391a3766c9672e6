"""Bearer-token authentication against hashed API tokens.

Every API request runs the token lookup, so it is one fixed statement
(`TOKEN_LOOKUP_SQL`, written once at import from the models' columns: the
token, its identity and the identity's tenant, joined) sent through Django's
cursor, and the three model instances are built straight from the row
(`Model.from_db`, plus the few converters the columns need on this
database): no queryset is compiled per request. Nothing is cached between
requests, so revoking a token (or disabling an identity) takes effect on the
very next request, on every process and machine.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from arcadia_cloud.db import RowModels, hot_cursor
from arcadia_cloud.models import ApiToken, Tenant, User
from arcadia_cloud.services import hash_token

#: The token, its identity and the identity's tenant side by side, built into
#: instances from a row as the ORM would (`arcadia_cloud.db.RowModels`).
_ROW = RowModels((ApiToken, "t"), (User, "u"), (Tenant, "n"))
_q = connection.ops.quote_name
#: The token lookup: every column of the token, its identity and the
#: identity's tenant (none for a platform admin or a controller), by the
#: indexed clear prefix. No ORDER BY: at most a handful of rows share a prefix.
TOKEN_LOOKUP_SQL = (
    f"SELECT {_ROW.columns}"
    + f" FROM {_q(ApiToken._meta.db_table)} t"
    + f" INNER JOIN {_q(User._meta.db_table)} u"
    + f" ON u.{_q('id')} = t.{_q(ApiToken._meta.get_field('user').column)}"
    + f" LEFT OUTER JOIN {_q(Tenant._meta.db_table)} n"
    + f" ON n.{_q('id')} = u.{_q(User._meta.get_field('tenant').column)}"
    + f" WHERE t.{_q(ApiToken._meta.get_field('prefix').column)} = %s"
)
_DIGEST = ApiToken._meta.concrete_fields.index(ApiToken._meta.get_field("digest"))


def _instances(row: tuple) -> ApiToken:
    """The token with its identity (and the identity's tenant) cached on it."""
    token, user, tenant = _ROW.instances(row)
    User.tenant.field.set_cached_value(user, tenant)
    ApiToken.user.field.set_cached_value(token, user)
    return token


def find_token(prefix: str, digest: str) -> ApiToken | None:
    """The token whose digest is `digest` among those with `prefix` (one
    query), compared in constant time, with its identity and tenant."""
    with hot_cursor() as cursor:
        cursor.execute(TOKEN_LOOKUP_SQL, [prefix])
        rows = cursor.fetchall()
    for row in rows:
        if hmac.compare_digest(row[_DIGEST], digest):
            return _instances(row)
    return None


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
        token = find_token(prefix, hash_token(raw))
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
