"""Settings for every environment, read from the environment with django-environ.

With nothing set, the project runs on embedded defaults: SQLite and files under ``var/``,
and a Celery broker on Kombu's filesystem transport. ``DATABASE_URL``, ``REDIS_URL`` /
``CELERY_BROKER_URL`` and ``STORAGE_BACKEND=s3`` switch to the real services.
"""

import urllib.parse
from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

from config.keys import field_encryption_keys, secret_key
from config.queues import QueueTimeLimits, queue_names, task_routes

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Both refuse to start with DEBUG off when missing or left at their development values (config/keys.py).
SECRET_KEY = secret_key(env.str("DJANGO_SECRET_KEY", default=""), DEBUG)
FIELD_ENCRYPTION_KEYS = field_encryption_keys(env.str("FIELD_ENCRYPTION_KEY", default=""), DEBUG)
# Values stored before FIELD_ENCRYPTION_KEY existed were encrypted with a key derived from
# SECRET_KEY (or ARTIFACTS_KEY_ENCRYPTION_KEY): still readable while this is on; turn it off once
# `manage.py rotate_field_key` has re-encrypted them.
FIELD_ENCRYPTION_LEGACY_FALLBACK = env.bool("FIELD_ENCRYPTION_LEGACY_FALLBACK", default=True)
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
    "csp",
    "ninja",
    "axes",
    "accounts",
    "llm",
    "notes",
    "artifacts",
    "products",
    "segmentation",
    "codegen",
    "ops",
    "evals",
]

MIDDLEWARE = [
    # First, so every response (redirects, static files, errors) carries X-Request-ID.
    "ops.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (it may read the language from there), before CommonMiddleware.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into accounts.lockout's page.
    "axes.middleware.AxesMiddleware",
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
                "llm.web.context_processors.llm_status",
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
# Login throttling (django-axes, database handler: attempts are AccessAttempt rows, unlocked in the
# admin or with `manage.py axes_reset_username NAME` / `axes_reset_ip ADDR`). An account or a client
# address (accounts.throttling.client_ip, see NUM_PROXIES) with AXES_FAILURE_LIMIT failures is
# refused for AXES_COOLOFF_MINUTES after its last failure, even with the right password.
AUTHENTICATION_BACKENDS = ["accounts.backends.LoginLockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one: an account, or an address
AXES_CLIENT_IP_CALLABLE = "accounts.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# User-facing strings are marked for translation. English is the source and, for now, the only
# language offered: locale/fr/ is an untranslated catalogue made by `makemessages -l fr`. To ship
# a language, translate its django.po, run `compilemessages` and add it here.
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]

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


def _next_redis_db(url: str) -> str:
    """The same Redis server, the next database number: cache.clear() runs FLUSHDB, which must
    never reach the broker's queues in REDIS_URL's own database."""
    parsed = urllib.parse.urlsplit(url)
    db = int(parsed.path.strip("/") or 0)
    return urllib.parse.urlunsplit(parsed._replace(path=f"/{db + 1}"))


REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default=_next_redis_db(REDIS_URL) if REDIS_URL else "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=7200)  # s; Redis broker only
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),  # else kombu writes ./control/
        "store_processed": False,
    }
else:
    # Longer than the longest task's hard time limit (and the longest countdown), so a late-acked
    # task is not redelivered to a second worker while the first still runs it. A worker killed
    # with -9 leaves its task unacknowledged: Redis hands it out again after this long (the
    # watchdog, ops/tasks.py, usually resumes the work sooner). `manage.py check` warns (ops.W001)
    # when a registered task may run longer than this.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
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
# Celery's Django fixup closes every database connection before and after every task unless
# this is set, so each segmentation batch (or artifact, or codegen phase) would open a new
# PostgreSQL connection. Workers keep theirs for this many tasks; between tasks Django's own
# rules apply (CONN_MAX_AGE, CONN_HEALTH_CHECKS: ops/celery_signals.py). 0 closes after every task.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# (soft, hard) seconds per queue for every task that declares no limits of its own (applied as
# task annotations, config/queues.py QueueTimeLimits): at the soft limit the task gets
# SoftTimeLimitExceeded and records why it stopped; at the hard limit the pool kills it.
# (No global CELERY_TASK_[SOFT_]TIME_LIMIT: Celery would copy it onto every task before the
# annotations run, and the queue's limits would never apply.)
CELERY_QUEUE_TIME_LIMITS = {
    "interactive": (env.int("CELERY_INTERACTIVE_SOFT_TIME_LIMIT", default=600),
                    env.int("CELERY_INTERACTIVE_TIME_LIMIT", default=660)),
    "images": (env.int("CELERY_IMAGES_SOFT_TIME_LIMIT", default=780), env.int("CELERY_IMAGES_TIME_LIMIT", default=840)),
    "bulk": (env.int("CELERY_BULK_SOFT_TIME_LIMIT", default=3600), env.int("CELERY_BULK_TIME_LIMIT", default=3660)),
}
CELERY_TASK_ANNOTATIONS = (QueueTimeLimits(CELERY_QUEUE_TIME_LIMITS),)
# Scheduled evaluations: every EVALS_SCHEDULE_INTERVAL seconds, one experiment (trigger
# "schedule", the suite's current template version on the default provider and model) per suite
# named here, e.g. "products.identify_category,products.map_attributes"; a suite whose previous
# experiment is still unfinished is skipped. Each run is a point on the suite's score-over-time chart.
EVALS_SCHEDULE = env.list("EVALS_SCHEDULE", default=[])
EVALS_SCHEDULE_INTERVAL = env.int("EVALS_SCHEDULE_INTERVAL", default=24 * 3600)
# Periodic jobs (`celery -A config beat -s var/celerybeat-schedule`); all of them run on the bulk
# queue. Every entry can be switched off by setting its interval to 0.
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": float(seconds), "options": {"expires": float(seconds)}}
    for name, task, seconds in [
        ("watchdog", "ops.tasks.watchdog", env.int("WATCHDOG_INTERVAL", default=300)),
        ("usage-rollups", "llm.tasks.rebuild_recent_rollups", env.int("LLM_ROLLUP_INTERVAL", default=3600)),
        ("prune-cache", "llm.tasks.prune_cache", env.int("LLM_CACHE_PRUNE_INTERVAL", default=6 * 3600)),
        ("log-retention", "ops.tasks.apply_log_retention", env.int("LLM_LOG_RETENTION_INTERVAL", default=24 * 3600)),
        ("poll-batches", "llm.tasks.poll_batches", env.int("LLM_BATCH_POLL_INTERVAL", default=60)),
        # Scheduled evaluations (evals/scheduling.py): only when some suite is scheduled.
        ("evals-scheduled", "evals.tasks.run_scheduled", EVALS_SCHEDULE_INTERVAL if EVALS_SCHEDULE else 0),
    ]
    if seconds > 0
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- LLM service ----------------------------------------------------------------------
# Provider keys and base URLs are read at call time from OPENAI_API_KEY, ANTHROPIC_API_KEY,
# GEMINI_API_KEY and OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GEMINI_BASE_URL (see llm.models).
LLM_DEFAULT_PROVIDER = env.str("LLM_DEFAULT_PROVIDER", default="")
LLM_DEFAULT_MODEL = env.str("LLM_DEFAULT_MODEL", default="")
LLM_DEFAULT_MAX_TOKENS = env.int("LLM_DEFAULT_MAX_TOKENS", default=4096)
# Provider batches (llm/batch/): how long a poller holds a batch (a killed worker's claim expires
# after it), and how many batches a request may go through before it is asked interactively.
LLM_BATCH_LEASE_SECONDS = env.int("LLM_BATCH_LEASE_SECONDS", default=300)
LLM_BATCH_MAX_ROUNDS = env.int("LLM_BATCH_MAX_ROUNDS", default=3)
LLM_REQUEST_TIMEOUT = env.float("LLM_REQUEST_TIMEOUT", default=120.0)
LLM_MAX_ATTEMPTS = env.int("LLM_MAX_ATTEMPTS", default=5)  # transport attempts per call
LLM_VALIDATION_RETRIES = env.int("LLM_VALIDATION_RETRIES", default=2)  # re-asks after invalid output
LLM_RETRY_INITIAL_DELAY = env.float("LLM_RETRY_INITIAL_DELAY", default=1.0)
LLM_RETRY_MAX_DELAY = env.float("LLM_RETRY_MAX_DELAY", default=30.0)
LLM_MAX_RETRY_AFTER = env.float("LLM_MAX_RETRY_AFTER", default=120.0)

# --- Logging --------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (time, level, logger, message, request_id, and
# task_id/task_name inside Celery tasks), the production default; "text" reads better in a
# terminal. Web and workers use the same config (ops/celery_signals.py), see ops/logging.py.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("json", "text"):
    raise environ.ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ops.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "ops.logging.JsonFormatter"},
        "text": {"()": "ops.logging.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
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
# "user": an answer is reused only for the user who asked (a hit tells no one what others sent);
# "shared": reused across every user of this deployment (one organisation, cheaper).
LLM_CACHE_SCOPE = env.str("LLM_CACHE_SCOPE", default="user")
if LLM_CACHE_SCOPE not in ("user", "shared"):
    raise environ.ImproperlyConfigured(f"LLM_CACHE_SCOPE must be 'user' or 'shared', got {LLM_CACHE_SCOPE!r}.")
# Provider prompt caching (llm/prompts.py): off = no request carries a cache breakpoint (Anthropic's
# cache_control); OpenAI and Gemini cache repeated prefixes on their own whatever this says.
LLM_PROMPT_CACHE = env.bool("LLM_PROMPT_CACHE", default=True)
LLM_RATE_LIMIT_MAX_WAIT = env.float("LLM_RATE_LIMIT_MAX_WAIT", default=120.0)
LLM_LOG_ASYNC_COMMIT = env.bool("LLM_LOG_ASYNC_COMMIT", default=True)  # see llm/records/dblog.py
# "background": a call's interaction file and final row update are journaled on the answer path
# (one write()) and applied by a thread; "inline": the file, then the row, before complete()
# returns (see llm/records/interaction_writer.py).
LLM_INTERACTION_WRITES = env.str("LLM_INTERACTION_WRITES", default="background")
if LLM_INTERACTION_WRITES not in ("background", "inline"):
    raise environ.ImproperlyConfigured(f"LLM_INTERACTION_WRITES must be background or inline, not {LLM_INTERACTION_WRITES!r}.")
LLM_JOURNAL_DIR = env.str("LLM_JOURNAL_DIR", default="")  # default: <STORAGE_ROOT>.journal
# s the background writer gathers queued rows and files before it writes them (reads of the query
# log in the same process cut it short)
LLM_WRITER_BATCH_DELAY = env.float("LLM_WRITER_BATCH_DELAY", default=0.02)
# The row's insert (with the cache lookup) sent before the SDK builds the request and settled by
# the SDK clients' send hook (llm/records/dblog.py insert_nowait); off: it is waited for first.
LLM_OVERLAP_INSERT = env.bool("LLM_OVERLAP_INSERT", default=True)
# Definitions (providers, models, budgets) checked through a Redis subscription, no GET per call
# (llm/definitions.py); off: one GET of the version key per call.
LLM_DEFINITIONS_SUBSCRIBE = env.bool("LLM_DEFINITIONS_SUBSCRIBE", default=True)
LLM_JOB_STALE_AFTER = env.int("LLM_JOB_STALE_AFTER", default=900)  # s; a "running" job older than this was orphaned
# The watchdog (ops/tasks.py, every WATCHDOG_INTERVAL s): work without progress for this long is
# re-enqueued, at most WATCHDOG_MAX_RESUMES times; after that it is marked failed with the reason.
WATCHDOG_STALE_AFTER = env.int("WATCHDOG_STALE_AFTER", default=900)  # s
WATCHDOG_MAX_RESUMES = env.int("WATCHDOG_MAX_RESUMES", default=3)
# Evaluations (evals/): a claimed case whose worker went quiet this long may be taken by another
# worker (it must outlast the slowest call plus its judge), at most EVALS_MAX_ATTEMPTS claims;
# EVALS_CONCURRENCY cases in flight per task; a task hands over to a fresh one after
# EVALS_TASK_SECONDS (well inside the bulk queue's time limit). The judge's provider/model
# default to the platform's defaults.
EVALS_CLAIM_LEASE = env.int("EVALS_CLAIM_LEASE", default=600)
EVALS_MAX_ATTEMPTS = env.int("EVALS_MAX_ATTEMPTS", default=3)
EVALS_CONCURRENCY = env.int("EVALS_CONCURRENCY", default=8)
EVALS_TASK_SECONDS = env.int("EVALS_TASK_SECONDS", default=240)
# Cases claimed per UPDATE (fewer near the end), finished results written together per thread.
EVALS_CLAIM_BATCH = env.int("EVALS_CLAIM_BATCH", default=8)
EVALS_WRITE_BATCH = env.int("EVALS_WRITE_BATCH", default=8)
EVALS_WRITE_SECONDS = env.float("EVALS_WRITE_SECONDS", default=1.0)
EVALS_JUDGE_PROVIDER = env.str("EVALS_JUDGE_PROVIDER", default="")
EVALS_JUDGE_MODEL = env.str("EVALS_JUDGE_MODEL", default="")
# Interaction files older than this many days are gzip-compressed in place (<name>.json.gz);
# 0 keeps them as they are. Only "compress" exists for now; `manage.py segment_migrate_to_s3`
# moves one segmentation run's files to S3.
LLM_LOG_RETENTION_DAYS = env.int("LLM_LOG_RETENTION_DAYS", default=90)
LLM_LOG_RETENTION_ACTION = env.str("LLM_LOG_RETENTION_ACTION", default="compress")
if LLM_LOG_RETENTION_ACTION != "compress":
    raise environ.ImproperlyConfigured(f"LLM_LOG_RETENTION_ACTION must be 'compress', got {LLM_LOG_RETENTION_ACTION!r}.")
LLM_ROLLUP_DAYS = env.int("LLM_ROLLUP_DAYS", default=3)  # the periodic rollup recomputes this many recent days
LLM_RATE_LIMIT_WINDOW = env.float("LLM_RATE_LIMIT_WINDOW", default=60.0)  # seconds; "per minute"
# /readyz: anonymous probes get the status only; staff (session) or this token (Authorization:
# Bearer … or X-Probe-Token) also get each check's details. Blank = staff only.
READYZ_TOKEN = env.str("READYZ_TOKEN", default="")
READYZ_STORAGE_CHECK_INTERVAL = env.int("READYZ_STORAGE_CHECK_INTERVAL", default=60)  # s between storage writes

# Captured page sections are hostile HTML: at most this many characters of one are parsed into
# text (note page, artifact preview and generation); the rest is stored but not read, and the
# page says so. notes/text.py explains why the parser is linear.
NOTES_SECTION_PARSE_MAX_CHARS = env.int("NOTES_SECTION_PARSE_MAX_CHARS", default=2_000_000)

# Pasted answers (copy/paste queue, artifacts) and hand edits of artifacts are refused past this
# many characters, with a message; the artifacts app reads ARTIFACTS_MAX_TEXT_CHARS (same default).
LLM_MANUAL_MAX_ANSWER_CHARS = env.int("LLM_MANUAL_MAX_ANSWER_CHARS", default=200_000)
ARTIFACTS_MAX_TEXT_CHARS = env.int("ARTIFACTS_MAX_TEXT_CHARS", default=200_000)

# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts and fetches
# from our own origin only, images from it and data: (Chart.js/Mermaid draw in place), no
# inline script, no plugins, no framing, forms post only here. Issue 19: a Mermaid diagram
# written from a captured page must not make the browser load an outside image. The one
# allowance is style-src-attr 'unsafe-inline' for the Mermaid/D3 SVG on the pages that draw
# diagrams, added per view (config/csp.py says why).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# JSON API rate limits (ninja throttling, counted in the cache): "60/min", "1000/h", "0" = off.
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="60/min")  # per address, no login
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="600/min")  # per user, token or session
# Refused Bearer tokens (unknown, revoked, expired) per client address and window: past the limit
# every Bearer request from that address gets 429 with Retry-After until the window ends. 0 = off.
API_TOKEN_FAILURE_LIMIT = env.int("API_TOKEN_FAILURE_LIMIT", default=20)
API_TOKEN_FAILURE_WINDOW = env.int("API_TOKEN_FAILURE_WINDOW", default=900)  # seconds
# Proxies in front of the app that append to X-Forwarded-For: the client address is the one the
# last of them saw. 0 = REMOTE_ADDR only (the header is then ignored: a client can write it).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
NINJA_NUM_PROXIES = NUM_PROXIES
