"""The playground: templates, variables, estimate before sending, a background job, the answer with its figures."""

import re

import pytest
from playwright.sync_api import expect

from conftest import login
from llm.models import LLMJob, UserPromptTemplate


@pytest.mark.django_db
def test_the_estimate_partial_shows_tokens_and_cost_range(client, providers, owner):
    client.force_login(owner)
    response = client.post("/llm/prompt/estimate/", {
        "template": "spell_recommendations_v0", "provider": providers["openai"].pk, "model_name": "gpt-4o",
        "var_character_class": "wizard", "var_level": "5", "var_party_role": "control", "var_known_spells": "shield",
        "max_tokens": "1000",
    })
    body = response.content.decode()
    assert "Input tokens" in body and "up to 1000" in body and "$" in body


@pytest.mark.django_db
def test_a_free_prompt_with_variables_can_be_saved_as_my_template(client, providers, owner, celery_eager,
                                                                 django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/llm/prompt/", {
            "template": "", "provider": providers["openai"].pk, "model_name": "gpt-4o-mini",
            "prompt": "Translate {{ word }} into French", "var_word": "cheese", "save_as": "translate",
        })
    assert response.status_code == 302
    job = LLMJob.objects.get()
    assert job.prompt == "Translate cheese into French" and job.status == "completed"
    assert UserPromptTemplate.objects.get(owner=owner).name == "translate"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_playground_in_chromium(page, providers, owner, celery_eager):
    login(page, "owner", "owner-pass-123")
    page.goto("/llm/prompt/")
    page.get_by_label("Template", exact=True).select_option("character_background_v0")
    expect(page.get_by_label("Character name")).to_be_visible()  # variables loaded by htmx
    page.get_by_label("Provider").select_option(label="OpenAI")
    page.get_by_label("Model").fill("gpt-4o-mini")
    for label, value in [("Character name", "Mira"), ("Race", "elf"), ("Character class", "ranger"),
                         ("Alignment", "neutral good"), ("Setting", "the Shattered Coast")]:
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Estimate tokens and cost").click()
    expect(page.locator("#estimate-figures")).to_contain_text("Input tokens")
    expect(page.locator("#estimate-figures")).to_contain_text(re.compile(r"\$0\.0\d+ – \$0\.0\d+"))
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#job-answer")).to_contain_text("Fake answer")
    expect(page.locator("#job-figures")).to_contain_text("gpt-4o-mini")
    expect(page.locator("#job-figures")).to_contain_text("ms")
    expect(page.locator("#job-figures a").first).to_contain_text("llm_logs/adhoc/")
    assert LLMJob.objects.get().template_version == "character_background_v0"


@pytest.mark.django_db
def test_a_refusal_in_the_playground_says_the_model_declined_and_why(client, providers, owner, celery_eager, fake,
                                                                     django_capture_on_commit_callbacks):
    from llm.testing.fake_provider import Reply

    fake.script(Reply(refusal="I can't help with that request."))
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/llm/prompt/", {"template": "", "provider": providers["openai"].pk,
                                                "model_name": "gpt-4o-mini", "prompt": "Something I should not ask"})
    job = LLMJob.objects.get()
    assert job.status == "failed" and job.error.startswith("The model declined: I can't help with that request.")
    page = client.get(response["Location"]).content.decode()
    assert "The model declined: I can&#x27;t help with that request." in page
    assert job.query.status == "refused"
