"""Django settings, read from the environment (12-factor).

The embedded default needs nothing set: a SQLite file under ``LUMISYNC_HOME`` (``./var``), a key file
written by ``lumisync demo``, console e-mail and a development secret key. Production sets
``LUMISYNC_ENV=production`` plus ``DJANGO_SECRET_KEY``, ``DATABASE_URL`` and ``LUMISYNC_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
HOME = Path(os.environ.get("LUMISYNC_HOME", Path.cwd() / "var")).resolve()
PRODUCTION = os.environ.get("LUMISYNC_ENV", "development") == "production"


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "" if PRODUCTION else "lumisync-development-only-not-secret")
if PRODUCTION and not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set when LUMISYNC_ENV=production")
# Debug pages show settings and tracebacks: only when asked for, never by default.
DEBUG = os.environ.get("LUMISYNC_DEBUG", "0") == "1" and not PRODUCTION
ALLOWED_HOSTS = _env_list("LUMISYNC_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = _env_list("LUMISYNC_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "lumisync.core",
    "lumisync.accounts",
    "lumisync.subscribers",
    "lumisync.messaging",
    "lumisync.mcapi",
    "lumisync.datasync",
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
    "lumisync.accounts.middleware.CurrentOrganizationMiddleware",
]

ROOT_URLCONF = "lumisync.urls"
WSGI_APPLICATION = "lumisync.wsgi.application"

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
                "lumisync.accounts.context_processors.organization",
            ],
        },
    },
]

SQLITE_PATH = HOME / "lumisync.sqlite3"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside one writer; IMMEDIATE takes the write lock at BEGIN so two writers
    # queue on the busy timeout instead of failing with "database is locked" when a read upgrades. A
    # 32 MB page cache (2 MB by default) keeps the indexes a sync writes into in memory: about a twentieth
    # of a file-mode run went to reading their pages back.
    DATABASES["default"]["ENGINE"] = "lumisync.core.sqlite"
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; PRAGMA cache_size=-32000;",
    }
    # A file, not memory, so tests exercise WAL and other processes (workers, the CLI) can share it;
    # one per test process so that concurrent test runs never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(HOME / f"test-lumisync-{os.getpid()}.sqlite3")}
    HOME.mkdir(parents=True, exist_ok=True)
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LUMISYNC_LOG_LEVEL", "INFO")},
    # One line per HTTP request would drown a sync run's log.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

EMAIL_BACKEND = os.environ.get("LUMISYNC_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("LUMISYNC_FROM_EMAIL", "lumisync@localhost")

# Secrets at rest: comma-separated Fernet keys, newest first, or a key file with one key per line.
# They are deliberately not derived from SECRET_KEY, so rotating one never strands the other.
LUMISYNC_ENCRYPTION_KEYS = os.environ.get("LUMISYNC_ENCRYPTION_KEYS", "")
LUMISYNC_KEY_FILE = Path(os.environ.get("LUMISYNC_KEY_FILE", HOME / "encryption.keys"))

# Hosts an Administrator types (Luminate API host, export file URL) must be public unless this is set.
LUMISYNC_ALLOW_PRIVATE_HOSTS = (
    os.environ.get("LUMISYNC_ALLOW_PRIVATE_HOSTS", "0" if PRODUCTION else "1") == "1"
)
# Plain http:// to a Luminate API or file relay: only for a simulator on loopback.
LUMISYNC_ALLOW_INSECURE_HTTP = (
    os.environ.get("LUMISYNC_ALLOW_INSECURE_HTTP", "0" if PRODUCTION else "1") == "1"
)
# The addresses of this installation to add to Luminate's "API IP Filter Block" (comma-separated).
LUMISYNC_API_IP_ADDRESSES = os.environ.get("LUMISYNC_API_IP_ADDRESSES", "")

# Login throttling: this many failures per username or address within the window cool the login off.
LUMISYNC_LOGIN_MAX_FAILURES = int(os.environ.get("LUMISYNC_LOGIN_MAX_FAILURES", "5"))
LUMISYNC_LOGIN_COOLOFF_SECONDS = int(os.environ.get("LUMISYNC_LOGIN_COOLOFF_SECONDS", "900"))
# Behind N reverse proxies, the client address is the Nth X-Forwarded-For hop from the right.
LUMISYNC_TRUSTED_PROXY_COUNT = int(os.environ.get("LUMISYNC_TRUSTED_PROXY_COUNT", "0"))

# Mobile Commons-compatible API and the public web opt-in: token buckets per API key and per address.
LUMISYNC_API_RATE_PER_MINUTE = int(os.environ.get("LUMISYNC_API_RATE_PER_MINUTE", "600"))
LUMISYNC_API_BURST = int(os.environ.get("LUMISYNC_API_BURST", "120"))
LUMISYNC_JOIN_RATE_PER_MINUTE = int(os.environ.get("LUMISYNC_JOIN_RATE_PER_MINUTE", "20"))
LUMISYNC_JOIN_BURST = int(os.environ.get("LUMISYNC_JOIN_BURST", "10"))

# Outbound SMS: "log" records messages without sending; "twilio" posts to a Twilio-compatible API.
LUMISYNC_SMS_BACKEND = os.environ.get("LUMISYNC_SMS_BACKEND", "log")
LUMISYNC_SMS_TIMEOUT_SECONDS = float(os.environ.get("LUMISYNC_SMS_TIMEOUT_SECONDS", "10"))
LUMISYNC_SMS_MAX_ATTEMPTS = int(os.environ.get("LUMISYNC_SMS_MAX_ATTEMPTS", "5"))
# The public root the SMS provider reaches (https://sms.example.org): delivery-status callbacks and
# signature checks behind a proxy need it.
LUMISYNC_PUBLIC_URL = os.environ.get("LUMISYNC_PUBLIC_URL", "")

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = os.environ.get("LUMISYNC_SSL_REDIRECT", "1") == "1"
    SECURE_HSTS_SECONDS = int(os.environ.get("LUMISYNC_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

# Static files are served by WhiteNoise straight from the apps, so `serve` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True

# Work `lumisync serve` runs in the background beside the web app: dotted path -> interval in seconds.
LUMISYNC_PERIODIC_TASKS = {
    "lumisync.messaging.services.send_due_messages": 30,
    "lumisync.datasync.engine.schedule.tick": 60,
    "lumisync.datasync.report.purge_expired": 86400,
}
