"""The generation steps as plain functions: no HTTP, no Celery, no session state.

``identify_category`` → ``map_attributes`` → ``generate_product`` → ``save_product``. Each LLM
step returns its result with the calls it made (``CallRecord``: prompt, raw answer, tokens,
cost, latency) for the debug panel. The API calls these directly; ``pipeline`` runs them
for a wizard session or a bulk item.

Untrusted answers are checked here, not trusted: a subcategory id must exist now and belong
to the named category (the schema's enum already limits the ids; a stale list or a mismatch
is re-asked), and every attribute value goes through ``AttributeDefinition.validate_value``;
values that are still invalid after one re-ask are returned flagged, never saved.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from django.db.models import Max
from pydantic import BaseModel, field_validator

from llm import complete, stream
from llm.live import StopStream, consume
from llm.errors import LLMError, LLMInvalidOutputError, ManualAnswerPending
from llm.models import LLMQuery

from . import catalog, conf
from .models import AttributeDefinition, AttributeType, Product, Subcategory

logger = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).parent / "prompts"
IDENTIFY_TEMPLATE = "identify_category_v3.txt"
CATEGORY_RETRY_TEMPLATE = "category_retry_v1.txt"
MAP_TEMPLATE = "map_attributes_v1.txt"
MAP_RETRY_TEMPLATE = "map_attributes_retry_v1.txt"
GENERATE_TEMPLATE = "generate_product_v2.txt"

MAX_REASON_CHARS = 500


@lru_cache(maxsize=None)
def template(name: str) -> str:
    return (PROMPTS_DIR / name).read_text()


# --- Results and errors -------------------------------------------------------------------


@dataclass
class LLMOptions:
    provider: str = ""
    model: str = ""
    user: Any = None
    run_id: str = ""
    fresh: bool = False  # skip the llm answer cache (the user asked for a new answer)
    # Set by evaluation runs (products/evals.py): the case's batch number and the variant's parameters.
    batch: int | None = None
    temperature: float | None = None
    # When set, the call streams (llm.stream) and each chunk goes to stream_to(text, attempt);
    # a llm.live.StopStream raised by it stops the call (products/live.py, the content step's page).
    stream_to: Any = None


@dataclass
class CallRecord:
    """One logged model call, as the debug panel shows it."""

    query_id: int | None
    prompt: str = ""
    raw_answer: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None
    latency_ms: int | None = None
    status: str = "ok"  # ok, rejected, failed, waiting_manual (GenerationStepLog.Status)
    error: str = ""


class GenerationError(Exception):
    """A step could not produce a usable result; the message says why and what to do."""

    def __init__(self, message: str, *, calls: list[CallRecord] | None = None, query_id: int | None = None):
        super().__init__(message)
        self.calls = calls or []
        self.query_id = query_id


class UnknownSubcategory(GenerationError):
    def __init__(self, subcategory_id):
        super().__init__(f"There is no subcategory with id {subcategory_id}.")
        self.subcategory_id = subcategory_id


class WaitingForManualAnswer(Exception):
    """The step's prompt went to the copy/paste provider; run the step again after the paste."""

    def __init__(self, query_id: int, calls: list[CallRecord]):
        super().__init__(f"Waiting for a pasted answer to query #{query_id}.")
        self.query_id = query_id
        self.calls = calls


@dataclass
class CategoryChoice:
    category_id: int
    category_name: str
    subcategory_id: int
    subcategory_name: str
    confidence: float
    reason: str
    calls: list[CallRecord] = field(default_factory=list)


@dataclass
class AttributeValue:
    value: Any  # the cleaned value when ok, else what the model said
    ok: bool
    error: str = ""

    def as_dict(self) -> dict:
        return {"value": self.value, "ok": self.ok, "error": self.error}


@dataclass
class AttributeMapping:
    subcategory_id: int
    values: dict[str, AttributeValue]
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def valid(self) -> dict:
        return {name: v.value for name, v in self.values.items() if v.ok and v.value is not None}

    @property
    def invalid(self) -> dict[str, AttributeValue]:
        return {name: v for name, v in self.values.items() if not v.ok}


class ProductContent(BaseModel):
    """Step 4's schema. The validators run on the answer; a violation is re-asked by llm."""

    title: str
    description: str
    bullet_points: list[str]
    search_keywords: list[str]

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the title is empty")
        if len(value) > 300:
            raise ValueError(f"the title has {len(value)} characters; keep it under 200")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the description is empty")
        return value

    @field_validator("bullet_points", "search_keywords")
    @classmethod
    def _texts(cls, values: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in values]
        cleaned = [v for v in cleaned if v]
        if len(cleaned) > 20:
            raise ValueError(f"{len(cleaned)} items is too many; give at most 12")
        return cleaned


@dataclass
class GeneratedContent:
    title: str
    description: str
    bullet_points: list[str]
    search_keywords: list[str]
    calls: list[CallRecord] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "description": self.description,
            "bullet_points": list(self.bullet_points),
            "search_keywords": list(self.search_keywords),
        }


# --- Calling the model and recording the calls --------------------------------------------


def clean_text(text: str) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise GenerationError("The product information is empty: paste a title, a description or supplier text.")
    limit = conf.max_input_chars()
    if len(text) > limit:
        raise GenerationError(f"The product information has {len(text)} characters; the limit is {limit}.")
    return text


def _last_query_id() -> int:
    return LLMQuery.objects.aggregate(m=Max("id"))["m"] or 0


def _document(row: LLMQuery) -> dict:
    if not row.file_path:
        return {}
    from llm import interactions

    try:
        return json.loads(interactions.read(row.file_path))
    except Exception:  # a missing file must not break the debug panel
        logger.warning("Could not read the interaction file of query %s", row.pk)
        return {}


_STATUS = {
    LLMQuery.Status.OK: "ok",
    LLMQuery.Status.CACHE_HIT: "ok",
    LLMQuery.Status.INVALID_OUTPUT: "rejected",
    LLMQuery.Status.PENDING_MANUAL: "waiting_manual",
}


def _records(before: int, final_id: int | None, prompt: str, *, error: str = "") -> list[CallRecord]:
    """The rows of one ``complete()`` call (its re-asks too) as CallRecords, oldest first."""
    final = LLMQuery.objects.filter(pk=final_id).select_related("manual").first() if final_id else None
    if final is None:
        return [CallRecord(query_id=None, prompt=prompt, status="failed", error=error)]
    rows = list(
        LLMQuery.objects.filter(pk__gt=before, cache_key=final.cache_key).exclude(pk=final.pk).order_by("pk")
    ) if final.cache_key else []
    records = []
    for row in rows + [final]:
        doc = _document(row)
        raw = doc.get("response") or ""
        if not raw and hasattr(row, "manual") and row is final:
            raw = row.manual.answer_text
        status = _STATUS.get(row.status, "failed")
        if row is final and error:
            status = "failed"
        records.append(
            CallRecord(
                query_id=row.pk,
                prompt=doc.get("prompt") or prompt,
                raw_answer=raw if isinstance(raw, str) else json.dumps(raw),
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cost_usd=row.cost_usd,
                latency_ms=row.latency_ms,
                status=status,
                error=(error if row is final and error else row.error),
            )
        )
    return records


def _ask(step: str, messages: list[dict], schema, options: LLMOptions, template_name: str, calls: list[CallRecord]):
    from llm.service import render_prompt

    prompt = render_prompt(messages)
    before = _last_query_id()
    try:
        result = (complete if options.stream_to is None else partial(_streamed, stream_to=options.stream_to))(
            purpose=f"products.{step}",
            messages=messages,
            provider=options.provider or conf.default_provider() or None,
            model=options.model or conf.default_model() or None,
            schema=schema,
            user=options.user if getattr(options.user, "pk", None) else None,
            run=options.run_id or None,
            interaction_type=step,
            validation_retries=conf.validation_retries(),
            template_version=template_name,
            cache=not options.fresh,
            batch=options.batch,
            temperature=options.temperature,
        )
    except ManualAnswerPending as exc:
        calls.extend(_records(before, exc.query_id, prompt))
        raise WaitingForManualAnswer(exc.query_id, calls) from exc
    except StopStream as exc:
        final = LLMQuery.objects.filter(pk__gt=before).order_by("-pk").values_list("pk", flat=True).first()
        calls.extend(_records(before, final, prompt, error=str(exc)))
        raise GenerationError(f"{exc} Nothing was kept: generate the content again when you are ready.",
                              calls=calls, query_id=final) from exc
    except LLMInvalidOutputError as exc:
        calls.extend(_records(before, exc.query_id, prompt, error=str(exc)))
        raise GenerationError(
            f"The model's answers never fit the {step.replace('_', ' ')} schema: {exc}", calls=calls, query_id=exc.query_id
        ) from exc
    except LLMError as exc:
        calls.extend(_records(before, exc.query_id, prompt, error=str(exc)))
        raise GenerationError(str(exc), calls=calls, query_id=exc.query_id) from exc
    calls.extend(_records(before, result.query_id, prompt))
    return result


def _streamed(*, stream_to, **arguments):
    """complete(), streamed: each chunk goes to ``stream_to`` as it arrives."""
    return consume(stream(**arguments), stream_to)


def _reject(calls: list[CallRecord], problem: str) -> None:
    if calls:
        calls[-1].status = "rejected"
        calls[-1].error = problem


# --- Step 2: identify the category ---------------------------------------------------------


def _catalog_text(outline: list[dict]) -> str:
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


def identify_category(text: str, options: LLMOptions, *, template_name: str = IDENTIFY_TEMPLATE) -> CategoryChoice:
    """``template_name`` is another version of the prompt (an evaluation's variant)."""
    text = clean_text(text)
    outline = catalog.outline()
    if not any(c["subcategories"] for c in outline):
        raise GenerationError("The catalog has no subcategories yet: add some in admin or run manage.py seed_demo.")
    schema = category_schema(outline)
    messages = [{"role": "user", "content": template(template_name).format(catalog=_catalog_text(outline), text=text)}]
    calls: list[CallRecord] = []
    rounds = conf.validation_retries() + 1
    for _ in range(rounds):
        try:
            result = _ask("identify_category", messages, schema, options, template_name, calls)
        except GenerationError as exc:
            if isinstance(exc.__cause__, LLMInvalidOutputError):
                raise GenerationError(
                    "The model did not choose one of the existing subcategories; pick one yourself. "
                    f"Details: {exc.__cause__}", calls=exc.calls, query_id=exc.query_id,
                ) from exc.__cause__
            raise
        answer = result.parsed
        sub_id, cat_id = answer["subcategory_id"], answer["category_id"]
        # The schema's list may be a few minutes old (cache): check against the database now.
        sub = Subcategory.objects.select_related("category").filter(pk=sub_id).first()
        if sub is None:
            problem = f"subcategory_id {sub_id} does not exist."
        elif sub.category_id != cat_id:
            problem = (
                f"category_id {cat_id} is not the category of subcategory {sub_id} ({sub.name} is listed under "
                f"category {sub.category_id}, {sub.category.name})."
            )
        else:
            return CategoryChoice(
                category_id=sub.category_id, category_name=sub.category.name, subcategory_id=sub.pk,
                subcategory_name=sub.name, confidence=float(answer["confidence"]),
                reason=" ".join(str(answer["reason"]).split())[:MAX_REASON_CHARS], calls=calls,
            )
        _reject(calls, problem)
        messages = messages + [
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": template(CATEGORY_RETRY_TEMPLATE).format(error=problem)},
        ]
    raise GenerationError(
        f"The model did not name an existing subcategory after {rounds} tries; pick one yourself. Last problem: {problem}",
        calls=calls,
    )


# --- Step 3: map the attributes -------------------------------------------------------------


def attribute_keys(definitions: list[AttributeDefinition]) -> dict[str, AttributeDefinition]:
    """JSON keys for the schema (some providers accept only [A-Za-z0-9_] property names)."""
    keys: dict[str, AttributeDefinition] = {}
    for definition in definitions:
        base = re.sub(r"[^a-z0-9]+", "_", definition.name.lower()).strip("_")[:50] or "attribute"
        key, n = base, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys[key] = definition
    return keys


def _describe(definition: AttributeDefinition) -> str:
    required = "required" if definition.required else "optional"
    if definition.type == AttributeType.NUMBER:
        what = f"a number in {definition.unit}" if definition.unit else "a number"
    elif definition.type == AttributeType.BOOLEAN:
        what = "true or false"
    elif definition.type == AttributeType.ONE_OF:
        what = "one of: " + ", ".join(definition.allowed_values)
    elif definition.type == AttributeType.MANY_OF:
        what = "a list of any of: " + ", ".join(definition.allowed_values)
    else:
        what = "text"
    return f"{definition.name}: {what} ({required})"


def _value_schema(definition: AttributeDefinition) -> dict:
    description = _describe(definition)
    if definition.type == AttributeType.NUMBER:
        return {"type": ["number", "null"], "description": description}
    if definition.type == AttributeType.BOOLEAN:
        return {"type": ["boolean", "null"], "description": description}
    if definition.type == AttributeType.MANY_OF:
        return {"type": ["array", "null"], "items": {"type": "string"}, "description": description}
    # One-of values are not an enum on purpose: an answer outside the list must reach us, to be
    # re-asked with the reason and, if still wrong, shown to the user instead of failing the step.
    return {"type": ["string", "null"], "description": description}


def attributes_schema(keys: dict[str, AttributeDefinition]) -> dict:
    return {
        "title": "ProductAttributes",
        "type": "object",
        "properties": {key: _value_schema(d) for key, d in keys.items()},
        "required": list(keys),
        "additionalProperties": False,
    }


def check_values(keys: dict[str, AttributeDefinition], answer: dict) -> dict[str, AttributeValue]:
    values = {}
    for key, definition in keys.items():
        raw = answer.get(key) if isinstance(answer, dict) else None
        ok, cleaned, error = definition.validate_value(raw)
        values[definition.name] = AttributeValue(value=cleaned if ok else raw, ok=ok, error=error)
    return values


def map_attributes(text: str, subcategory_id: int, options: LLMOptions) -> AttributeMapping:
    text = clean_text(text)
    info = catalog.subcategory_info(subcategory_id)
    if info is None or not Subcategory.objects.filter(pk=subcategory_id).exists():
        raise UnknownSubcategory(subcategory_id)
    keys = attribute_keys(catalog.definitions(subcategory_id))
    if not keys:
        return AttributeMapping(subcategory_id=subcategory_id, values={})
    schema = attributes_schema(keys)
    lines = "\n".join(f"- {key}: {_describe(d)}" for key, d in keys.items())
    prompt = template(MAP_TEMPLATE).format(
        subcategory=info["name"], category=info["category_name"], attributes=lines, text=text
    )
    messages = [{"role": "user", "content": prompt}]
    calls: list[CallRecord] = []
    result = _ask("map_attributes", messages, schema, options, MAP_TEMPLATE, calls)
    values = check_values(keys, result.parsed)
    # Present but invalid values are re-asked once; a missing value is the text's silence, not an error to argue.
    wrong = {key: d for key, d in keys.items() if not values[d.name].ok and values[d.name].value not in (None, "", [])}
    if wrong:
        errors = "\n".join(
            f"- {key} ({d.name}): {values[d.name].error}" for key, d in wrong.items()
        )
        _reject(calls, "Invalid values:\n" + errors)
        retry = messages + [
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": template(MAP_RETRY_TEMPLATE).format(errors=errors)},
        ]
        try:
            second = _ask("map_attributes", retry, schema, options, MAP_RETRY_TEMPLATE, calls)
        except GenerationError:
            # The first answer's valid values still stand; the wrong ones stay flagged for the user.
            logger.info("Re-asking invalid attribute values failed for subcategory %s", subcategory_id)
        else:
            again = check_values(keys, second.parsed)
            still = []
            for key, d in wrong.items():
                values[d.name] = again[d.name]
                if not again[d.name].ok:
                    still.append(f"- {key} ({d.name}): {again[d.name].error}")
            if still:
                _reject(calls, "Still invalid, shown to the user:\n" + "\n".join(still))
    return AttributeMapping(subcategory_id=subcategory_id, values=values, calls=calls)


def validate_attributes(subcategory_id: int, attributes: dict) -> tuple[dict, dict[str, str]]:
    """(cleaned values, {name: error}) for user- or API-given values by attribute name."""
    definitions = {d.name: d for d in catalog.definitions(subcategory_id)}
    cleaned, errors = {}, {}
    for name in attributes:
        if name not in definitions:
            errors[name] = "is not an attribute of this subcategory"
    for name, definition in definitions.items():
        if name not in attributes:
            continue
        ok, value, error = definition.validate_value(attributes[name])
        if not ok:
            errors[name] = error
        elif value is not None:
            cleaned[name] = value
    return cleaned, errors


# --- Step 4: generate the content ------------------------------------------------------------


def generate_product(text: str, subcategory_id: int, attributes: dict, options: LLMOptions) -> GeneratedContent:
    """Title, description, bullet points and keywords from the text and the (valid) attributes."""
    text = clean_text(text)
    info = catalog.subcategory_info(subcategory_id)
    if info is None or not Subcategory.objects.filter(pk=subcategory_id).exists():
        raise UnknownSubcategory(subcategory_id)
    lines = [
        f"- {d.name}: {d.display(attributes[d.name])}"
        for d in catalog.definitions(subcategory_id)
        if attributes.get(d.name) is not None
    ]
    prompt = template(GENERATE_TEMPLATE).format(
        category=info["category_name"], subcategory=info["name"], attributes="\n".join(lines) or "(none known)", text=text
    )
    calls: list[CallRecord] = []
    result = _ask("generate", [{"role": "user", "content": prompt}], ProductContent, options, GENERATE_TEMPLATE, calls)
    content: ProductContent = result.parsed
    return GeneratedContent(
        title=content.title, description=content.description, bullet_points=content.bullet_points,
        search_keywords=content.search_keywords, calls=calls,
    )


# --- Saving ----------------------------------------------------------------------------------


def save_product(
    *, subcategory_id: int, title: str, description: str, bullet_points: list[str], search_keywords: list[str],
    attributes: dict,
) -> Product:
    """Create a generated Product; ``full_clean`` rejects invalid attributes (ValidationError)."""
    subcategory = Subcategory.objects.select_related("category").get(pk=subcategory_id)
    product = Product(
        title=title.strip(),
        description=description.strip(),
        bullet_points=[b for b in bullet_points if b.strip()],
        search_keywords=[k for k in search_keywords if k.strip()],
        category=subcategory.category,
        subcategory=subcategory,
        attributes=attributes,
        source=Product.Source.GENERATED,
    )
    product.full_clean()
    product.save()
    return product
