"""The JSON API of seed 004 section 9, run through Celery tasks executed inline."""

import pytest

from segmentation.models import RefinedProductSegment, SegmentationRun

pytestmark = pytest.mark.django_db


def post(client, path, data=None):
    return client.post(path, data or {}, content_type="application/json")


def test_start_status_and_results(owner_client, catalog, smart_fake, celery_eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, "/api/segmentation/start", {
            "product_ids": catalog[:50], "category": "Dimmer Switches", "model": "gpt-4o-mini", "temperature": 0.2,
            "provider": "openai"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "started" and body["total_products"] == 50
    assert body["run_id"].startswith("RUN_")
    status = owner_client.get(f"/api/segmentation/{body['run_id']}/status").json()
    assert status["status"] == "completed" and status["progress_percent"] == 100.0
    assert status["processed_products"] == 50 and status["estimated_completion"]
    results = owner_client.get(f"/api/segmentation/{body['run_id']}/results").json()
    assert len(results["segments"]) == 50
    assert {s["product_id"] for s in results["segments"]} == set(catalog[:50])
    assert sum(t["product_count"] for t in results["taxonomies"]) == 50
    taxon_ids = {t["id"] for t in results["taxonomies"]}
    assert all(s["taxonomy_id"] in taxon_ids and s["confidence"] == 0.9 for s in results["segments"])


@pytest.mark.parametrize("payload, message", [
    ({"product_ids": [], "category": "X"}, "product_ids is empty"),
    ({"product_ids": [999999991, 999999992], "category": "X"}, "Unknown product ids: 999999991, 999999992"),
    ({"product_ids": ["a"], "category": "X"}, "integer"),
    ({"product_ids": [1], "category": ""}, "category is empty"),
    ({"product_ids": [1], "category": "X", "provider": "nope"}, "Unknown provider"),
])
def test_bad_input_is_a_400_naming_the_problem(owner_client, catalog, providers, payload, message):
    payload = {**payload, "product_ids": [catalog[0] if pk == 1 else pk for pk in payload["product_ids"]]}
    response = post(owner_client, "/api/segmentation/start", payload)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not SegmentationRun.objects.exists()


def test_a_list_over_the_maximum_is_a_400(owner_client, catalog, providers, settings):
    settings.SEGMENTATION_MAX_PRODUCTS = 20
    response = post(owner_client, "/api/segmentation/start", {"product_ids": catalog[:21], "category": "X"})
    assert response.status_code == 400 and "over the maximum of 20" in response.json()["detail"]


def test_another_users_run_is_a_404(client, outsider, owner, catalog, providers):
    from segmentation import pipeline

    run = pipeline.start_run(owner=owner, product_ids=catalog[:5], category="X", provider="openai", model="gpt-4o-mini")
    client.force_login(outsider)
    for path in ("status", "results"):
        assert client.get(f"/api/segmentation/{run.pk}/{path}").status_code == 404
    assert post(client, f"/api/segmentation/{run.pk}/cancel").status_code == 404
    assert client.get(f"/segmentation/runs/{run.pk}/").status_code == 404
    assert client.get(f"/segmentation/runs/{run.pk}/export.csv").status_code == 404


def test_cancel_and_resume_through_the_api(owner_client, owner, catalog, smart_fake, celery_eager,
                                           django_capture_on_commit_callbacks):
    from segmentation import pipeline

    run = pipeline.start_run(owner=owner, product_ids=catalog[:30], category="X", provider="openai", model="gpt-4o-mini")
    response = post(owner_client, f"/api/segmentation/{run.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert post(owner_client, f"/api/segmentation/{run.pk}/cancel").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, f"/api/segmentation/{run.pk}/resume")
    assert response.status_code == 200
    run.refresh_from_db()
    assert run.status == "completed"
    assert RefinedProductSegment.objects.filter(run=run).count() == 30
    assert post(owner_client, f"/api/segmentation/{run.pk}/resume").status_code == 409


def test_a_redelivered_task_after_a_worker_died_finishes_the_run_once(owner, catalog, smart_fake, celery_eager,
                                                                      django_capture_on_commit_callbacks):
    from llm.models import LLMQuery
    from segmentation import pipeline
    from segmentation.models import SegmentationBatch
    from segmentation.tasks import run_batch

    run = pipeline.start_run(owner=owner, product_ids=catalog[:60], category="X", provider="openai", model="gpt-4o-mini")
    batches = list(SegmentationBatch.objects.filter(run=run, stage="extract").order_by("index"))
    # The worker holding batch 2 (task id "t-2") was killed mid-call; the broker redelivers "t-2".
    SegmentationBatch.objects.filter(pk=batches[1].pk).update(status="running", claimed_by="t-2")
    with django_capture_on_commit_callbacks(execute=True):
        run_batch.apply(args=[batches[0].pk], task_id="t-1")
        assert run_batch.apply(args=[batches[1].pk], task_id="t-other").get() == "skipped"
        run_batch.apply(args=[batches[1].pk], task_id="t-2")
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert RefinedProductSegment.objects.filter(run=run).count() == 60
    assert LLMQuery.objects.filter(run_id=run.pk, interaction_type="segmentation").count() == 2


def test_status_reports_progress_and_an_estimate_mid_run(owner_client, owner, catalog, smart_fake):
    from segmentation import pipeline
    from segmentation.models import SegmentationBatch

    run = pipeline.start_run(owner=owner, product_ids=catalog[:80], category="X", provider="openai", model="gpt-4o-mini")
    first = SegmentationBatch.objects.filter(run=run, stage="extract").order_by("index").first()
    assert pipeline.process_batch(first.pk, "w") == "done"
    status = owner_client.get(f"/api/segmentation/{run.pk}/status").json()
    assert status["status"] == "running" and status["stage"] == "extract"
    assert status["progress_percent"] == 22.5  # half of the extract stage, weighted 45%
    assert status["estimated_completion"] is not None
    extract = next(s for s in status["stages"] if s["key"] == "extract")
    assert (extract["done"], extract["total"]) == (1, 2)
