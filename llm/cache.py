"""The answer cache: identical requests (provider, model, messages, parameters, schema,
template version) are answered from the database, shared by every web and worker process,
so a resumed run never pays twice for an answer it already has."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .models import LLMCacheEntry, LLMQuery


def lookup(key: str) -> LLMCacheEntry | None:
    now = timezone.now()
    entry = LLMCacheEntry.objects.filter(key=key).first()
    if entry is None:
        return None
    if entry.expires_at is not None and entry.expires_at <= now:
        return None
    LLMCacheEntry.objects.filter(pk=entry.pk).update(hits=F("hits") + 1)
    return entry


def store(key: str, row: LLMQuery, text: str, usage: dict, ttl_seconds: int | None = None) -> None:
    ttl = settings.LLM_CACHE_TTL if ttl_seconds is None else ttl_seconds
    expires = timezone.now() + timedelta(seconds=ttl) if ttl else None
    values = {
        "provider_name": row.provider_name, "model_name": row.model_name, "purpose": row.purpose,
        "response_text": text, "usage": usage, "cost_usd": row.cost_usd, "source_query": row,
        "file_path": row.file_path, "file_sha256": row.file_sha256, "expires_at": expires,
    }
    # One INSERT … ON CONFLICT DO UPDATE: concurrent writers of the same answer just overwrite.
    LLMCacheEntry.objects.bulk_create(
        [LLMCacheEntry(key=key, **values)], update_conflicts=True, unique_fields=["key"], update_fields=list(values),
    )


def prune_expired() -> int:
    deleted, _ = LLMCacheEntry.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
