"""Write services for tenancy and identity: tenants, identities and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from arcadia_cloud.models import ApiToken, IdempotencyRecord, Role, Tenant, User

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
    controller: bool = False,
    staff: bool = False,
    password: str | None = None,
    groups: Sequence[str] = (),
) -> User:
    """Create an identity, in `groups` (by name; the admin's permissions come from
    them). A tenant is required unless it is a platform admin or a controller;
    a controller (a provisioning controller's machine identity) has no tenant,
    no other role, no admin login and no group. All or nothing: an unknown
    group creates no identity."""
    if controller:
        if platform_admin or staff or tenant is not None or groups:
            raise ValidationError(
                {
                    "controller": "A controller has no tenant, no other role, no admin login "
                    "and no group."
                }
            )
        roles = [Role.CONTROLLER.value]
    else:
        roles = [Role.PLATFORM_ADMIN.value] if platform_admin else []
    if tenant is None and not (platform_admin or controller):
        raise ValidationError(
            {"tenant": "Required unless the identity is a platform admin or a controller."}
        )
    found = list(Group.objects.filter(name__in=set(groups)))
    unknown = sorted(set(groups) - {group.name for group in found})
    if unknown:
        known = ", ".join(
            repr(name) for name in Group.objects.order_by("name").values_list("name", flat=True)
        )
        raise ValidationError(
            {"groups": f"Unknown group(s): {', '.join(map(repr, unknown))}; one of: {known}."}
        )
    with transaction.atomic():
        user = User.objects.create_user(
            email=email,
            password=password,
            tenant=tenant,
            roles=roles,
            is_staff=staff or platform_admin,
        )
        user.groups.add(*found)
    return user


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


#: Idempotency-Key records are kept at least this long: a client retrying within
#: a day must get the stored answer, not a second effect.
MIN_IDEMPOTENCY_RETENTION = timedelta(hours=24)


def prune_idempotency_records(*, older_than: timedelta, batch_size: int = 5000) -> int:
    """Delete Idempotency-Key records created more than `older_than` ago; returns
    how many. Refuses (ValidationError) a retention under 24 hours.

    Deletes in batches of `batch_size`, each its own statement: no long lock on
    a busy table, and safe on several machines at once (a row deleted twice is
    simply gone).
    """
    if older_than < MIN_IDEMPOTENCY_RETENTION:
        hours = MIN_IDEMPOTENCY_RETENTION.total_seconds() // 3600
        raise ValidationError({"older_than": [f"Records are kept at least {hours:.0f} hours."]})
    if batch_size < 1:
        raise ValidationError({"batch_size": ["Must be at least 1."]})
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
