"""Server-sent events for the playground's jobs (async views), and their Stop button."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from ..calls import live
from ..calls.jobs import job_key, stop_job
from ..models import LLMJob

FINISHED = [LLMJob.Status.COMPLETED, LLMJob.Status.FAILED, LLMJob.Status.CANCELLED, LLMJob.Status.WAITING_MANUAL]


async def _unavailable():
    yield live.sse("end", {"status": "unavailable"})


async def job_live(request, pk: int):
    """The job's answer as it is written (the worker publishes it; see llm/calls/live.py)."""
    user = await request.auser()
    job = await LLMJob.objects.for_user(user).filter(pk=pk).afirst()
    if job is None:
        raise Http404("No such job.")
    if not live.enabled():
        return live.sse_response(_unavailable())

    async def finished() -> bool:
        return await LLMJob.objects.filter(pk=pk, status__in=FINISHED).aexists()

    return live.sse_response(live.subscribe(job_key(pk), is_finished=finished))


@require_POST
def job_stop(request, pk: int):
    from .views import get_job_for_user

    job = get_job_for_user(request, pk)
    stopped = stop_job(job)
    if request.htmx:
        job.refresh_from_db()
        return render(request, "llm/_job_status.html", {"job": job, "live": False})
    if stopped:
        messages.info(request, gettext("Stopping the job."))
    return redirect("llm:job", pk=pk)
