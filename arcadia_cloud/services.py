"""Write services for tenancy and identity: tenants, identities and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from arcadia_cloud.models import ApiToken, Role, Tenant, User

TOKEN_BYTES = 32


def hash_token(raw: str) -> str:
    """SHA-256 is enough here: tokens are 256 random bits, not guessable passwords."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str


def create_tenant(*, slug: str, name: str | None = None) -> Tenant:
    tenant = Tenant(slug=slug, name=name or slug)
    tenant.full_clean()
    tenant.save()
    return tenant


def create_identity(
    *,
    email: str,
    tenant: Tenant | None = None,
    platform_admin: bool = False,
    staff: bool = False,
    password: str | None = None,
) -> User:
    """Create an identity. A tenant is required unless it is a platform admin."""
    roles = [Role.PLATFORM_ADMIN.value] if platform_admin else []
    if tenant is None and not platform_admin:
        raise ValidationError({"tenant": "Required unless the identity is a platform admin."})
    return User.objects.create_user(
        email=email,
        password=password,
        tenant=tenant,
        roles=roles,
        is_staff=staff or platform_admin,
    )


def issue_token(
    *, user: User, name: str = "default", expires_days: int | None = None
) -> IssuedToken:
    """Issue a token for `user`. The raw value exists only in the return value."""
    if expires_days is not None and expires_days <= 0:
        raise ValidationError({"expires_days": "Must be a positive number of days."})
    raw_secret = secrets.token_urlsafe(TOKEN_BYTES)
    raw = f"arc_{raw_secret}"
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[4 : 4 + ApiToken.PREFIX_LEN],
        digest=hash_token(raw),
        expires_at=expires_at,
    )
    return IssuedToken(token=token, raw=raw)


def revoke_token(*, token: ApiToken) -> ApiToken:
    """Revoke a token; idempotent (the first revocation time is kept)."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    token.refresh_from_db(fields=["revoked_at"])
    return token
