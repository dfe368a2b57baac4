"""Calling the model for a step and recording its calls (``CallRecord``) for the debug panel."""

from __future__ import annotations

import json
import logging
from functools import partial

from django.db.models import Max

from llm import complete, stream
from llm.calls.live import StopStream, consume
from llm.errors import LLMError, LLMInvalidOutputError, ManualAnswerPending
from llm.models import LLMQuery

from .. import conf
from .results import CallRecord, GenerationError, LLMOptions, WaitingForManualAnswer

logger = logging.getLogger("products.generation")

# llm templates products.<step>, version N (products/prompting.py)
IDENTIFY_TEMPLATE = "identify_category_v3"
CATEGORY_RETRY_TEMPLATE = "category_retry_v1"
MAP_TEMPLATE = "map_attributes_v1"
MAP_RETRY_TEMPLATE = "map_attributes_retry_v1"
GENERATE_TEMPLATE = "generate_product_v2"


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
    from llm.records import interactions

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


def _arguments(step: str, messages: list[dict], schema, options: LLMOptions, template_name: str) -> dict:
    return dict(
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


def _ids_only(query_ids, prompt: str, *, status: str = "ok", error: str = "") -> list[CallRecord]:
    """``debug_records=False``: the calls' ids, without reading their rows and files back."""
    ids = [q for q in query_ids if q]
    if not ids:
        return [CallRecord(query_id=None, prompt=prompt, status="failed", error=error)]
    return [CallRecord(query_id=q, prompt=prompt, status=status, error=error if q == ids[-1] else "") for q in ids]


def ask(step: str, messages: list[dict], schema, options: LLMOptions, template_name: str, calls: list[CallRecord]):
    from llm.calls import render_prompt

    prompt = render_prompt(messages)
    if not options.debug_records:
        return _ask_ids_only(step, messages, schema, options, template_name, calls, prompt)
    before = _last_query_id()
    try:
        result = (complete if options.stream_to is None else partial(_streamed, stream_to=options.stream_to))(
            **_arguments(step, messages, schema, options, template_name))
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


def _ask_ids_only(step, messages, schema, options: LLMOptions, template_name: str, calls: list[CallRecord], prompt: str):
    """``ask`` recording only the calls' ids (the same errors and waits)."""
    try:
        result = complete(**_arguments(step, messages, schema, options, template_name))
    except ManualAnswerPending as exc:
        calls.extend(_ids_only([exc.query_id], prompt, status="waiting_manual"))
        raise WaitingForManualAnswer(exc.query_id, calls) from exc
    except LLMInvalidOutputError as exc:
        calls.extend(_ids_only([exc.query_id], prompt, status="failed", error=str(exc)))
        raise GenerationError(
            f"The model's answers never fit the {step.replace('_', ' ')} schema: {exc}", calls=calls, query_id=exc.query_id
        ) from exc
    except LLMError as exc:
        calls.extend(_ids_only([exc.query_id], prompt, status="failed", error=str(exc)))
        raise GenerationError(str(exc), calls=calls, query_id=exc.query_id) from exc
    calls.extend(_ids_only(result.query_ids or [result.query_id], prompt))
    return result


def _streamed(*, stream_to, **arguments):
    """complete(), streamed: each chunk goes to ``stream_to`` as it arrives."""
    return consume(stream(**arguments), stream_to)


def reject(calls: list[CallRecord], problem: str) -> None:
    if calls:
        calls[-1].status = "rejected"
        calls[-1].error = problem
