"""Tenancy and identity: tenants, identities (the Django user) and API tokens."""

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    #: A provisioning controller: reads deployments and resources of every
    #: tenant and reports resource status, nothing else (a machine identity:
    #: no tenant, no other role, no admin login).
    CONTROLLER = "controller", "Controller"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An identity needs an email")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("roles", [Role.PLATFORM_ADMIN.value])
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """An identity: logs in with its email; belongs to a tenant unless it is a platform admin.

    `roles` is a JSON list so it works on SQLite and PostgreSQL alike. Roles:
    `platform_admin` (sees and manages every tenant) and `controller` (a
    provisioning controller: reads every tenant's deployments and resources,
    reports resource status, nothing else).
    """

    email = models.EmailField(unique=True)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="identities"
    )
    roles = models.JSONField(default=list, blank=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        verbose_name = "identity"
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return self.email

    @property
    def is_platform_admin(self) -> bool:
        return Role.PLATFORM_ADMIN.value in (self.roles or [])

    @property
    def is_controller(self) -> bool:
        return Role.CONTROLLER.value in (self.roles or [])

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        super().clean()
        self.email = (self.email or "").lower()
        if not isinstance(self.roles, list) or any(r not in Role.values for r in self.roles):
            raise ValidationError({"roles": f"Roles must be a list drawn from {Role.values}."})
        if self.is_controller:
            # Its scope is every tenant, read-only: a tenant, another role or
            # an admin login (where staff act as operators) would each give it
            # rights it must not have.
            if len(self.roles) != 1 or self.tenant_id is not None or self.is_staff:
                raise ValidationError(
                    {"roles": "A controller has no other role, no tenant and no admin login."}
                )
        elif self.tenant_id is None and not self.is_platform_admin:
            raise ValidationError(
                {"tenant": "Required unless the identity is a platform admin or a controller."}
            )


class ApiToken(models.Model):
    """A bearer token. Only a SHA-256 digest and an 8-character lookup prefix are stored;
    the raw token is shown once, when it is issued."""

    PREFIX_LEN = 8

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LEN, db_index=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        now = now or timezone.now()
        return self.expires_at is not None and self.expires_at <= now


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST sent with an `Idempotency-Key`.

    Scoped to the identity (a client that rotates its token keeps its keys).
    Written in the same transaction as the business write it guards, so a
    record exists exactly when the effect does. Kept at least
    `ARCADIA_IDEMPOTENCY_TTL_HOURS` (24 h); `manage.py prune_idempotency_keys`
    removes older ones.
    """

    id = models.BigAutoField(primary_key=True)
    identity = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2048)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.TextField(blank=True, default="")
    response_content_type = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "key"], name="idempotency_key_per_identity")
        ]

    def __str__(self) -> str:
        return f"{self.identity_id}:{self.key}"


class ThrottleBucket(models.Model):
    """Request counter of one token and scope in the current fixed window.

    One row per (token, scope), bumped by a single upsert per request (see
    `arcadia_cloud.api.throttling`); shared by every worker through the database.
    """

    bucket = models.CharField(max_length=64, primary_key=True)
    window_index = models.BigIntegerField()
    hits = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.bucket}@{self.window_index}: {self.hits}"
