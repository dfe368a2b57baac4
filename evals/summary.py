"""Per-variant figures of an experiment, the disagreements between variants, and the judge's
agreement with humans. Read-only; used by the pages, the commands and the export."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, Sum

from . import stats
from .models import CaseResult, Experiment, Score, Variant


@dataclass
class VariantSummary:
    variant: Variant
    cases: int = 0
    done: int = 0
    failed: int = 0
    waiting: int = 0
    pending: int = 0
    score: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    cost_usd: Decimal | None = Decimal("0")
    cost_known: bool = True
    input_tokens: int = 0
    output_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    cache_hits: int = 0
    calls: int = 0
    failures: dict = field(default_factory=dict)
    pareto: bool = False

    @property
    def label(self) -> str:
        return self.variant.label

    @property
    def cost_per_case(self) -> Decimal | None:
        return (self.cost_usd / self.done) if self.cost_usd is not None and self.done else None

    def as_json(self) -> dict:
        return {
            "variant": self.label, "variant_id": self.variant.pk, "score": self.score, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "cases": self.cases, "done": self.done, "failed": self.failed,
            "waiting": self.waiting, "pending": self.pending,
            "cost_usd": float(self.cost_usd) if self.cost_usd is not None else None,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "latency_p50_ms": self.latency_p50_ms, "latency_p95_ms": self.latency_p95_ms,
            "cache_hits": self.cache_hits, "calls": self.calls, "failures": self.failures, "pareto": self.pareto,
        }


def summarize(experiment: Experiment) -> list[VariantSummary]:
    variants = list(experiment.variants.all())
    out = {v.pk: VariantSummary(variant=v) for v in variants}
    scores: dict[int, list[float]] = defaultdict(list)
    latencies: dict[int, list[int]] = defaultdict(list)
    failures: dict[int, Counter] = defaultdict(Counter)
    results = CaseResult.objects.filter(variant__experiment=experiment)
    done, failed = CaseResult.Status.DONE, CaseResult.Status.FAILED
    # Counts and sums in PostgreSQL, per variant and status; Python reads only what the interval
    # and the percentiles need (reading every column of 6,000 results was the page's largest cost).
    totals = results.order_by().values("variant_id", "status").annotate(
        n=Count("id"), cost=Sum("cost_usd"), tin=Sum("input_tokens"), tout=Sum("output_tokens"),
        hits=Sum("cache_hits"), made=Sum("calls"),
        # A finished answer that made calls whose cost is unknown (a model without a price).
        unpriced=Count("id", filter=Q(cost_usd__isnull=True, calls__gt=0, status__in=(done, failed))),
    )
    for row in totals:
        s = out[row["variant_id"]]
        n = row["n"]
        s.cases += n
        if row["status"] == done:
            s.done += n
        elif row["status"] == failed:
            s.failed += n
        elif row["status"] == CaseResult.Status.WAITING:
            s.waiting += n
        else:
            s.pending += n
        if row["unpriced"]:
            s.cost_known = False
        s.cost_usd += row["cost"] or Decimal("0")
        s.input_tokens += row["tin"] or 0
        s.output_tokens += row["tout"] or 0
        s.cache_hits += row["hits"] or 0
        s.calls += row["made"] or 0
    finished = results.filter(status__in=(done, failed)).values_list("variant_id", "status", "score", "latency_ms")
    for vid, status, score, latency in finished.iterator(chunk_size=5000):
        if status == done:
            # A failed main scorer (e.g. a judge that never answered) leaves no score: not a zero.
            if score is not None:
                scores[vid].append(score)
            if latency is not None:
                latencies[vid].append(latency)
        else:
            # A failed case is a wrong answer: it counts as 0, so failing does not raise the mean.
            scores[vid].append(0.0)
    kinds = results.filter(status=failed).order_by().values_list("variant_id", "error_kind").annotate(n=Count("id"))
    for vid, kind, n in kinds:
        failures[vid][kind or "error"] += n
    for vid, s in out.items():
        s.score = stats.mean(scores[vid])
        s.ci_low, s.ci_high = stats.bootstrap_ci(scores[vid], seed=vid)
        s.latency_p50_ms = stats.percentile(latencies[vid], 50)
        s.latency_p95_ms = stats.percentile(latencies[vid], 95)
        s.failures = dict(failures[vid].most_common())
        if not s.cost_known:
            s.cost_usd = None
    result = [out[v.pk] for v in variants]
    scored = [s for s in result if s.score is not None and s.cost_usd is not None]
    for i in stats.pareto_front([(float(s.cost_usd), s.score) for s in scored]):
        scored[i].pareto = True
    return result


@dataclass
class Disagreement:
    case_id: int
    key: str
    input: object
    expected: object
    answers: list  # [(variant label, answer, score, status)]


def disagreements(experiment: Experiment, *, limit: int = 50, a: int | None = None, b: int | None = None) -> list[Disagreement]:
    """Cases whose main score differs between variants (``a`` and ``b`` when given), largest gap first."""
    variants = list(experiment.variants.all())
    if a and b:
        variants = [v for v in variants if v.pk in (a, b)]
    if len(variants) < 2:
        return []
    labels = {v.pk: v.label for v in variants}
    # Each finished answer's main score (a failure or a missing score is 0), per case.
    by_case: dict[int, list] = defaultdict(list)
    done, failed = CaseResult.Status.DONE, CaseResult.Status.FAILED
    rows = CaseResult.objects.filter(variant__in=variants, status__in=(done, failed)).values_list("case_id", "score", "status")
    for case_id, score, status in rows.iterator(chunk_size=5000):
        by_case[case_id].append(score if status == done and score is not None else 0.0)
    gaps = []
    for case_id, values in by_case.items():
        if len(values) >= 2 and max(values) - min(values) > 1e-9:
            gaps.append((max(values) - min(values), case_id))
    gaps.sort(key=lambda g: (-g[0], g[1]))
    chosen = [cid for _, cid in gaps[:limit]]
    results = CaseResult.objects.filter(case_id__in=chosen, variant__in=variants).select_related("case")
    grouped: dict[int, list] = defaultdict(list)
    cases = {}
    for r in results:
        cases[r.case_id] = r.case
        grouped[r.case_id].append((labels[r.variant_id], r.answer, r.score, r.status, r.error))
    return [
        Disagreement(case_id=cid, key=cases[cid].key, input=cases[cid].input, expected=cases[cid].expected,
                     answers=sorted(grouped[cid]))
        for cid in chosen
    ]


def progress(experiment: Experiment) -> dict:
    counts = dict(CaseResult.objects.filter(variant__experiment=experiment).values_list("status").annotate(n=Count("id")))
    total = sum(counts.values())
    finished = counts.get("done", 0) + counts.get("failed", 0)
    return {"total": total, "finished": finished, "waiting": counts.get("waiting", 0),
            "running": counts.get("running", 0), "pending": counts.get("pending", 0),
            "percent": round(100 * finished / total) if total else 100}


def judge_agreement(suite: str, *, tolerance: float = 0.25) -> dict:
    """How often the suite's judge agrees with people on the same answers (within ``tolerance``).
    Pairs a judge score and a human score given to the same logged call."""
    judge = {q: v for q, v in Score.objects.filter(source=Score.Source.JUDGE, result__variant__experiment__suite=suite,
                                                   query__isnull=False).values_list("query_id", "value")}
    judge.update(dict(Score.objects.filter(source=Score.Source.JUDGE, result__isnull=True, subject=suite,
                                           query__isnull=False).values_list("query_id", "value")))
    human = list(Score.objects.filter(source=Score.Source.HUMAN, query_id__in=list(judge)).values_list("query_id", "value"))
    if not human:
        return {"pairs": 0, "agreement": None,
                "message": "No human scores on answers this judge scored: its scores are not checked yet."}
    agree = sum(1 for q, v in human if abs(judge[q] - v) <= tolerance)
    return {"pairs": len(human), "agreement": agree / len(human),
            "mean_abs_diff": sum(abs(judge[q] - v) for q, v in human) / len(human),
            "message": f"The judge agrees with people on {agree} of {len(human)} answers (within {tolerance})."}


def suite_history(suite: str, *, limit: int = 100) -> list[dict]:
    """Every finished experiment of the suite as a point per variant (the score over time)."""
    experiments = list(Experiment.objects.filter(suite=suite, status=Experiment.Status.DONE).order_by("-created_at")[:limit])
    points = []
    for e in reversed(experiments):
        for s in summarize(e):
            points.append({"experiment": e.pk, "at": e.created_at.isoformat(), "variant": s.label, "score": s.score,
                           "trigger": e.trigger})
    return points
