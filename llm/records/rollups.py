"""The daily usage rollup (UsageDaily), kept current as calls are logged.

``record(row)`` adds one finished call with a single INSERT … ON CONFLICT DO UPDATE (PostgreSQL
and SQLite both speak it), in the same transaction as the row's own update. ``rebuild()``
recomputes a date range from LLMQuery in one GROUP BY, for repairs and for bulk-loaded data.
"""

from datetime import date
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate

from ..models import LATENCY_BUCKETS_MS, LATENCY_COLUMNS, ROLLUP_DIMENSIONS, LLMQuery, UsageDaily

# Not yet final: counted when they settle (a pasted answer turns pending_manual into ok).
UNCOUNTED = {LLMQuery.Status.STARTED, LLMQuery.Status.PENDING_MANUAL}
MEASURES = ["calls", "retry_calls", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens",
            "cost_usd", "unknown_cost_calls", "saved_cost_usd", "prompt_cache_saved_usd", "latency_ms_sum"] + LATENCY_COLUMNS


def bucket_of(latency_ms: int | None) -> int | None:
    if latency_ms is None:
        return None
    for i, bound in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= bound:
            return i
    return len(LATENCY_BUCKETS_MS)


def _values(row: LLMQuery) -> list:
    bucket = bucket_of(row.latency_ms)
    day = row.created_at.date() if row.created_at else date.today()
    return [
        day, row.user_id or 0, row.purpose[:100], row.provider_name, row.model_name, row.status, row.key_source,
        row.delivery or "interactive", 1, 1 if row.attempt > 1 else 0, row.input_tokens, row.cached_input_tokens, row.output_tokens,
        row.reasoning_tokens, row.cost_usd or 0, 1 if row.cost_usd is None else 0, row.saved_cost_usd or 0,
        row.prompt_cache_saved_usd or 0, row.latency_ms or 0,
    ] + [1 if bucket == i else 0 for i in range(len(LATENCY_COLUMNS))]


def _sql(placeholders: list[str] | None = None) -> str:
    table = UsageDaily._meta.db_table
    columns = ROLLUP_DIMENSIONS + MEASURES
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in MEASURES)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(placeholders or ['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(ROLLUP_DIMENSIONS)}) DO UPDATE SET {updates}"
    )


_SQL = _sql()
_N_FIXED = len(ROLLUP_DIMENSIONS) + len(MEASURES) - len(LATENCY_COLUMNS)


@lru_cache(maxsize=None)
def _sql_for_bucket(bucket: int | None) -> str:
    # The latency-bucket counters are constants (one 1, the rest 0): written into the SQL, so
    # the statement keeps few parameters and psycopg can cache its parsing.
    return _sql(["%s"] * _N_FIXED + ["1" if bucket == i else "0" for i in range(len(LATENCY_COLUMNS))])


def statement(row: LLMQuery) -> tuple[str, list] | None:
    """The upsert that adds ``row`` to its day (None while the call is not final), to run with the row's update."""
    if row.status in UNCOUNTED:
        return None
    return _sql_for_bucket(bucket_of(row.latency_ms)), _values(row)[:_N_FIXED]


def record(row: LLMQuery) -> None:
    if row.status in UNCOUNTED:
        return
    with connection.cursor() as cursor:
        cursor.execute(_SQL, _values(row))


def rebuild(start: date | None = None, end: date | None = None) -> int:
    """Recompute the rollup for [start, end] (every day when not given) from LLMQuery."""
    calls = LLMQuery.objects.exclude(status__in=UNCOUNTED).annotate(day=TruncDate("created_at"))
    rollups = UsageDaily.objects.all()
    if start:
        calls, rollups = calls.filter(created_at__date__gte=start), rollups.filter(day__gte=start)
    if end:
        calls, rollups = calls.filter(created_at__date__lte=end), rollups.filter(day__lte=end)
    buckets = {}
    lower = -1
    for column, bound in zip(LATENCY_COLUMNS, LATENCY_BUCKETS_MS + [None]):
        cond = Q(latency_ms__gt=lower) if bound is None else Q(latency_ms__gt=lower, latency_ms__lte=bound)
        buckets[column] = Count("id", filter=cond)
        lower = bound if bound is not None else lower
    grouped = (
        calls.values("day", "user_id", "purpose", "provider_name", "model_name", "status", "key_source", "delivery")
        .annotate(
            n=Count("id"),
            retries=Count("id", filter=Q(attempt__gt=1)),
            t_in=Coalesce(Sum("input_tokens"), 0), t_cached=Coalesce(Sum("cached_input_tokens"), 0),
            t_out=Coalesce(Sum("output_tokens"), 0), t_reason=Coalesce(Sum("reasoning_tokens"), 0),
            cost=Sum("cost_usd"), unknown=Count("id", filter=Q(cost_usd__isnull=True)),
            saved=Sum("saved_cost_usd"), cache_saved=Sum("prompt_cache_saved_usd"), lat=Coalesce(Sum("latency_ms"), 0),
            **buckets,
        )
        .order_by()
    )
    rows = [
        UsageDaily(
            day=g["day"], user_ref=g["user_id"] or 0, purpose=g["purpose"][:100], provider_name=g["provider_name"],
            model_name=g["model_name"], status=g["status"], key_source=g["key_source"], delivery=g["delivery"], calls=g["n"],
            retry_calls=g["retries"], input_tokens=g["t_in"], cached_input_tokens=g["t_cached"], output_tokens=g["t_out"],
            reasoning_tokens=g["t_reason"], cost_usd=g["cost"] or 0, unknown_cost_calls=g["unknown"],
            saved_cost_usd=g["saved"] or 0, prompt_cache_saved_usd=g["cache_saved"] or 0, latency_ms_sum=g["lat"], **{c: g[c] for c in LATENCY_COLUMNS},
        )
        for g in grouped.iterator(chunk_size=5000)
    ]
    with transaction.atomic():
        rollups.delete()
        UsageDaily.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
