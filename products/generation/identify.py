"""Step 2, identify the category: which existing subcategory the product text belongs to.

``build_prompt`` (the catalog outline as text, the ids as enums in the schema), ``read_answer``
(one answer, parsed or raw text, checked against the database now: no live call) and
``write_results`` (onto a wizard session); ``identify_category`` chains them with re-asks.
"""

from __future__ import annotations

from llm.errors import LLMInvalidOutputError
from llm.calls.structured import parse

from .. import catalog, conf, prompting
from ..models import Subcategory
from .calling import CATEGORY_RETRY_TEMPLATE, IDENTIFY_TEMPLATE, ask, clean_text, reject
from .results import CallRecord, CategoryChoice, GenerationError, LLMOptions

MAX_REASON_CHARS = 500


def catalog_text(outline: list[dict]) -> str:
    lines = []
    for category in outline:
        if not category["subcategories"]:
            continue
        about = f" — {category['description']}" if category["description"] else ""
        lines.append(f"- category {category['id']}: {category['name']}{about}")
        for sub in category["subcategories"]:
            about = f" — {sub['description']}" if sub["description"] else ""
            lines.append(f"  - subcategory {sub['id']}: {sub['name']}{about}")
    return "\n".join(lines)


def category_schema(outline: list[dict]) -> dict:
    """Built per call: the ids are enums of what exists, so the model cannot name anything else."""
    category_ids = sorted(c["id"] for c in outline if c["subcategories"])
    subcategory_ids = sorted(s["id"] for c in outline for s in c["subcategories"])
    return {
        "title": "CategoryChoice",
        "type": "object",
        "properties": {
            "category_id": {"type": "integer", "enum": category_ids},
            "subcategory_id": {"type": "integer", "enum": subcategory_ids},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string"},
        },
        "required": ["category_id", "subcategory_id", "confidence", "reason"],
        "additionalProperties": False,
    }


def build_prompt(text: str, outline: list[dict], *, template_name: str = IDENTIFY_TEMPLATE) -> list[dict]:
    return [{"role": "user", "content": prompting.render(template_name, catalog=catalog_text(outline), text=text)}]


def read_answer(answer, *, schema: dict | None = None) -> tuple[CategoryChoice | None, str]:
    """(the choice, "") when the answer names an existing subcategory of the category it names,
    else (None, the problem to re-ask with). ``answer``: the parsed dict of a live call, or raw
    text (a downloaded answer), parsed and validated here against ``schema`` (default: the
    catalog's schema now)."""
    if isinstance(answer, str):
        parsed = parse(answer, schema if schema is not None else category_schema(catalog.outline()))
        if not parsed.ok:
            return None, f"the answer does not fit the schema: {parsed.error}"
        answer = parsed.value
    sub_id, cat_id = answer["subcategory_id"], answer["category_id"]
    # The schema's list may be a few minutes old (cache): check against the database now.
    sub = Subcategory.objects.select_related("category").filter(pk=sub_id).first()
    if sub is None:
        return None, f"subcategory_id {sub_id} does not exist."
    if sub.category_id != cat_id:
        return None, (
            f"category_id {cat_id} is not the category of subcategory {sub_id} ({sub.name} is listed under "
            f"category {sub.category_id}, {sub.category.name})."
        )
    return CategoryChoice(
        category_id=sub.category_id, category_name=sub.category.name, subcategory_id=sub.pk,
        subcategory_name=sub.name, confidence=float(answer["confidence"]),
        reason=" ".join(str(answer["reason"]).split())[:MAX_REASON_CHARS],
    ), ""


def write_results(session, choice: CategoryChoice) -> None:
    """The suggestion onto a wizard session (the user accepts it or picks another)."""
    session.suggested_subcategory_id = choice.subcategory_id
    session.suggestion_confidence = choice.confidence
    session.suggestion_reason = choice.reason
    session.save()


def identify_category(text: str, options: LLMOptions, *, template_name: str = IDENTIFY_TEMPLATE) -> CategoryChoice:
    """``template_name`` is another version of the prompt (an evaluation's variant)."""
    text = clean_text(text)
    outline = catalog.outline()
    if not any(c["subcategories"] for c in outline):
        raise GenerationError("The catalog has no subcategories yet: add some in admin or run manage.py seed_demo.")
    schema = category_schema(outline)
    messages = build_prompt(text, outline, template_name=template_name)
    calls: list[CallRecord] = []
    rounds = conf.validation_retries() + 1
    for _ in range(rounds):
        try:
            result = ask("identify_category", messages, schema, options, template_name, calls)
        except GenerationError as exc:
            if isinstance(exc.__cause__, LLMInvalidOutputError):
                raise GenerationError(
                    "The model did not choose one of the existing subcategories; pick one yourself. "
                    f"Details: {exc.__cause__}", calls=exc.calls, query_id=exc.query_id,
                ) from exc.__cause__
            raise
        choice, problem = read_answer(result.parsed, schema=schema)
        if choice is not None:
            choice.calls = calls
            return choice
        reject(calls, problem)
        messages = messages + [
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": prompting.render(CATEGORY_RETRY_TEMPLATE, error=problem)},
        ]
    raise GenerationError(
        f"The model did not name an existing subcategory after {rounds} tries; pick one yourself. Last problem: {problem}",
        calls=calls,
    )
