"""Start a run from the catalog, watch it progress, read the results, in Chromium."""

import re
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from conftest import login
from llm.testing.fake_provider import Reply
from segmentation import pipeline
from segmentation.models import SegmentationRun

from .fakes import make_products, request_parts, answer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_start_watch_and_read_a_run_in_chromium(page, owner, fake, providers, celery_eager):
    make_products(60)

    def slow(req):
        name, schema, prompt = request_parts(req)
        return Reply(json=answer(name, schema, prompt), delay=0.3)

    fake.set_default(slow)
    login(page, "owner", "owner-pass-123")
    page.goto("/segmentation/")
    page.get_by_role("link", name="New run").click()
    page.wait_for_load_state("load")  # htmx (a deferred script) has the page before its forms are used
    page.get_by_label("Search titles").fill("Smart")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("15 products match")).to_be_visible()
    page.get_by_label("Category being segmented").fill("Dimmer Switches")
    page.get_by_label("Provider").select_option("openai")
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    page.get_by_label(re.compile("Use all 15 matching products")).check()
    page.get_by_role("button", name="Start run").click()  # tasks run inline (eager) in this request
    expect(page.locator("#run-status")).to_have_text("Completed")
    run = SegmentationRun.objects.get()
    assert run.total_products == 15

    # A second run, driven from a background thread, while the page polls its progress.
    ids = sorted(run.run_products.values_list("product_id", flat=True))
    second = pipeline.start_run(owner=owner, product_ids=ids, category="Smart dimmers", provider="openai", model="gpt-4o-mini")
    page.goto(f"/segmentation/runs/{second.pk}/")
    expect(page.locator("#run-status")).to_have_text("Running")

    def work():
        try:
            pipeline.run_inline(second.pk, workers=1)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=30_000)
    worker.join()
    expect(page.get_by_text("100.0%").first).to_be_visible()
    page.get_by_role("link", name="See results").click()
    expect(page.get_by_role("heading", name="Results: Smart dimmers")).to_be_visible()
    page.wait_for_load_state("load")
    expect(page.locator("#taxonomy")).to_contain_text("Smart dimmer switches")
    expect(page.locator("#taxonomy")).to_contain_text("15")
    page.get_by_text(re.compile(r"Smart dimmer switches \(15\)")).click()
    expect(page.get_by_role("link", name=re.compile("Smart WiFi dimmer model 0"))).to_be_visible()
    link = page.locator("#interactions a").first
    expect(link).to_contain_text(f"llm_logs/{second.pk}/segmentation/")
    link.click()
    expect(page).to_have_url(re.compile(r"/llm/calls/\d+/$"))
