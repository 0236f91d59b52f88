"""Settings for the chat site.

Everything that differs between a laptop and a deployment comes from the environment.
With no environment at all the site runs on SQLite with in-process fan-out, so that
`manage.py runserver` just works.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DJANGO_DEBUG", "1")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-runserver-and-tests"

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# Production (DJANGO_DEBUG=0): HTTPS only, behind a reverse proxy that terminates TLS and
# says so in X-Forwarded-Proto (deploy/nginx.conf). `manage.py check --deploy` is clean.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Off when whatever terminates TLS in front already redirects plain HTTP to HTTPS.
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", "1")
    if not SECURE_SSL_REDIRECT:
        SILENCED_SYSTEM_CHECKS = ["security.W008"]  # the proxy redirects, not Django
    SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "1")
    SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", "1")
    # Cookies only over HTTPS; HttpOnly and SameSite hold everywhere (further down).
    # Off only for plain-HTTP runs on 127.0.0.1 such as the benchmark (check --deploy warns).
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", "1")

INSTALLED_APPS = [
    # daphne first: its runserver replaces Django's, so `manage.py runserver` serves ASGI.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_eventstream",
    "axes",
    "django_tasks_db",
    "rooms",
]

# Each runs in async mode without a thread of its own (rooms/middleware.py: Django's
# security, CSP, clickjacking, session, common, CSRF, authentication and messages
# middleware, with their I/O-free hooks on the event loop), so that the async message post
# needs no thread of its own.
MIDDLEWARE = [
    # First: it notes the view, the user and the address for the request's log line.
    "rooms.access_log.RequestLogMiddleware",
    "rooms.middleware.SecurityMiddleware",
    "rooms.middleware.ContentSecurityPolicyMiddleware",
    # Above the body limit, so that its 413 cannot be framed either.
    "rooms.middleware.XFrameOptionsMiddleware",
    "rooms.middleware.RequestBodyLimitMiddleware",
    "rooms.middleware.SessionMiddleware",
    "rooms.middleware.CommonMiddleware",
    "rooms.middleware.CsrfViewMiddleware",
    "rooms.middleware.AuthenticationMiddleware",
    # A valid API token replaces the session's user, and its request needs no CSRF token.
    "rooms.middleware.TokenAuthenticationMiddleware",
    "rooms.middleware.MessageMiddleware",
    "rooms.middleware.DatabaseUnavailableMiddleware",
    # Last: it answers locked-out login attempts.
    "axes.middleware.AxesMiddleware",
]

# Django's checks that SecurityMiddleware, XFrameOptionsMiddleware and CsrfViewMiddleware are
# on look for their dotted paths; MIDDLEWARE names subclasses of them. rooms.W002 checks for
# those (or Django's own) instead (rooms/apps.py).
SILENCED_SYSTEM_CHECKS = [
    *globals().get("SILENCED_SYSTEM_CHECKS", []),
    *["security.W001", "security.W002", "security.W003"],
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"
WSGI_APPLICATION = None

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

# Database: SQLite by default, PostgreSQL when DATABASE_URL is set.
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    if urlsplit(DATABASE_URL).scheme not in ("postgres", "postgresql", "pgsql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// URL, got scheme {urlsplit(DATABASE_URL).scheme!r}"
        )
    try:
        _db = dict(dj_database_url.parse(DATABASE_URL))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid URL: {exc}") from None
    # A pool bounds the connections of a process whatever the number of open streams:
    # streams hold no connection at all, requests borrow one for their duration.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": envint("DATABASE_POOL_MAX_SIZE", 8),
            "timeout": 10,
        },
    }
    _db["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME", "test_chatsite")}
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN: concurrent posters queue on the
                # busy timeout instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                # FULL: a commit is on disk (the WAL fsynced) before it returns, so a 201 survives
                # a power cut. Under NORMAL the last commits before one can be lost. The cost,
                # one fsync per commit, is shared by the posts the writer commits together
                # (rooms/writer.py).
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background work (ending mutes and bans when they expire): Django's Tasks framework with
# django-tasks-db's backend, so a task is a row written in the same transaction as the
# change that needs it. `manage.py run_worker` runs them (bin/run and bin/serve start it).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# Fan-out between the open streams: in-process by default, Redis when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL and urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
    raise ImproperlyConfigured(
        f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got {REDIS_URL!r}"
    )
# Prefix of the Redis pub/sub channels, so that several sites can share one Redis.
REDIS_CHANNEL_PREFIX = os.environ.get("REDIS_CHANNEL_PREFIX", "chat:")
CHAT_FANOUT_BACKEND = (
    "rooms.stream.backends.redis.RedisFanout"
    if REDIS_URL
    else "rooms.stream.backends.local.LocalFanout"
)

# The cache holds the rate-limit counts (rooms/limits.py): in Redis when REDIS_URL is set, so
# that every process counts together; in this process's memory otherwise (one process).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_CHANNEL_PREFIX,
            # A Redis that does not answer must not hold requests up: limits are then off.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-eventstream: our storage reads the permanent room event log, our channel manager
# decides who may read which room. See rooms/eventstream.py.
EVENTSTREAM_STORAGE_CLASS = "rooms.eventstream.RoomEventStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "rooms.eventstream.RoomChannelManager"

AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out account or address is refused before any password check.
    "axes.backends.AxesStandaloneBackend",
    # Bots work with API tokens only (rooms/programs/backends.py).
    "rooms.programs.backends.BotsCannotLogIn",
    "django.contrib.auth.backends.ModelBackend",
]

# Login throttling (django-axes): 5 failures lock the account, and separately the address,
# for 15 minutes; the answer is a 429 page saying so.
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# The client's address (the lockout by address, the per-address limits of rooms/limits.py):
# behind CHAT_TRUSTED_PROXIES reverse proxies it is the one the first of them saw, read from
# X-Forwarded-For counting from the right, where each proxy appends the address it saw;
# whatever stands further left was written by the client and is ignored. With none (the
# default: runserver, daphne on its own) X-Forwarded-For is ignored altogether. bin/serve
# runs behind one nginx, which also overwrites the header with the address it saw.
CHAT_TRUSTED_PROXIES = envint("CHAT_TRUSTED_PROXIES", 0)
if CHAT_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("CHAT_TRUSTED_PROXIES must be 0 or more")
AXES_IPWARE_PROXY_ORDER = "left-most"  # the header lists the client first, proxies after
# The last proxy is the socket's peer, not in the header: the header holds the others.
AXES_IPWARE_PROXY_COUNT = CHAT_TRUSTED_PROXIES - 1 if CHAT_TRUSTED_PROXIES else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if CHAT_TRUSTED_PROXIES else ("REMOTE_ADDR",)
)
# More entries than proxies (the client's own, on the left) are expected, not an error.
IPWARE_STRICT = False

# Abuse limits. Posts per person per minute, across rooms; request bodies in bytes (a
# bigger one is refused with 413 before it is read).
CHAT_POSTS_PER_MINUTE = envint("CHAT_POSTS_PER_MINUTE", 30)
# How a message post is written (rooms/writer.py): "thread", by the process's one writer
# thread, which commits the posts that wait together; "inline", alone in the request's
# thread (the tests: their transaction must see the writes).
CHAT_WRITER = os.environ.get("CHAT_WRITER", "thread").strip() or "thread"
if CHAT_WRITER not in ("thread", "inline"):
    raise ImproperlyConfigured(f"CHAT_WRITER must be thread or inline, got {CHAT_WRITER!r}")
# Open streams per person, per process (a browser opens one per tab).
CHAT_MAX_STREAMS_PER_USER = envint("CHAT_MAX_STREAMS_PER_USER", 30)
CHAT_MAX_REQUEST_BYTES = envint("CHAT_MAX_REQUEST_BYTES", 64 * 1024)
# Everything else that writes (rooms/limits.py; 0 turns a limit off). Per person: edits and
# deletions of one's messages a minute; joins and leaves of one room an hour; other writes
# (adding members, reports, moderation) a minute; new rooms an hour; downloads of one's own
# data (GET /settings/export/) an hour. Per client address: new
# rooms, sign-ups and password reset requests an hour.
CHAT_EDITS_PER_MINUTE = envint("CHAT_EDITS_PER_MINUTE", 30)
CHAT_MEMBERSHIP_CHANGES_PER_HOUR = envint("CHAT_MEMBERSHIP_CHANGES_PER_HOUR", 10)
CHAT_ACTIONS_PER_MINUTE = envint("CHAT_ACTIONS_PER_MINUTE", 60)
# Reactions added or taken back, per person a minute.
CHAT_REACTIONS_PER_MINUTE = envint("CHAT_REACTIONS_PER_MINUTE", 60)
CHAT_READ_MARKS_PER_MINUTE = envint("CHAT_READ_MARKS_PER_MINUTE", 120)
CHAT_DMS_PER_HOUR = envint("CHAT_DMS_PER_HOUR", 60)
CHAT_EXPORTS_PER_HOUR = envint("CHAT_EXPORTS_PER_HOUR", 5)
CHAT_ROOMS_PER_HOUR = envint("CHAT_ROOMS_PER_HOUR", 10)
CHAT_ROOMS_PER_HOUR_PER_ADDRESS = envint("CHAT_ROOMS_PER_HOUR_PER_ADDRESS", 30)
CHAT_SIGNUPS_PER_HOUR = envint("CHAT_SIGNUPS_PER_HOUR", 5)
CHAT_PASSWORD_RESETS_PER_HOUR = envint("CHAT_PASSWORD_RESETS_PER_HOUR", 5)
DATA_UPLOAD_MAX_MEMORY_SIZE = CHAT_MAX_REQUEST_BYTES
# Typing and presence (rooms/presence.py), in seconds. One typing signal per person and room
# per CHAT_TYPING_INTERVAL_SECONDS is published (more is 429; 0 turns the limit off); pages
# show "is typing" for CHAT_TYPING_SECONDS. A page reports that it shows a room every
# CHAT_PRESENCE_HEARTBEAT_SECONDS; a report holds CHAT_PRESENCE_TTL_SECONDS (longer than a
# background tab's throttled timers take), and CHAT_PRESENCE_GRACE_SECONDS once the page says
# it goes (a reload comes back within it). "Recently" is CHAT_PRESENCE_RECENT_SECONDS.
CHAT_TYPING_INTERVAL_SECONDS = envint("CHAT_TYPING_INTERVAL_SECONDS", 3)
CHAT_TYPING_SECONDS = envint("CHAT_TYPING_SECONDS", 6)
CHAT_PRESENCE_HEARTBEAT_SECONDS = envint("CHAT_PRESENCE_HEARTBEAT_SECONDS", 20)
CHAT_PRESENCE_TTL_SECONDS = envint("CHAT_PRESENCE_TTL_SECONDS", 90)
CHAT_PRESENCE_GRACE_SECONDS = envint("CHAT_PRESENCE_GRACE_SECONDS", 5)
CHAT_PRESENCE_RECENT_SECONDS = envint("CHAT_PRESENCE_RECENT_SECONDS", 15 * 60)
CHAT_PRESENCE_REPORTS_PER_MINUTE = envint("CHAT_PRESENCE_REPORTS_PER_MINUTE", 120)
for _name in ("CHAT_TYPING_SECONDS", "CHAT_PRESENCE_HEARTBEAT_SECONDS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")
if CHAT_PRESENCE_TTL_SECONDS <= CHAT_PRESENCE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "CHAT_PRESENCE_TTL_SECONDS must be longer than CHAT_PRESENCE_HEARTBEAT_SECONDS"
    )

# For programs (rooms/programs/): an incoming webhook's posts a minute (per hook) and its
# largest body (a bigger one is refused with 413 before it is read); an outgoing webhook's
# send: its timeout, how many tries (the waits between them double from
# CHAT_HOOK_RETRY_SECS), and after how many failures in a row it pauses, for how long (the
# circuit breaker). CHAT_HOOK_ALLOWED_HOSTS: hosts (or networks) an outgoing webhook may
# reach although they are loopback, private or link-local (an intranet; the tests' own
# server), and over plain http.
CHAT_HOOK_POSTS_PER_MINUTE = envint("CHAT_HOOK_POSTS_PER_MINUTE", 60)
CHAT_MAX_HOOK_BYTES = envint("CHAT_MAX_HOOK_BYTES", 16 * 1024)
CHAT_HOOK_TIMEOUT_SECS = envint("CHAT_HOOK_TIMEOUT_SECS", 5)
CHAT_HOOK_MAX_ATTEMPTS = envint("CHAT_HOOK_MAX_ATTEMPTS", 5)
CHAT_HOOK_RETRY_SECS = envint("CHAT_HOOK_RETRY_SECS", 10)
CHAT_HOOK_FAILURES_TO_PAUSE = envint("CHAT_HOOK_FAILURES_TO_PAUSE", 5)
CHAT_HOOK_PAUSE_MINUTES = envint("CHAT_HOOK_PAUSE_MINUTES", 15)
CHAT_HOOK_ALLOWED_HOSTS = envlist("CHAT_HOOK_ALLOWED_HOSTS", "")

# Uploaded files (rooms/files/): the largest file (its request may be that much bigger than
# CHAT_MAX_REQUEST_BYTES, on POST /rooms/<slug>/uploads/ only), what one person's files may
# take in all, and the largest image in pixels (a decompression bomb is refused unread).
CHAT_MAX_UPLOAD_BYTES = envint("CHAT_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
CHAT_UPLOAD_QUOTA_BYTES = envint("CHAT_UPLOAD_QUOTA_BYTES", 1024 * 1024 * 1024)
CHAT_UPLOADS_PER_HOUR = envint("CHAT_UPLOADS_PER_HOUR", 100)
CHAT_MAX_IMAGE_PIXELS = envint("CHAT_MAX_IMAGE_PIXELS", 40_000_000)
# Set (by bin/serve, to the internal location of deploy/nginx.conf): a file's bytes are sent
# by nginx after the site's access check (X-Accel-Redirect), so no Python process holds a
# download. Empty: the site streams them itself (runserver, daphne alone, a bucket).
CHAT_FILES_ACCEL_REDIRECT = os.environ.get("CHAT_FILES_ACCEL_REDIRECT", "").strip()
if CHAT_FILES_ACCEL_REDIRECT and not (
    CHAT_FILES_ACCEL_REDIRECT.startswith("/") and CHAT_FILES_ACCEL_REDIRECT.endswith("/")
):
    raise ImproperlyConfigured("CHAT_FILES_ACCEL_REDIRECT must start and end with /")

# Where uploads are stored (Django's storage API): the file system under CHAT_MEDIA_ROOT by
# default, an S3-compatible bucket with CHAT_S3_BUCKET (django-storages; pip install -e
# ".[s3]"; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the machine's
# role). Files are never served from the storage's own URLs: rooms/files/views.py checks
# who asks first.
MEDIA_ROOT = os.environ.get("CHAT_MEDIA_ROOT", "").strip() or BASE_DIR / "media"
CHAT_S3_BUCKET = os.environ.get("CHAT_S3_BUCKET", "").strip()
if CHAT_S3_BUCKET:
    _uploads_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CHAT_S3_BUCKET,
            "endpoint_url": os.environ.get("CHAT_S3_ENDPOINT_URL", "").strip() or None,
            "region_name": os.environ.get("CHAT_S3_REGION", "").strip() or None,
            "location": os.environ.get("CHAT_S3_PREFIX", "").strip(),
            "default_acl": "private",
            "file_overwrite": False,
        },
    }
else:
    _uploads_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": _uploads_storage,
    "uploads": _uploads_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Browser-side protection. No inline script anywhere: scripts, styles, images and
# connections (the event stream, the JSON endpoints) come from this site only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Django's database sessions, read by a written-out statement (rooms/sessions.py).
SESSION_ENGINE = "rooms.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Pages hand the CSRF token to scripts in the DOM; the cookie need not be readable.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Mail (password resets): Django's MAILERS, from the environment (the variables are named
# after Django's older EMAIL_* settings). EMAIL_HOST set: sent through that SMTP server.
# Nothing set: printed on the console in development (bin/run shows the reset link), sent
# to an SMTP server on localhost in production.
_email_host = os.environ.get("EMAIL_HOST", "").strip()
MAILERS: dict[str, dict[str, Any]]
if DEBUG and not _email_host:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    if envbool("EMAIL_USE_TLS", "0") and envbool("EMAIL_USE_SSL", "0"):
        raise ImproperlyConfigured("set EMAIL_USE_TLS or EMAIL_USE_SSL, not both")
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host or "localhost",
                # Default: 587 with STARTTLS (EMAIL_USE_TLS), 465 with TLS (EMAIL_USE_SSL), 25.
                "port": envint("EMAIL_PORT", 0) or None,
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": envbool("EMAIL_USE_TLS", "0"),
                "use_ssl": envbool("EMAIL_USE_SSL", "0"),
                # Seconds to wait for the server: a request never hangs on a dead one.
                "timeout": envint("EMAIL_TIMEOUT", 10),
            },
        }
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "chat@localhost"
# Mentions and DMs still unread this many minutes later are emailed, in one email per person
# at most this often (rooms/notifications.py). 0 turns the emails off.
CHAT_NOTIFY_EMAIL_AFTER_MINUTES = envint("CHAT_NOTIFY_EMAIL_AFTER_MINUTES", 10)
if CHAT_NOTIFY_EMAIL_AFTER_MINUTES < 0:
    raise ImproperlyConfigured("CHAT_NOTIFY_EMAIL_AFTER_MINUTES must be 0 or more")
# The site's address as people reach it, for the links of emails sent by the task worker
# (which has no request to read it from).
CHAT_SITE_URL = os.environ.get("CHAT_SITE_URL", "").strip().rstrip("/") or "http://localhost:8000"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lobby"
LOGOUT_REDIRECT_URL = "login"
CSRF_FAILURE_VIEW = "rooms.accounts.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `collectstatic` copies the static files here; nginx serves them (deploy/nginx.conf).
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT", "") or BASE_DIR / "staticfiles"

# GET /metrics (rooms/health.py): to these addresses (or networks, 10.0.0.0/8), as the trusted
# proxy saw them, and to a request with `Authorization: Bearer <CHAT_METRICS_TOKEN>` if set.
CHAT_METRICS_ALLOWED_ADDRESSES = envlist("CHAT_METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1")
for _network in CHAT_METRICS_ALLOWED_ADDRESSES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"CHAT_METRICS_ALLOWED_ADDRESSES: {_network!r} is not an address or network"
        ) from None
CHAT_METRICS_TOKEN = os.environ.get("CHAT_METRICS_TOKEN", "").strip()

# Logs go to standard error (journald under the systemd units), one line per record: plain
# text, or JSON with CHAT_LOG_FORMAT=json (chatsite/logs.py). rooms.access writes one line per
# request and per stream (rooms/access_log.py); the log of daphne's runserver, uvicorn's
# access log (bin/serve turns it off) and Django's warnings about 4xx answers would only
# repeat those lines.
CHAT_LOG_FORMAT = os.environ.get("CHAT_LOG_FORMAT", "plain").strip().lower() or "plain"
if CHAT_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"CHAT_LOG_FORMAT must be plain or json, got {CHAT_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "chatsite.logs.PlainFormatter"},
        "json": {"()": "chatsite.logs.JSONFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": CHAT_LOG_FORMAT}},
    # Everything else (daphne, Django's errors with their tracebacks, libraries): warnings up.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "rooms": {
            "handlers": ["console"],
            "level": os.environ.get("CHAT_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"level": "ERROR"},
        "django.channels.server": {"level": "ERROR"},
        # What the server listens on, and its start and stop (daphne under runserver,
        # uvicorn under bin/serve), in the site's format rather than uvicorn's own.
        "daphne": {"level": "INFO"},
        "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # No access log of uvicorn's (bin/serve's --no-access-log): the site logs each
        # request itself. Configured here as well, or it would log through "uvicorn" above.
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}
