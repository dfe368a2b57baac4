"""The manual (copy/paste) provider: pending prompt, validated paste, resume."""

import json

import pytest
from pydantic import BaseModel

from llm.records import interactions
from llm.errors import ManualAnswerPending
from llm.calls import submit_answer
from llm.models import LLMJob, LLMQuery, ManualInteraction
from llm.calls import complete
from llm.signals import manual_answer_accepted

pytestmark = pytest.mark.django_db


class Flashcards(BaseModel):
    cards: list[str]


def _pending(prompt="Summarise photosynthesis", user=None, schema=None) -> int:
    with pytest.raises(ManualAnswerPending) as info:
        complete(purpose="tests.manual", prompt=prompt, provider="manual", schema=schema, user=user)
    return info.value.query_id


def test_a_manual_call_stores_the_whole_prompt_and_waits(providers, owner, fake):
    query_id = _pending(user=owner)
    row = LLMQuery.objects.get(pk=query_id)
    assert row.status == "pending_manual" and row.provider_name == "manual"
    assert row.manual.prompt_text == "Summarise photosynthesis"
    assert json.loads(interactions.read(row.file_path))["prompt"] == "Summarise photosynthesis"
    assert not fake.requests  # nothing left the machine


def test_asking_again_while_waiting_does_not_duplicate_the_prompt(providers, owner):
    first = _pending(user=owner)
    assert _pending(user=owner) == first
    assert LLMQuery.objects.count() == 1


def test_a_valid_paste_is_logged_priced_at_zero_and_resumes_the_caller(providers, owner):
    query_id = _pending(user=owner, schema=Flashcards)
    assert "JSON schema" in ManualInteraction.objects.get(query_id=query_id).prompt_text
    heard = []
    manual_answer_accepted.connect(lambda sender, query, **kw: heard.append(query.pk), weak=False, dispatch_uid="t1")
    try:
        result = submit_answer(query_id, '```json\n{"cards": ["What is chlorophyll?"]}\n```', "ChatGPT gpt-4o", owner)
    finally:
        manual_answer_accepted.disconnect(dispatch_uid="t1")
    assert result.ok
    row = LLMQuery.objects.get(pk=query_id)
    assert row.status == "ok" and row.cost_usd == 0 and row.model_name == "ChatGPT gpt-4o"
    assert row.input_tokens > 0 and row.output_tokens > 0
    assert interactions.verify(row.file_path, row.file_sha256)
    assert "What is chlorophyll?" in json.loads(interactions.read(row.file_path))["response"]
    # The same request now returns the pasted answer, parsed.
    again = complete(purpose="tests.manual", prompt="Summarise photosynthesis", provider="manual", schema=Flashcards, user=owner)
    assert again.parsed == Flashcards(cards=["What is chlorophyll?"]) and again.query_id == query_id


def test_an_invalid_paste_says_what_is_wrong_keeps_the_text_and_stays_pending(providers, owner):
    query_id = _pending(user=owner, schema=Flashcards)
    result = submit_answer(query_id, '{"cards": "not a list"}', "Claude", owner)
    assert not result.ok and "cards" in result.error
    item = ManualInteraction.objects.get(query_id=query_id)
    assert item.draft_answer == '{"cards": "not a list"}' and item.is_pending
    assert LLMQuery.objects.get(pk=query_id).status == "pending_manual"
    rejected = LLMQuery.objects.get(status="invalid_output")
    assert rejected.cache_key == LLMQuery.objects.get(pk=query_id).cache_key and rejected.file_path
    assert not submit_answer(query_id, "", "Claude", owner).ok


def test_a_second_paste_after_acceptance_is_refused(providers, owner):
    query_id = _pending(user=owner)
    assert submit_answer(query_id, "Plants turn light into sugar.", "", owner).ok
    second = submit_answer(query_id, "Other text", "", owner)
    assert not second.ok and "already answered" in second.error


def test_a_prompt_job_waits_for_the_paste_then_completes(providers, owner, django_capture_on_commit_callbacks, celery_eager):
    from llm.calls import create_job

    with django_capture_on_commit_callbacks(execute=True):
        job = create_job(user=owner, provider=providers["manual"], prompt="Name three primary colours.")
    job.refresh_from_db()
    assert job.status == "waiting_manual" and job.pending_query_id
    with django_capture_on_commit_callbacks(execute=True):
        assert submit_answer(job.pending_query_id, "Red, yellow and blue.", "gemini web", owner).ok
    job.refresh_from_db()
    assert job.status == "completed" and job.result_text == "Red, yellow and blue."
    assert job.query_id == job.pending_query_id

