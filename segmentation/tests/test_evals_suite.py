"""segmentation.labelled: the real pipeline on the labelled fixture, scored by ARI/NMI/coverage,
runnable with ``manage.py eval run`` against the fake provider."""

import io
import json

import pytest
from django.core.management import call_command

from evals.models import Score
from evals.promotion import seed_datasets
from llm.testing.fake_provider import Reply

from . import fakes

pytestmark = pytest.mark.django_db


def careless(req) -> Reply:
    """Puts every product in one segment (the labels have four)."""
    name, schema, prompt = fakes.request_parts(req)
    data = fakes.answer(name, schema, prompt)
    if name == "ExtractTaxonomyAnswer":
        data = {"segments": [{"name": "All dimmers", "definition": "Every dimmer."}],
                "assignments": [{**a, "segment": "All dimmers"} for a in data["assignments"]]}
    if name == "RefineAssignmentsAnswer":
        first = fakes._enum(schema, "segment_id")[0]
        data = {"assignments": [{**a, "segment_id": first} for a in data["assignments"]]}
    return Reply(json=data)


def _run(*args) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("eval", "run", "segmentation.labelled", "--json", "--variant", ":openai:gpt-4o-mini", "--concurrency", "1", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue().strip().splitlines()[-1])


def test_the_labelled_suite_scores_a_sensible_segmentation_above_a_careless_one(fake, providers):
    seed_datasets()
    fake.set_default(fakes.responder)
    code, good = _run("--fail-below", "0.5")
    assert code == 0 and good["cases"] == 4 and good["failed"] == 0
    assert good["score"] > 0.6  # the fake's refine moves every 7th product to the first segment
    scores = {s: list(Score.objects.filter(scorer=s).values_list("value", flat=True)) for s in ("nmi", "coverage", "ari")}
    assert all(v == 1.0 for v in scores["coverage"]) and all(v > 0.6 for v in scores["nmi"])
    fake.set_default(careless)
    code, bad = _run("--fail-below", "0.5", "--no-cache")  # the same requests: the cache would answer
    assert bad["score"] == 0.0 and code == 1  # one segment for all: no agreement beyond chance


def test_the_fixture_is_a_few_hundred_labelled_products_in_four_segments():
    from segmentation.evals import labelled_cases

    cases = labelled_cases()
    labels = [label for c in cases for label in c["expected"].values()]
    assert len(labels) == 240 and len(set(labels)) == 4
    assert len({p["key"] for c in cases for p in c["input"]["products"]}) == 240
