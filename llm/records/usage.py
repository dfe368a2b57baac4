"""Usage and health figures for the dashboards and the API, read from the daily rollup only."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from .csv_export import csv_lines
from ..models import LATENCY_BUCKETS_MS, LATENCY_COLUMNS, LLMModel, LLMQuery, UsageDaily

FAILURE_STATUSES = ["rate_limited", "timeout", "invalid_output", "truncated", "error", "budget_exceeded", "refused", "blocked",
                    "quota_exhausted", "context_exceeded", "paused"]
SUMS = {
    "calls": Sum("calls"), "retry_calls": Sum("retry_calls"), "input_tokens": Sum("input_tokens"),
    "cached_input_tokens": Sum("cached_input_tokens"), "output_tokens": Sum("output_tokens"),
    "reasoning_tokens": Sum("reasoning_tokens"), "cost_usd": Sum("cost_usd"), "unknown_cost_calls": Sum("unknown_cost_calls"),
    "saved_cost_usd": Sum("saved_cost_usd"), "prompt_cache_saved_usd": Sum("prompt_cache_saved_usd"),
}
DIMENSIONS = {"user": "user_ref", "purpose": "purpose", "app": "app", "provider": "provider_name",
              "model": "model_name", "mode": "key_source", "status": "status",
              "delivery": "delivery"}


@dataclass
class Filters:
    start: date
    end: date
    user_id: int | None = None
    provider: str = ""
    model: str = ""
    purpose: str = ""
    mode: str = ""
    delivery: str = ""

    @classmethod
    def default(cls) -> "Filters":
        today = timezone.now().date()
        return cls(start=today - timedelta(days=29), end=today)


def _filtered(qs, f: Filters):
    """The dimension filters, the same on rollup rows and on logged calls (same column names)."""
    if f.provider:
        qs = qs.filter(provider_name=f.provider)
    if f.model:
        qs = qs.filter(model_name=f.model)
    if f.purpose:
        qs = qs.filter(purpose__startswith=f.purpose)
    if f.mode:
        qs = qs.filter(key_source=f.mode)
    if f.delivery:
        qs = qs.filter(delivery=f.delivery)
    return qs


def rollups(viewer, f: Filters):
    qs = UsageDaily.objects.filter(day__gte=f.start, day__lte=f.end)
    if not viewer.is_staff:
        qs = qs.filter(user_ref=viewer.pk)  # a normal user only ever sees their own numbers
    elif f.user_id:
        qs = qs.filter(user_ref=f.user_id)
    return _filtered(qs, f)


def _clean(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if value is None and key in SUMS:
            value = Decimal("0") if key in ("cost_usd", "saved_cost_usd", "prompt_cache_saved_usd") else 0
        out[key] = value
    return out


def totals(qs) -> dict:
    return _clean(qs.aggregate(**SUMS))


def per_day(qs) -> list[dict]:
    return [_clean(r) for r in qs.values("day").annotate(**SUMS).order_by("day")]


def per_month(qs) -> list[dict]:
    return [_clean(r) for r in qs.annotate(month=TruncMonth("day")).values("month").annotate(**SUMS).order_by("month")]


def breakdown(qs, dimension: str) -> list[dict]:
    field = DIMENSIONS[dimension]
    if dimension == "app":
        rows: dict[str, dict] = {}
        for r in qs.values("purpose").annotate(**SUMS):
            app = r["purpose"].split(".")[0]
            agg = rows.setdefault(app, {"app": app, **{k: 0 for k in SUMS}})
            for k in SUMS:
                agg[k] += r[k] or 0
        return sorted(rows.values(), key=lambda r: r["cost_usd"], reverse=True)
    rows = [_clean(r) for r in qs.values(field).annotate(**SUMS).order_by("-cost_usd", field)]
    if dimension == "user":
        from django.contrib.auth import get_user_model

        names = dict(get_user_model().objects.filter(pk__in=[r["user_ref"] for r in rows]).values_list("pk", "username"))
        for r in rows:
            r["user"] = names.get(r["user_ref"], "(no user)" if not r["user_ref"] else f"user #{r['user_ref']}")
    return rows


def per_purpose_model(qs) -> list[dict]:
    return [_clean(r) for r in qs.values("purpose", "provider_name", "model_name").annotate(**SUMS)
            .order_by("purpose", "-cost_usd", "model_name")]


def percentile_ms(hist: list[int], p: float) -> int | None:
    """The bucket bound under which ``p`` of the calls fall (an upper estimate)."""
    total = sum(hist)
    if not total:
        return None
    running = 0
    for count, bound in zip(hist, LATENCY_BUCKETS_MS + [None]):
        running += count
        if running >= p * total:
            return bound if bound is not None else LATENCY_BUCKETS_MS[-1] + 1
    return None


def health(qs) -> list[dict]:
    # Annotation names must not shadow the columns they sum.
    sums = {f"h_{c}": Sum(c) for c in LATENCY_COLUMNS}
    sums.update({"h_calls": Sum("calls"), "h_retries": Sum("retry_calls"), "h_unknown": Sum("unknown_cost_calls")})
    for status in ["ok", "cache_hit", *FAILURE_STATUSES]:
        sums[f"n_{status}"] = Sum("calls", filter=Q(status=status))
    sums["ok_cost"] = Sum("cost_usd", filter=Q(status="ok"))
    out = []
    for r in qs.values("provider_name", "model_name").annotate(**sums).order_by("provider_name", "model_name"):
        calls = r["h_calls"] or 0
        ok = r["n_ok"] or 0
        hist = [r[f"h_{c}"] or 0 for c in LATENCY_COLUMNS]
        out.append({
            "provider": r["provider_name"], "model": r["model_name"], "calls": calls, "ok": ok,
            "errors": {s: r[f"n_{s}"] or 0 for s in FAILURE_STATUSES},
            "error_rate": {s: (r[f"n_{s}"] or 0) / calls if calls else 0 for s in FAILURE_STATUSES},
            "failure_rate": sum(r[f"n_{s}"] or 0 for s in FAILURE_STATUSES) / calls if calls else 0,
            "p50_ms": percentile_ms(hist, 0.5), "p95_ms": percentile_ms(hist, 0.95),
            "cache_hit_rate": (r["n_cache_hit"] or 0) / calls if calls else 0,
            "retries_per_success": (r["h_retries"] or 0) / ok if ok else None,
            "cost_per_success": (r["ok_cost"] or Decimal("0")) / ok if ok else None,
            "unknown_cost_calls": r["h_unknown"] or 0,
        })
    return out


def unknown_prices(qs) -> list[dict]:
    """Models whose calls have no known cost, with how many such calls: no spend hides as $0."""
    rows = (qs.filter(unknown_cost_calls__gt=0).values("provider_name", "model_name")
            .annotate(calls=Sum("unknown_cost_calls")).order_by("-calls"))
    return list(rows)


def recent_failures(viewer, limit: int = 20):
    qs = LLMQuery.objects.visible_to(viewer).filter(status__in=FAILURE_STATUSES)
    return qs.only("id", "created_at", "purpose", "provider_name", "model_name", "status", "error", "file_path")[:limit]


CSV_COLUMNS = ["id", "created_at", "user_id", "purpose", "run_id", "provider_name", "model_name", "key_source", "status",
               "attempt", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "cost_usd",
               "saved_cost_usd", "latency_ms", "file_path"]


def csv_rows(viewer, f: Filters):
    """The LLMQuery rows behind a dashboard view, streamed (never all loaded at once)."""
    qs = LLMQuery.objects.visible_to(viewer).exclude(status__in=["started", "pending_manual"]).filter(
        created_at__date__gte=f.start, created_at__date__lte=f.end
    )
    if viewer.is_staff and f.user_id:
        qs = qs.filter(user_id=f.user_id)
    qs = _filtered(qs, f)
    yield CSV_COLUMNS
    for values in qs.order_by("created_at", "id").values_list(*CSV_COLUMNS).iterator(chunk_size=2000):
        yield [v.isoformat() if hasattr(v, "isoformat") else v for v in values]


def csv_stream(rows):
    """The export's lines; cells are escaped against formula injection (llm.records.csv_export)."""
    return csv_lines(rows)


def price_unknown_models() -> list[LLMModel]:
    return list(LLMModel.objects.price_unknown().select_related("provider"))


def prices_of(pairs: list[tuple[str, str]]) -> list[LLMModel]:
    """The price rows of the (provider name, model name) pairs shown, in that order (one query)."""
    from django.db.models import Q

    if not pairs:
        return []
    match = Q()
    for provider_name, model_name in pairs:
        match |= Q(provider__name=provider_name, name=model_name)
    found = {(m.provider.name, m.name): m for m in LLMModel.objects.filter(match).select_related("provider")}
    return [found[p] for p in pairs if p in found]


def _add(into: dict, row: dict) -> None:
    for k in SUMS:
        into[k] = into.get(k, 0) + (row.get(k) or 0)


# The groupings ``summary`` reads, as (name, columns): on PostgreSQL one GROUPING SETS query
# computes them all in a single scan of the rollup rows (the range's rows are read once, not seven times).
_GROUPINGS = [("days", ("day",)), ("purposes", ("purpose",)), ("models", ("provider_name", "model_name")),
              ("mode", ("key_source",)), ("delivery", ("delivery",)), ("user", ("user_ref",)),
              ("purpose_model", ("purpose", "provider_name", "model_name"))]
_GROUP_COLUMNS = ("day", "purpose", "provider_name", "model_name", "key_source", "delivery", "user_ref")


def _grouped(qs, names: list[str]) -> dict[str, list[dict]] | None:
    """The rows of each named grouping of ``qs`` (a filtered UsageDaily queryset), in one query; None
    when the database is not PostgreSQL (the callers then group with one query each)."""
    from django.db import connections

    conn = connections[qs.db]
    if conn.vendor != "postgresql":
        return None
    wanted = [(n, cols) for n, cols in _GROUPINGS if n in names]
    compiler = qs.query.get_compiler(using=qs.db)
    where, params = compiler.compile(qs.query.where) if qs.query.where else ("", [])
    qn = conn.ops.quote_name
    table = qn(UsageDaily._meta.db_table)
    sums = ", ".join(f"SUM({table}.{qn(UsageDaily._meta.get_field(f).column)}) AS {qn(k)}"
                     for k, f in ((k, agg.source_expressions[0].name) for k, agg in SUMS.items()))
    columns = [c for c in _GROUP_COLUMNS if any(c in cols for _, cols in wanted)]  # GROUPING() takes only these
    bits = ", ".join(f"{table}.{qn(c)}" for c in columns)
    sets = ", ".join("(" + ", ".join(f"{table}.{qn(c)}" for c in cols) + ")" for _, cols in wanted)
    sql = (f"SELECT GROUPING({bits}) AS g, {bits}, {sums} FROM {table}"
           + (f" WHERE {where}" if where else "") + f" GROUP BY GROUPING SETS ({sets})")
    # GROUPING() sets a bit (the first column the highest) for each column *not* in the row's set.
    mask_of = {}
    for name, cols in wanted:
        mask = 0
        for i, column in enumerate(columns):
            if column not in cols:
                mask |= 1 << (len(columns) - 1 - i)
        mask_of[mask] = (name, cols)
    out: dict[str, list[dict]] = {name: [] for name, _ in wanted}
    keys = ["g", *columns, *SUMS]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        for values in cursor.fetchall():
            row = dict(zip(keys, values))
            name, cols = mask_of[row["g"]]
            out[name].append(_clean({**{c: row[c] for c in cols}, **{k: row[k] for k in SUMS}}))
    return out


def _by_cost(rows: list[dict], *fields: str) -> list[dict]:
    """As ``order_by("-cost_usd", *fields)``."""
    rows = sorted(rows, key=lambda r: tuple((r[f] is None, r[f]) for f in fields))
    return sorted(rows, key=lambda r: r["cost_usd"], reverse=True)


def summary(qs, *, with_users: bool = False, purpose_model: bool = False) -> dict:
    """Everything the dashboard and the usage API show: on PostgreSQL one query over the rollup
    (GROUPING SETS), elsewhere one grouped query per breakdown.

    Totals and months are folded from the per-day rows, the app and provider breakdowns from
    the purpose and provider/model ones. ``purpose_model``: also the spend per purpose and model
    (the dashboard's quality table), under "purpose_model".
    """
    names = ["days", "purposes", "models", "mode", "delivery"] + (["user"] if with_users else []) + (
        ["purpose_model"] if purpose_model else [])
    grouped = _grouped(qs, names)
    if grouped is None:
        return _summary(qs, with_users=with_users, purpose_model=purpose_model)
    days = sorted(grouped["days"], key=lambda r: r["day"])
    purposes = _by_cost(grouped["purposes"], "purpose")
    models = _by_cost(grouped["models"], "model_name")
    breakdowns = {"mode": _by_cost(grouped["mode"], "key_source"), "delivery": _by_cost(grouped["delivery"], "delivery")}
    if with_users:
        breakdowns["user"] = _named_users(_by_cost(grouped["user"], "user_ref"))
    out = _assemble(days, purposes, models, breakdowns)
    if purpose_model:
        out["purpose_model"] = sorted(_by_cost(grouped["purpose_model"], "model_name"), key=lambda r: r["purpose"])
    return out


def _named_users(rows: list[dict]) -> list[dict]:
    from django.contrib.auth import get_user_model

    names = dict(get_user_model().objects.filter(pk__in=[r["user_ref"] for r in rows]).values_list("pk", "username"))
    for r in rows:
        r["user"] = names.get(r["user_ref"], "(no user)" if not r["user_ref"] else f"user #{r['user_ref']}")
    return rows


def _summary(qs, *, with_users: bool, purpose_model: bool) -> dict:
    """``summary`` with one query per breakdown (databases without GROUPING SETS)."""
    purposes = [_clean(r) for r in qs.values("purpose").annotate(**SUMS).order_by("-cost_usd", "purpose")]
    models = [_clean(r) for r in qs.values("provider_name", "model_name").annotate(**SUMS).order_by("-cost_usd", "model_name")]
    breakdowns = {"mode": breakdown(qs, "mode"), "delivery": breakdown(qs, "delivery")}
    if with_users:
        breakdowns["user"] = breakdown(qs, "user")
    out = _assemble(per_day(qs), purposes, models, breakdowns)
    if purpose_model:
        out["purpose_model"] = per_purpose_model(qs)
    return out


def _assemble(days: list[dict], purposes: list[dict], models: list[dict], breakdowns: dict) -> dict:
    totals_row: dict = {k: 0 for k in SUMS}
    months: dict = {}
    for d in days:
        _add(totals_row, d)
        month = d["day"].replace(day=1)
        _add(months.setdefault(month, {"month": month}), d)
    apps: dict = {}
    for r in purposes:
        app = r["purpose"].split(".")[0]
        _add(apps.setdefault(app, {"app": app}), r)
    providers: dict = {}
    for r in models:
        _add(providers.setdefault(r["provider_name"], {"provider_name": r["provider_name"]}), r)
    return {
        "totals": totals_row,
        "days": days,
        "months": [months[m] for m in sorted(months)],
        "breakdowns": {
            "app": sorted(apps.values(), key=lambda r: r["cost_usd"], reverse=True),
            "purpose": purposes,
            "provider": sorted(providers.values(), key=lambda r: r["cost_usd"], reverse=True),
            "model": models,
            **breakdowns,
        },
        "unknown_prices": [{"provider_name": r["provider_name"], "model_name": r["model_name"], "calls": r["unknown_cost_calls"]}
                           for r in sorted(models, key=lambda r: -r["unknown_cost_calls"]) if r["unknown_cost_calls"]],
    }
