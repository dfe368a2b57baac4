"""The quality figures evals gives llm's cost dashboard (registered into ``llm.hooks`` at start):
the mean of the scores stored against each purpose and model's calls, with how many there are.

Every score that names a call counts: an experiment's automatic and judge scores (against the
answering call) and people's verdicts (a rating, an accepted or edited suggestion, a wrong
segment mark). The dashboard's filters apply to the scored calls.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Avg, Count
from django.utils import timezone

from .models import Score


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def by_purpose_model(viewer, filters) -> dict[tuple[str, str], tuple[float, int]]:
    qs = Score.objects.filter(query__isnull=False)
    if getattr(filters, "start", None):
        qs = qs.filter(query__created_at__gte=_day_start(filters.start))
    if getattr(filters, "end", None):
        qs = qs.filter(query__created_at__lt=_day_start(filters.end + timedelta(days=1)))
    if not viewer.is_staff:
        qs = qs.filter(query__user=viewer)  # a normal user only sees the quality of their own calls
    elif getattr(filters, "user_id", None):
        qs = qs.filter(query__user_id=filters.user_id)
    if getattr(filters, "provider", ""):
        qs = qs.filter(query__provider_name=filters.provider)
    if getattr(filters, "model", ""):
        qs = qs.filter(query__model_name=filters.model)
    if getattr(filters, "purpose", ""):
        qs = qs.filter(query__purpose__startswith=filters.purpose)
    if getattr(filters, "mode", ""):
        qs = qs.filter(query__key_source=filters.mode)
    rows = qs.values("query__purpose", "query__model_name").annotate(mean=Avg("value"), n=Count("id"))
    return {(r["query__purpose"], r["query__model_name"]): (float(r["mean"]), r["n"]) for r in rows}


def dashboard_panel(request, **_) -> dict:
    """The suites' score-over-time charts, linked from the cost dashboard."""
    from . import registry

    return {"eval_suites": registry.all_suites()}


def call_panel(request, *, row) -> dict | None:
    """The promote form on a call's page, for the call's owner only."""
    if row.user_id != request.user.pk:
        return None
    from . import registry

    suite = registry.for_purpose(row.purpose)
    return {"promote_row": row, "promote_dataset": suite.name if suite is not None else row.purpose}
