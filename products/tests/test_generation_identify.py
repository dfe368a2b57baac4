"""Step 2: the model chooses among the existing subcategories only."""

import pytest

from llm.testing.fake_provider import Reply
from products import generation
from products.generation import GenerationError, LLMOptions
from products.models import GenerationSession, Product
from products.tests.fakes import schema_name

pytestmark = pytest.mark.django_db

OPTIONS = LLMOptions(provider="openai", model="gpt-4o-mini")
TEXT = "Lumora Glide smart dimmer, 600 W, Wi-Fi, works with LED bulbs"


def answer(sub, **overrides):
    return {"category_id": sub.category_id, "subcategory_id": sub.pk, "confidence": 0.92,
            "reason": "A wall dimmer for bulbs.", **overrides}


def test_it_returns_the_chosen_subcategory_with_confidence_and_reason(providers, fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    fake.script(Reply(json=answer(dimmers)))
    choice = generation.identify_category(TEXT, OPTIONS)
    assert (choice.subcategory_id, choice.category_id) == (dimmers.pk, dimmers.category_id)
    assert choice.confidence == 0.92 and choice.reason == "A wall dimmer for bulbs."
    assert choice.subcategory_name == "Dimmer Switches" and choice.category_name == "Lighting & Electrical"
    assert [c.status for c in choice.calls] == ["ok"] and choice.calls[0].query_id
    assert "subcategory " + str(dimmers.pk) + ": Dimmer Switches" in choice.calls[0].prompt


def test_the_schema_limits_ids_to_the_existing_subcategories(providers, fake, catalog_ready):
    fake.script(Reply(json=answer(catalog_ready["knives"])))
    generation.identify_category(TEXT, OPTIONS)
    request = fake.requests[-1]
    assert schema_name(request) == "CategoryChoice"
    schema = request.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["subcategory_id"]["enum"] == sorted(
        [catalog_ready["dimmers"].pk, catalog_ready["knives"].pk]
    )
    assert sorted(schema["properties"]["category_id"]["enum"]) == sorted(
        [catalog_ready["dimmers"].category_id, catalog_ready["knives"].category_id]
    )


def test_it_rejects_a_subcategory_that_does_not_exist_and_retries(providers, fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    fake.script(Reply(json=answer(dimmers, subcategory_id=999999)), Reply(json=answer(dimmers)))
    choice = generation.identify_category(TEXT, OPTIONS)
    assert choice.subcategory_id == dimmers.pk
    assert len(fake.requests) == 2
    retry_messages = fake.requests[1].body["messages"]
    assert "999999" in retry_messages[-1]["content"]  # the error is quoted back to the model
    assert [c.status for c in choice.calls] == ["rejected", "ok"]
    assert "999999" in choice.calls[0].raw_answer


def test_it_rejects_a_category_that_is_not_the_subcategorys_and_retries(providers, fake, catalog_ready):
    dimmers, knives = catalog_ready["dimmers"], catalog_ready["knives"]
    fake.script(Reply(json=answer(dimmers, category_id=knives.category_id)), Reply(json=answer(dimmers)))
    choice = generation.identify_category(TEXT, OPTIONS)
    assert choice.category_id == dimmers.category_id
    assert "is not the category of subcategory" in fake.requests[1].body["messages"][-1]["content"]
    assert [c.status for c in choice.calls] == ["rejected", "ok"]


def test_a_model_that_never_names_an_existing_subcategory_is_a_clear_failure(providers, fake, catalog_ready):
    fake.set_default(Reply(json=answer(catalog_ready["dimmers"], subcategory_id=424242)))
    with pytest.raises(GenerationError) as caught:
        generation.identify_category(TEXT, OPTIONS)
    assert "did not choose one of the existing subcategories" in str(caught.value)
    assert len(fake.requests) == 3  # the first answer and two re-asks
    assert caught.value.calls[-1].status == "failed"
    assert not Product.objects.exists() and not GenerationSession.objects.exists()


def test_an_empty_catalog_says_what_to_do(providers, fake):
    with pytest.raises(GenerationError, match="no subcategories yet"):
        generation.identify_category(TEXT, OPTIONS)
    assert fake.requests == []


@pytest.mark.django_db(transaction=True)
def test_with_the_background_writer_the_call_records_carry_the_final_rows(providers, fake, catalog_ready, settings):
    from llm.records import interaction_writer

    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_WRITER_BATCH_DELAY = 30  # a read of the query log cuts it short
    applied = interaction_writer._writer.rows_applied
    dimmers = catalog_ready["dimmers"]
    fake.script(Reply(json=answer(dimmers, subcategory_id=999999)), Reply(json=answer(dimmers)))
    choice = generation.identify_category(TEXT, OPTIONS)
    assert interaction_writer._writer.rows_applied - applied == 2
    assert [c.status for c in choice.calls] == ["rejected", "ok"]
    assert all(c.input_tokens > 0 and c.output_tokens > 0 and c.cost_usd > 0 for c in choice.calls)
    assert "999999" in choice.calls[0].raw_answer
