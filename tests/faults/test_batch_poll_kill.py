"""kill -9 a Celery worker while it polls a provider batch: its claim runs out, the next poll
takes the batch over, and every answer is delivered once, from the one batch that was paid for."""

import signal

import pytest

from conftest import wait_until
from llm import batch as llm_batch
from llm.batch.models import LLMBatch
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class Recorder:
    def __init__(self):
        self.answers = {}

    def on_answer(self, owner, key, completion):
        assert key not in self.answers, f"{key} delivered twice"
        self.answers[key] = completion

    def on_error(self, owner, key, error):
        raise AssertionError(f"{key} failed: {error}")

    def on_finished(self, owner):
        pass


def test_a_worker_killed_mid_poll_loses_nothing(owner, fake, providers, celery_workers, settings):
    from llm.tasks import poll_batches

    recorder = Recorder()
    llm_batch.register_handler("tests.kill", recorder)
    fake.set_default(Reply(text="answer"))
    requests = [llm_batch.Request(key=f"k{i}", purpose="tests.kill", prompt=f"item {i}") for i in range(5)]
    [batch] = llm_batch.submit(owner="tests.Kill:1", handler="tests.kill", requests=requests, provider="openai",
                               model="gpt-4o-mini", user=owner)
    fake.set_batch_faults(retrieve_delay=60)  # the worker's status poll hangs
    worker = celery_workers.start("poller", env={"LLM_BATCH_LEASE_SECONDS": "1"})
    poll_batches.delay()
    wait_until(lambda: fake.batch_store.retrieves_waiting > 0, [worker], "the worker's status poll")
    assert LLMBatch.objects.get(pk=batch.pk).claimed_until is not None  # the dead worker's claim
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    fake.set_batch_faults()
    settings.LLM_BATCH_LEASE_SECONDS = 1
    # Nothing is taken over while the claim lasts; then the next poll finishes the batch.
    wait_until(lambda: llm_batch.poll_due() >= 0 and len(recorder.answers) == 5, timeout=30, what="the takeover")
    batch.refresh_from_db()
    assert batch.state == LLMBatch.State.DELIVERED
    assert len([b for b in fake.batch_store.batches.values() if b.provider == "openai"]) == 1  # paid for once
    rows = LLMQuery.objects.filter(purpose="tests.kill")
    assert rows.count() == 5 and set(rows.values_list("delivery", flat=True)) == {"batch"}
    assert len(set(rows.values_list("batch_custom_id", flat=True))) == 5
