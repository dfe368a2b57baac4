"""A real Celery worker process on the real Redis broker runs prompt jobs and resumes after a paste."""

import time

import pytest

from llm.calls import create_job
from llm.calls import submit_answer
from llm.models import LLMJob, LLMQuery

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(celery_workers, fake):
    return celery_workers.start("llm")


def _wait_for(job_id: int, status: str, proc, timeout: float = 40.0) -> LLMJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = LLMJob.objects.get(pk=job_id)
        if job.status == status:
            return job
        assert proc.poll() is None, "the worker died"
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stayed {LLMJob.objects.get(pk=job_id).status}, expected {status}")


def test_a_worker_runs_a_manual_job_that_resumes_after_the_paste(providers, owner, worker):
    job = create_job(user=owner, provider=providers["manual"], prompt="What colour is the sky?")
    job = _wait_for(job.pk, "waiting_manual", worker)
    assert submit_answer(job.pending_query_id, "Blue, mostly.", "ChatGPT", owner).ok
    job = _wait_for(job.pk, "completed", worker)
    assert job.result_text == "Blue, mostly."
    assert LLMQuery.objects.count() == 1  # the resumed job reused the pasted answer, nothing new was called


def test_a_worker_calls_a_real_sdk_and_logs_the_row_and_file(providers, owner, worker, fake):
    job = create_job(user=owner, provider=providers["openai"], model_name="gpt-4o-mini", prompt="Hello from the worker")
    job = _wait_for(job.pk, "completed", worker)
    row = LLMQuery.objects.get(pk=job.query_id)
    assert row.status == "ok" and row.cost_usd is not None and row.file_sha256
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-worker-test"
