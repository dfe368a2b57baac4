"""Artifact usage and analytics (seed 001 phases 3.4 and 3.5), for the page and the API.

Spend comes from llm's daily rollup (every artifact call has purpose ``artifacts.<type>``);
success rates and popularity come from indexed counts over NoteArtifact. Nothing loads rows
into Python. A normal user sees only their own numbers; staff see everyone's.
"""

from datetime import date

from django.db.models import Count, Q, Sum

from llm.records import usage as llm_usage

from .models import NoteArtifact, OtherArtifactRequest

PREFIX = "artifacts."


def _filters(start: date | None, end: date | None) -> llm_usage.Filters:
    f = llm_usage.Filters.default()
    f.start, f.end = start or f.start, end or f.end
    f.purpose = PREFIX
    return f


def _row(key, r) -> dict:
    return {"key": str(key), "calls": r.get("calls") or 0, "input_tokens": r.get("input_tokens") or 0,
            "output_tokens": r.get("output_tokens") or 0, "cost_usd": r.get("cost_usd") or 0,
            "unknown_cost_calls": r.get("unknown_cost_calls") or 0}


def usage(viewer, start: date | None = None, end: date | None = None) -> dict:
    f = _filters(start, end)
    qs = llm_usage.rollups(viewer, f)
    sums = {k: Sum(k) for k in ("calls", "input_tokens", "output_tokens", "cost_usd", "unknown_cost_calls")}
    by_type = [_row(r["purpose"].removeprefix(PREFIX), r) for r in qs.values("purpose").annotate(**sums).order_by("purpose")]
    out = {
        "start": str(f.start), "end": str(f.end),
        "totals": _row("total", llm_usage.totals(qs)),
        "daily": [_row(r["day"], r) for r in llm_usage.per_day(qs)],
        "monthly": [_row(r["month"].strftime("%Y-%m"), r) for r in llm_usage.per_month(qs)],
        "by_type": by_type,
        "daily_by_type": [
            {"day": str(r["day"]), **_row(r["purpose"].removeprefix(PREFIX), r)}
            for r in qs.values("day", "purpose").annotate(**sums).order_by("day", "purpose")
        ],
    }
    if viewer.is_staff:
        out["by_user"] = [_row(r["user"], r) for r in llm_usage.breakdown(qs, "user")]
    return out


def analytics(viewer, start: date | None = None, end: date | None = None) -> dict:
    f = _filters(start, end)
    artifacts = NoteArtifact.objects.filter(created_at__date__gte=f.start, created_at__date__lte=f.end,
                                            origin=NoteArtifact.Origin.GENERATED)
    others = OtherArtifactRequest.objects.filter(created_at__date__gte=f.start, created_at__date__lte=f.end)
    if not viewer.is_staff:
        artifacts, others = artifacts.filter(owner=viewer), others.filter(user=viewer)
    finished = Q(status__in=[NoteArtifact.Status.COMPLETED, NoteArtifact.Status.FAILED])
    success = []
    for r in (artifacts.values("artifact_type", "generation_mode")
              .annotate(total=Count("id"), completed=Count("id", filter=Q(status=NoteArtifact.Status.COMPLETED)),
                        failed=Count("id", filter=Q(status=NoteArtifact.Status.FAILED)), finished=Count("id", filter=finished))
              .order_by("artifact_type", "generation_mode")):
        r["success_rate"] = round(r["completed"] / r["finished"], 4) if r["finished"] else None
        success.append(r)
    popular = list(artifacts.values("artifact_type").annotate(count=Count("id")).order_by("-count", "artifact_type"))
    asked = list(others.values("description").annotate(count=Count("id")).order_by("-count", "description")[:20])
    cost_trend = [{"day": str(r["day"]), "cost_usd": r["cost_usd"] or 0, "calls": r["calls"] or 0}
                  for r in llm_usage.per_day(llm_usage.rollups(viewer, f))]
    return {"start": str(f.start), "end": str(f.end), "success": success, "popular_types": popular,
            "other_requests": asked, "cost_trend": cost_trend}
