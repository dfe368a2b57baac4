"""Readiness probes: can this process reach what it needs right now?"""

import importlib
import importlib.util
import time
import uuid

from django.apps import apps as django_apps
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection


def _timed(fn):
    started = time.perf_counter()
    try:
        detail = fn() or "ok"
        return {"ok": True, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:  # a probe reports, it never raises
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300], "ms": round((time.perf_counter() - started) * 1000, 1)}


def database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def broker():
    # A fresh connection, not one from the pool: the probe should see the broker as it is now.
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    with Connection(url, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return url.split("://", 1)[0]


STORAGE_RESULT_KEY = "ops:readyz:storage"


def _storage_write():
    store = storages["llm_logs"]
    name = f"readyz/{uuid.uuid4().hex}.txt"
    saved = store.save(name, ContentFile(b"ok"))
    store.delete(saved)
    return settings.STORAGE_BACKEND


def storage():
    """Can files be written? A real write + delete at most once per READYZ_STORAGE_CHECK_INTERVAL
    across all processes (the result is kept in the cache): a probe hammered by a load balancer,
    or by anyone (it needs no login), must not turn into a stream of storage writes."""
    interval = settings.READYZ_STORAGE_CHECK_INTERVAL
    if interval <= 0:
        return _storage_write()
    try:
        found = cache.get(STORAGE_RESULT_KEY)
        if found is None and cache.add(f"{STORAGE_RESULT_KEY}:lock", 1, interval):
            try:
                found = (True, _storage_write())
            except Exception as exc:  # recorded for the next probes, then reported
                found = (False, f"{type(exc).__name__}: {exc}"[:300])
            cache.set(STORAGE_RESULT_KEY, found, interval)
    except Exception:  # the cache (Redis) is down: a cheap read instead of a write per hit
        storages["llm_logs"].exists("readyz/probe.txt")
        return f"{settings.STORAGE_BACKEND} (read only: cache unavailable)"
    if found is None:  # another probe is writing right now
        return f"{settings.STORAGE_BACKEND} (check in progress)"
    ok, detail = found
    if not ok:
        raise RuntimeError(detail)
    return detail


def providers():
    from llm.models import LLMProvider

    configured = [p.name for p in LLMProvider.objects.filter(enabled=True) if p.is_configured]
    if not configured:
        raise RuntimeError("No provider is configured (the copy/paste provider counts): run `manage.py llm sync-prices`.")
    return ", ".join(configured)


def readiness() -> dict:
    results = {"database": _timed(database), "broker": _timed(broker), "storage": _timed(storage)}
    results["providers"] = _timed(providers) if results["database"]["ok"] else {"ok": False, "detail": "database down", "ms": 0}
    return results


# --- System checks (`manage.py check`) -------------------------------------------------------

def longest_task_limit(app=None) -> tuple[str, int]:
    """The registered task that may run longest (its hard time limit, else its soft one)."""
    from config.celery import app as default_app

    app = app or default_app
    # Import the apps' task modules ourselves: Celery's import_default_modules() runs the Django
    # checks again (its Django fixup), which would call this check again.
    for config in django_apps.get_app_configs():
        if importlib.util.find_spec(f"{config.name}.tasks") is not None:
            importlib.import_module(f"{config.name}.tasks")
    longest = ("", 0)
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        limit = task.time_limit or task.soft_time_limit or 0
        if limit > longest[1]:
            longest = (name, limit)
    return longest


def check_visibility_timeout(app_configs=None, **kwargs):
    """On Redis a late-acked task still unacknowledged after the visibility timeout is handed to a
    second worker: the timeout must outlast every task, or long tasks run twice."""
    from django.core.checks import Warning

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return []
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    name, limit = longest_task_limit()
    if timeout <= limit:
        return [Warning(
            f"CELERY_VISIBILITY_TIMEOUT ({timeout} s) is not longer than the time limit of {name} ({limit} s): "
            "Redis would hand a running task to a second worker.",
            hint=f"Set CELERY_VISIBILITY_TIMEOUT above {limit} (e.g. {limit * 2}), or lower that task's limit.",
            id="ops.W001",
        )]
    return []
