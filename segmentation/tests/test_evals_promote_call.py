"""A segmentation call promoted from the call's page into segmentation.labelled: an extract or
refine call becomes its batch of catalog products (the reviewer's labels as the expected value),
which the suite's run segments again; a consolidation call has no products and is refused."""

import json

import pytest
from django.urls import reverse

from evals import runner
from evals.models import Case, CaseResult
from evals.promotion import PromotionError, promote_call
from llm.models import LLMQuery
from products.models import Product
from segmentation import pipeline
from segmentation.models import SegmentationBatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(owner, catalog, smart_fake):
    run = pipeline.start_run(owner=owner, product_ids=catalog[:30], category="Dimmer Switches", provider="openai",
                             model="gpt-4o-mini")
    return pipeline.run_inline(run.pk, workers=1)


def test_a_refine_call_promoted_from_its_page_is_its_batch_of_products_and_the_suite_runs_it(owner_client, owner, finished):
    q = LLMQuery.objects.filter(run_id=finished.pk, purpose="segmentation.refine_assignments").order_by("pk").first()
    batch = SegmentationBatch.objects.get(run=finished, stage="refine", index=q.batch)
    page = owner_client.get(reverse("llm:call", args=[q.pk])).content.decode()
    assert 'name="dataset" value="segmentation.labelled"' in page
    labels = {str(pid): "Smart dimmers" for pid in batch.product_ids}
    owner_client.post(reverse("evals:promote-query", args=[q.pk]),
                      {"dataset": "segmentation.labelled", "expected": json.dumps(labels)})
    case = Case.objects.get()
    products = {str(p.pk): p for p in Product.objects.filter(pk__in=batch.product_ids)}
    assert case.input["category"] == "Dimmer Switches" and case.expected == labels
    assert [p["key"] for p in case.input["products"]] == sorted(products, key=int)
    assert all(p["title"] == products[p["key"]].title for p in case.input["products"])
    products_before = Product.objects.count()
    experiment = runner.create_experiment(suite="segmentation.labelled", dataset=case.dataset, use_cache=False, variants=[
        {"template": "", "template_version": None, "provider": "openai", "model": "gpt-4o-mini", "params": {}}])
    runner.work(experiment.pk, concurrency=1)
    result = CaseResult.objects.get(variant__experiment=experiment)
    assert result.status == "done", result.error
    assert set(result.answer) == set(labels) and result.score is not None
    assert Product.objects.count() == products_before  # the catalog's own products were segmented, none copied


def test_an_extract_call_is_its_batch_and_a_consolidation_call_is_refused(owner, finished):
    extract = LLMQuery.objects.filter(run_id=finished.pk, purpose="segmentation.segmentation").order_by("pk").first()
    case = promote_call(extract, user=owner)
    batch = SegmentationBatch.objects.get(run=finished, stage="extract", index=extract.batch)
    assert sorted(int(p["key"]) for p in case.input["products"]) == sorted(batch.product_ids)
    consolidate = LLMQuery.objects.filter(run_id=finished.pk, purpose="segmentation.consolidate_taxonomy").first()
    with pytest.raises(PromotionError, match="consolidate_taxonomy call cannot be a case of segmentation.labelled"):
        promote_call(consolidate, user=owner, dataset="segmentation.labelled")
