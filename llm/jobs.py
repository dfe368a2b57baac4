"""Background prompt jobs (the prompt page): create, run, resume after a pasted answer."""

import logging

from django.db import transaction

from .errors import LLMError, ManualAnswerPending
from .models import LLMJob, LLMQuery

logger = logging.getLogger(__name__)


def create_job(*, user, provider, prompt: str, model_name: str = "", system_prompt: str = "",
               max_tokens: int | None = None, temperature: float | None = None) -> LLMJob:
    from .tasks import run_llm_job

    job = LLMJob.objects.create(
        user=user, provider=provider, model_name=model_name, prompt=prompt, system_prompt=system_prompt,
        max_tokens=max_tokens, temperature=temperature,
    )
    transaction.on_commit(lambda: run_llm_job.delay(job.pk))
    return job


def run_job(job_id: int) -> LLMJob | None:
    """Run a queued job once. Claimed with a conditional UPDATE so two workers never both run it."""
    from .service import complete

    claimed = LLMJob.objects.filter(pk=job_id, status=LLMJob.Status.QUEUED).update(status=LLMJob.Status.RUNNING)
    if not claimed:
        return None
    job = LLMJob.objects.select_related("provider", "user").get(pk=job_id)
    try:
        result = complete(
            purpose="llm.prompt", prompt=job.prompt, system=job.system_prompt or None, provider=job.provider,
            model=job.model_name or None, max_tokens=job.max_tokens, temperature=job.temperature, user=job.user,
        )
    except ManualAnswerPending as pending:
        job.status = LLMJob.Status.WAITING_MANUAL
        job.pending_query_id = pending.query_id
        job.save(update_fields=["status", "pending_query", "updated_at"])
        return job
    except LLMError as exc:
        job.status = LLMJob.Status.FAILED
        job.error = str(exc)
        job.query_id = exc.query_id
        job.save(update_fields=["status", "error", "query", "updated_at"])
        return job
    except Exception as exc:  # record the reason on the row, then let the task machinery see it
        LLMJob.objects.filter(pk=job.pk).update(status=LLMJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    job.status = LLMJob.Status.COMPLETED
    job.result_text = result.text
    job.query_id = result.query_id
    job.error = ""
    job.save(update_fields=["status", "result_text", "query", "error", "updated_at"])
    return job


def resume_jobs_waiting_on(query: LLMQuery) -> int:
    from .tasks import run_llm_job

    ids = list(
        LLMJob.objects.filter(pending_query=query, status=LLMJob.Status.WAITING_MANUAL).values_list("pk", flat=True)
    )
    for job_id in ids:
        if LLMJob.objects.filter(pk=job_id, status=LLMJob.Status.WAITING_MANUAL).update(status=LLMJob.Status.QUEUED):
            transaction.on_commit(lambda job_id=job_id: run_llm_job.delay(job_id))
    return len(ids)
