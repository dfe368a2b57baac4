"""A database error while logging an interaction never loses the provider's answer: the
interaction file (prompt, raw answer, usage) is written before the log row is finalised, and with
the background writer the refused update stays in the journal and is applied once the database
takes it again."""

import json
from pathlib import Path

import pytest
from django.db import DatabaseError, connection

from llm.models import LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in a worker

ANSWER = "The capital of Peru is Lima (answer 7f3a)."


@pytest.fixture
def failing_final_update():
    """A trigger that fails the UPDATE which finalises the row of a call with purpose tests.dbfail."""
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE OR REPLACE FUNCTION fault_llmquery_update() RETURNS trigger AS $$
            BEGIN
              IF NEW.purpose = 'tests.dbfail' AND NEW.status <> 'started' THEN
                RAISE EXCEPTION 'injected fault: the log database refused the update';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER fault_llmquery_update BEFORE UPDATE ON llm_llmquery
              FOR EACH ROW EXECUTE FUNCTION fault_llmquery_update();
        """)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS fault_llmquery_update ON llm_llmquery; "
                       "DROP FUNCTION IF EXISTS fault_llmquery_update();")


def _interaction_files(settings) -> list[dict]:
    root = Path(settings.STORAGES["llm_logs"]["OPTIONS"]["location"])
    return [json.loads(p.read_text()) for p in root.rglob("*.json")]


def test_the_answer_is_in_its_interaction_file_when_the_row_update_fails(providers, fake, settings, failing_final_update):
    settings.LLM_INTERACTION_WRITES = "inline"  # the update on the answer path: its error reaches the caller
    settings.LLM_CACHE_ENABLED = False
    fake.set_default(Reply(text=ANSWER, usage={"input_tokens": 11, "output_tokens": 9}))
    with pytest.raises(DatabaseError, match="injected fault"):
        complete(purpose="tests.dbfail", prompt="Capital of Peru?", provider="openai", model="gpt-4o-mini")
    assert len(fake.requests_for("openai")) == 1  # the provider answered (and was paid)
    [doc] = [d for d in _interaction_files(settings) if d["metadata"]["purpose"] == "tests.dbfail"]
    assert doc["response"] == ANSWER and doc["usage"]["output_tokens"] == 9
    assert doc["metadata"]["status"] == "ok" and doc["metadata"]["query_id"]
    row = LLMQuery.objects.get(pk=doc["metadata"]["query_id"])  # the row written before the call exists
    assert row.status == "started"


def test_other_calls_are_logged_normally_meanwhile(providers, fake, settings, failing_final_update):
    fake.set_default(Reply(text="fine"))
    result = complete(purpose="tests.fine", prompt="Hi", provider="openai", model="gpt-4o-mini")
    assert LLMQuery.objects.get(pk=result.query_id).status == "ok"


def test_with_the_background_writer_a_refused_update_is_kept_and_applied_later_without_holding_up_others(
        providers, fake, settings, failing_final_update, monkeypatch):
    from conftest import wait_until
    from llm.records import interaction_writer

    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_CACHE_ENABLED = False
    monkeypatch.setattr(interaction_writer, "RETRY_EVERY", 0.2)
    fake.set_default(Reply(text=ANSWER, usage={"input_tokens": 11, "output_tokens": 9}))
    refused = complete(purpose="tests.dbfail", prompt="Capital of Peru?", provider="openai", model="gpt-4o-mini")
    fine = complete(purpose="tests.fine", prompt="Hi", provider="openai", model="gpt-4o-mini")
    assert refused.text == ANSWER  # the caller has its answer; the update waits in the journal
    # The other call's update is applied (the refused one does not hold the batch up) ...
    assert LLMQuery.objects.get(pk=fine.query_id).status == "ok"
    assert LLMQuery.objects.get(pk=refused.query_id).status == "started"
    assert interaction_writer._writer.failed_rows
    journal = interaction_writer._writer.journal
    assert refused.query_id in [r["pk"] for r in interaction_writer.read_records(journal)[1]]
    # ... and once the database takes it again, the retry finalises the row.
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS fault_llmquery_update ON llm_llmquery")
    wait_until(lambda: not interaction_writer._writer.failed_rows and interaction_writer._writer.rows_in_flight == 0,
               what="the retried update", timeout=20)
    row = LLMQuery.objects.get(pk=refused.query_id)
    assert row.status == "ok" and row.output_tokens == 9 and interaction_writer.flush(timeout=10)
