"""A generation session run step by step (the wizard, a bulk item): no HTTP, no Celery.

Each ``run_*`` checks whether its result already exists and returns at once if so, so a
resumed or repeated run sends no new request. The LLM's results and the user's edits are
stored apart: re-running a step never loses an edit, and changing an earlier step keeps the
later edits that still apply (a new subcategory keeps the attribute edits it shares by
name and all the generated text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from llm import new_run_id

from . import catalog, generation
from .generation import attributes as attributes_step
from .generation import content as content_step
from .generation import identify as identify_step
from .generation import CallRecord, GenerationError, LLMOptions, WaitingForManualAnswer
from .models import (
    CONTENT_FIELDS,
    AttributeDefinition,
    AttributeType,
    GenerationSession,
    GenerationStepLog,
    Product,
    Step,
    StepStatus,
    Subcategory,
)


def options_for(session: GenerationSession, *, fresh: bool = False) -> LLMOptions:
    return LLMOptions(provider=session.provider_name, model=session.model_name, user=session.owner,
                      run_id=session.run_id, fresh=fresh)


def create_session(*, owner, raw_input: str, provider_name: str = "", model_name: str = "") -> GenerationSession:
    return GenerationSession.objects.create(
        owner=owner, raw_input=generation.clean_text(raw_input), provider_name=provider_name or "",
        model_name=model_name or "", run_id=new_run_id(),
    )


def _log(session: GenerationSession, step: str, calls: list[CallRecord]) -> None:
    # A step that waited for a paste logs that call again once answered: keep only the answer.
    session.step_logs.filter(step=step, status=GenerationStepLog.Status.WAITING_MANUAL).delete()
    GenerationStepLog.objects.bulk_create(
        GenerationStepLog(
            session=session, step=step, query_id=c.query_id, prompt=c.prompt, raw_answer=c.raw_answer,
            input_tokens=c.input_tokens, output_tokens=c.output_tokens, cost_usd=c.cost_usd, latency_ms=c.latency_ms,
            status=c.status, error=c.error,
        )
        for c in calls
    )


def _run_step(session: GenerationSession, step: str, call) -> Any | None:
    """Run ``call()``; record its calls and status. Returns its result, or None when it waits or fails."""
    try:
        result = call()
    except WaitingForManualAnswer as waiting:
        _log(session, step, waiting.calls)
        session.set_status(step, StepStatus.WAITING_MANUAL)
        session.pending_query_id = waiting.query_id
        session.save()
        return None
    except GenerationError as exc:
        _log(session, step, exc.calls)
        session.set_status(step, StepStatus.FAILED, str(exc))
        session.pending_query = None
        session.save()
        return None
    _log(session, step, getattr(result, "calls", []))
    session.set_status(step, StepStatus.DONE)
    session.pending_query = None
    return result


# --- Step 1 and 2 ------------------------------------------------------------------------------


def update_raw_input(session: GenerationSession, raw_input: str) -> bool:
    """Change the text; True when it changed (the suggestion and the LLM's attribute values go stale)."""
    text = generation.clean_text(raw_input)
    if text == session.raw_input:
        return False
    session.raw_input = text
    session.suggested_subcategory = None
    session.suggestion_confidence = None
    session.suggestion_reason = ""
    session.mapped_attributes = {}
    session.set_status(Step.IDENTIFY_CATEGORY, StepStatus.PENDING)
    session.set_status(Step.MAP_ATTRIBUTES, StepStatus.PENDING)
    session.save()
    return True


def run_identify(session: GenerationSession, *, force: bool = False) -> bool:
    """Ask for a subcategory suggestion unless there is one. True when a suggestion exists."""
    if session.suggested_subcategory_id and not force:
        return True
    choice = _run_step(
        session, Step.IDENTIFY_CATEGORY, lambda: generation.identify_category(session.raw_input, options_for(session, fresh=force))
    )
    if choice is None:
        return False
    identify_step.write_results(session, choice)
    return True


def choose_subcategory(session: GenerationSession, subcategory: Subcategory) -> None:
    """Accept the suggestion or pick another; a change drops the attribute edits that no longer apply."""
    if session.subcategory_id == subcategory.pk:
        return
    names = {d.name for d in catalog.definitions(subcategory.pk)}
    session.attribute_edits = {k: v for k, v in (session.attribute_edits or {}).items() if k in names}
    session.subcategory = subcategory
    session.category_id = subcategory.category_id
    session.set_status(
        Step.MAP_ATTRIBUTES,
        StepStatus.DONE if (session.mapped_attributes or {}).get("subcategory_id") == subcategory.pk else StepStatus.PENDING,
    )
    session.save()


# --- Step 3 ------------------------------------------------------------------------------------


def run_map(session: GenerationSession, *, force: bool = False) -> bool:
    if not session.subcategory_id:
        raise ValueError("Choose a subcategory first.")
    if not force and (session.mapped_attributes or {}).get("subcategory_id") == session.subcategory_id:
        return True
    mapping = _run_step(
        session, Step.MAP_ATTRIBUTES,
        lambda: generation.map_attributes(session.raw_input, session.subcategory_id, options_for(session, fresh=force)),
    )
    if mapping is None:
        return False
    attributes_step.write_results(session, mapping)
    return True


def form_value(definition: AttributeDefinition, value) -> Any:
    """A stored value as the attribute form shows it (a list for several-of, else text)."""
    if definition.type == AttributeType.MANY_OF:
        if isinstance(value, list):
            return [str(v) for v in value]
        return [] if value in (None, "") else [str(value)]
    if value is None:
        return ""
    if definition.type == AttributeType.BOOLEAN and isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class AttributeRow:
    definition: AttributeDefinition
    value: Any  # what the form shows
    ok: bool
    error: str
    source: str  # "model", "you" or ""
    model_value: Any = None  # what the model said, when it was invalid

    @property
    def name(self) -> str:
        return self.definition.name


def attribute_rows(session: GenerationSession) -> list[AttributeRow]:
    if not session.subcategory_id:
        return []
    mapped = session.mapped_for_current_subcategory()
    edits = session.attribute_edits or {}
    rows = []
    for definition in catalog.definitions(session.subcategory_id):
        model = mapped.get(definition.name)
        if definition.name in edits:
            raw = edits[definition.name]
            ok, cleaned, error = definition.validate_value(raw)
            rows.append(AttributeRow(definition, form_value(definition, cleaned if ok else raw), ok, error, "you"))
        elif model is not None:
            rows.append(
                AttributeRow(
                    definition, form_value(definition, model["value"]), model["ok"], model["error"],
                    "model" if model["value"] is not None else "",
                    model_value=None if model["ok"] else model["value"],
                )
            )
        else:
            ok, _, error = definition.validate_value(None)
            rows.append(AttributeRow(definition, form_value(definition, None), ok, error, ""))
    return rows


def effective_attributes(session: GenerationSession) -> tuple[dict, dict[str, str]]:
    """(valid values to save, {name: error}) with the user's edits over the model's values."""
    valid, problems = {}, {}
    definitions = {d.name: d for d in catalog.definitions(session.subcategory_id)} if session.subcategory_id else {}
    for row in attribute_rows(session):
        if not row.ok:
            problems[row.name] = row.error
            continue
        ok, cleaned, error = definitions[row.name].validate_value(row.value)
        if ok and cleaned is not None:
            valid[row.name] = cleaned
        elif not ok:
            problems[row.name] = error
    return valid, problems


def update_attributes(session: GenerationSession, submitted: dict[str, Any]) -> None:
    """Store the form's values as edits where they differ from what the model said."""
    mapped = session.mapped_for_current_subcategory()
    edits = dict(session.attribute_edits or {})
    for definition in catalog.definitions(session.subcategory_id):
        if definition.name not in submitted:
            continue
        value = submitted[definition.name]
        model = mapped.get(definition.name)
        if model is not None and form_value(definition, model["value"]) == value:
            edits.pop(definition.name, None)
        else:
            edits[definition.name] = value
    session.attribute_edits = edits
    session.save()


# --- Step 4 ------------------------------------------------------------------------------------


def run_generate(session: GenerationSession, *, force: bool = False, stream_to=None) -> bool:
    """Write the content (step 4). ``stream_to(text, attempt)``: stream the call and hand it each
    chunk (the content step's live page, products/live.py)."""
    if not session.subcategory_id:
        raise ValueError("Choose a subcategory first.")
    if session.generated_content and not force:
        return True
    valid, _ = effective_attributes(session)
    options = options_for(session, fresh=force)
    options.stream_to = stream_to
    content = _run_step(
        session, Step.GENERATE,
        lambda: generation.generate_product(session.raw_input, session.subcategory_id, valid, options),
    )
    if content is None:
        return False
    content_step.write_results(session, content, force=force)  # force: the user asked for new text
    return True


def update_content(session: GenerationSession, submitted: dict[str, Any]) -> None:
    generated = session.generated_content or {}
    edits = dict(session.content_edits or {})
    for key in CONTENT_FIELDS:
        if key not in submitted:
            continue
        if submitted[key] == generated.get(key):
            edits.pop(key, None)
        else:
            edits[key] = submitted[key]
    session.content_edits = edits
    session.save()


def save(session: GenerationSession) -> Product:
    """Create the Product once (a second call returns the same one). ValidationError when it is not valid."""
    with transaction.atomic():
        locked = GenerationSession.objects.select_for_update().get(pk=session.pk)
        if locked.product_id:
            return locked.product
        if not session.subcategory_id:
            raise ValidationError("Choose a subcategory first (step 2).")
        valid, problems = effective_attributes(session)
        required = {d.name for d in catalog.definitions(session.subcategory_id) if d.required}
        missing = {name: error for name, error in problems.items() if name in required}
        if missing:
            raise ValidationError([f"{name}: {error}" for name, error in missing.items()])
        content = session.content
        product = generation.save_product(
            subcategory_id=session.subcategory_id, title=content["title"], description=content["description"],
            bullet_points=content["bullet_points"], search_keywords=content["search_keywords"], attributes=valid,
        )
        session.product = product
        session.save(update_fields=["product", "updated_at"])
        return product
