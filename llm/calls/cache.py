"""The answer cache: identical requests (provider, model, messages, parameters, schema,
template version) are answered from the database, shared by every web and worker process,
so a resumed run never pays twice for an answer it already has.

Who may reuse an answer is LLM_CACHE_SCOPE: "user" (the default) keys every entry by the user
who asked, so a cache hit never tells one user what another sent; "shared" reuses answers
across the whole deployment (one organisation)."""

from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from ..models import LLMCacheEntry, LLMQuery


def scope_for(user) -> str:
    """The part of the cache key that says who may reuse the answer ("" when shared by all)."""
    if settings.LLM_CACHE_SCOPE == "shared":
        return ""
    return f"user:{getattr(user, 'pk', None) or '-'}"  # calls without a user share one scope


def lookup(key: str) -> LLMCacheEntry | None:
    """The live entry for ``key`` (its hit counted), or None; one round trip either way."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        entry = LLMCacheEntry.objects.filter(key=key).first()
        if entry is None or (entry.expires_at is not None and entry.expires_at <= now):
            return None
        LLMCacheEntry.objects.filter(pk=entry.pk).update(hits=F("hits") + 1)
        return entry
    with connection.cursor() as cursor:
        cursor.execute(*lookup_statement(key))
        return entry_from_row(cursor.fetchone())


def lookup_statement(key: str) -> tuple[str, list]:
    """The PostgreSQL lookup as (SQL, params), to travel with another statement (the call's first
    log row, llm/records/dblog.py); its one result row goes to ``entry_from_row``."""
    return _lookup_sql(), [key, timezone.now()]


def entry_from_row(found) -> LLMCacheEntry | None:
    if found is None:
        return None
    values = [  # what the ORM's converters would do (e.g. JSON text to a dict)
        f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v for f, v in zip(_ALL_FIELDS, found)
    ]
    return LLMCacheEntry.from_db(connection.alias, [f.attname for f in _ALL_FIELDS], values)


def store_statement(
    key: str, row: LLMQuery, text: str, usage: dict, ttl_seconds: int | None = None
) -> tuple[str, list]:
    """One INSERT … ON CONFLICT DO UPDATE (concurrent writers of the same answer just overwrite),
    as (SQL, params) so it can travel with the log row's final update."""
    ttl = settings.LLM_CACHE_TTL if ttl_seconds is None else ttl_seconds
    entry = LLMCacheEntry(
        key=key, provider_name=row.provider_name, model_name=row.model_name, purpose=row.purpose, response_text=text,
        usage=usage, cost_usd=row.cost_usd, source_query=row, file_path=row.file_path, file_sha256=row.file_sha256,
        expires_at=timezone.now() + timedelta(seconds=ttl) if ttl else None,
    )
    return _store_sql(), [f.get_db_prep_save(f.pre_save(entry, True), connection) for f in _FIELDS]


_ALL_FIELDS = list(LLMCacheEntry._meta.concrete_fields)
_FIELDS = [f for f in _ALL_FIELDS if not f.primary_key]


@lru_cache(maxsize=1)
def _lookup_sql() -> str:
    qn = connection.ops.quote_name
    return (
        f"UPDATE {qn(LLMCacheEntry._meta.db_table)} SET {qn('hits')} = {qn('hits')} + 1 "
        f"WHERE {qn('key')} = %s AND ({qn('expires_at')} IS NULL OR {qn('expires_at')} > %s) "
        f"RETURNING {', '.join(qn(f.column) for f in _ALL_FIELDS)}"
    )


@lru_cache(maxsize=1)
def _store_sql() -> str:
    kept = {"key", "hits", "created_at"}  # on conflict: the hit count and first creation stay
    qn = connection.ops.quote_name
    return (
        f"INSERT INTO {qn(LLMCacheEntry._meta.db_table)} ({', '.join(qn(f.column) for f in _FIELDS)}) "
        f"VALUES ({', '.join(['%s'] * len(_FIELDS))}) ON CONFLICT ({qn('key')}) DO UPDATE SET "
        + ", ".join(f"{qn(f.column)} = excluded.{qn(f.column)}" for f in _FIELDS if f.name not in kept)
    )


def store(key: str, row: LLMQuery, text: str, usage: dict, ttl_seconds: int | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(*store_statement(key, row, text, usage, ttl_seconds))


def prune_expired() -> int:
    deleted, _ = LLMCacheEntry.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
