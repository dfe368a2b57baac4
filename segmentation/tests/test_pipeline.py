"""The pipeline end to end against the fake provider (run in-process, one batch at a time)."""

import json

import pytest
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

from segmentation import pipeline
from segmentation.models import (
    LLMInteractionIndex,
    ProductSegment,
    ProductTaxonomy,
    RefinedProductSegment,
    SegmentationBatch,
    SegmentationRun,
)

from .fakes import answer, request_parts, responder

pytestmark = pytest.mark.django_db


def start(owner, ids, **kw):
    return pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider="openai",
                              model="gpt-4o-mini", **kw)


def assert_every_product_once(run, ids):
    assert sorted(RefinedProductSegment.objects.filter(run=run).values_list("product_id", flat=True)) == sorted(ids)
    assert sorted(ProductSegment.objects.filter(run=run).values_list("product_id", flat=True)) == sorted(ids)


def test_a_clean_run_segments_every_product_and_files_every_call(owner, catalog, smart_fake, settings):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 25
    run = start(owner, catalog)
    run = pipeline.run_inline(run.pk, workers=1)
    assert run.status == "completed", run.error
    assert run.stage == "done" and run.processed_products == 100
    assert_every_product_once(run, catalog)
    taxa = list(ProductTaxonomy.objects.filter(run=run))
    assert {t.category_name for t in taxa} == {f"{k} dimmer switches" for k in ("Smart", "Rotary", "Slide", "Plug-in")}
    assert sum(t.product_count for t in taxa) == 100
    # 4 extract batches + 1 consolidation + 3 refine batches (40 per refinement), no retries
    assert LLMQuery.objects.filter(run_id=run.pk).count() == 8
    assert run.result_summary["unassigned"] == 0 and run.result_summary["changed_in_refinement"] > 0
    index = list(LLMInteractionIndex.objects.filter(run=run).order_by("id"))
    assert len(index) == 8
    kinds = sorted({(i.interaction_type, i.batch_id) for i in index})
    assert ("consolidate_taxonomy", None) in kinds and ("segmentation", 4) in kinds and ("refine_assignments", 3) in kinds
    from llm.records import interactions
    for row in index:
        assert row.file_path.startswith(f"llm_logs/{run.pk}/{row.interaction_type}/")
        assert interactions.verify(row.file_path, row.sha256)
        assert row.prompt_file.endswith("_prompt.txt") and interactions.storage().exists(row.prompt_file)
    seg = next(i for i in index if i.interaction_type == "segmentation" and i.batch_id == 1)
    assert seg.file_path.split("/")[-1].split("_")[1:3] == ["b1", "a1"]
    doc = json.loads(interactions.read(seg.file_path))
    assert doc["metadata"]["run_id"] == run.pk and doc["context"]["category"] == "Dimmer Switches"


def test_a_rerun_sends_byte_identical_requests(owner, catalog, smart_fake):
    run1 = pipeline.run_inline(start(owner, catalog).pk, workers=1)
    keys1 = sorted(LLMQuery.objects.filter(run_id=run1.pk).values_list("cache_key", flat=True))
    run2 = pipeline.run_inline(start(owner, catalog).pk, workers=1)
    keys2 = sorted(LLMQuery.objects.filter(run_id=run2.pk).values_list("cache_key", flat=True))
    assert keys1 == keys2


def _missing_then_full(drop: int):
    """First extract answer leaves ``drop`` products out and adds an unknown and a duplicate id."""
    state = {"first": True}

    def reply(req):
        name, schema, prompt = request_parts(req)
        data = answer(name, schema, prompt)
        if name == "ExtractTaxonomyAnswer" and state["first"]:
            state["first"] = False
            kept = data["assignments"][drop:]
            data["assignments"] = kept + [{**kept[0], "confidence": 0.1}, {**kept[0], "product_id": "P_999"}]
        return Reply(json=data)

    return reply


def test_missing_ids_are_asked_again_and_unknown_and_duplicate_ids_are_ignored(owner, catalog, fake, providers):
    fake.set_default(_missing_then_full(3))
    run = pipeline.run_inline(start(owner, catalog[:30]).pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:30])
    extract = SegmentationBatch.objects.get(run=run, stage="extract", index=1)
    assert extract.result["retries"] == 1 and extract.result["unknown_ids"] == ["P_999"]
    assert extract.result["duplicates"] == 1
    # The duplicate with lower confidence did not win.
    assert ProductSegment.objects.filter(run=run, confidence=0.1).count() == 0
    retry = [r for r in fake.requests if "Answer again for only these product ids: P_1, P_2, P_3" in json.dumps(r.body)]
    assert len(retry) == 1
    assert run.result_summary["unknown_ids_ignored"] == 1 and run.result_summary["unassigned"] == 0


def test_products_never_answered_go_to_an_explicit_unassigned_segment(owner, catalog, fake, providers, settings):
    settings.SEGMENTATION_MAX_RETRIES = 1

    def reply(req):
        name, schema, prompt = request_parts(req)
        data = answer(name, schema, prompt)
        if name == "RefineAssignmentsAnswer":
            data["assignments"] = [a for a in data["assignments"] if a["product_id"] != "P_2"]
        return Reply(json=data)

    fake.set_default(reply)
    run = pipeline.run_inline(start(owner, catalog[:10]).pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:10])
    unassigned = ProductTaxonomy.objects.get(run=run, is_unassigned=True)
    assert unassigned.category_name == "Unassigned" and unassigned.product_count == 1
    assert RefinedProductSegment.objects.get(run=run, taxonomy=unassigned).product_id == catalog[1]
    assert run.result_summary["unassigned"] == 1


def test_malformed_json_is_re_asked_and_the_run_completes(owner, catalog, smart_fake):
    smart_fake.script(Reply(text="{'segments': [oops"), Reply(raw_body=None, text="not json at all"))
    run = pipeline.run_inline(start(owner, catalog[:20]).pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:20])
    assert LLMQuery.objects.filter(run_id=run.pk, status="invalid_output").count() >= 1


def test_a_truncated_answer_is_salvaged_and_the_rest_asked_again(owner, catalog, fake, providers):
    state = {"n": 0}

    def reply(req):
        name, schema, prompt = request_parts(req)
        state["n"] += 1
        return Reply(json=answer(name, schema, prompt), truncated=state["n"] == 1)

    fake.set_default(reply)
    run = pipeline.run_inline(start(owner, catalog[:30]).pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:30])
    assert LLMQuery.objects.filter(run_id=run.pk, status="truncated").count() == 1
    extract = SegmentationBatch.objects.get(run=run, stage="extract", index=1)
    assert extract.result["retries"] == 1 and not extract.result["unassigned"]


def test_it_rides_out_429_and_500_storms(owner, catalog, smart_fake):
    smart_fake.script(Reply(status=429, retry_after=0), Reply(status=500), Reply(status=503), Reply(status=429, retry_after=0))
    run = pipeline.run_inline(start(owner, catalog[:20]).pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:20])
    statuses = list(LLMQuery.objects.filter(run_id=run.pk).values_list("status", flat=True))
    assert statuses.count("rate_limited") == 2
    # Every attempt, failures included, is indexed.
    assert LLMInteractionIndex.objects.filter(run=run).count() == len(statuses)


def test_a_storm_that_outlasts_the_retries_fails_the_run_and_resume_finishes_it(owner, catalog, smart_fake, settings):
    settings.LLM_MAX_ATTEMPTS = 2
    smart_fake.script(Reply(status=500), Reply(status=500))
    run = pipeline.run_inline(start(owner, catalog[:20]).pk, workers=1)
    assert run.status == "failed" and "batch 1" in run.error
    assert pipeline.resume_run(run)
    run = pipeline.run_inline(run.pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:20])


def test_hierarchical_consolidation_when_there_are_many_batch_taxonomies(owner, catalog, smart_fake, settings):
    settings.SEGMENTATION_PRODUCTS_PER_PROMPT = 5
    settings.SEGMENTATION_TAXONOMIES_PER_CONSOLIDATION = 4
    settings.SEGMENTATION_CONCURRENCY = 1  # the level's calls would run in threads, outside the test transaction
    run = pipeline.run_inline(start(owner, catalog[:40]).pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:40])
    consolidations = LLMQuery.objects.filter(run_id=run.pk, interaction_type="consolidate_taxonomy")
    assert consolidations.count() == 3  # 8 batch taxonomies -> 2 groups of 4 -> 1 final
    assert ProductTaxonomy.objects.filter(run=run, is_unassigned=False).count() == 4
    assert not ProductTaxonomy.objects.filter(run=run, is_unassigned=True).exists()


def test_a_run_resumed_after_a_crash_finishes_without_duplicates_or_repeat_calls(owner, catalog, smart_fake):
    run = start(owner, catalog[:60])
    # A worker ran extract batch 1 and died in the middle of batch 2.
    b1, b2 = SegmentationBatch.objects.filter(run=run, stage="extract").order_by("index")[:2]
    assert pipeline.process_batch(b1.pk, "worker-a") == "done"
    SegmentationBatch.objects.filter(pk=b2.pk).update(status="running", claimed_by="dead-worker")
    calls_before = LLMQuery.objects.filter(run_id=run.pk).count()
    # Another task cannot take a batch claimed by someone else...
    assert pipeline.process_batch(b2.pk, "worker-b") == "skipped"
    # ...but the redelivered task (same id) may, and the resume action releases it for anyone.
    run.refresh_from_db()
    to_start = pipeline.resume_run(run)
    assert b1.pk not in to_start and b2.pk in to_start
    run = pipeline.run_inline(run.pk, workers=1)
    assert run.status == "completed", run.error
    assert_every_product_once(run, catalog[:60])
    extract_calls = LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation", batch=1).count()
    assert extract_calls == 1 and calls_before == 1


def test_cancel_stops_the_run_before_the_next_call(owner, catalog, smart_fake):
    run = start(owner, catalog[:60])
    first = SegmentationBatch.objects.filter(run=run, stage="extract").order_by("index").first()
    assert pipeline.process_batch(first.pk, "w") == "done"
    assert pipeline.cancel_run(run)
    calls = LLMQuery.objects.filter(run_id=run.pk).count()
    run = pipeline.run_inline(run.pk, workers=1)
    assert run.status == "cancelled"
    assert LLMQuery.objects.filter(run_id=run.pk).count() == calls
    assert not pipeline.cancel_run(run)


@pytest.mark.parametrize("ids, message", [([], "empty"), ([10**9], "Unknown product ids: 1000000000"), (["x"], "integer")])
def test_bad_input_is_refused_with_a_message_naming_the_problem(owner, catalog, providers, ids, message):
    with pytest.raises(pipeline.StartError, match=message):
        start(owner, ids)


def test_a_list_over_the_maximum_is_refused(owner, catalog, providers, settings):
    settings.SEGMENTATION_MAX_PRODUCTS = 10
    with pytest.raises(pipeline.StartError, match="over the maximum of 10"):
        start(owner, catalog[:11])
    assert not SegmentationRun.objects.exists()


def test_resume_stale_runs_resumes_a_dead_workers_batch_then_gives_up_after_the_maximum(owner, catalog, smart_fake, settings):
    from datetime import timedelta

    from django.utils import timezone

    from segmentation.tasks import resume_stale_runs

    settings.SEGMENTATION_HEARTBEAT_STALE_SECONDS = 1
    settings.SEGMENTATION_MAX_RESUMES = 1
    run = start(owner, catalog[:20])
    batch = SegmentationBatch.objects.filter(run=run, stage="extract").first()
    long_ago = timezone.now() - timedelta(minutes=5)

    def die():  # a worker claimed the batch and died: its heartbeat stopped 5 minutes ago
        SegmentationBatch.objects.filter(pk=batch.pk).update(status="running", claimed_by="dead", started_at=long_ago,
                                                             heartbeat_at=long_ago)

    die()
    assert resume_stale_runs.run() >= 1
    assert SegmentationBatch.objects.get(pk=batch.pk).status == "pending"
    run.refresh_from_db()
    assert run.auto_resumes == 1 and run.status == "running"
    # A live worker's batch (fresh heartbeat) is left alone, and the run is not counted again.
    SegmentationBatch.objects.filter(pk=batch.pk).update(status="running", claimed_by="alive", heartbeat_at=timezone.now())
    SegmentationRun.objects.filter(pk=run.pk).update(updated_at=timezone.now())
    assert resume_stale_runs.run() == 0
    assert SegmentationBatch.objects.get(pk=batch.pk).claimed_by == "alive"
    # Dead again, past SEGMENTATION_MAX_RESUMES: the run fails with the reason instead of running for ever.
    die()
    assert resume_stale_runs.run() == 0
    run.refresh_from_db()
    assert run.status == "failed" and "SEGMENTATION_MAX_RESUMES=1" in run.error, run.error
    assert run.auto_resumes == 1
    assert SegmentationBatch.objects.get(pk=batch.pk).status == "failed"
    assert resume_stale_runs.run() == 0  # idempotent: nothing left to do


def test_the_heartbeat_touches_only_batches_still_held_by_their_claim(owner, catalog, smart_fake):
    from segmentation import heartbeat

    run = start(owner, catalog[:20])
    batch = SegmentationBatch.objects.filter(run=run, stage="extract").first()
    assert pipeline.claim(batch.pk, "task-1") is not None
    SegmentationBatch.objects.filter(pk=batch.pk).update(heartbeat_at=None)
    with heartbeat.beating(batch.pk, "task-1"):
        assert heartbeat.beat_once() == 1
        assert SegmentationBatch.objects.get(pk=batch.pk).heartbeat_at is not None
        SegmentationBatch.objects.filter(pk=batch.pk).update(claimed_by="someone-else")
        assert heartbeat.beat_once() == 0
    assert heartbeat.beat_once() == 0
