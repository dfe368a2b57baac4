"""Every kill -9 test of the suite: a real Celery worker on the real Redis broker is killed with
SIGKILL in the middle of a run, and the run finishes on a new worker, each piece of work once.

- mid-batch / mid-step: the new worker resumes where the dead one stopped (segmentation notices
  the stale heartbeat by itself; codegen resumes at the first unfinished step; an evals
  experiment's stranded cases are claimed again after their lease);
- after a provider call was paid for but before its result was stored: the new worker takes the
  paid answer from the cache (an LLMQuery cache_hit row) instead of asking the provider again.

Workers are started, killed and waited for through tests/faults/processes.py.
"""

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import Count

from evals.tests.conftest import demo_catalog, identify_dataset  # noqa: F401  (fixtures of the evals test)
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

from .processes import kill_9, start_worker, wait_until

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
    first = start_worker(celery_workers, "first")
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))
    wait_until(lambda: any(len(r.body["messages"]) > 1 for r in fake.requests_for("openai")), [first],
               "the first batch's re-ask")
    kill_9(first)
    hold.clear()
    asked_before = len(fake.requests_for("openai"))
    assert asked_before == 2

    second = start_worker(celery_workers, "second")
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
    first = start_worker(celery_workers, "a", own_queue=True, env=env)
    second = start_worker(celery_workers, "b", own_queue=True, env=env)  # warms up meanwhile
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="openai",
                              model="gpt-4o-mini")
    step_32 = LLMQuery.objects.filter(run_id=run.run_id, interaction_type="step_3.2", status="ok")
    # Step 3.2's answer arrives and is logged, but its files cannot be written: the table is locked.
    with psycopg.connect(_dsn(), autocommit=False) as locker:
        run_codegen.apply_async(args=[run.pk], queue=first.queue)
        wait_until(lambda: "3.2" in model.seen, [first], "step 3.2's request", timeout=60)
        locker.execute(f"LOCK TABLE {GeneratedFile._meta.db_table} IN EXCLUSIVE MODE")
        wait_until(lambda: step_32.exists(), [first], "step 3.2's answer to be logged", timeout=30)
        kill_9(first)
        locker.rollback()
    seen_before = list(model.seen)
    assert run.steps.get(key="3.2").status == "running"  # left behind by the dead worker

    time.sleep(1.2)  # the dead worker's claim goes stale
    run_codegen.apply_async(args=[run.pk], queue=second.queue)
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


# --- Resumed where the dead worker stopped (formerly segmentation/tests/test_worker.py,
# codegen/tests/test_worker.py and evals/tests/test_worker_resume.py) ---------------------------

def test_a_killed_segmentation_worker_leaves_a_run_that_a_new_worker_resumes_by_itself_and_finishes_once(
        owner, fake, providers, celery_workers, settings):
    from segmentation import pipeline
    from segmentation.models import ProductSegment, RefinedProductSegment, SegmentationBatch, SegmentationRun
    from segmentation.tasks import enqueue
    from segmentation.tests.fakes import answer, make_products, request_parts

    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 10
    stale = {"SEGMENTATION_HEARTBEAT_STALE_SECONDS": "2"}  # beats every 0.5 s; a silent batch is stale after 2 s
    ids = make_products(60)

    def slow(req):  # an extract batch lasts ~1 s: heartbeats (every 0.5 s) happen while it runs
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt), delay=1.0 if name == "ExtractTaxonomyAnswer" else 0.2)

    fake.set_default(slow)
    first = start_worker(celery_workers, "first", env=stale)
    with transaction.atomic():
        run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                                 model="gpt-4o-mini")
        enqueue(pipeline.pending_batches(run.pk))
    extract = SegmentationBatch.objects.filter(run=run, stage="extract")

    def beating_mid_batch():
        # Two batches done, and the running one has had a heartbeat since its claim (so it is mid-call).
        return extract.filter(status="done").count() >= 2 and any(
            beat and beat > started + timedelta(seconds=0.3)
            for started, beat in extract.filter(status="running").values_list("started_at", "heartbeat_at"))

    wait_until(beating_mid_batch, [first], "two extract batches done and a heartbeat from the running one")
    kill_9(first)
    killed_at = time.monotonic()
    done_before = set(extract.filter(status="done").values_list("index", flat=True))
    assert SegmentationRun.objects.get(pk=run.pk).status == "running"
    assert extract.filter(status="running").count() == 1  # left behind by the dead worker

    # No resume call: the new worker notices the dead worker's batch (its heartbeat went stale) by itself.
    second = start_worker(celery_workers, "second", env=stale)
    wait_until(lambda: SegmentationRun.objects.get(pk=run.pk).status in ("completed", "failed"), [second],
               "the run to finish", timeout=90)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert run.auto_resumes == 1
    assert time.monotonic() - killed_at < 60  # not the 10-minute task time limit of before
    assert RefinedProductSegment.objects.filter(run=run).count() == 60
    assert ProductSegment.objects.filter(run=run).count() == 60
    assert sorted(RefinedProductSegment.objects.filter(run=run).values_list("product_id", flat=True)) == sorted(ids)
    for index in done_before:  # finished batches were not asked again
        assert LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation", batch=index).count() == 1
    assert not SegmentationBatch.objects.filter(run=run).exclude(status="done").exists()


def test_a_killed_codegen_worker_s_run_resumes_at_the_first_unfinished_step(providers, owner, fake, celery_workers):
    from codegen import pipeline
    from codegen.models import CodegenRun
    from codegen.tasks import run_codegen
    from codegen.tests.demo import DemoModel, step_of, total_demo_files

    slow = DemoModel()

    def answer(req):
        reply = slow(req)
        if step_of(req) == "3.2":
            return Reply(text=reply.text, json=reply.json, delay=60)  # the worker dies while waiting for this
        return reply

    fake.set_default(answer)
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="openai",
                              model="gpt-4o-mini")
    env = {"CODEGEN_STEP_STALE_SECONDS": "1", "CODEGEN_HELD_RETRY_SECONDS": "1"}
    first = start_worker(celery_workers, "a", own_queue=True, env=env)
    second = start_worker(celery_workers, "b", own_queue=True, env=env)  # warms up meanwhile; gets work only after the kill
    run_codegen.apply_async(args=[run.pk], queue=first.queue)
    wait_until(lambda: run.steps.get(key="3.2").status == "running" and "3.2" in slow.seen, [first],
               "step 3.2 to start")
    kill_9(first)
    assert list(run.steps.filter(status="completed").values_list("key", flat=True)) == ["1", "2", "3.1"]

    resumed = DemoModel()
    fake.set_default(resumed)
    time.sleep(1.2)  # the dead worker's claim goes stale
    run_codegen.apply_async(args=[run.pk], queue=second.queue)  # what the broker's redelivery does
    wait_until(lambda: CodegenRun.objects.get(pk=run.pk).is_finished, [second], "the run to finish")

    run.refresh_from_db()
    assert run.status == "completed", run.log
    assert resumed.seen == ["3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "5"]  # nothing before 3.2 again
    for key in ("1", "2", "3.1"):
        assert LLMQuery.objects.filter(run_id=run.run_id, interaction_type=f"step_{key}").count() == 1
    assert run.files.count() == total_demo_files()


EVALS_WORKER_ENV = {"EVALS_CLAIM_LEASE": "2", "EVALS_CONCURRENCY": "2"}


def test_an_experiment_survives_a_killed_worker(providers, fake, identify_dataset, celery_workers):
    from evals import registry, runner, tasks
    from evals.models import CaseResult, Experiment
    from evals.testing import CatalogModel

    def done():
        return CaseResult.objects.filter(variant__experiment=experiment, status="done").count()

    fake.set_default(CatalogModel("correct", delay=0.15))
    suite = registry.get("products.identify_category")
    experiment = runner.create_experiment(suite="products.identify_category",
                                          variants=[runner.parse_variant("3:openai:gpt-4o-mini", suite)])
    first = start_worker(celery_workers, "w1", env=EVALS_WORKER_ENV)
    tasks.run_experiment.delay(experiment.pk)
    wait_until(lambda: done() >= 10, [first], "ten answers from the first worker")
    kill_9(first)
    stranded = CaseResult.objects.filter(variant__experiment=experiment, status="running").count()
    assert 0 < done() < 60 and stranded >= 1
    time.sleep(2.5)  # past the claim lease: the dead worker's claims may now be taken
    second = start_worker(celery_workers, "w2", env=EVALS_WORKER_ENV)  # resumes stale experiments when it is ready
    wait_until(lambda: Experiment.objects.get(pk=experiment.pk).status == "done", [second],
               "the second worker to finish the experiment", timeout=90)
    results = CaseResult.objects.filter(variant__experiment=experiment)
    assert results.count() == 60 and set(results.values_list("status", flat=True)) == {"done"}
    assert set(results.values_list("score", flat=True)) == {1.0}
    # The stranded cases were claimed again; the ones the first worker finished were not.
    assert results.filter(attempts__gte=2).count() == stranded
    # Each case was answered by one claim (a cache hit for a re-asked one at most).
    assert LLMQuery.objects.filter(run_id=experiment.run_id, status="ok").count() <= 60 + stranded
