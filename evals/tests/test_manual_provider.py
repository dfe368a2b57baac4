"""The copy/paste provider: cases wait for pastes, then run again with the pasted answers."""

import json
import re

import pytest

from evals import runner
from evals.models import CaseResult, Dataset
from llm.calls import submit_answer
from llm.models import LLMQuery, ManualInteraction

pytestmark = pytest.mark.django_db(transaction=True)


def test_cases_wait_for_pastes_and_finish_after_them(providers, identify_dataset, owner, celery_eager):
    small = Dataset.objects.create(name="products.identify_category", version=2)
    for case in identify_dataset.cases.all()[:3]:
        case.pk, case.dataset = None, small
        case.save()
    experiment = runner.create_experiment(suite="products.identify_category", owner=owner,
                                          variants=[runner.parse_variant("3:manual:", _suite())])
    experiment = runner.work(experiment.pk, concurrency=1)
    assert experiment.status == "waiting"
    waiting = CaseResult.objects.filter(variant__experiment=experiment, status="waiting")
    assert waiting.count() == 3 and all(r.pending_query_id for r in waiting)

    for result in waiting.select_related("case"):
        prompt = ManualInteraction.objects.get(query_id=result.pending_query_id).prompt_text
        wanted = result.case.expected["subcategory"]
        sub_id = int(re.search(rf"subcategory (\d+): {re.escape(wanted)}", prompt)[1])
        cat_id = int([m for m in re.finditer(r"- category (\d+):", prompt) if m.start() < prompt.index(f"subcategory {sub_id}:")][-1][1])
        pasted = submit_answer(result.pending_query_id, json.dumps(
            {"category_id": cat_id, "subcategory_id": sub_id, "confidence": 0.8, "reason": "pasted"}), "gpt-4o", owner)
        assert pasted.ok, pasted.message
    # Each paste re-enqueued the experiment (inline here): the cases ran again with the pastes.
    experiment.refresh_from_db()
    assert experiment.status == "done"
    results = CaseResult.objects.filter(variant__experiment=experiment)
    assert list(results.values_list("status", "score")) == [("done", 1.0)] * 3
    assert LLMQuery.objects.filter(run_id=experiment.run_id, status="pending_manual").count() == 0


def _suite():
    from evals import registry

    return registry.get("products.identify_category")
