"""In Chromium: upload a mockup through the form, watch the eleven steps finish, download the zip."""

import re
import zipfile

import pytest
from playwright.sync_api import expect

from codegen.tests.demo import DemoModel, total_demo_files
from codegen.tests.test_pipeline import tiny_png
from conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_a_mockup_watch_the_steps_and_download_the_zip(page, providers, fake, owner, celery_eager, tmp_path):
    fake.set_default(DemoModel(truncate={"4.3"}))
    mockup = tmp_path / "mockup.png"
    mockup.write_bytes(tiny_png())

    login(page, "owner", "owner-pass-123")
    page.goto("/codegen/")
    page.get_by_label("Project name").fill("car-management-app")
    page.get_by_label("Description").fill("Track cars and their owners <b>bold</b>.")
    page.get_by_label("UI mockup (optional)").set_input_files(str(mockup))
    page.get_by_label("Provider").select_option(label="OpenAI")
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    page.get_by_role("button", name="Generate").click()

    page.wait_for_url(re.compile(r"/codegen/runs/RUN_"))
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=30_000)
    rows = page.locator("#steps tbody tr")
    expect(rows).to_have_count(11)
    expect(page.locator("#steps .status-completed")).to_have_count(11)
    expect(page.locator("#step-4-3")).to_contain_text("continued 1×")
    expect(page.locator("#files tbody tr")).to_have_count(total_demo_files())
    expect(page.locator("#run-log")).to_contain_text("Chained generation completed")
    expect(page.get_by_text("Track cars and their owners <b>bold</b>.")).to_be_visible()  # shown as text

    page.get_by_role("link", name="backend/main.py").click()
    expect(page.locator("#file-content")).to_contain_text("from fastapi import FastAPI")
    page.go_back()

    with page.expect_download() as info:
        page.locator("#download-zip").click()
    saved = tmp_path / "project.zip"
    info.value.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert len(names) == total_demo_files()
    assert "car-management-app/frontend/package.json" in names
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
