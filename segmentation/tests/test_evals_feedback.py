"""Wrong-segment marks (human scores of the refine call) and a run promoted to segmentation.labelled."""

import pytest

from evals.models import Case, Score
from llm.models import LLMQuery
from segmentation import feedback, pipeline
from segmentation.models import ProductTaxonomy, RefinedProductSegment

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(owner, catalog, smart_fake):
    run = pipeline.start_run(owner=owner, product_ids=catalog[:30], category="Dimmer Switches", provider="openai",
                             model="gpt-4o-mini")
    return pipeline.run_inline(run.pk, workers=1)


def test_a_wrong_segment_mark_is_a_human_score_of_the_refine_call_and_shows_on_review(owner_client, owner, finished):
    row = RefinedProductSegment.objects.filter(run=finished).select_related("taxonomy").first()
    other = ProductTaxonomy.objects.filter(run=finished).exclude(pk=row.taxonomy_id).first()
    page = owner_client.get(f"/segmentation/runs/{finished.pk}/results/").content.decode()
    assert f"/segmentation/runs/{finished.pk}/review/" in page
    response = owner_client.post(f"/segmentation/runs/{finished.pk}/review/mark/",
                                 {"product": row.product_id, "correct": other.position, "segment": row.taxonomy.position})
    assert response.status_code == 302
    score = Score.objects.get(scorer=feedback.SCORER)
    query = LLMQuery.objects.get(pk=score.query_id)
    assert query.run_id == finished.pk and query.interaction_type == "refine_assignments"
    assert score.value == 0.0 and score.source == "human" and score.user == owner
    assert score.details == {"assigned": row.taxonomy.category_name, "correct": other.category_name}
    review = owner_client.get(f"/segmentation/runs/{finished.pk}/review/?segment={row.taxonomy.position}").content.decode()
    assert "wrong segment" in review and other.category_name in review
    owner_client.post(f"/segmentation/runs/{finished.pk}/review/mark/", {"product": row.product_id, "verdict": "right"})
    assert Score.objects.get(scorer=feedback.SCORER).value == 1.0  # one verdict per person and product


def test_promoting_a_run_applies_the_corrections(owner_client, owner, finished):
    rows = list(RefinedProductSegment.objects.filter(run=finished).select_related("taxonomy").order_by("product_id"))
    fixed, dropped = rows[0], rows[1]
    other = ProductTaxonomy.objects.filter(run=finished).exclude(pk=fixed.taxonomy_id).first()
    feedback.mark(finished, fixed.product_id, owner, wrong=True, correct_position=other.position)
    feedback.mark(finished, dropped.product_id, owner, wrong=True)
    assert owner_client.post(f"/segmentation/runs/{finished.pk}/promote/").status_code == 302
    case = Case.objects.get()
    assert case.dataset.name == "segmentation.labelled" and case.source == f"segmentation.Run:{finished.pk}"
    assert case.expected[str(fixed.product_id)] == other.category_name
    assert str(dropped.product_id) not in case.expected
    assert case.expected[str(rows[2].product_id)] == rows[2].taxonomy.category_name
    assert len(case.input["products"]) == len(rows) - 1 and case.input["category"] == "Dimmer Switches"


def test_a_mark_naming_the_current_segment_is_refused(owner, finished):
    row = RefinedProductSegment.objects.filter(run=finished).select_related("taxonomy").first()
    with pytest.raises(feedback.PromotionError, match="already"):
        feedback.mark(finished, row.product_id, owner, wrong=True, correct_position=row.taxonomy.position)
    assert not Score.objects.exists()


def test_others_runs_are_404_for_review_marks_and_promotion(client, outsider, finished):
    client.force_login(outsider)
    row = RefinedProductSegment.objects.filter(run=finished).first()
    assert client.get(f"/segmentation/runs/{finished.pk}/review/").status_code == 404
    assert client.post(f"/segmentation/runs/{finished.pk}/review/mark/", {"product": row.product_id}).status_code == 404
    assert client.post(f"/segmentation/runs/{finished.pk}/promote/").status_code == 404
    assert not Score.objects.exists() and not Case.objects.exists()
