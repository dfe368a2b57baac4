"""kill -9 a worker after a provider call was paid for but before its result was stored: a new
worker finishes the run, stores nothing twice, and takes the paid answer from the cache (an
LLMQuery cache_hit row) instead of asking the provider again."""

import signal
import threading
import time

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import Count

from conftest import wait_until
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _paid_twice(rows) -> list:
    """Cache keys answered by the provider more than once (an answer paid for twice)."""
    return list(rows.filter(status="ok").values("cache_key").annotate(n=Count("id")).filter(n__gt=1))


def _dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


def test_segmentation_killed_mid_batch_resumes_from_the_cache(owner, fake, providers, celery_workers, settings):
    from segmentation import pipeline
    from segmentation.models import ProductSegment, RefinedProductSegment, SegmentationRun
    from segmentation.tasks import enqueue
    from segmentation.tests.fakes import answer, make_products, request_parts

    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 20
    ids = make_products(40)
    hold = threading.Event()
    hold.set()

    def partial_then_held(req):
        name, schema, prompt = request_parts(req)
        data = answer(name, schema, prompt)
        if name != "ExtractTaxonomyAnswer":
            return Reply(json=data)
        if len(req.body["messages"]) == 1:  # the first round leaves half of the products out
            data["assignments"] = data["assignments"][: len(data["assignments"]) // 2]
            return Reply(json=data)
        return Reply(json=data, delay=60 if hold.is_set() else 0)  # the re-ask: the worker dies waiting

    fake.set_default(partial_then_held)
    first = celery_workers.start("first")
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))
    wait_until(lambda: any(len(r.body["messages"]) > 1 for r in fake.requests_for("openai")), [first],
               "the first batch's re-ask")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    hold.clear()
    asked_before = len(fake.requests_for("openai"))
    assert asked_before == 2

    second = celery_workers.start("second")
    run.refresh_from_db()
    with transaction.atomic():
        enqueue(pipeline.resume_run(run))
    wait_until(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), [second],
               "the resumed run to finish", timeout=60)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert RefinedProductSegment.objects.filter(run=run).count() == 40
    assert ProductSegment.objects.filter(run=run).count() == 40
    rows = LLMQuery.objects.filter(run_id=run.pk)
    first_round = rows.filter(interaction_type="segmentation", batch=1).order_by("pk")
    assert [r.status for r in first_round] == ["ok", "started", "cache_hit", "ok"]  # started: the killed call
    assert not _paid_twice(rows)
    assert rows.exclude(status="cache_hit").count() == len(fake.requests_for("openai"))


def test_codegen_killed_before_storing_a_step_takes_the_answer_from_the_cache(owner, fake, providers, celery_workers):
    from codegen import pipeline
    from codegen.models import CodegenRun, GeneratedFile
    from codegen.tasks import run_codegen
    from codegen.tests.demo import DemoModel, step_of, total_demo_files

    model = DemoModel()

    def answer(req):
        reply = model(req)
        reply.delay = 1.0 if step_of(req) == "3.2" else 0.0  # time to lock the files table meanwhile
        return reply

    fake.set_default(answer)
    env = {"CODEGEN_STEP_STALE_SECONDS": "1", "CODEGEN_HELD_RETRY_SECONDS": "1"}
    first = celery_workers.start("a", queues=[f"{celery_workers.prefix}own-a"], env=env)
    second = celery_workers.start("b", queues=[f"{celery_workers.prefix}own-b"], env=env)  # warms up meanwhile
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="openai",
                              model="gpt-4o-mini")
    step_32 = LLMQuery.objects.filter(run_id=run.run_id, interaction_type="step_3.2", status="ok")
    # Step 3.2's answer arrives and is logged, but its files cannot be written: the table is locked.
    with psycopg.connect(_dsn(), autocommit=False) as locker:
        run_codegen.apply_async(args=[run.pk], queue=f"{celery_workers.prefix}own-a")
        wait_until(lambda: "3.2" in model.seen, [first], "step 3.2's request", timeout=60)
        locker.execute(f"LOCK TABLE {GeneratedFile._meta.db_table} IN EXCLUSIVE MODE")
        wait_until(lambda: step_32.exists(), [first], "step 3.2's answer to be logged", timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        locker.rollback()
    seen_before = list(model.seen)
    assert run.steps.get(key="3.2").status == "running"  # left behind by the dead worker

    time.sleep(1.2)  # the dead worker's claim goes stale
    run_codegen.apply_async(args=[run.pk], queue=f"{celery_workers.prefix}own-b")
    wait_until(lambda: CodegenRun.objects.get(pk=run.pk).is_finished, [second], "the run to finish", timeout=60)
    run.refresh_from_db()
    assert run.status == "completed", run.log
    assert "3.2" not in model.seen[len(seen_before):]  # not asked again: its answer came from the cache
    rows = LLMQuery.objects.filter(run_id=run.run_id)
    assert list(rows.filter(interaction_type="step_3.2").values_list("status", flat=True).order_by("pk")) == [
        "ok", "cache_hit"]
    assert not _paid_twice(rows)
    assert rows.exclude(status="cache_hit").count() == len(fake.requests_for("openai"))
    assert run.files.count() == total_demo_files()
    assert GeneratedFile.objects.filter(run=run).values("path").annotate(n=Count("id")).filter(n__gt=1).count() == 0
