import csv
import io

import pytest

from segmentation import pipeline
from segmentation.models import SegmentationRun

pytestmark = pytest.mark.django_db


def test_the_start_page_lists_the_catalog_with_filters(owner_client, catalog):
    response = owner_client.get("/segmentation/new/?q=Rotary")
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 25
    assert b"Rotary dimmer model 1" in response.content and b"Slide dimmer" not in response.content


def test_select_all_starts_a_run_over_the_filtered_set(owner_client, catalog, smart_fake, celery_eager,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/segmentation/new/", {
            "filters": "q=Rotary", "select_all": "1", "category": "Dimmer Switches", "provider": "openai",
            "model": "gpt-4o-mini", "temperature": "0.2"})
    run = SegmentationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/segmentation/runs/{run.pk}/"
    assert run.total_products == 25 and run.status == "completed"
    page = owner_client.get(f"/segmentation/runs/{run.pk}/")
    assert b"Completed" in page.content and b"See results" in page.content
    results = owner_client.get(f"/segmentation/runs/{run.pk}/results/")
    assert b"Rotary dimmer switches" in results.content
    assert f"/llm/calls/".encode() in results.content
    export = owner_client.get(f"/segmentation/runs/{run.pk}/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert len(rows) == 25 and rows[0]["refined_segment"]


def test_ticked_products_start_a_run_and_errors_are_shown(owner_client, catalog, providers):
    response = owner_client.post("/segmentation/new/", {"filters": "", "category": "Dimmer Switches"})
    assert response.status_code == 400 and b"product_ids is empty" in response.content
    response = owner_client.post("/segmentation/new/", {"filters": "", "category": "D", "provider": "openai",
                                                        "model": "gpt-4o-mini", "product_ids": [catalog[0], catalog[3]]})
    assert response.status_code == 302
    assert SegmentationRun.objects.get().total_products == 2


def test_the_progress_fragment_polls_while_running_and_cancel_stops(owner_client, owner, catalog, providers):
    run = pipeline.start_run(owner=owner, product_ids=catalog[:50], category="X", provider="openai", model="gpt-4o-mini")
    fragment = owner_client.get(f"/segmentation/runs/{run.pk}/progress/")
    assert b'hx-trigger="every 2s"' in fragment.content and b"0 of 2" in fragment.content
    owner_client.post(f"/segmentation/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.status == "cancelled"
    fragment = owner_client.get(f"/segmentation/runs/{run.pk}/progress/")
    assert b"hx-trigger" not in fragment.content and b"Resume run" in fragment.content


def test_the_csv_export_neutralises_formulas(owner_client, owner, catalog, smart_fake):
    from products.models import Product

    Product.objects.filter(pk=catalog[0]).update(title="=HYPERLINK(\"http://evil\")")
    run = pipeline.run_inline(pipeline.start_run(owner=owner, product_ids=catalog[:3], category="X", provider="openai",
                                                 model="gpt-4o-mini").pk, workers=1)
    body = b"".join(owner_client.get(f"/segmentation/runs/{run.pk}/export.csv").streaming_content).decode()
    assert "'=HYPERLINK" in body


def test_the_index_lists_only_my_runs(client, owner, outsider, catalog, providers):
    mine = pipeline.start_run(owner=owner, product_ids=catalog[:3], category="Mine", provider="openai", model="gpt-4o-mini")
    theirs = pipeline.start_run(owner=outsider, product_ids=catalog[:3], category="Theirs", provider="openai", model="gpt-4o-mini")
    client.force_login(owner)
    body = client.get("/segmentation/").content
    assert mine.pk.encode() in body and theirs.pk.encode() not in body
