"""In Chromium: write a note, preview the cost, generate with the app's model, do a copy/paste round trip."""

import json
import re

import pytest
from playwright.sync_api import expect

from artifacts.models import NoteArtifact
from conftest import login
from llm.testing.fake_provider import Reply

from .conftest import FLASHCARDS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_note_to_artifacts_in_chromium(page, providers, fake, owner, celery_eager):
    login(page, "owner", "owner-pass-123")
    page.goto("/notes/new/")
    page.get_by_label("Page URL").fill("https://docs.python.org/3/library/asyncio-task.html")
    page.get_by_label("Page title").fill("Coroutines and Tasks")
    page.get_by_label("Highlighted text").fill("Save a reference to the result of this function.")
    page.get_by_label("Note", exact=True).fill("Fire-and-forget create_task() is a bug.")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("heading", name="Coroutines and Tasks")).to_be_visible()
    # The note page came from a form post and its redirect: the heading can be on screen before the
    # deferred scripts ran, and a click then submits the preview form natively (the no-JavaScript
    # path, to the preview page: seen in a fresh-clone CI run). Wait until htmx has the page.
    page.wait_for_load_state("load")

    # 1. Preview the cost, then generate through the app's model (the fake Gemini).
    page.get_by_label("Artifact type").select_option("summary")
    page.get_by_role("button", name="Preview prompt and cost").click()
    expect(page.locator("#preview-cost")).to_contain_text(re.compile(r"\$0\.000\d+ \(at most \$0\.000\d+\)"))
    expect(page.locator("#preview-truncation")).to_contain_text("Nothing was cut")
    assert fake.requests == []
    fake.script(Reply(text="**Keep** a reference to every task. <script>window.pwned = 1</script>"), route="gemini")
    page.get_by_role("button", name="Generate", exact=True).click()
    summary = page.locator(".artifact-card").filter(has_text="Summary")
    expect(summary.locator(".markdown strong")).to_have_text("Keep")
    expect(summary.locator(".status")).to_have_text("Completed")
    assert page.evaluate("window.pwned") is None
    # The card's last swap settles before the form is used again (a click during it once submitted
    # the preview form natively, leaving the page on /preview/).
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")

    # 2. Copy/paste: the prompt waits for an answer pasted from any chat LLM.
    page.get_by_label("Artifact type").select_option("flashcards")
    page.get_by_label("Copy/paste into any chat LLM").check()
    page.get_by_role("button", name="Preview prompt and cost").click()
    expect(page.locator("#preview-cost")).to_contain_text("you run the prompt in your own chat LLM")
    page.get_by_role("button", name="Create the prompt to copy").click()
    card = page.locator(".artifact-card").filter(has_text="Flashcards")
    expect(card.locator(".status")).to_have_text("Waiting for a pasted answer")
    card.get_by_role("button", name="Copy the prompt and paste the answer").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_label("Prompt to copy")).to_have_value(re.compile("Save a reference to the result"))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    dialog.get_by_role("button", name="Copy prompt").click()
    expect(dialog.locator("[id^=copy-status]")).to_contain_text(re.compile("Copied|Selected"))

    dialog.get_by_label("The model's answer").fill('{"cards": "oops"}')
    dialog.get_by_role("button", name="Submit answer").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("alert")).to_contain_text("not accepted")
    expect(dialog.get_by_label("The model's answer")).to_have_value('{"cards": "oops"}')

    dialog.get_by_label("The model's answer").fill(json.dumps(FLASHCARDS))
    dialog.get_by_label("Which model answered?").fill("Claude in the browser")
    dialog.get_by_role("button", name="Submit answer").click()
    card = page.locator(".artifact-card").filter(has_text="Flashcards")
    expect(card.locator(".status")).to_have_text("Completed")
    first = card.locator("details.flashcard").first
    expect(first.locator("summary")).to_have_text("What keeps a task alive?")
    expect(first.get_by_text("A strong reference")).to_be_hidden()
    first.locator("summary").click()
    expect(first.get_by_text("A strong reference")).to_be_visible()

    artifacts = {a.artifact_type: a for a in NoteArtifact.objects.all()}
    assert artifacts["summary"].provider == "gemini" and artifacts["summary"].status == "completed"
    assert artifacts["flashcards"].model == "Claude in the browser" and artifacts["flashcards"].cost_usd == 0
