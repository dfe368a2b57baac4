"""Promoting real work into cases, and people's verdicts stored as scores.

A domain app's button calls ``evals.promote(...)`` with the work's input and, as the expected
value, the user's correction; ``evals.human_score(...)`` with the call that produced an answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class LoggedCall:
    """What a suite's ``input_from_call`` gets: the logged call and its interaction file."""

    query: Any  # llm.models.LLMQuery
    document: dict = field(default_factory=dict)

    @property
    def messages(self) -> list[dict]:
        return list(self.document.get("messages") or [])

    @property
    def context(self) -> dict:
        return dict(self.document.get("context") or {})

    def text_of(self, role: str) -> str:
        """The first message of ``role`` as text (multi-part contents: their text parts joined)."""
        for message in self.messages:
            if message.get("role") == role:
                content = message.get("content")
                if isinstance(content, list):
                    return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
                return content or ""
        return ""

    @property
    def system(self) -> str:
        return self.text_of("system")

    @property
    def prompt(self) -> str:
        """The call's first user message (the request, before any re-ask)."""
        return self.text_of("user")


def load_call(query) -> LoggedCall:
    """The call and its interaction file ({} when the file is gone or unreadable)."""
    from llm.records import interactions

    try:
        doc = json.loads(interactions.read(query.file_path)) if query.file_path else {}
    except Exception:
        doc = {}
    return LoggedCall(query=query, document=doc if isinstance(doc, dict) else {})


def raw_input(call: LoggedCall) -> dict:
    """A call no suite takes, kept as its request (the dataset is a record; no suite can run it)."""
    doc = call.document
    if not doc:
        return {}
    return {"messages": call.messages, "prompt": doc.get("prompt") or "", "purpose": call.query.purpose,
            "model": call.query.model_name, "provider": call.query.provider_name, "answer": doc.get("response")}


def _evaluated_input(query, suite: str):
    """The case a call answered when an experiment of ``suite`` made it (its input is the suite's already)."""
    from .models import ResultQuery

    link = (ResultQuery.objects.filter(query=query, role="answer", result__variant__experiment__suite=suite)
            .select_related("result__case").first())
    return link.result.case.input if link is not None else None


def promote_call(query, *, dataset: str = "", expected=None, user=None) -> Case:
    """A logged call as a case: of the suite named by ``dataset`` (or of a dataset of that suite),
    else of the suite that takes the call's purpose. Its input is what that suite's ``run``
    expects, rebuilt by the suite's ``input_from_call``; a call no suite takes keeps its raw
    request in a dataset named after its purpose (or ``dataset``)."""
    from . import registry

    name = (dataset or "").strip()
    suite = None
    if name:
        known = {s.name: s for s in registry.all_suites()}
        suite_name = name if name in known else (
            Dataset.objects.filter(name=name).order_by("-version").values_list("suite", flat=True).first())
        suite = known.get(suite_name or "")
    if suite is None:
        suite = registry.for_purpose(query.purpose)
    if suite is not None and not suite.takes(query.purpose):
        raise PromotionError(f"A {query.purpose} call cannot be a case of {suite.name}: it takes calls of "
                             f"{', '.join(suite.purposes or (suite.name,))}.")
    call = load_call(query)
    if suite is None:
        case_input, target, suite_name = raw_input(call), name or query.purpose, ""
    else:
        target, suite_name = name or suite.name, suite.name
        case_input = _evaluated_input(query, suite.name)
        if case_input is None:
            if suite.input_from_call is None:
                raise PromotionError(f"{suite.name} cannot make a case from a single call.")
            case_input = suite.input_from_call(call)
    return promote(dataset=target, suite=suite_name, input=case_input, expected=expected,
                   source=f"llm.LLMQuery:{query.pk}", query_id=query.pk, user=user,
                   tags=[t for t in (query.model_name, query.purpose) if t])


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
