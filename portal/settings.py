"""Settings for every deployment, read from environment variables (docs/operations.md).

With no variables set the portal runs on one machine: a SQLite file, the in-memory channel layer,
Celery tasks executed eagerly and media rooms hosted inside the web process. ``DATABASE_URL``
switches to PostgreSQL, ``REDIS_URL`` to channels_redis, a Redis cache and a Celery broker.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.env import env_bool, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("GIAOBAN_VAR_DIR", str(BASE_DIR / "var")))

DEV_SECRET_KEY = "dev-insecure-giaoban-secret-key-change-me"  # noqa: S105 - refused when DEBUG=False
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DEBUG=False with the development SECRET_KEY: set SECRET_KEY to a long random value "
        "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters when DEBUG=False.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "portal",
    "conferences",
    "media_worker",
    "recordings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.security_headers.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns lockout signals into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "giaoban.sqlite3"),
            # Daphne runs sync code in threads: wait for the write lock instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, Celery broker ---------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # socket_timeout above channels_redis's 5 s BZPOPMIN: redis-py 8 defaults to 5 s,
            # which makes an idle consumer die now and then with "Timeout reading".
            # max_connections: every consumer waiting in receive() holds one pooled connection, and
            # redis-py's asyncio pool stops at 100 by default (the 101st socket got errors).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 4096}],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"media_worker.tasks.*": {"queue": "media"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# How live media rooms run: "inprocess" (embedded default) or "celery" (when REDIS_URL is set).
MEDIA_ROOM_MODE = env_str("MEDIA_ROOM_MODE", "celery" if REDIS_URL else "inprocess")
if MEDIA_ROOM_MODE not in {"inprocess", "celery"}:
    raise ImproperlyConfigured("MEDIA_ROOM_MODE must be 'inprocess' or 'celery'.")
# Where media may flow (media_worker/settings_policy.py builds the SFU's NetworkPolicy):
# addresses offered as ICE host candidates (empty = every address of the host), remote networks
# accepted (CIDR), optional STUN URLs and TURN servers given as "turn:host:3478|user|password".
MEDIA_ICE_ADDRESSES = env_list("MEDIA_ICE_ADDRESSES", [])
MEDIA_ICE_ACCEPT_NETWORKS = env_list("MEDIA_ICE_ACCEPT_NETWORKS", ["0.0.0.0/0", "::/0"])
MEDIA_STUN_SERVERS = env_list("MEDIA_STUN_SERVERS", [])
MEDIA_TURN_SERVERS = env_list("MEDIA_TURN_SERVERS", [])
# x-google-start-bitrate hint in the SFU's answers: browsers start near Full HD bitrates at once
# (measured: 2500 gives 2.0–2.3 Mbit/s at 1080p on a slow encoder, 3500 gives 2.3–2.8).
MEDIA_START_BITRATE_KBPS = env_int("MEDIA_START_BITRATE_KBPS", 3000, minimum=0)
# The slot layout (media_worker/layout.py, served to the live pages): thumbnail video slots (0–4)
# and the cap on what a browser publishes (bit/s).
MEDIA_THUMBNAILS = env_int("MEDIA_THUMBNAILS", 4, minimum=0)
if MEDIA_THUMBNAILS > 4:
    raise ImproperlyConfigured("MEDIA_THUMBNAILS must be between 0 and 4.")
MEDIA_MAX_BITRATE = env_int("MEDIA_MAX_BITRATE", 2_500_000, minimum=100_000)
# Browsers publish the camera as three simulcast layers (docs/sfu.md "Simulcast"); off: one
# encoding at MEDIA_MAX_BITRATE, as before simulcast.
MEDIA_SIMULCAST = env_bool("MEDIA_SIMULCAST", True)


def _port_range(name: str) -> tuple[int, int] | None:
    raw = env_str(name, "").strip()
    first, dash, last = raw.partition("-")
    if not raw:
        return None
    if (
        first.strip().isdigit()
        and (not dash or last.strip().isdigit())
        and 1 <= int(first) <= int(last if dash else first) <= 65535
    ):
        return (int(first), int(last if dash else first))
    raise ImproperlyConfigured(
        f"{name} must be a port (1-65535) or a range like 40000-40003, got {raw!r}"
    )


# One-port mode (media_worker/sfu/udpmux.py): "40000" or a range "40000-40003". Each media worker
# process serves all its peers on one UDP port per ICE address -- the first port of the range free
# on every address when its first peer joins -- and offers its host candidates on it. Empty (the
# default): one ephemeral UDP port per peer connection (aioice's own behaviour).
MEDIA_UDP_PORTS = _port_range("MEDIA_UDP_PORT")
# ICE-TCP (media_worker/sfu/icetcp.py), the fallback for sites whose UDP is blocked: "40000" or a
# range; each media worker also listens on one TCP port and offers a passive TCP candidate on it.
# Needs MEDIA_UDP_PORT. Empty (the default): no ICE-TCP.
MEDIA_TCP_PORTS = _port_range("MEDIA_TCP_PORT")
if MEDIA_TCP_PORTS is not None and MEDIA_UDP_PORTS is None:
    raise ImproperlyConfigured("MEDIA_TCP_PORT (ICE-TCP) needs MEDIA_UDP_PORT (one-port mode).")
# A site whose peer sends no packet for this many seconds is recorded as left (and removed).
MEDIA_NO_MEDIA_TIMEOUT = env_int("MEDIA_NO_MEDIA_TIMEOUT", 20, minimum=1)
# Placement by load (media_worker/placement.py): the peers one media worker process is meant to
# carry (its heartbeat publishes it, so hosts of different sizes set their own), and the peers a
# room is counted as before its sites have joined. A worker over its budget is reported (log,
# metrics, the technicians' page); spreading one room's new joins over another worker needs
# cascaded rooms (issue 16 item 1).
MEDIA_WORKER_PEER_BUDGET = env_int("MEDIA_WORKER_PEER_BUDGET", 200, minimum=1)
MEDIA_ROOM_PEERS_ESTIMATE = env_int("MEDIA_ROOM_PEERS_ESTIMATE", 10, minimum=0)
# Each media worker serves /metrics (Prometheus text) and /health on this address, "host:port";
# port 0 picks a free one (published in the worker's heartbeat and log); empty turns it off.
# Keep it on loopback or the internal network: it is not authenticated.
MEDIA_METRICS_ADDRESS = env_str("MEDIA_METRICS_ADDRESS", "127.0.0.1:0")
_metrics_host, _sep, _metrics_port = MEDIA_METRICS_ADDRESS.rpartition(":")
if MEDIA_METRICS_ADDRESS and not (
    _sep and _metrics_host and _metrics_port.isdigit() and int(_metrics_port) <= 65535
):
    raise ImproperlyConfigured(
        f"MEDIA_METRICS_ADDRESS must be host:port (or empty), got {MEDIA_METRICS_ADDRESS!r}"
    )
# Recording (media_worker/sfu/recording): segment length and the key-frame interval asked for
# (a player seeks to the key frame before the wanted time).
RECORDING_SEGMENT_SECONDS = env_int("RECORDING_SEGMENT_SECONDS", 300, minimum=2)
RECORDING_KEYFRAME_SECONDS = env_int("RECORDING_KEYFRAME_SECONDS", 10, minimum=0)
# The mixed listening track (floor + chair, the default track a browser plays; ~1.5 % of a core
# per conference, benchmarks/recording.py). 0: only the original floor and chair tracks are
# written (the floor's is then the default: a player hears the chair only when it holds the floor).
RECORDING_MIX = env_bool("RECORDING_MIX", True)
# Levels recorded by default (empty = every level); a confidential conference only when its
# clerk turns recording on. Recordings are deleted this many days after the conference ended
# (`manage.py recordings_expire`, daily from Celery beat).
RECORDING_LEVELS = env_list("RECORDING_LEVELS", [])
RECORDING_RETENTION_DAYS = env_int("RECORDING_RETENTION_DAYS", 1825, minimum=1)
# Celery beat re-dispatches rooms of live conferences whose lease expired (each media worker's
# own watchdog does too; beat covers the case where no media worker is idle-watching).
CELERY_BEAT_SCHEDULE = {
    "media-rooms-watchdog": {"task": "media_worker.tasks.rooms_watchdog", "schedule": 5.0},
    "recordings-expire": {"task": "recordings.tasks.recordings_expire", "schedule": 86400.0},
}

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# django-axes (portal/lockout.py): failures lock the (username, address) pair after
# AXES_FAILURE_LIMIT, the address itself only after LOGIN_ADDRESS_FAILURE_LIMIT failures across
# usernames. The client address comes from PROXY_CLIENT_IP_HEADER only for requests sent by one of
# TRUSTED_PROXIES (addresses or networks of the reverse proxies); otherwise REMOTE_ADDR.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 100, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = "portal.lockout.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "portal.lockout.client_ip"
TRUSTED_PROXY_NETWORKS = env_networks("TRUSTED_PROXIES")
PROXY_CLIENT_IP_HEADER = env_str("PROXY_CLIENT_IP_HEADER", "X-Forwarded-For")
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_HTTPONLY = True
# HTTPS=True: the portal is served over TLS (a TLS-terminating proxy in front, passing
# X-Forwarded-Proto): plain HTTP is redirected, HSTS is sent, cookies are Secure.
# docs/operations.md "HTTPS". Content-Security-Policy and friends: portal/security_headers.py.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS or not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Language and time ----------------------------------------------------------------------
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Tiếng Việt")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Daphne serves /static/ itself unless a front proxy does it (docs/operations.md).
SERVE_STATIC = env_bool("SERVE_STATIC", True)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: documents go through permission-checked views
# Recording segments (docs/operations.md "Recordings on several media hosts"): "local" keeps them
# under MEDIA_ROOT/recordings/ (one host, or MEDIA_ROOT on a filesystem every host mounts);
# "s3" puts every finished segment in an S3-compatible bucket (django-storages): the media worker
# writes a segment under its own MEDIA_ROOT, uploads it when it is finished and reports it only
# then; the web processes stream it from the bucket with range requests.
RECORDING_STORAGE = env_str("RECORDING_STORAGE", "local")
if RECORDING_STORAGE == "local":
    _recording_storage: dict = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif RECORDING_STORAGE == "s3":
    if not env_str("RECORDING_S3_BUCKET"):
        raise ImproperlyConfigured("RECORDING_STORAGE=s3 needs RECORDING_S3_BUCKET.")
    _recording_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("RECORDING_S3_BUCKET"),
            "endpoint_url": env_str("RECORDING_S3_ENDPOINT_URL") or None,
            "region_name": env_str("RECORDING_S3_REGION") or None,
            "location": env_str("RECORDING_S3_PREFIX"),
            # credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment
            "file_overwrite": True,  # a segment re-sent after a failover replaces itself
            "default_acl": None,
            "querystring_auth": True,  # nothing in the bucket is public
        },
    }
else:
    raise ImproperlyConfigured("RECORDING_STORAGE must be 'local' or 's3'.")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "recordings": _recording_storage,
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Uploads and request bodies over 1 MB go to a temporary file, never to memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
# Largest conference document accepted (bytes); checked again by content in conferences.services.documents.
CONFERENCE_DOCUMENT_MAX_BYTES = env_int(
    "CONFERENCE_DOCUMENT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024
)
# An Office document (a zip) may not inflate to more than this (zip bombs).
CONFERENCE_DOCUMENT_MAX_INFLATED_BYTES = env_int(
    "CONFERENCE_DOCUMENT_MAX_INFLATED_BYTES", 200 * 1024 * 1024, minimum=1024
)
# Presenting an agenda PDF page by page (conferences.services.document_pages): each page is
# drawn by a child process limited to this wall-clock/CPU time (s) and address space (bytes).
DOCUMENT_RENDER_TIMEOUT = env_int("DOCUMENT_RENDER_TIMEOUT", 20, minimum=1)
DOCUMENT_RENDER_MAX_MEMORY = env_int(
    "DOCUMENT_RENDER_MAX_MEMORY", 1024 * 1024 * 1024, minimum=64 * 1024 * 1024
)
DOCUMENT_RENDER_MAX_PAGES = env_int("DOCUMENT_RENDER_MAX_PAGES", 500, minimum=1)
# Request bodies (portal/bodylimit.py, enforced by Daphne before reading): any request at most
# REQUEST_BODY_MAX_BYTES (the largest document plus the form around it); more than
# REQUEST_BODY_ANONYMOUS_MAX_BYTES only with a signed-in session. Larger gets 413.
REQUEST_BODY_MAX_BYTES = env_int(
    "REQUEST_BODY_MAX_BYTES", CONFERENCE_DOCUMENT_MAX_BYTES + 1024 * 1024, minimum=1024
)
REQUEST_BODY_ANONYMOUS_MAX_BYTES = env_int(
    "REQUEST_BODY_ANONYMOUS_MAX_BYTES", 64 * 1024, minimum=1024
)

# --- Email (console by default) -------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "giaoban@localhost")

# --- History reports: savings method and punctuality (docs: /history/savings/) ---------------
# Travel cost per km of a site's round trip to the host (VND, one vehicle per site).
SAVINGS_COST_PER_KM = env_int("SAVINGS_COST_PER_KM", 8000, minimum=0)
# Per diem per attendee (VND) when the one-way distance is at least SAVINGS_PER_DIEM_MIN_KM.
SAVINGS_PER_DIEM = env_int("SAVINGS_PER_DIEM", 200000, minimum=0)
SAVINGS_PER_DIEM_MIN_KM = env_int("SAVINGS_PER_DIEM_MIN_KM", 15, minimum=0)
# Attendees assumed at a present site when no headcount was recorded.
SAVINGS_DEFAULT_ATTENDEES = env_int("SAVINGS_DEFAULT_ATTENDEES", 3, minimum=0)
# A site is late when it first joined more than this many minutes after the planned start.
HISTORY_LATE_MINUTES = env_int("HISTORY_LATE_MINUTES", 5, minimum=0)
# Dashboard figures are cached this long (keyed by scope, filter and a stamp of the history); 0 = off.
HISTORY_CACHE_SECONDS = env_int("HISTORY_CACHE_SECONDS", 300, minimum=0)
# Months whose summaries a change made dirty are recomputed "inline" (right after the commit, in
# the process that made it: the embedded default) or by Celery beat's task every
# HISTORY_SUMMARY_REFRESH_SECONDS ("beat", the default with REDIS_URL). Until then the dashboard
# reads those months from the invitations (exact, slower): conferences.services.history.
HISTORY_SUMMARY_REFRESH = env_str("HISTORY_SUMMARY_REFRESH", "beat" if REDIS_URL else "inline")
if HISTORY_SUMMARY_REFRESH not in {"inline", "beat"}:
    raise ImproperlyConfigured("HISTORY_SUMMARY_REFRESH must be 'inline' or 'beat'.")
HISTORY_SUMMARY_REFRESH_SECONDS = env_int("HISTORY_SUMMARY_REFRESH_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE["history-summary-refresh"] = {
    "task": "conferences.tasks.history_summary_refresh",
    "schedule": float(HISTORY_SUMMARY_REFRESH_SECONDS),
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Sessions for the pages' own scripts; tokens (issued in the admin to a service account with
    # a leader role on its subtree) for the province's e-office systems.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # first: a bad token gets 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: the browsable API needs inline styles the Content-Security-Policy refuses, and
    # people read /api/docs/ instead.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "Giao Ban API", "VERSION": "1.0.0", "SERVE_INCLUDE_SCHEMA": False}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
