"""The wizard pages: each step, going back, ownership, the copy/paste provider."""

import pytest
from django.urls import reverse

from llm.models import LLMProvider
from products.models import GenerationSession, GenerationStepLog, Product

pytestmark = pytest.mark.django_db

TEXT = "Lumora Glide smart dimmer, 600 W, Wi-Fi, for LED and halogen bulbs. Model LG-600."


def step(session, n):
    return reverse("products:wizard-step", args=[session.pk, n])


@pytest.fixture
def started(owner_client, smart_fake, catalog_ready):
    dimmers = catalog_ready["dimmers"]
    smart_fake.choice = {"category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.9,
                         "reason": "A wall dimmer."}
    response = owner_client.post(reverse("products:wizard"), {"raw_input": TEXT, "provider": "openai", "model": "gpt-4o-mini"})
    session = GenerationSession.objects.get()
    assert response.status_code == 302 and response["Location"].startswith(step(session, 2))
    return session


def test_step_one_asks_for_the_product_information(owner_client, providers):
    page = owner_client.get(reverse("products:wizard")).content.decode()
    assert 'aria-current="step"' in page and "Product information" in page
    assert 'id="step-heading"' in page


def test_step_two_shows_the_suggestion_with_its_reason_and_debug_panel(owner_client, started):
    page = owner_client.get(step(started, 2)).content.decode()
    assert "The model suggests" in page and "Dimmer Switches" in page and "A wall dimmer." in page
    assert "<details" in page and "CategoryChoice" not in page  # the prompt, not the schema name
    log = GenerationStepLog.objects.get(session=started)
    assert log.step == "identify_category" and log.query_id
    assert f'/llm/calls/{log.query_id}/' in page
    assert log.input_tokens > 0 and "Lumora Glide" in log.prompt and '"subcategory_id"' in log.raw_answer


def test_the_whole_flow_saves_a_generated_product(owner_client, started):
    assert owner_client.post(step(started, 2), {"action": "accept"})["Location"].startswith(step(started, 3))
    page = owner_client.get(step(started, 3)).content.decode()
    assert "Filled by the model." in page and 'value="LG-600"' in page
    fields = {"attr_%d" % d.pk: v for d, v in _form_values(started).items()}
    response = owner_client.post(step(started, 3), {**fields, "action": "continue"})
    assert response["Location"].startswith(step(started, 4))
    page = owner_client.get(step(started, 4)).content.decode()
    assert "Lumora Glide 600 W Smart Dimmer Switch, Wi-Fi" in page
    response = owner_client.post(step(started, 4), {
        "title": "My own title", "description": "Edited.", "bullet_points": "One\nTwo", "search_keywords": "dimmer",
        "action": "save_product",
    })
    product = Product.objects.get(source="generated")
    assert response["Location"] == product.get_absolute_url()
    assert product.title == "My own title" and product.bullet_points == ["One", "Two"]
    assert product.attributes["Max load"] == 600 and product.attributes["Connectivity"] == "Wi-Fi"
    started.refresh_from_db()
    assert started.product == product


def _form_values(session):
    from products import catalog, pipeline

    session.refresh_from_db()
    rows = {r.name: r.value for r in pipeline.attribute_rows(session)}
    return {d: rows[d.name] for d in catalog.definitions(session.subcategory_id)}


def test_going_back_to_another_subcategory_keeps_the_text_and_drops_attributes_that_no_longer_apply(
    owner_client, started, catalog_ready, smart_fake
):
    owner_client.post(step(started, 2), {"action": "accept"})
    fields = {"attr_%d" % d.pk: v for d, v in _form_values(started).items()}
    owner_client.post(step(started, 3), {**fields, "attr_%d" % next(iter(_form_values(started))).pk: "700", "action": "continue"})
    owner_client.post(step(started, 4), {"title": "Edited title", "description": "d", "bullet_points": "", "search_keywords": "",
                                         "action": "keep"})
    started.refresh_from_db()
    assert started.attribute_edits == {"Max load": "700"}
    requests_before = len(smart_fake.seen)

    knives = catalog_ready["knives"]
    smart_fake.attributes = {"blade_length": 8, "style": "Gyuto"}
    response = owner_client.post(step(started, 2), {"action": "choose", "subcategory": knives.pk})
    assert response["Location"].startswith(step(started, 3))
    started.refresh_from_db()
    assert started.subcategory == knives and started.attribute_edits == {}  # "Max load" is no knife attribute
    assert smart_fake.seen[requests_before:] == ["ProductAttributes"]  # no new text was generated
    assert started.content["title"] == "Edited title"
    # Back to the dimmers: its mapping is still there, nothing is asked again.
    owner_client.post(step(started, 2), {"action": "choose", "subcategory": catalog_ready["dimmers"].pk})
    assert smart_fake.seen[requests_before:] == ["ProductAttributes"]
    page = owner_client.get(step(started, 4)).content.decode()
    assert 'value="Edited title"' in page


def test_an_invalid_value_is_flagged_on_step_three_and_never_saved(owner_client, started, smart_fake):
    smart_fake.attributes = {**smart_fake.attributes, "connectivity": "Bluetooth"}
    owner_client.post(step(started, 2), {"action": "accept"})
    page = owner_client.get(step(started, 3)).content.decode()
    assert 'data-invalid="true"' in page and "The model said “Bluetooth”" in page
    started.refresh_from_db()
    owner_client.post(step(started, 3), {"action": "continue", **{
        "attr_%d" % d.pk: v for d, v in _form_values(started).items() if d.name != "Connectivity"}})
    page = owner_client.get(step(started, 4)).content.decode()
    owner_client.post(step(started, 4), {"title": "T", "description": "", "bullet_points": "", "search_keywords": "",
                                         "action": "save_product"})
    product = Product.objects.get(source="generated")
    assert "Connectivity" not in product.attributes


def test_a_missing_required_attribute_blocks_saving_with_a_message(owner_client, started, smart_fake):
    smart_fake.attributes = {**smart_fake.attributes, "max_load": None}
    owner_client.post(step(started, 2), {"action": "accept"})
    owner_client.post(step(started, 3), {"action": "continue"})
    response = owner_client.post(step(started, 4), {"title": "T", "description": "", "bullet_points": "",
                                                    "search_keywords": "", "action": "save_product"})
    assert response.status_code == 200
    assert "The product was not saved" in response.content.decode() and "Max load: is required" in response.content.decode()
    assert not Product.objects.filter(source="generated").exists()


def test_later_steps_cannot_be_skipped_to(owner_client, started):
    response = owner_client.get(step(started, 4))
    assert response.status_code == 302 and response["Location"].startswith(step(started, 2))


def test_outsiders_get_404_on_others_sessions(client, outsider, started):
    client.force_login(outsider)
    for n in (1, 2, 3, 4):
        assert client.get(step(started, n)).status_code == 404
        assert client.post(step(started, n), {"action": "accept"}).status_code == 404
    assert client.get(reverse("products:wizard-session", args=[started.pk])).status_code == 404
    started.refresh_from_db()
    assert started.subcategory_id is None


def test_the_copy_paste_provider_waits_for_the_pasted_answer(owner_client, providers, catalog_ready):
    manual = LLMProvider.objects.get(kind=LLMProvider.Kind.MANUAL)
    owner_client.post(reverse("products:wizard"), {"raw_input": TEXT, "provider": manual.name})
    session = GenerationSession.objects.get()
    assert session.status_of("identify_category") == "waiting_manual" and session.pending_query_id
    page = owner_client.get(step(session, 2)).content.decode()
    assert "Waiting for a pasted answer" in page
    assert f'href="/llm/manual/{session.pending_query_id}/"' in page

    from llm.calls import submit_answer

    dimmers = catalog_ready["dimmers"]
    import json

    result = submit_answer(session.pending_query_id, json.dumps({
        "category_id": dimmers.category_id, "subcategory_id": dimmers.pk, "confidence": 0.8, "reason": "Pasted."}),
        model_name="chat", user=session.owner)
    assert result.ok, result.error
    owner_client.post(step(session, 2), {"action": "retry"})
    session.refresh_from_db()
    assert session.suggested_subcategory == dimmers and session.suggestion_reason == "Pasted."
    assert list(session.step_logs.values_list("status", flat=True)) == ["ok"]


def test_changing_the_text_in_step_one_asks_again_and_keeps_the_later_edits(owner_client, started, smart_fake):
    owner_client.post(step(started, 2), {"action": "accept"})
    owner_client.post(step(started, 3), {"action": "continue"})
    owner_client.post(step(started, 4), {"title": "Kept title", "description": "", "bullet_points": "", "search_keywords": "",
                                         "action": "keep"})
    smart_fake.seen.clear()
    page = owner_client.get(step(started, 1)).content.decode()
    assert "Lumora Glide smart dimmer" in page
    # The same text again: nothing is asked.
    owner_client.post(step(started, 1), {"raw_input": TEXT, "provider": "openai", "model": "gpt-4o-mini"})
    assert smart_fake.seen == []
    owner_client.post(step(started, 1), {"raw_input": TEXT + " White.", "provider": "openai", "model": "gpt-4o-mini"})
    assert smart_fake.seen == ["CategoryChoice"]
    started.refresh_from_db()
    assert started.subcategory is not None and started.content["title"] == "Kept title"
    assert started.mapped_attributes == {}  # the model's values were for the old text: asked again on step 3
    owner_client.post(step(started, 2), {"action": "accept"})
    assert smart_fake.seen == ["CategoryChoice", "ProductAttributes"]


def test_text_over_the_limit_is_a_form_error(owner_client, providers, settings):
    settings.PRODUCTS_MAX_INPUT_CHARS = 10
    response = owner_client.post(reverse("products:wizard"), {"raw_input": "x" * 11})
    assert response.status_code == 200 and "the limit is 10" in response.content.decode()
    assert not GenerationSession.objects.exists()


def test_write_it_again_asks_the_model_afresh_instead_of_the_answer_cache(owner_client, started, smart_fake):
    owner_client.post(step(started, 2), {"action": "accept"})
    owner_client.post(step(started, 3), {"action": "continue"})
    smart_fake.content = {**smart_fake.content, "title": "A second take"}
    owner_client.post(step(started, 4), {"action": "regenerate"})
    started.refresh_from_db()
    assert started.generated_content["title"] == "A second take"
    assert smart_fake.seen.count("ProductContent") == 2
