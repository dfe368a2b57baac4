"""CSV export of an experiment's results. Cells that a spreadsheet would run as a formula
(starting with = + - @, a tab or a carriage return) are prefixed with ' (OWASP CSV injection)."""

from __future__ import annotations

import csv
import json

from llm.records import safe_cell as safe_text

from .models import CaseResult, Experiment

COLUMNS = ["experiment", "variant", "case", "status", "score", "scores", "error_kind", "error", "cost_usd",
           "input_tokens", "output_tokens", "latency_ms", "cache_hits", "input", "expected", "answer"]


def safe_cell(value) -> str:
    """Every cell as text (JSON for dicts and lists), escaped by llm's one CSV helper: a negative
    number is text here too, so it gets the prefix."""
    if value is None:
        return ""
    return safe_text(json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value))


def rows(experiment: Experiment):
    results = (CaseResult.objects.filter(variant__experiment=experiment)
               .select_related("variant", "case").prefetch_related("scores").order_by("variant_id", "case_id"))
    for r in results.iterator(chunk_size=2000):
        scores = {s.scorer: round(s.value, 4) for s in r.scores.all()}
        yield [experiment.pk, r.variant.label, r.case.key, r.status, r.score, scores, r.error_kind, r.error,
               r.cost_usd, r.input_tokens, r.output_tokens, r.latency_ms, r.cache_hits, r.case.input,
               r.case.expected, r.answer]


def write_csv(experiment: Experiment, fh) -> None:
    writer = csv.writer(fh)
    writer.writerow(COLUMNS)
    for row in rows(experiment):
        writer.writerow([safe_cell(v) for v in row])
