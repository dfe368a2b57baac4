"""Production profile: everything from the environment, DEBUG off, secure cookies and headers.

DJANGO_SETTINGS_MODULE=config.settings.production. Required: DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY,
DJANGO_ALLOWED_HOSTS, DATABASE_URL; REDIS_URL (or CELERY_BROKER_URL) for more than one machine.
`manage.py check --deploy` is clean with it (a test holds it to that).
"""

from . import *  # noqa: F401,F403  (the shared settings, read from the environment)
from config.keys import field_encryption_keys, secret_key

from . import LOGGING, STORAGES, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# No defaults: a missing or development value stops the start, loudly (config/keys.py).
SECRET_KEY = secret_key(env.str("DJANGO_SECRET_KEY", default=""), DEBUG)
FIELD_ENCRYPTION_KEYS = field_encryption_keys(env.str("FIELD_ENCRYPTION_KEY", default=""), DEBUG)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating proxy or load balancer that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the network
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Static files: collected, compressed and fingerprinted, served by whitenoise from gunicorn.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False

# JSON log lines unless LOG_FORMAT says otherwise (config/settings/__init__.py, ops/logging.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")  # a value other than json/text already failed there
LOGGING = {**LOGGING, "handlers": {**LOGGING["handlers"], "console": {**LOGGING["handlers"]["console"], "formatter": LOG_FORMAT}}}
