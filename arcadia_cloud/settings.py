"""Settings for the Arcadia Cloud control plane.

Everything that differs between a laptop and production comes from the
environment (see README "Configuration"). Defaults are the quick-start ones:
embedded SQLite, DEBUG off, a sensible region list.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (`make run` sets a generated one "
            "for local use; production must provide its own)."
        )
    # DEBUG only: a per-process random key, never a shipped constant.
    import secrets

    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

ARCADIA_REGIONS = env_list(
    "ARCADIA_REGIONS", "us-east-1,us-west-2,eu-west-1,eu-central-1,ap-southeast-1"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "arcadia_cloud",
    # The events feed: every app below records into it; it imports none of them.
    "feed",
    # Signed webhooks, delivered from the feed (the transactional outbox).
    "webhooks",
    "catalog",
    "subscriptions",
    "deployments",
    "billing",
    "console",
]

MIDDLEWARE = [
    "arcadia_cloud.api.middleware.RequestIdMiddleware",
    # Empties a DRF view once its answer is rendered, so the request's
    # objects are freed by reference counting, not the cyclic collector.
    "arcadia_cloud.api.middleware.ReleaseViewMiddleware",
    # Outermost error handling: JSON under /api/ and 503 for a lost database,
    # whichever middleware below (idempotency, sessions, ...) raised.
    "arcadia_cloud.api.middleware.ApiJsonErrorsMiddleware",
    "arcadia_cloud.api.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "arcadia_cloud.api.middleware.ApiBodyLimitMiddleware",
    # The admin's: Django's own, each skipped under /api/ (bearer tokens, no
    # session, no forms, JSON answers), so the API path does not pay for them.
    "arcadia_cloud.admin_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "arcadia_cloud.admin_middleware.CsrfViewMiddleware",
    "arcadia_cloud.admin_middleware.AuthenticationMiddleware",
    "arcadia_cloud.admin_middleware.MessageMiddleware",
    "arcadia_cloud.admin_middleware.XFrameOptionsMiddleware",
    "arcadia_cloud.api.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "arcadia_cloud.urls"
WSGI_APPLICATION = "arcadia_cloud.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Persistent connections: re-using the PostgreSQL connection across requests
# more than doubles throughput on DB-bound endpoints. No health check (a
# `SELECT 1` round trip before every request): a connection that breaks (the
# server restarted, a backend was terminated) fails the one request that finds
# it broken, answered 503 with Retry-After, and Django discards it at the end
# of that request, so the next one reconnects.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "600")),
        conn_health_checks=False,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, loading timestamps with psycopg's C loader (same
    # values: aware, UTC); see arcadia_cloud/postgresql/base.py.
    DATABASES["default"]["ENGINE"] = "arcadia_cloud.postgresql"
    # Django's own cursors bind on the client and never prepare. psycopg's
    # threshold (prepare a statement a server-binding cursor ran N times) is
    # set below: never automatic; explicit for the request path's fixed
    # statements only where that is safe (ARCADIA_PREPARED_STATEMENTS).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", None)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite is the single-process quick start: no persistent connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# Behind PgBouncer in transaction pooling mode (DATABASE_POOLING=transaction)
# a client's statements may each run on a different server connection: no
# server-side cursors (one lives across statements), no prepared statements
# (psycopg's `prepare_threshold` stays None, Django's default: PgBouncer before
# 1.21 cannot carry them), and no session state. LISTEN needs a session of its
# own: ARCADIA_FEED_LISTEN_URL points the feed's listener at PostgreSQL
# directly (or a session-mode pool). See docs/scaling.md.
DATABASE_POOLING = os.environ.get("DATABASE_POOLING", "session")
if DATABASE_POOLING == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
# The request path's few fixed statements (arcadia_cloud.db.hot_cursor) are
# prepared on the server, once per connection, when each connection is the
# app's own for its lifetime: directly to PostgreSQL or through a session pool.
# Off behind a transaction pool (PgBouncer 1.18 cannot carry them), or with
# ARCADIA_PREPARED_STATEMENTS=off.
ARCADIA_PREPARED_STATEMENTS = DATABASE_POOLING != "transaction" and env_bool(
    "ARCADIA_PREPARED_STATEMENTS", True
)
if DATABASES["default"]["ENGINE"] == "arcadia_cloud.postgresql":
    # None: psycopg prepares nothing, not even on request. A threshold no
    # statement reaches: only the explicit `prepare=True` of hot_cursor.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
        2**31 - 1 if ARCADIA_PREPARED_STATEMENTS else None
    )
ARCADIA_FEED_LISTEN_URL = os.environ.get("ARCADIA_FEED_LISTEN_URL", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "arcadia_cloud.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date format everywhere in the admin ("2026-12-01 14:03 UTC").
FORMAT_MODULE_PATH = ["console.locale_formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names once `collectstatic` has run (production);
        # plain names straight from the apps before that (quick start, tests).
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if (STATIC_ROOT / "staticfiles.json").exists() and not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Serve the admin's static files straight from the apps when collectstatic
# has not been run (quick start); production runs collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Largest request body the API accepts; a larger one is a 413 before parsing.
ARCADIA_MAX_BODY_BYTES = int(os.environ.get("ARCADIA_MAX_BODY_BYTES", str(64 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = max(ARCADIA_MAX_BODY_BYTES, 2_621_440)

# API tokens: last-used time is written at most once per this many seconds
# per token, so authentication is not a write on every request.
ARCADIA_TOKEN_LAST_USED_RESOLUTION = int(os.environ.get("ARCADIA_TOKEN_LAST_USED_RESOLUTION", "60"))

# Per-token rate limits ("<n>/<second|minute|hour|day>" or "off"): reads are
# GET/HEAD/OPTIONS, writes everything else. See arcadia_cloud/api/throttling.py.
ARCADIA_THROTTLE_READ = os.environ.get("ARCADIA_THROTTLE_READ", "1200/min")
ARCADIA_THROTTLE_WRITE = os.environ.get("ARCADIA_THROTTLE_WRITE", "300/min")

# The billing clock records `subscription.trial_will_end` this many days before
# a trial ends.
ARCADIA_TRIAL_WARNING_DAYS = int(os.environ.get("ARCADIA_TRIAL_WARNING_DAYS", "3"))

# Idempotency-Key records are kept at least this long (never less than 24 h).
ARCADIA_IDEMPOTENCY_TTL_HOURS = max(24, int(os.environ.get("ARCADIA_IDEMPOTENCY_TTL_HOURS", "24")))

# The events feed keeps events at least this many days (`manage.py
# prune_events` removes older ones; a cursor before what is kept answers 410).
ARCADIA_EVENT_RETENTION_DAYS = int(os.environ.get("ARCADIA_EVENT_RETENTION_DAYS", "90"))

# Webhook endpoints must be https:// and resolve to public addresses; these
# hosts (comma-separated names or addresses, e.g. "127.0.0.1,localhost") are
# exempt, and may use http://. For tests and development receivers only.
ARCADIA_WEBHOOK_ALLOW_HOSTS = [host.lower() for host in env_list("ARCADIA_WEBHOOK_ALLOW_HOSTS", "")]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["arcadia_cloud.auth.BearerTokenAuthentication"],
    # Controllers pass only where a view declares it (`controller_may`).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "arcadia_cloud.api.permissions.ControllerMay",
    ],
    "DEFAULT_RENDERER_CLASSES": ["arcadia_cloud.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["arcadia_cloud.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["arcadia_cloud.api.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "arcadia_cloud.api.pagination.LimitOffsetPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "arcadia_cloud.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Arcadia Cloud control plane API",
    "DESCRIPTION": "Deployments, their lifecycle, the catalog and subscriptions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The interactive page is served from our own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "StateEnum": "deployments.models.State",
        "DesiredStateEnum": "deployments.models.DesiredState",
        "RequestedStateEnum": "deployments.resources.REQUESTABLE_STATES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "arcadia_cloud.api.schema.document_api_conventions",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "arcadia_cloud.api.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
