"""The pipeline's bulk statements (segmentation/pipeline/storage.py and the claim), each on its own:
what it writes, and that a lost claim writes nothing."""

import pytest

from products.models import Product
from segmentation.models import ProductSegment, ProductTaxonomy, RefinedProductSegment, RunProduct, SegmentationBatch, Stage
from segmentation.pipeline import claim, storage


@pytest.fixture
def run(owner):
    from segmentation.models import SegmentationRun

    return SegmentationRun.objects.create(id="RUN_STORAGE", owner=owner, category_name="Dimmers", stage=Stage.REFINE)


def test_run_products_and_existing_ids(run, catalog):
    storage.insert_run_products(run.pk, catalog[:30])
    assert sorted(RunProduct.objects.filter(run=run).values_list("product_id", flat=True)) == catalog[:30]
    assert sorted(storage.existing_product_ids(catalog[:5] + [10**9])) == catalog[:5]


def test_line_byte_bounds_are_never_below_the_prompt_lines(catalog):
    Product.objects.filter(pk=catalog[0]).update(title="Variateur à molette – « Ø 60 »  ", description="x " * 400)
    lines = list(storage.product_lines(catalog[:10]))
    bounds = list(storage.line_byte_bounds(catalog[:10]))
    assert len(bounds) == 10 and all(b >= len(line.encode("utf-8")) + 2 for b, line in zip(bounds, lines))


def test_product_rows_in_id_order_with_the_first_pass(run, catalog):
    taxon = ProductTaxonomy.objects.create(run=run, position=1, category_name="Rotary")
    ProductSegment.objects.create(run=run, product_id=catalog[1], taxonomy=taxon)
    rows = list(storage.product_rows(list(reversed(catalog[:3])), first_pass_of_run=run.pk))
    assert [r[0] for r in rows] == catalog[:3] and [r[4] for r in rows] == [None, taxon.pk, None]
    assert [r[0] for r in storage.product_rows(catalog[:3])] == catalog[:3]


def test_the_claim_returns_the_batch_with_its_run_once(run):
    run.stage = Stage.EXTRACT
    run.save()
    batch = SegmentationBatch.objects.create(run=run, stage=Stage.EXTRACT, index=1, product_ids=[1, 2])
    got = claim(batch.pk, "worker-a")
    assert got.claimed_by == "worker-a" and got.attempts == 1 and got.run.category_name == "Dimmers"
    assert got.product_ids == [1, 2] and got.run.model_config == {}
    assert claim(batch.pk, "worker-b") is None  # held by a
    assert claim(batch.pk, "worker-a").attempts == 2  # a redelivered task re-enters its own claim


def _refine_batch(run, catalog, claimed_by="t"):
    taxon = ProductTaxonomy.objects.create(run=run, position=1, category_name="Rotary")
    batch = SegmentationBatch.objects.create(run=run, stage=Stage.REFINE, index=1, product_ids=catalog[:4],
                                             status=SegmentationBatch.Status.RUNNING, claimed_by=claimed_by)
    batch.claimed_by, batch.result = "t", {"changed": 1}
    return batch, taxon


def test_finish_refine_writes_everything_once_and_a_redo_duplicates_nothing(run, catalog):
    batch, taxon = _refine_batch(run, catalog)
    pairs = [(pk, taxon.pk) for pk in catalog[:4]]
    first = [(pk, taxon.pk, 0.5) for pk in catalog[:4]]
    assert storage.finish_refine(batch, pairs, first)
    batch.refresh_from_db()
    run.refresh_from_db()
    assert batch.status == SegmentationBatch.Status.DONE and batch.result == {"changed": 1}
    assert run.processed_products == 4
    assert RefinedProductSegment.objects.filter(run=run).count() == 4 and ProductSegment.objects.filter(run=run).count() == 4
    SegmentationBatch.objects.filter(pk=batch.pk).update(status=SegmentationBatch.Status.RUNNING)
    other = ProductTaxonomy.objects.create(run=run, position=2, category_name="Slide")
    assert storage.finish_refine(batch, [(pk, other.pk) for pk in catalog[:4]], first)
    assert set(RefinedProductSegment.objects.filter(run=run).values_list("taxonomy_id", flat=True)) == {other.pk}
    assert ProductSegment.objects.filter(run=run).count() == 4


def test_finish_refine_after_a_lost_claim_writes_nothing(run, catalog):
    batch, taxon = _refine_batch(run, catalog, claimed_by="someone-else")
    try:
        done = storage.finish_refine(batch, [(pk, taxon.pk) for pk in catalog[:4]], [])
    except storage.RunStopped:
        done = False
    assert not done
    assert not RefinedProductSegment.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.processed_products == 0
