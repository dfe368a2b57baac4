"""A real Celery worker killed in the middle of a run: the next worker resumes at the unfinished step."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from codegen import pipeline
from codegen.models import CodegenRun
from codegen.tasks import run_codegen
from codegen.tests.demo import DemoModel, step_of, total_demo_files
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_worker(settings, tmp_path):
    """Start ``celery worker`` processes on a queue of their own, sharing the test database and storage."""
    from config.celery import app

    queue = f"test-codegen-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    db = connection.settings_dict
    procs = []

    def start(name: str):
        """A worker on a queue of its own (named after it), so two can warm up side by side."""
        own_queue = f"{queue}-{name}"
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": os.environ["REDIS_URL"],
            "CELERY_DEFAULT_QUEUE": own_queue,
            "STORAGE_ROOT": settings.STORAGES["llm_logs"]["OPTIONS"]["location"],
            "LLM_RETRY_INITIAL_DELAY": "0.01",
            "OPENAI_API_KEY": "sk-worker-test",
            "CODEGEN_STEP_STALE_SECONDS": "1",
            "CODEGEN_HELD_RETRY_SECONDS": "1",
        }
        log = open(tmp_path / f"worker-{name}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", own_queue, "-P", "solo", "--loglevel=INFO",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{own_queue}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        procs.append((proc, log))
        return proc, own_queue

    yield start
    for proc, log in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    app.conf.task_default_queue = previous


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
