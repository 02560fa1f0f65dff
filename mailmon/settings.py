"""mailmon settings: everything comes from the environment (see docs/operations.md)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from mailmon import embedded
from mailmon.env import (
    ConfigError,
    envbool,
    envchoice,
    envfloat,
    envint,
    envlist,
    envstr,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("MAILMON_VAR_DIR", str(BASE_DIR / "var")))  # type: ignore[arg-type]
VAR_DIR.mkdir(parents=True, exist_ok=True)

MAILMON_ENV = envchoice("MAILMON_ENV", ("dev", "production"), "dev")
PRODUCTION = MAILMON_ENV == "production"
DEBUG = envbool("DEBUG", False)
TESTING = "pytest" in sys.modules or envbool("MAILMON_TESTING", False)


def _secret_key() -> str:
    key = envstr("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ConfigError("SECRET_KEY: required when MAILMON_ENV=production")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if PRODUCTION and DEBUG:
    raise ConfigError("DEBUG: must be off when MAILMON_ENV=production")

SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# --- Servers: PostgreSQL and Redis, always (embedded ones when none is configured) ---
DATABASE_URL = envstr("DATABASE_URL") or embedded.embedded_postgres_url(VAR_DIR)
REDIS_URL = envstr("REDIS_URL") or (
    # A test run gets a Redis of its own: concurrent runs would flush each other's data.
    embedded.private_redis_url(VAR_DIR) if TESTING else embedded.embedded_redis_url(VAR_DIR)
)


def _database(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ConfigError(f"DATABASE_URL: only postgresql:// URLs are supported, got {parsed.scheme!r}")
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.path.lstrip("/") or "mailmon",
        "USER": parsed.username or "postgres",
        "PASSWORD": parsed.password or "",
        "HOST": query.pop("host", None) or parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": envint("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        # JIT compiles dashboard aggregates for longer than they run (seen: 2.5 s vs 1.2 ms).
        "OPTIONS": {"connect_timeout": 5, "options": "-c jit=off", **query},
        # One test database per test run (pid): concurrent runs in one checkout must not drop each other's.
        "TEST": {"NAME": envstr("MAILMON_TEST_DATABASE") or f"test_{parsed.path.lstrip('/') or 'mailmon'}_{os.getpid()}"},  # noqa: E501
    }


def redis_url(db: int) -> str:
    """REDIS_URL with a database number: the broker, cache and channel layer use their own."""
    parsed = urlparse(REDIS_URL)
    if parsed.scheme == "unix":
        return f"unix://{parsed.path}?db={db}"
    if parsed.scheme not in {"redis", "rediss"}:
        raise ConfigError(f"REDIS_URL: expected redis://, rediss:// or unix://, got {parsed.scheme!r}")
    return parsed._replace(path=f"/{db}").geturl()


def celery_url(url: str) -> str:
    # kombu spells unix sockets redis+socket://
    return url.replace("unix://", "redis+socket://", 1) if url.startswith("unix://") else url


DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Tests use their own Redis databases so that they never touch a running portal's.
REDIS_DB_OFFSET = envint("MAILMON_REDIS_DB_OFFSET", 4 if TESTING else 0, minimum=0)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url(REDIS_DB_OFFSET + 1),
        "KEY_PREFIX": "mailmon",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": redis_url(REDIS_DB_OFFSET + 2)}], "capacity": 500, "expiry": 30},
    }
}

# --- Celery ---
CELERY_BROKER_URL = celery_url(redis_url(REDIS_DB_OFFSET + 0))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "apps.core.beat_scheduler:HeartbeatScheduler"  # django-celery-beat's + heartbeat
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Applications ---
INSTALLED_APPS = [
    "daphne",
    "apps.core.admin_apps.MailmonAdminConfig",  # django.contrib.admin with mailmon's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "channels",
    "apps.core",
    "apps.nodes",
    "apps.pools",
    "apps.ips",
    "apps.events",
    "apps.dnsbl",
    "apps.alerts",
    "apps.reports",
    "apps.warmup",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "mailmon.urls"
WSGI_APPLICATION = "mailmon.wsgi.application"
ASGI_APPLICATION = "mailmon.asgi.application"

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
                "apps.core.context_processors.navigation",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:  # the default PBKDF2 cost dominates a suite that logs in hundreds of times
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LOGIN_RATE_LIMIT = envint("MAILMON_LOGIN_RATE_LIMIT", 5, minimum=1)  # failures per window
LOGIN_RATE_WINDOW = envint("MAILMON_LOGIN_RATE_WINDOW", 300, minimum=1)  # seconds

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
import plotly  # noqa: E402  (its bundled plotly.min.js is served locally: no CDN)

STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", Path(plotly.__file__).parent / "package_data")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- REST framework / OpenAPI ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.permissions.ModelPermissions"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",  # names nested Input/Output serializers per view
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mailmon API",
    "DESCRIPTION": "Operations portal for self-hosted mail fleets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}
API_KEY_CUSTOM_HEADER = None  # agents send "Authorization: Api-Key <key>"

# Proxies whose X-Forwarded-For we believe (comma-separated IPs or CIDRs).
MAILMON_TRUSTED_PROXIES = envlist("MAILMON_TRUSTED_PROXIES", [])
MAILMON_METRICS_TOKEN = envstr("MAILMON_METRICS_TOKEN")

# --- Time series ---
MAILMON_EVENTS_RETENTION_DAYS = envint("MAILMON_EVENTS_RETENTION_DAYS", 90, minimum=1)
MAILMON_METRICS_RETENTION_DAYS = envint("MAILMON_METRICS_RETENTION_DAYS", 30, minimum=1)
MAILMON_PARTITIONS_AHEAD_DAYS = envint("MAILMON_PARTITIONS_AHEAD_DAYS", 7, minimum=1)

# --- Email pages: delivery-time gauges turn yellow at GREEN_MS and red at YELLOW_MS ---
MAILMON_DELIVERY_GREEN_MS = envint("MAILMON_DELIVERY_GREEN_MS", 3000, minimum=1)
MAILMON_DELIVERY_YELLOW_MS = envint("MAILMON_DELIVERY_YELLOW_MS", 10000, minimum=1)
if MAILMON_DELIVERY_YELLOW_MS <= MAILMON_DELIVERY_GREEN_MS:
    raise ConfigError("MAILMON_DELIVERY_YELLOW_MS: must be greater than MAILMON_DELIVERY_GREEN_MS")

# --- Event ingest (docs/events.md): limits, backpressure and worker batch size ---
MAILMON_INGEST_MAX_BODY_BYTES = envint("MAILMON_INGEST_MAX_BODY_BYTES", 32 * 1024 * 1024, minimum=1024)
MAILMON_INGEST_MAX_BACKLOG = envint("MAILMON_INGEST_MAX_BACKLOG", 1_000_000, minimum=1)  # events in the inbox
MAILMON_INGEST_RETRY_AFTER = envint("MAILMON_INGEST_RETRY_AFTER", 5, minimum=1)  # seconds, on 429/503
MAILMON_INGEST_BATCH_EVENTS = envint("MAILMON_INGEST_BATCH_EVENTS", 5000, minimum=1)  # per worker transaction
MAILMON_INGEST_RULES_REFRESH = envfloat("MAILMON_INGEST_RULES_REFRESH", 10.0)  # seconds between rule checks

# --- Agent keys: default request rate per key (limits notation; each key may set its own in the admin) ---
MAILMON_AGENT_RATE_LIMIT = envstr("MAILMON_AGENT_RATE_LIMIT", "100/second")
MAILMON_AGENT_RATE_LIMIT_TIMEOUT = envfloat("MAILMON_AGENT_RATE_LIMIT_TIMEOUT", 0.25)  # seconds; then fail open

# --- Health ---
MAILMON_HEARTBEAT_MAX_AGE = envfloat("MAILMON_HEARTBEAT_MAX_AGE", 120.0)
MAILMON_NODE_SILENT_AFTER = envint("MAILMON_NODE_SILENT_AFTER", 60, minimum=1)  # seconds without a report: offline

# --- Security (production) ---
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

from mailmon.beat import BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
