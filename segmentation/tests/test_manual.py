"""With the copy/paste provider a run waits for each pasted answer and continues by itself."""

import json

import pytest

from llm.calls import submit_answer
from llm.models import LLMQuery, ManualInteraction
from segmentation import pipeline
from segmentation.models import RefinedProductSegment, SegmentationRun

from .fakes import answer

pytestmark = pytest.mark.django_db


def test_a_manual_run_pauses_for_each_paste_and_completes(owner, catalog, providers, celery_eager,
                                                          django_capture_on_commit_callbacks):
    run = pipeline.start_run(owner=owner, product_ids=catalog[:8], category="Dimmer Switches", provider="manual")
    run = pipeline.run_inline(run.pk, workers=1)
    pastes = 0
    while run.status == "waiting_manual":
        pending = ManualInteraction.objects.filter(query__run_id=run.pk, query__status="pending_manual").select_related("query")
        assert pending.count() == 1
        mi = pending.get()
        reply = answer(mi.schema_name, mi.json_schema, mi.prompt_text)
        with django_capture_on_commit_callbacks(execute=True):
            assert submit_answer(mi.query_id, json.dumps(reply), "ChatGPT", owner).ok
        pastes += 1
        run = SegmentationRun.objects.get(pk=run.pk)
        assert pastes < 10
    assert run.status == "completed", run.error
    assert pastes == 3  # extract, consolidate, refine
    assert RefinedProductSegment.objects.filter(run=run).count() == 8
    assert LLMQuery.objects.filter(run_id=run.pk).count() == 3
