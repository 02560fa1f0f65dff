"""mailmon settings: everything comes from the environment (see docs/operations.md).

Importing them starts nothing: with DATABASE_URL/REDIS_URL unset they name the embedded
servers, which the entry points start (``mailmon.embedded.start``). Tests use
``tests/settings.py``, which imports these and sets what differs under test.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from mailmon import embedded
from mailmon.env import (
    ConfigError,
    envbool,
    envchoice,
    envfloat,
    envhostports,
    envint,
    envlist,
    envstr,
)
from mailmon.redis_urls import redis_urls

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = embedded.var_dir()  # MAILMON_VAR_DIR, default ./var
VAR_DIR.mkdir(parents=True, exist_ok=True)

MAILMON_ENV = envchoice("MAILMON_ENV", ("dev", "production"), "dev")
PRODUCTION = MAILMON_ENV == "production"
DEBUG = envbool("DEBUG", False)


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

# --- Servers: PostgreSQL and Redis, always (the embedded ones when none is configured) ---
DATABASE_URL = envstr("DATABASE_URL") or embedded.postgres_url(VAR_DIR)
REDIS_URL = envstr("REDIS_URL") or embedded.redis_url(VAR_DIR)


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
        "CONN_MAX_AGE": envint("DATABASE_CONN_MAX_AGE", 60, minimum=0, maximum=86400),
        "CONN_HEALTH_CHECKS": True,
        # JIT compiles dashboard aggregates for longer than they run (seen: 2.5 s vs 1.2 ms).
        "OPTIONS": {"connect_timeout": 5, "options": "-c jit=off", **query},
    }


def celery_url(url: str) -> str:
    # kombu spells unix sockets redis+socket://
    return url.replace("unix://", "redis+socket://", 1) if url.startswith("unix://") else url


DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# REDIS_URL's database N is the broker, N+1 the cache, N+2 the channel layer (mailmon/redis_urls.py).
# MAILMON_REDIS_DB_OFFSET shifts all three (tests/settings.py uses 4, away from a running portal's).
REDIS_DB_OFFSET = envint("MAILMON_REDIS_DB_OFFSET", 0, minimum=0, maximum=15)
REDIS_URLS = redis_urls(REDIS_URL, offset=REDIS_DB_OFFSET)
CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.MeteredRedisCache",  # counts hits/misses for /metrics
        "LOCATION": REDIS_URLS["cache"],
        "KEY_PREFIX": "mailmon",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URLS["channels"],
                    # channels-redis waits for messages with a blocking BZPOPMIN of 5 s; redis-py's
                    # default 5 s socket timeout would cut that read off and drop every idle
                    # socket with 1011 (issue 6). Reads may take the blocking time plus a margin;
                    # connecting stays quick, and an idle connection is checked before reuse.
                    "socket_timeout": 30,
                    "socket_connect_timeout": 5,
                    "health_check_interval": 30,
                }
            ],
            "capacity": 500,
            "expiry": 30,
        },
    }
}

# --- Celery ---
CELERY_BROKER_URL = celery_url(REDIS_URLS["broker"])
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
    "axes",  # login lockout (apps/core/login_limit.py); after auth, before our apps
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
# Demo-only code (load_demo, simulate_traffic): left out of production unless asked for.
MAILMON_DEMO = envbool("MAILMON_DEMO", not PRODUCTION)
if MAILMON_DEMO:
    INSTALLED_APPS.append("apps.demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestMetricsMiddleware",  # after static files: times what Django serves
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.LoginRequiredMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into our 429 (last, as axes asks)
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out address before any password check
    "django.contrib.auth.backends.ModelBackend",
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
                "apps.alerts.context_processors.alerts_badge",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LOGIN_RATE_LIMIT = envint("MAILMON_LOGIN_RATE_LIMIT", 5, minimum=1, maximum=10_000)  # failures per address per window
LOGIN_RATE_WINDOW = envint("MAILMON_LOGIN_RATE_WINDOW", 300, minimum=1, maximum=86400)  # seconds
# django-axes does the counting (apps/core/login_limit.py maps the two settings above onto it).
# Failures count per client address, whichever usernames they try; a success resets nothing,
# so a spray that logs in with a known password now and then is still throttled, and failures
# from one address never lock the user out from another. Admin -> Access attempts unlocks.
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_FAILURE_LIMIT = "apps.core.login_limit.failure_limit"
AXES_COOLOFF_TIME = "apps.core.login_limit.cool_off"
AXES_CLIENT_IP_CALLABLE = "apps.core.login_limit.client_ip"
AXES_LOCKOUT_CALLABLE = "apps.core.login_limit.locked_out_response"
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the window is fixed: a locked-out address may retry after it
AXES_VERBOSE = False

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
        if DEBUG
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
    "SERVE_PERMISSIONS": ["apps.core.permissions.HasRole"],  # a user without a group gets 403
    # Choice sets that share a field name with another module's ("type", "status").
    "ENUM_NAME_OVERRIDES": {
        "PoolTypeEnum": "apps.pools.choices.PoolType",
        "IpStatusEnum": "apps.ips.choices.IpStatus",
    },
}
API_KEY_CUSTOM_HEADER = None  # agents send "Authorization: Api-Key <key>"

# Proxies whose X-Forwarded-For we believe (comma-separated IPs or CIDRs).
MAILMON_TRUSTED_PROXIES = envlist("MAILMON_TRUSTED_PROXIES", [])
MAILMON_METRICS_TOKEN = envstr("MAILMON_METRICS_TOKEN")

# --- Time series ---
# Shape of new time-series tables: auto (hypertables when TimescaleDB is usable), partitions, timescaledb.
MAILMON_TIMESERIES = envchoice("MAILMON_TIMESERIES", ("auto", "partitions", "timescaledb"), "auto")
MAILMON_EVENTS_RETENTION_DAYS = envint("MAILMON_EVENTS_RETENTION_DAYS", 90, minimum=1, maximum=3660)
MAILMON_METRICS_RETENTION_DAYS = envint("MAILMON_METRICS_RETENTION_DAYS", 30, minimum=1, maximum=3660)
MAILMON_PARTITIONS_AHEAD_DAYS = envint("MAILMON_PARTITIONS_AHEAD_DAYS", 7, minimum=1, maximum=366)

# --- Email pages: delivery-time gauges turn yellow at GREEN_MS and red at YELLOW_MS ---
MAILMON_DELIVERY_GREEN_MS = envint("MAILMON_DELIVERY_GREEN_MS", 3000, minimum=1)
MAILMON_DELIVERY_YELLOW_MS = envint("MAILMON_DELIVERY_YELLOW_MS", 10000, minimum=1)
if MAILMON_DELIVERY_YELLOW_MS <= MAILMON_DELIVERY_GREEN_MS:
    raise ConfigError("MAILMON_DELIVERY_YELLOW_MS: must be greater than MAILMON_DELIVERY_GREEN_MS")

# --- Health (apps/nodes/health.py): one notion of "not healthy" for nodes, MTAs, IPs, domains ---
# Resource levels (percent) and mail queue size at which a node needs attention.
MAILMON_HEALTH_CPU_PERCENT = envfloat("MAILMON_HEALTH_CPU_PERCENT", 90.0, minimum=1, maximum=100)
MAILMON_HEALTH_MEMORY_PERCENT = envfloat("MAILMON_HEALTH_MEMORY_PERCENT", 90.0, minimum=1, maximum=100)
MAILMON_HEALTH_DISK_PERCENT = envfloat("MAILMON_HEALTH_DISK_PERCENT", 85.0, minimum=1, maximum=100)
MAILMON_HEALTH_QUEUE_SIZE = envint("MAILMON_HEALTH_QUEUE_SIZE", 1000, minimum=1)
# A queue is "growing" when it is this fraction larger than WINDOW minutes ago (and over 100 messages).
MAILMON_HEALTH_QUEUE_GROWTH = envfloat("MAILMON_HEALTH_QUEUE_GROWTH", 0.2, minimum=0.01, maximum=100)
# Outcome rates over the last WINDOW minutes (fractions of sent); judged from MIN_SENT outcomes up.
MAILMON_HEALTH_WINDOW_MINUTES = envint("MAILMON_HEALTH_WINDOW_MINUTES", 15, minimum=5, maximum=1440)
MAILMON_HEALTH_MIN_SENT = envint("MAILMON_HEALTH_MIN_SENT", 20, minimum=1)
MAILMON_HEALTH_DEFERRAL_WARN = envfloat("MAILMON_HEALTH_DEFERRAL_WARN", 0.10, minimum=0.001, maximum=1)
MAILMON_HEALTH_DEFERRAL_CRITICAL = envfloat("MAILMON_HEALTH_DEFERRAL_CRITICAL", 0.30, minimum=0.001, maximum=1)
MAILMON_HEALTH_BOUNCE_WARN = envfloat("MAILMON_HEALTH_BOUNCE_WARN", 0.05, minimum=0.001, maximum=1)
MAILMON_HEALTH_BOUNCE_CRITICAL = envfloat("MAILMON_HEALTH_BOUNCE_CRITICAL", 0.10, minimum=0.001, maximum=1)
for _name in ("DEFERRAL", "BOUNCE"):
    if globals()[f"MAILMON_HEALTH_{_name}_CRITICAL"] < globals()[f"MAILMON_HEALTH_{_name}_WARN"]:
        raise ConfigError(f"MAILMON_HEALTH_{_name}_CRITICAL: must be at least MAILMON_HEALTH_{_name}_WARN")

# --- Event ingest (docs/events.md): limits, backpressure and worker batch size ---
# Request bodies on every other path (apps/core/body_limit.py; the nginx config applies the same).
MAILMON_MAX_BODY_BYTES = envint("MAILMON_MAX_BODY_BYTES", 1024 * 1024, minimum=1024, maximum=1024 * 1024 * 1024)
MAILMON_ANONYMOUS_MAX_BODY_BYTES = envint(
    "MAILMON_ANONYMOUS_MAX_BODY_BYTES", 64 * 1024, minimum=1024, maximum=1024 * 1024 * 1024
)
# Event search: a pg_trgm GIN index on responses (migration events/0006) when true; off, text
# searches scan the newest windows of the range instead. It roughly halves the ingest rate.
MAILMON_SEARCH_TRIGRAM = envbool("MAILMON_SEARCH_TRIGRAM", False)
MAILMON_INGEST_MAX_BODY_BYTES = envint(
    "MAILMON_INGEST_MAX_BODY_BYTES", 32 * 1024 * 1024, minimum=1024, maximum=1024 * 1024 * 1024
)
MAILMON_INGEST_MAX_BACKLOG = envint("MAILMON_INGEST_MAX_BACKLOG", 1_000_000, minimum=1)  # events in the inbox
# Retry-After seconds on 429/503; events per worker transaction; seconds between bounce-rule checks.
MAILMON_INGEST_RETRY_AFTER = envint("MAILMON_INGEST_RETRY_AFTER", 5, minimum=1, maximum=3600)
MAILMON_INGEST_BATCH_EVENTS = envint("MAILMON_INGEST_BATCH_EVENTS", 5000, minimum=1, maximum=1_000_000)
MAILMON_INGEST_RULES_REFRESH = envfloat("MAILMON_INGEST_RULES_REFRESH", 10.0, minimum=0, maximum=3600)

# --- Agent keys: default request rate per key (limits notation; each key may set its own in the admin) ---
MAILMON_AGENT_RATE_LIMIT = envstr("MAILMON_AGENT_RATE_LIMIT", "100/second")
MAILMON_AGENT_RATE_LIMIT_TIMEOUT = envfloat("MAILMON_AGENT_RATE_LIMIT_TIMEOUT", 0.25)  # seconds; then fail open
# Seconds a process reuses a verified key without reading its row (0: read on every request);
# a revoked or edited key takes effect in every process within this bound.
MAILMON_AGENT_KEY_CACHE_SECONDS = envfloat("MAILMON_AGENT_KEY_CACHE_SECONDS", 5.0, minimum=0, maximum=60)

# --- Health ---
# Agent keys registering nodes automatically (apps/nodes/services.py: nodes_ensure): per-key caps.
MAILMON_NODES_PER_KEY = envint("MAILMON_NODES_PER_KEY", 500, minimum=0, maximum=1_000_000)
MAILMON_NEW_NODES_PER_MINUTE = envint("MAILMON_NEW_NODES_PER_MINUTE", 60, minimum=0, maximum=1_000_000)
MAILMON_NODE_APPROVAL_REQUIRED = envbool("MAILMON_NODE_APPROVAL_REQUIRED", False)
MAILMON_HEARTBEAT_MAX_AGE = envfloat("MAILMON_HEARTBEAT_MAX_AGE", 120.0, minimum=1, maximum=86400)
# Seconds without an agent report before a node is offline.
MAILMON_NODE_SILENT_AFTER = envint("MAILMON_NODE_SILENT_AFTER", 60, minimum=1, maximum=86400)

# --- Alerting (docs/alerts.md) and the portal's outgoing mail (email channels) ---
MAILMON_PUBLIC_URL = envstr("MAILMON_PUBLIC_URL", "http://localhost:8000")  # links in notifications
MAILMON_ALERTS_MAX_RETRIES = envint("MAILMON_ALERTS_MAX_RETRIES", 5, minimum=0, maximum=50)  # per notification
MAILMON_ALERTS_RETRY_BACKOFF_MAX = envint("MAILMON_ALERTS_RETRY_BACKOFF_MAX", 600, minimum=1, maximum=86400)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "mailmon@localhost")

# --- Security: harmless in development, so they hold everywhere ---
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Security that needs HTTPS (production) ---
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0, maximum=2 * 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]

# --- DNSBL monitoring (docs/dnsbl.md) ---
# Resolvers as host[:port], comma-separated; empty: the system's. Spamhaus (and others) refuse
# queries through public resolvers (8.8.8.8, 1.1.1.1 ...): use your own recursive resolver.
MAILMON_DNS_RESOLVERS = envhostports("MAILMON_DNS_RESOLVERS")
MAILMON_DNS_TIMEOUT = envfloat("MAILMON_DNS_TIMEOUT", 3.0)  # seconds per try
MAILMON_DNS_TRIES = envint("MAILMON_DNS_TRIES", 2, minimum=1)
MAILMON_DNSBL_CONCURRENCY = envint("MAILMON_DNSBL_CONCURRENCY", 200, minimum=1)  # queries in flight per worker
MAILMON_DNSBL_ZONE_QPS = envint("MAILMON_DNSBL_ZONE_QPS", 50, minimum=0)  # per zone, all workers; 0: unlimited
MAILMON_DNSBL_INTERVAL_MINUTES = envint("MAILMON_DNSBL_INTERVAL_MINUTES", 30, minimum=1)
MAILMON_DNSBL_CHUNK_IPS = envint("MAILMON_DNSBL_CHUNK_IPS", 100, minimum=1)  # IPs per Celery task
MAILMON_DNSBL_PAUSE_AFTER = envint("MAILMON_DNSBL_PAUSE_AFTER", 2, minimum=2)  # consecutive listings; never 1
MAILMON_DNSBL_RESUME_AFTER = envint("MAILMON_DNSBL_RESUME_AFTER", 3, minimum=1)  # consecutive clean checks
MAILMON_DNSBL_AUTO_RESUME = envbool("MAILMON_DNSBL_AUTO_RESUME", True)  # false: notify only
MAILMON_DNSBL_ERROR_WARN_RUNS = envint("MAILMON_DNSBL_ERROR_WARN_RUNS", 3, minimum=1)
# PTR checks of sending IPs (docs/dnsbl.md#ptr-checks) use the resolvers above; the interval is in beat.py.
MAILMON_PTR_CONCURRENCY = envint("MAILMON_PTR_CONCURRENCY", 200, minimum=1)  # addresses in flight per worker
MAILMON_PTR_CHECK_HOURS = envint("MAILMON_PTR_CHECK_HOURS", 24, minimum=1, maximum=24 * 30)  # beat interval

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Encrypted fields (apps/core/fields.py): comma-separated Fernet keys, the first encrypts ---
def _field_keys() -> list[str]:
    from cryptography.fernet import Fernet

    keys = envlist("MAILMON_FIELD_KEYS")
    if not keys and PRODUCTION:
        return []  # storing or reading a secret then fails, naming this setting (apps/core/fields.py)
    if not keys:
        key_file = VAR_DIR / "field_keys"
        if not key_file.exists():
            key_file.write_text(Fernet.generate_key().decode())
            key_file.chmod(0o600)
        keys = [k.strip() for k in key_file.read_text().split(",") if k.strip()]
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except ValueError as exc:
            raise ConfigError(f"MAILMON_FIELD_KEYS: key {n} is not a Fernet key (32 url-safe base64 bytes)") from exc
    return keys


MAILMON_FIELD_KEYS = _field_keys()

# --- Mailbox warmup (docs/warmup.md) ---
MAILMON_WARMUP_INTERVAL = envint("MAILMON_WARMUP_INTERVAL", 900, minimum=60)  # seconds between planning cycles
MAILMON_WARMUP_MAX_CATCHUP = envfloat("MAILMON_WARMUP_MAX_CATCHUP", 2.0)  # x one cycle's pace, after a missed cycle
MAILMON_WARMUP_GLOBAL_PER_MINUTE = envint("MAILMON_WARMUP_GLOBAL_PER_MINUTE", 200, minimum=1)
MAILMON_WARMUP_GLOBAL_PER_HOUR = envint("MAILMON_WARMUP_GLOBAL_PER_HOUR", 10_000, minimum=1)
MAILMON_WARMUP_USER_PER_HOUR = envint("MAILMON_WARMUP_USER_PER_HOUR", 500, minimum=1)
MAILMON_WARMUP_PROVIDER_PER_HOUR = envint("MAILMON_WARMUP_PROVIDER_PER_HOUR", 5_000, minimum=1)
MAILMON_WARMUP_REPLY_SHARE = envfloat("MAILMON_WARMUP_REPLY_SHARE", 0.3)  # of delivered messages answered
MAILMON_WARMUP_SMTP_TIMEOUT = envfloat("MAILMON_WARMUP_SMTP_TIMEOUT", 30.0)  # seconds, connect and each command
MAILMON_WARMUP_MAX_RETRIES = envint("MAILMON_WARMUP_MAX_RETRIES", 4, minimum=0)  # 4xx / connection errors
# Sends go out in chunks: one per CHUNK_SECONDS slot of a cycle, at most CHUNK_SIZE sends each, with up to
# SMTP_PARALLEL SMTP sessions (one per sending account) side by side in a chunk.
MAILMON_WARMUP_CHUNK_SECONDS = envint("MAILMON_WARMUP_CHUNK_SECONDS", 10, minimum=1, maximum=60)
MAILMON_WARMUP_CHUNK_SIZE = envint("MAILMON_WARMUP_CHUNK_SIZE", 50, minimum=1, maximum=1000)
MAILMON_WARMUP_SMTP_PARALLEL = envint("MAILMON_WARMUP_SMTP_PARALLEL", 8, minimum=1, maximum=64)
MAILMON_WARMUP_SEND_RETENTION_DAYS = envint("MAILMON_WARMUP_SEND_RETENTION_DAYS", 90, minimum=1)
MAILMON_WARMUP_METRICS_RETENTION_DAYS = envint("MAILMON_WARMUP_METRICS_RETENTION_DAYS", 30, minimum=1)
MAILMON_WARMUP_DNS_TIMEOUT = envfloat("MAILMON_WARMUP_DNS_TIMEOUT", 3.0)
MAILMON_WARMUP_NAMESERVERS = envlist("MAILMON_WARMUP_NAMESERVERS", [])  # for MX lookups; empty: the system resolver
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update({
    "ConnectionSecurityEnum": "apps.warmup.choices.SmtpSecurity",
    "WarmupMailboxStatusEnum": "apps.warmup.choices.MailboxStatus",
    "WarmupControlActionEnum": ["start", "stop", "trigger"],
    "IpBulkActionEnum": ["activate", "pause", "quarantine", "retire", "assign_pool"],
    "WarmupQuotaStatusEnum": ["all", "behind"],
    "NodeStatusEnum": "apps.nodes.choices.NodeStatus",
})


from mailmon.beat import BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE

# --- Sending IPs: what the MTAs obey (GET /api/v1/mta/pools) ---
# Seconds an answer's sent-today counters may trail the events (changes through the services apply at once).
MAILMON_MTA_POOLS_SENT_REFRESH = envint("MAILMON_MTA_POOLS_SENT_REFRESH", 10, minimum=1, maximum=3600)
# Seconds the IP table's per-IP figures (sent 1 h / 24 h / today, bounce %) are reused from the cache (0: never).
MAILMON_IP_FIGURES_CACHE_SECONDS = envint("MAILMON_IP_FIGURES_CACHE_SECONDS", 30, minimum=0, maximum=3600)
# IP warmup (apps/ips/services_warmup.py): an IP stays on its day when, over its last sending day,
# (bounced + rejected) / sent or deferred / sent passed these; "performing well" below GOOD for 3 days.
MAILMON_WARMUP_MAX_BOUNCE_RATE = envfloat("MAILMON_WARMUP_MAX_BOUNCE_RATE", 0.05, minimum=0, maximum=1)
MAILMON_WARMUP_MAX_DEFERRAL_RATE = envfloat("MAILMON_WARMUP_MAX_DEFERRAL_RATE", 0.10, minimum=0, maximum=1)
MAILMON_WARMUP_GOOD_BOUNCE_RATE = envfloat("MAILMON_WARMUP_GOOD_BOUNCE_RATE", 0.02, minimum=0, maximum=1)
