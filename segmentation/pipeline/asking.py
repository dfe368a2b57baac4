"""Asking the model, the same way for every stage: one prompt, then re-asks for the ids still missing.

A stage gives ``ask`` its ``Prompt`` and its ``read_answer``. ``read_answer`` turns ONE answer
(a live call's parsed model, a dict, or raw text such as a downloaded batch answer or a cut-off
one) into (label, payload) pairs and folds them into a ``Collected``: it needs no live call, so
any delivery can feed it an answer.
"""

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from llm.errors import LLMInvalidOutputError, LLMTruncatedError
from llm.calls import complete

from .. import conf, prompting
from ..models import SegmentationRun, Stage
from .base import INTERACTION_TYPES, check_active

logger = logging.getLogger("segmentation.pipeline")


@dataclass
class Collected:
    assigned: dict = field(default_factory=dict)  # label -> payload
    groups: dict = field(default_factory=dict)  # casefolded name -> {"name", "definition"}
    unknown: list = field(default_factory=list)
    duplicates: int = 0
    retries: int = 0
    problems: list = field(default_factory=list)


@dataclass(frozen=True)
class Prompt:
    """A stage's first message and what its answers must cover."""

    text: str
    labels: list[str]  # the ids the answer must place (P_1.., T_1..), in prompt order
    schema_for: Callable[[list[str]], Any]  # the answer schema for the labels still wanted
    context: dict = field(default_factory=dict)  # recorded in the interaction file
    pk_of: dict = field(default_factory=dict)  # label -> product id (extract, refine)


def answer_data(answer) -> dict:
    """One answer as a dict: a parsed model dumped, a dict as it is, text salvaged ({} if nothing)."""
    if hasattr(answer, "model_dump"):
        return answer.model_dump()
    if isinstance(answer, dict):
        return answer
    return prompting.salvage(answer if isinstance(answer, str) else "")


def fold(got: Collected, pairs, labels: list[str], *, better: Callable[[Any, Any], bool] | None = None,
         where: str = "") -> Collected:
    """Add one answer's (label, payload) pairs: labels outside the prompt are logged and ignored; a
    label seen twice keeps the first payload unless ``better`` prefers the new one."""
    known = set(labels)
    for label, payload in pairs:
        if label not in known:
            got.unknown.append(label)
            logger.warning("Segmentation %s: ignored unknown id %r", where, label)
        elif label in got.assigned:
            got.duplicates += 1
            if better is not None and better(payload, got.assigned[label]):
                got.assigned[label] = payload
        else:
            got.assigned[label] = payload
    return got


def ask(run: SegmentationRun, *, stage: str, batch_no: int | None, prompt: Prompt,
        read_answer: Callable[..., Collected]) -> Collected:
    """Ask once, then re-ask (shared retry prompt) for the labels still missing, up to MAX_RETRIES.

    ``read_answer(answer, labels=..., got=..., where=...)`` reads each answer into ``got``.
    """
    config = run.model_config
    labels = prompt.labels
    wanted = list(labels)
    got = Collected()
    messages = [{"role": "user", "content": prompt.text}]
    interaction_type = INTERACTION_TYPES[stage]
    where = f"{run.pk} {stage} b{batch_no}"
    for round_no in range(conf.max_retries() + 1):
        if round_no or stage == Stage.CONSOLIDATE:  # the claim has just checked the run for the first round
            check_active(run)
        problem = ""
        try:
            result = complete(
                purpose=f"segmentation.{interaction_type}", messages=messages, schema=prompt.schema_for(wanted),
                provider=config.get("provider") or None, model=config.get("model") or None,
                temperature=config.get("temperature"), user=run.owner, run=run.pk, interaction_type=interaction_type,
                batch=batch_no, context={**prompt.context, "category": run.category_name, "expected_ids": wanted,
                                         "round": round_no + 1},
                template_version=prompting.VERSION, cache=not config.get("fresh", False),
            )
            text, answer = result.text, result.parsed
        except LLMTruncatedError as exc:
            text, answer, problem = exc.partial_text, exc.partial_text, "your answer was cut off."
        except LLMInvalidOutputError as exc:
            text, answer, problem = exc.last_text, exc.last_text, "your answer was not valid JSON."
        read_answer(answer, labels=labels, got=got, where=where)
        wanted = [label for label in labels if label not in got.assigned]
        if not wanted:
            break
        if round_no == conf.max_retries():
            break
        got.retries += 1
        missing_note = f"{len(wanted)} id(s) were missing or unusable."
        got.problems.append(problem or missing_note)
        messages = messages + [
            {"role": "assistant", "content": text or "(no answer)"},
            {"role": "user", "content": prompting.render("retry", problem=problem or missing_note, missing_ids=", ".join(wanted))},
        ]
    return got


def items(data: dict, key: str) -> list[dict]:
    value = data.get(key) if isinstance(data, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value, limit: int) -> str:
    return prompting.one_line(value, limit) if isinstance(value, str) else ""


def confidence(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return min(1.0, max(0.0, number)) if math.isfinite(number) else None
