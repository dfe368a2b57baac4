"""The copy/paste round trip in a real browser: prompt -> copy -> paste -> the waiting job completes."""

import re

import pytest
from playwright.sync_api import expect

from conftest import login
from llm.models import LLMJob, LLMQuery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manual_round_trip_in_chromium(page, providers, owner, celery_eager):
    login(page, "owner", "owner-pass-123")
    expect(page.get_by_role("link", name="Copy/paste queue")).to_be_visible()

    page.goto("/llm/prompt/")
    page.get_by_label("Provider").select_option(label="Copy/paste (any chat LLM)")
    page.get_by_label("Prompt", exact=True).fill("Name the largest animal on Earth.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Waiting for a pasted answer")).to_be_visible()
    job_url = page.url
    job = LLMJob.objects.get()
    assert job.status == "waiting_manual"

    # A second tab keeps the job page open: htmx polling must show the answer by itself.
    watcher = page.context.new_page()
    watcher.goto(job_url)

    page.get_by_role("link", name=re.compile("paste the answer")).click()
    page.wait_for_load_state("load")  # the page's scripts (deferred) run before its buttons are used
    prompt_box = page.get_by_label("Prompt to copy")
    expect(prompt_box).to_have_value("Name the largest animal on Earth.")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy prompt").click()
    expect(page.locator("#copy-status")).to_contain_text(re.compile("Copied|Selected"))
    if "Copied" in page.locator("#copy-status").inner_text():
        assert page.evaluate("navigator.clipboard.readText()") == "Name the largest animal on Earth."

    page.get_by_label("The model's answer").fill("The blue whale <script>alert(1)</script>")
    page.get_by_label("Which model answered?").fill("Claude in the browser")
    page.get_by_role("button", name="Submit answer").click()
    expect(page.get_by_text(re.compile("Answer accepted for query"))).to_be_visible()

    answer = watcher.locator("#job-answer")
    expect(answer).to_contain_text("The blue whale <script>alert(1)</script>", timeout=10_000)
    assert watcher.locator("#job-answer script").count() == 0  # shown as text, never run
    row = LLMQuery.objects.get()
    assert row.status == "ok" and row.model_name == "Claude in the browser" and row.cost_usd == 0
