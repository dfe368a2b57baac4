"""With the copy/paste provider a run pauses at each step and resumes when the answer is pasted."""

import json

import pytest

from codegen import pipeline
from codegen.models import CodegenRun
from codegen.receivers import resume_run_after_paste
from codegen.tests.demo import PLAN, FILES
from llm.calls import submit_answer
from llm.models import LLMQuery
from llm.signals import manual_answer_accepted

pytestmark = pytest.mark.django_db


def paste(owner, query_id, answer, capture):
    """Paste like a person would, then deliver the signal to our receiver (other apps' receivers are theirs)."""
    result = submit_answer(query_id, answer, "chat", owner)
    assert result.ok, result.error
    with capture(execute=True):
        resume_run_after_paste(sender=LLMQuery, query=result.query)


def test_the_receiver_is_connected():
    assert any(key[0] == "codegen.resume_runs" for key, *_ in manual_answer_accepted.receivers)


def test_a_paste_resumes_the_waiting_run(providers, owner, celery_eager, django_capture_on_commit_callbacks):
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="manual")
    run = pipeline.execute_run(run.pk)
    assert run.status == "waiting_manual"
    step1 = run.steps.get(key="1")
    assert step1.status == "waiting_manual" and step1.pending_query_id
    query = LLMQuery.objects.get(pk=step1.pending_query_id)
    assert query.run_id == run.run_id and query.interaction_type == "step_1"

    paste(owner, query.pk, json.dumps(PLAN), django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert run.status == "waiting_manual"
    assert run.steps.get(key="1").status == "completed"
    step2 = run.steps.get(key="2")
    assert step2.status == "waiting_manual"
    paste(owner, step2.pending_query_id, json.dumps({"files": FILES["2"]}), django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert run.steps.get(key="2").files.count() == len(FILES["2"])
    assert run.steps.get(key="3.1").status == "waiting_manual"
    # Step 1 was asked once: the resumed run did not send it again.
    assert LLMQuery.objects.filter(run_id=run.run_id, interaction_type="step_1").count() == 1
    assert CodegenRun.objects.get(pk=run.pk).status == "waiting_manual"
