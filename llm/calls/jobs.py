"""Background prompt jobs (the prompt page): create, run, resume after a pasted answer."""

import logging

from django.db import OperationalError

from . import live
from .claims import claim
from .enqueue import enqueue_after_commit
from ..errors import LLMError, ManualAnswerPending
from ..models import LLMJob, LLMQuery

logger = logging.getLogger(__name__)
# The Celery task that runs a queued job (llm/tasks.py), queued by name: see enqueue.py.
RUN_TASK = "llm.tasks.run_llm_job"


def create_job(*, user, provider, prompt: str, model_name: str = "", system_prompt: str = "",
               max_tokens: int | None = None, temperature: float | None = None, template_version: str = "",
               variables: dict | None = None) -> LLMJob:
    job = LLMJob.objects.create(
        user=user, provider=provider, model_name=model_name, prompt=prompt, system_prompt=system_prompt,
        max_tokens=max_tokens, temperature=temperature, template_version=template_version, variables=variables or {},
    )
    enqueue_after_commit(RUN_TASK, job.pk)
    return job


def run_job(job_id: int) -> LLMJob | None:
    """Run a queued job once. Claimed with a conditional UPDATE so two workers never both run it."""
    from .service import complete

    if not claim(LLMJob, job_id):
        return None
    job = LLMJob.objects.select_related("provider", "user").get(pk=job_id)
    arguments = dict(
        schema=_template_schema(job.template_version),
        purpose="llm.playground", prompt=job.prompt, system=job.system_prompt or None, provider=job.provider,
        model=job.model_name or None, max_tokens=job.max_tokens, temperature=job.temperature, user=job.user,
        template_version=job.template_version,
    )
    try:
        if streams_live(job):
            try:
                result = _streamed(job, arguments)
            except live.LLMStreamCancelled as exc:
                job.status = LLMJob.Status.CANCELLED
                job.error = "Stopped before the answer was finished; nothing was kept."
                job.query_id = exc.query_id
                job.save(update_fields=["status", "error", "query", "updated_at"])
                return job
        else:
            result = complete(**arguments)
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
    except OperationalError:
        raise  # the task gives the job back and retries on its schedule
    except Exception as exc:  # record the reason on the row, then let the task machinery see it
        LLMJob.objects.filter(pk=job.pk).update(status=LLMJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    job.status = LLMJob.Status.COMPLETED
    job.result_text = result.parsed.model_dump_json(indent=2) if hasattr(result.parsed, "model_dump_json") else result.text
    job.query_id = result.query_id
    job.error = ""
    job.save(update_fields=["status", "result_text", "query", "error", "updated_at"])
    live.Publisher(job_key(job.pk)).send("done")
    return job


def job_key(job_id: int) -> str:
    return f"job:{job_id}"


def streams_live(job: LLMJob) -> bool:
    """A job streams to its page when live streaming is on and its provider streams."""
    from .streaming import STREAMING_KINDS

    return live.enabled() and job.provider.kind in STREAMING_KINDS


def _streamed(job: LLMJob, arguments: dict):
    from .streaming import stream

    key = job_key(job.pk)
    live.clear(key)  # a retried task starts its page's stream afresh
    return live.relay(stream(**arguments), key)


def stop_job(job: LLMJob) -> bool:
    """Stop a job: a queued one is cancelled at once, a running one when its stream sees the flag."""
    if LLMJob.objects.filter(pk=job.pk, status=LLMJob.Status.QUEUED).update(
            status=LLMJob.Status.CANCELLED, error="Stopped before it started."):
        return True
    if job.status == LLMJob.Status.RUNNING:
        live.request_stop(job_key(job.pk))
        return True
    return False


def _template_schema(template_version: str):
    """The output schema of the file template a job's prompt came from, if it declares one."""
    from ..prompts import TemplateError, load_all

    template = load_all().get(template_version.split("+")[0]) if template_version else None
    if template is None:
        return None
    try:
        return template.schema_class()
    except TemplateError:
        return None


def resume_jobs_waiting_on(query: LLMQuery) -> int:
    ids = list(
        LLMJob.objects.filter(pending_query=query, status=LLMJob.Status.WAITING_MANUAL).values_list("pk", flat=True)
    )
    for job_id in ids:
        if LLMJob.objects.filter(pk=job_id, status=LLMJob.Status.WAITING_MANUAL).update(status=LLMJob.Status.QUEUED):
            enqueue_after_commit(RUN_TASK, job_id)
    return len(ids)
