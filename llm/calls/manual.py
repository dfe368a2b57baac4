"""Accepting a pasted answer for a call on the manual (copy/paste) provider."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..records import interactions, rollups
from . import structured, tokens
from ..models import LLMQuery, ManualInteraction
from ..providers import resolve_model
from .service import render_prompt
from ..signals import manual_answer_accepted


@dataclass
class PasteResult:
    ok: bool
    error: str = ""
    query: LLMQuery | None = None


def pending_for(user):
    qs = ManualInteraction.objects.select_related("query", "query__user").filter(
        query__status=LLMQuery.Status.PENDING_MANUAL
    )
    return qs if user.is_staff else qs.filter(query__user=user)


def _document(row: LLMQuery, mi: ManualInteraction, answer: str, error: str = "") -> dict:
    return {
        "metadata": interactions.metadata(row, provider_kind="manual", duration_ms=row.latency_ms,
                                          pasted_by=mi.answered_by_id),
        "prompt": mi.prompt_text,
        "messages": mi.messages,
        "schema": mi.json_schema,
        "response": answer,
        "usage": {"input_tokens": row.input_tokens, "output_tokens": row.output_tokens},
        "cost_usd": row.cost_usd,
        "error": error or None,
    }


def submit_answer(query_id: int, answer: str, model_name: str, user) -> PasteResult:
    """Validate a pasted answer like any model answer; log it; resume whoever waits on it.

    A rejected paste is logged as an ``invalid_output`` attempt and kept as a draft, so the
    person can fix it without pasting again.
    """
    answer = (answer or "").strip()
    model_name = (model_name or "").strip()[:100] or "manual"
    with transaction.atomic():
        row = LLMQuery.objects.select_for_update(of=("self",)).select_related("provider").get(pk=query_id)
        mi = ManualInteraction.objects.select_for_update().get(query=row)
        if row.status != LLMQuery.Status.PENDING_MANUAL:
            return PasteResult(False, "This prompt was already answered.", row)
        if not answer:
            return PasteResult(False, "Paste the model's answer first: the answer field is empty.", row)
        limit = settings.LLM_MANUAL_MAX_ANSWER_CHARS
        if len(answer) > limit:  # before parsing or rendering it (issue 19: hostile text stalled rendering)
            return PasteResult(False, f"The answer is {len(answer):,} characters long; at most {limit:,} are taken. "
                                      "Shorten it and paste again.", row)
        mi.paste_attempts += 1
        model = resolve_model(row.provider, model_name, user=user)
        now = timezone.now()
        if mi.json_schema is not None:
            result = structured.parse(answer, mi.json_schema)
            if not result.ok:
                mi.draft_answer = answer
                mi.last_error = result.error
                mi.save(update_fields=["draft_answer", "last_error", "paste_attempts"])
                rejected = LLMQuery.objects.create(
                    user=row.user, purpose=row.purpose, run_id=row.run_id, interaction_type=row.interaction_type,
                    batch=row.batch, provider=row.provider, model=model, provider_name=row.provider_name,
                    model_name=model.name, params=row.params, status=LLMQuery.Status.INVALID_OUTPUT,
                    error=result.error, attempt=row.attempt + mi.paste_attempts, cache_key=row.cache_key,
                    input_tokens=tokens.count_text(mi.prompt_text), output_tokens=tokens.count_text(answer),
                    cost_usd=0, finished_at=now, key_source="manual",
                )
                path = interactions.file_name(
                    run_id=row.run_id, interaction_type=row.interaction_type, batch=row.batch,
                    attempt=rejected.attempt, when=rejected.created_at, unique=f"{row.cache_key}:{rejected.pk}",
                )
                rejected.file_path, rejected.file_sha256 = interactions.write(
                    path, _document(rejected, mi, answer, result.error)
                )
                rejected.save(update_fields=["file_path", "file_sha256"])
                rollups.record(rejected)
                return PasteResult(False, result.error, row)
        row.status = LLMQuery.Status.OK
        row.model = model
        row.model_name = model.name
        row.input_tokens = tokens.count_text(mi.prompt_text or render_prompt(mi.messages, mi.json_schema))
        row.output_tokens = tokens.count_text(answer)
        row.cost_usd = 0  # the person's own chat LLM: nothing billed to us
        row.latency_ms = int((now - row.created_at).total_seconds() * 1000)
        row.finished_at = now
        row.error = ""
        mi.answer_text = answer
        mi.draft_answer = ""
        mi.last_error = ""
        mi.answered_model_name = model.name
        mi.answered_by = user if getattr(user, "pk", None) else None
        mi.answered_at = now
        mi.save()
        # The file is rewritten in place with the answer, before the row says ok.
        row.file_path, row.file_sha256 = interactions.write(row.file_path or interactions.file_name(
            run_id=row.run_id, interaction_type=row.interaction_type, batch=row.batch, attempt=row.attempt,
            when=row.created_at, unique=f"{row.cache_key}:{row.pk}",
        ), _document(row, mi, answer))
        row.save()
        rollups.record(row)
        transaction.on_commit(lambda: manual_answer_accepted.send(sender=LLMQuery, query=row))
    return PasteResult(True, "", row)
