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


def summary(qs, *, with_users: bool = False) -> dict:
    """Everything the dashboard and the usage API show, in five grouped queries.

    Totals and months are folded from the per-day rows, the app and provider breakdowns from
    the purpose and provider/model ones, so the number of rollup scans stays small however
    many calls there are.
    """
    days = per_day(qs)
    totals_row: dict = {k: 0 for k in SUMS}
    months: dict = {}
    for d in days:
        _add(totals_row, d)
        month = d["day"].replace(day=1)
        _add(months.setdefault(month, {"month": month}), d)
    purposes = [_clean(r) for r in qs.values("purpose").annotate(**SUMS).order_by("-cost_usd", "purpose")]
    apps: dict = {}
    for r in purposes:
        app = r["purpose"].split(".")[0]
        _add(apps.setdefault(app, {"app": app}), r)
    models = [_clean(r) for r in qs.values("provider_name", "model_name").annotate(**SUMS).order_by("-cost_usd", "model_name")]
    providers: dict = {}
    for r in models:
        _add(providers.setdefault(r["provider_name"], {"provider_name": r["provider_name"]}), r)
    out = {
        "totals": totals_row,
        "days": days,
        "months": [months[m] for m in sorted(months)],
        "breakdowns": {
            "app": sorted(apps.values(), key=lambda r: r["cost_usd"], reverse=True),
            "purpose": purposes,
            "provider": sorted(providers.values(), key=lambda r: r["cost_usd"], reverse=True),
            "model": models,
            "mode": breakdown(qs, "mode"),
            "delivery": breakdown(qs, "delivery"),
        },
        "unknown_prices": [{"provider_name": r["provider_name"], "model_name": r["model_name"], "calls": r["unknown_cost_calls"]}
                           for r in sorted(models, key=lambda r: -r["unknown_cost_calls"]) if r["unknown_cost_calls"]],
    }
    if with_users:
        out["breakdowns"]["user"] = breakdown(qs, "user")
    return out
