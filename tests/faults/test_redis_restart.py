"""Redis (broker and cache) restarts in the middle of a segmentation run. A Redis of this test's
own (never the machine's): the queued messages are lost with it, so the run either continues or
stops without losing work, and the resume action finishes it, once."""

import signal
import socket
import subprocess
import time
import shutil

import pytest
from django.db import transaction

from conftest import wait_until
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply


pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class OwnRedis:
    def __init__(self, tmp_path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp_path = tmp_path
        self.proc = None

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, [self.proc], "the test's own Redis to answer", timeout=10, every=0.05)

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    if redis.proc.poll() is None:
        redis.kill()


def _publish(app, redis_url, task, batch_ids):
    """Publish to the test's Redis (the test process's own broker setting points at the machine's)."""
    with app.connection_for_write(redis_url) as conn:
        for pk in batch_ids:
            task.apply_async((pk,), connection=conn)


def test_a_redis_restart_mid_run_loses_no_work_and_the_run_resumes(owner, fake, providers, celery_workers, own_redis,
                                                                    settings):
    from config.celery import app
    from segmentation import pipeline
    from segmentation.models import ProductSegment, RefinedProductSegment, SegmentationBatch, SegmentationRun
    from segmentation.tasks import run_batch
    from segmentation.tests.fakes import answer, make_products, request_parts

    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 10
    ids = make_products(60)

    def slow(req):
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt), delay=0.15)

    fake.set_default(slow)
    worker = celery_workers.start("w", env={"CELERY_BROKER_URL": own_redis.url, "REDIS_URL": own_redis.url,
                                            "LLM_REQUEST_TIMEOUT": "5"})
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
    _publish(app, own_redis.url, run_batch, pipeline.pending_batches(run.pk))
    extract = SegmentationBatch.objects.filter(run=run, stage="extract")
    wait_until(lambda: extract.filter(status="done").count() >= 2, [worker], "two extract batches done", timeout=60)

    own_redis.kill()  # queued and unacknowledged messages go with it (no persistence)
    time.sleep(1.0)
    own_redis.start()

    # The worker reconnects; what was queued is gone, so the run may stall: never half-done rows.
    def settled():
        run_row = SegmentationRun.objects.get(pk=run.pk)
        return run_row.status in ("completed", "failed") or not SegmentationBatch.objects.filter(
            run=run, status="running").exists()

    wait_until(settled, [worker], "the worker to settle after the restart", timeout=30)
    time.sleep(1.0)
    run.refresh_from_db()
    resumed = False
    if run.status != "completed":
        assert run.status in ("running", "failed"), run.status
        if run.status == "failed":
            assert run.error.strip()
        resumed = True
        _publish(app, own_redis.url, run_batch, pipeline.resume_run(run))
    wait_until(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), [worker],
               "the run to finish", timeout=60)
    run.refresh_from_db()
    assert run.status == "completed", (resumed, run.error)
    assert RefinedProductSegment.objects.filter(run=run).count() == 60
    assert ProductSegment.objects.filter(run=run).count() == 60
    for batch in extract:  # each extract batch was asked once: nothing redone, nothing paid twice
        assert LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation", batch=batch.index).exclude(
            status="cache_hit").count() == 1
    assert worker.poll() is None, "the worker died with its broker"
    print(f"redis restart: {'stalled, resumed' if resumed else 'continued'}")
