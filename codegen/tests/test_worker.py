"""A real Celery worker killed in the middle of a run: the next worker resumes at the unfinished step."""

import signal
import time

import pytest

from codegen import pipeline
from codegen.models import CodegenRun
from codegen.tasks import run_codegen
from codegen.tests.demo import DemoModel, step_of, total_demo_files
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(celery_workers):
    """Each worker on a queue of its own (named after it), so two can warm up side by side."""

    def start(name: str):
        own_queue = f"{celery_workers.prefix}own-{name}"
        proc = celery_workers.start(name, queues=[own_queue],
                                    env={"CODEGEN_STEP_STALE_SECONDS": "1", "CODEGEN_HELD_RETRY_SECONDS": "1"})
        return proc, own_queue

    return start


def _wait(predicate, proc, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, "the worker died"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_s_run_resumes_at_the_first_unfinished_step(providers, owner, fake, start_worker):
    slow = DemoModel()

    def answer(req):
        reply = slow(req)
        if step_of(req) == "3.2":
            return Reply(text=reply.text, json=reply.json, delay=60)  # the worker dies while waiting for this
        return reply

    fake.set_default(answer)
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="openai",
                              model="gpt-4o-mini")
    first, first_queue = start_worker("a")
    second, second_queue = start_worker("b")  # warms up meanwhile; gets work only after the kill
    run_codegen.apply_async(args=[run.pk], queue=first_queue)
    _wait(lambda: run.steps.get(key="3.2").status == "running" and "3.2" in slow.seen, first, "step 3.2 to start")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert list(run.steps.filter(status="completed").values_list("key", flat=True)) == ["1", "2", "3.1"]

    resumed = DemoModel()
    fake.set_default(resumed)
    time.sleep(1.2)  # the dead worker's claim goes stale
    run_codegen.apply_async(args=[run.pk], queue=second_queue)  # what the broker's redelivery does
    _wait(lambda: CodegenRun.objects.get(pk=run.pk).is_finished, second, "the run to finish")

    run.refresh_from_db()
    assert run.status == "completed", run.log
    assert resumed.seen == ["3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "5"]  # nothing before 3.2 again
    for key in ("1", "2", "3.1"):
        assert LLMQuery.objects.filter(run_id=run.run_id, interaction_type=f"step_{key}").count() == 1
    assert run.files.count() == total_demo_files()
