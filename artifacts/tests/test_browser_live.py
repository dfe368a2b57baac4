"""In Chromium over the ASGI server: a summary streams into its card (first-token latency is
measured and printed), Stop leaves a cancelled row and no content, and the in-browser mode runs
a stub LanguageModel (injected by the test) and posts its answer back; without it, the fallback."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from artifacts.models import NoteArtifact
from conftest import login
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = " ".join(f"word{i}" for i in range(60))


def _open_note(page, note):
    login(page, "owner", "owner-pass-123")
    page.goto(f"/notes/{note.pk}/")


def _generate(page, mode_label=None, button="Generate"):
    page.get_by_label("Artifact type").select_option("summary")
    if mode_label:
        page.get_by_label(mode_label).check()
    page.get_by_role("button", name="Preview prompt and cost").click()
    page.get_by_role("button", name=button, exact=True).click()


def test_a_summary_streams_into_its_card_and_the_row_has_the_reported_usage(asgi_page, note, providers, fake,
                                                                           background_tasks):
    page = asgi_page
    fake.script(Reply(text=WORDS, chunk_words=1, first_chunk_delay=1.0, chunk_delay=0.03,
                      usage={"input_tokens": 321, "output_tokens": 60}), route="gemini")
    _open_note(page, note)
    _generate(page)
    live_text = page.locator("[data-live-text]").first
    expect(live_text).to_contain_text("word0")
    first_shown_ms = page.evaluate("window.liveFirstChunkAt")
    first_sent_ms = fake.requests_for("gemini")[0].first_chunk_at * 1000
    latency = first_shown_ms - first_sent_ms
    print(f"\nfirst token on the page {latency:.0f} ms after the fake provider sent its first chunk")
    Path("/tmp/stream-first-token-ms.txt").write_text(f"{latency:.1f}\n")
    card = page.locator(".artifact-card").filter(has_text="Summary")
    expect(card.locator(".status")).to_have_text("Completed", timeout=20_000)
    expect(card.locator(".artifact-body")).to_contain_text("word59")
    artifact = NoteArtifact.objects.get()
    row = LLMQuery.objects.get(pk=artifact.query_id)
    assert artifact.content == WORDS and (row.input_tokens, row.output_tokens) == (321, 60)
    assert not row.usage_estimated and artifact.cost_usd == row.cost_usd


def test_stop_in_the_page_leaves_a_cancelled_row_and_no_content(asgi_page, note, providers, fake, background_tasks):
    page = asgi_page
    fake.script(Reply(text=" ".join(f"w{i}" for i in range(2000)), chunk_words=1, first_chunk_delay=0.5,
                      chunk_delay=0.02), route="gemini")
    _open_note(page, note)
    _generate(page)
    expect(page.locator("[data-live-text]").first).to_contain_text("w3")
    page.get_by_role("button", name="Stop").click()
    card = page.locator(".artifact-card").filter(has_text="Summary")
    expect(card.locator(".status")).to_have_text("Stopped")
    expect(card.get_by_role("button", name="Generate again")).to_be_visible()
    artifact = NoteArtifact.objects.get()
    assert artifact.status == "cancelled" and artifact.content == ""
    assert LLMQuery.objects.get().status == "cancelled"
    assert fake.requests_for("gemini")[0].chunks_sent < 2000


STUB = """
self.LanguageModel = {
  availability: async () => "available",
  create: async (options) => {
    window.stubSystem = options && options.initialPrompts && options.initialPrompts[0] && options.initialPrompts[0].content;
    return {
      promptStreaming(prompt) {
        window.stubPrompt = prompt;
        return (async function* () {
          for (const piece of ["Keep ", "a reference ", "to every task."]) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            yield piece;
          }
        })();
      },
      destroy() {},
    };
  },
};
"""


def test_the_browser_mode_runs_the_prompt_in_the_page_and_stores_the_answer(asgi_page, note, providers,
                                                                            background_tasks):
    page = asgi_page
    page.add_init_script(STUB)
    _open_note(page, note)
    expect(page.locator("[data-browser-note]")).to_contain_text("Runs on this computer")
    _generate(page, "In my browser (its built-in model, no cost)", button="Generate in my browser")
    card = page.locator(".artifact-card").filter(has_text="Summary")
    expect(card.locator(".status")).to_have_text("Completed", timeout=20_000)
    expect(card.locator(".artifact-body")).to_contain_text("Keep a reference to every task.")
    assert "Save a reference to the result of this function." in page.evaluate("window.stubPrompt")
    artifact = NoteArtifact.objects.get()
    assert page.evaluate("window.stubSystem") == artifact.system_prompt
    row = LLMQuery.objects.get(pk=artifact.query_id)
    assert row.provider_name == "browser" and row.cost_usd == 0 and row.status == "ok"
    assert re.fullmatch(r"gemini-nano \(Chrome \d+\)", row.model_name)
    assert artifact.content == "Keep a reference to every task."


def test_without_the_prompt_api_the_mode_says_so_and_offers_the_others(asgi_page, note, providers, background_tasks):
    page = asgi_page
    _open_note(page, note)
    # Debian's Chromium has no Prompt API (or, in newer builds, no downloaded model): either way it says why.
    why = re.compile("no built-in model|cannot run on this device|not downloaded|downloading")
    note_text = page.locator("[data-browser-note]")
    expect(note_text).to_contain_text(why)
    print("\nwithout a stub, the mode says:", note_text.text_content(), "| LanguageModel in page:",
          page.evaluate("'LanguageModel' in self"))
    expect(page.get_by_label("In my browser (its built-in model, no cost)")).to_be_disabled()
    # An artifact already in this mode (made elsewhere) shows the other modes instead.
    from artifacts import pipeline

    artifact = pipeline.create_artifact(note, note.owner, "summary", mode="browser")
    pipeline.run(artifact.pk)
    page.goto(f"/artifacts/{artifact.pk}/")
    expect(page.locator("[data-browser-status]")).to_contain_text(why)
    expect(page.get_by_role("button", name="With the app's model")).to_be_visible()
    page.get_by_role("button", name="With the app's model").click()
    assert NoteArtifact.objects.filter(parent=artifact, generation_mode="app_key").exists()
