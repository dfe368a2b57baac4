"""Settings for every environment, read from the environment with django-environ.

With nothing set, the project runs on embedded defaults: SQLite and files under ``var/``,
and a Celery broker on Kombu's filesystem transport. ``DATABASE_URL``, ``REDIS_URL`` /
``CELERY_BROKER_URL`` and ``STORAGE_BACKEND=s3`` switch to the real services.
"""

from pathlib import Path

import environ
from kombu import Queue

from config.queues import queue_names, task_routes

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "accounts",
    "llm",
    "notes",
    "artifacts",
    "products",
    "segmentation",
    "codegen",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "llm.context_processors.llm_status",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share one SQLite file: WAL lets readers go on while a
    # writer writes, and IMMEDIATE transactions avoid "database is locked" upgrade deadlocks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage --------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"

STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
STORAGE_ROOT = Path(env.str("STORAGE_ROOT", default=str(VAR_DIR / "storage")))
if STORAGE_BACKEND == "local":
    _files = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": STORAGE_ROOT}}
elif STORAGE_BACKEND == "s3":
    _files = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("S3_BUCKET"),
            "region_name": env.str("S3_REGION", default="us-east-1"),
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "location": env.str("S3_PREFIX", default=""),
            "file_overwrite": True,
            "default_acl": None,
        },
    }
else:
    raise environ.ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', not {STORAGE_BACKEND!r}")
STORAGES = {
    "default": _files,
    # Interaction files (prompt, parameters, raw answer) of every LLM call.
    "llm_logs": _files,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Cache -----------------------------------------------------------------------------
# Shared by the web server and the workers: Redis when configured, else a folder under var/.
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
    }
else:
    # Longer than the longest task, so a late-acked task is not redelivered while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_IGNORE_RESULT = True
# Three queues so a 20,000-product run never delays a user's single artifact: "interactive"
# (artifacts, wizard steps, playground jobs, webhooks), "bulk" (segmentation batches, codegen
# runs, bulk product generation, periodic jobs) and "images" (routing: config/queues.py).
# CELERY_QUEUE_PREFIX namespaces all of them (several deployments on one Redis, or a test's
# own workers). A worker started without -Q consumes all three (what `make run` does);
# production runs one worker pool per queue (docs/deployment.md).
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
CELERY_QUEUES_BY_KIND = queue_names(CELERY_QUEUE_PREFIX)
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_DEFAULT_QUEUE", default=CELERY_QUEUES_BY_KIND["interactive"])
CELERY_TASK_ROUTES = task_routes(CELERY_QUEUES_BY_KIND)
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in dict.fromkeys([*CELERY_QUEUES_BY_KIND.values(), CELERY_TASK_DEFAULT_QUEUE])]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)

# --- LLM service ----------------------------------------------------------------------
# Provider keys and base URLs are read at call time from OPENAI_API_KEY, ANTHROPIC_API_KEY,
# GEMINI_API_KEY and OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GEMINI_BASE_URL (see llm.models).
LLM_DEFAULT_PROVIDER = env.str("LLM_DEFAULT_PROVIDER", default="")
LLM_DEFAULT_MODEL = env.str("LLM_DEFAULT_MODEL", default="")
LLM_DEFAULT_MAX_TOKENS = env.int("LLM_DEFAULT_MAX_TOKENS", default=4096)
LLM_REQUEST_TIMEOUT = env.float("LLM_REQUEST_TIMEOUT", default=120.0)
LLM_MAX_ATTEMPTS = env.int("LLM_MAX_ATTEMPTS", default=5)  # transport attempts per call
LLM_VALIDATION_RETRIES = env.int("LLM_VALIDATION_RETRIES", default=2)  # re-asks after invalid output
LLM_RETRY_INITIAL_DELAY = env.float("LLM_RETRY_INITIAL_DELAY", default=1.0)
LLM_RETRY_MAX_DELAY = env.float("LLM_RETRY_MAX_DELAY", default=30.0)
LLM_MAX_RETRY_AFTER = env.float("LLM_MAX_RETRY_AFTER", default=120.0)

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "anthropic": {"level": "WARNING"},
    },
}

# Static files through whitenoise; in development it serves straight from the app folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# LLM answer cache (shared through the database), rate-limit waits.
LLM_CACHE_ENABLED = env.bool("LLM_CACHE_ENABLED", default=True)
LLM_CACHE_TTL = env.int("LLM_CACHE_TTL", default=30 * 24 * 3600)  # seconds; 0 = never expires
LLM_RATE_LIMIT_MAX_WAIT = env.float("LLM_RATE_LIMIT_MAX_WAIT", default=120.0)
LLM_LOG_ASYNC_COMMIT = env.bool("LLM_LOG_ASYNC_COMMIT", default=True)  # see llm/dblog.py
LLM_JOB_STALE_AFTER = env.int("LLM_JOB_STALE_AFTER", default=900)  # s; a "running" job older than this was orphaned
LLM_RATE_LIMIT_WINDOW = env.float("LLM_RATE_LIMIT_WINDOW", default=60.0)  # seconds; "per minute"
