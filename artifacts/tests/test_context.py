"""The context builder: parts in priority order, and truncation to the model's window."""

import time

import pytest

from artifacts.context import build_prompt, fit_text
from llm.calls import tokens
from notes.models import Note

from .conftest import PAGE_URL

pytestmark = pytest.mark.django_db

TEN_MB = 10 * 1024 * 1024


def big_section() -> str:
    paragraph = "<p>" + "Photosynthesis converts light into chemical energy in the chloroplast. " * 20 + "</p>\n"
    return paragraph * (TEN_MB // len(paragraph) + 1)


def test_it_builds_the_prompt_from_every_part_with_page_metadata(note, owner):
    Note.objects.create(owner=owner, page_url=PAGE_URL, highlighted_text="TaskGroup cancels siblings", body="use except*")
    built = build_prompt(note, "summary", "for an exam", context_window=128_000, max_output_tokens=1500)
    prompt = built.prompt
    order = [prompt.index(s) for s in (
        "Title: Coroutines and Tasks", "Save a reference to the result", "Fire-and-forget", "Wrap the coro", "TaskGroup cancels siblings",
    )]
    assert order == sorted(order)
    assert "description: High-level asyncio APIs" in prompt and "for an exam" in prompt
    assert "evil()" not in prompt  # the section is text, scripts dropped
    assert built.cut_parts == [] and built.summary.startswith("Nothing was cut")
    assert built.input_tokens == tokens.count_messages([{"role": "system", "content": built.system}, {"role": "user", "content": prompt}])


def test_a_10_mb_section_is_cut_to_fit_the_window_and_the_report_says_so(owner):
    note = Note.objects.create(owner=owner, page_url=PAGE_URL, highlighted_text="light into chemical energy",
                               body="Exam topic.", page_section_html=big_section())
    assert len(note.page_section_html) >= TEN_MB
    started = time.monotonic()
    built = build_prompt(note, "summary", context_window=16_000, max_output_tokens=2_000)
    assert time.monotonic() - started < 20
    assert built.budget_tokens == 14_000
    assert built.input_tokens <= 14_000
    assert "light into chemical energy" in built.prompt and "Exam topic." in built.prompt
    section = next(p for p in built.parts if p.name == "section")
    assert section.cut and 0 < section.kept_chars < section.original_chars == len(note.page_section_html)
    assert "page section cut to" in built.summary and "cut to fit the model's context window" in built.prompt


def test_the_app_ceiling_caps_huge_windows(owner, settings):
    settings.ARTIFACTS_MAX_INPUT_TOKENS = 5_000
    note = Note.objects.create(owner=owner, body="b", page_section_html=big_section())
    built = build_prompt(note, "summary", context_window=1_048_576, max_output_tokens=8192)
    assert built.budget_tokens == 5_000 and built.input_tokens <= 5_000


def test_lower_priority_parts_go_first(owner):
    Note.objects.create(owner=owner, page_url=PAGE_URL, body="related " * 200)
    note = Note.objects.create(owner=owner, page_url=PAGE_URL, highlighted_text="highlight " * 100, body="note " * 100,
                               page_section_html="<p>" + "section " * 500 + "</p>")
    built = build_prompt(note, "summary", context_window=900, max_output_tokens=100)
    by_name = {p.name: p for p in built.parts}
    assert not by_name["highlighted_text"].cut and not by_name["note"].cut
    assert by_name["section"].cut and by_name["related_notes"].cut and by_name["related_notes"].kept_chars == 0
    assert built.input_tokens <= 800


def test_it_is_deterministic(note):
    a = build_prompt(note, "quiz", context_window=128_000, max_output_tokens=3000)
    b = build_prompt(note, "quiz", context_window=128_000, max_output_tokens=3000)
    assert a.prompt == b.prompt and a.system == b.system


def test_fit_text_cuts_at_a_word_and_marks_it():
    text, count, cut = fit_text("word " * 1000, 50)
    assert cut and count <= 50 and text.endswith("context window]")
    assert fit_text("short", 50) == ("short", tokens.count_text("short"), False)


def test_preview_of_a_10_mb_note_reports_the_cut(owner_client, owner, providers):
    note = Note.objects.create(owner=owner, body="big", page_section_html=big_section())
    data = owner_client.post(f"/api/artifacts/preview/note/{note.pk}", data={"artifact_type": "summary"},
                             content_type="application/json").json()
    assert data["truncation"]["cut"] == ["page section"]
    assert data["input_tokens"] <= data["truncation"]["budget_tokens"] <= 1_048_576 - data["max_output_tokens"]
