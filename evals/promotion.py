"""Promoting real work into cases, and people's verdicts stored as scores.

A domain app's button calls ``evals.promote(...)`` with the work's input and, as the expected
value, the user's correction; ``evals.human_score(...)`` with the call that produced an answer.
"""

from __future__ import annotations

from django.db import transaction

from .models import Case, Dataset, Score


class PromotionError(ValueError):
    pass


@transaction.atomic
def promote(*, dataset: str, input, expected=None, source: str, query_id: int | None = None, user=None,
            tags: list[str] | None = None, suite: str = "") -> Case:
    """Add (or, for the same ``source``, update) a case in the latest version of ``dataset``.

    ``source`` names the work, e.g. ``llm.LLMQuery:412`` or ``products.GenerationSession:9``:
    promoting it again replaces the expected value (the newer correction wins).
    """
    if not source:
        raise PromotionError("Say what is promoted (source='app.Model:pk').")
    if input is None or input == "" or input == {}:
        raise PromotionError(f"{source} has no input to make a case from.")
    target = Dataset.objects.filter(name=dataset).order_by("-version").select_for_update().first()
    if target is None:
        target = Dataset.objects.create(name=dataset, suite=suite or dataset, version=1,
                                        owner=user if getattr(user, "pk", None) else None,
                                        description="Cases promoted from real work.")
    key = f"promoted:{source}"[:200]
    case, created = Case.objects.update_or_create(
        dataset=target, key=key,
        defaults={"input": input, "expected": expected, "tags": sorted(set((tags or []) + ["promoted"])),
                  "source": source[:200], "source_query_id": query_id,
                  "created_by": user if getattr(user, "pk", None) else None},
    )
    return case


def human_score(*, query_id: int, scorer: str, value: float, user=None, subject: str = "",
                details: dict | None = None) -> Score:
    """A person's score (0..1) of the answer of LLMQuery ``query_id``; one per person, scorer and
    subject (a new rating replaces the old)."""
    if not query_id:
        raise PromotionError("A human score needs the call that produced the answer (query_id).")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise PromotionError(f"A score is a number from 0 to 1, not {value!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise PromotionError(f"A score is a number from 0 to 1, not {value}.")
    score, _ = Score.objects.update_or_create(
        query_id=query_id, scorer=scorer, source=Score.Source.HUMAN, subject=subject[:200],
        user=user if getattr(user, "pk", None) else None,
        defaults={"value": value, "details": details or {}},
    )
    return score


def human_scores(*, scorer: str, user, subjects: list[str] | None = None, subject_prefix: str = "") -> dict:
    """{subject: (value, details)} of ``user``'s human scores under ``scorer`` (some subjects, or a prefix)."""
    qs = Score.objects.filter(scorer=scorer, source=Score.Source.HUMAN, user=user if getattr(user, "pk", None) else None)
    if subjects is not None:
        qs = qs.filter(subject__in=subjects)
    if subject_prefix:
        qs = qs.filter(subject__startswith=subject_prefix)
    return {s: (v, d or {}) for s, v, d in qs.values_list("subject", "value", "details")}


def seed_datasets() -> dict[str, str]:
    """Every registered suite's shipped dataset (``build_cases``), as a new version when it changed."""
    from . import registry
    from .importing import replace_cases

    made = {}
    for suite in registry.all_suites():
        if suite.build_cases is None:
            continue
        cases = suite.build_cases()
        if cases:
            made[suite.name] = str(replace_cases(name=suite.name, suite=suite.name, cases=cases,
                                                 description=suite.description))
    return made
