"""Readiness probes: can this process reach what it needs right now?"""

import time
import uuid

from django.conf import settings
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


def storage():
    store = storages["llm_logs"]
    name = f"readyz/{uuid.uuid4().hex}.txt"
    saved = store.save(name, ContentFile(b"ok"))
    store.delete(saved)
    return settings.STORAGE_BACKEND


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
