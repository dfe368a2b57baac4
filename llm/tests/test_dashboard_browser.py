"""The cost dashboard in Chromium: charts drawn, table figures equal to the usage API."""

import pytest
from playwright.sync_api import expect

from conftest import login
from llm.calls import complete
from llm.testing.fake_provider import Reply


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_draws_charts_and_matches_the_api(page, providers, fake, owner):
    fake.script(Reply(text="a", usage={"input_tokens": 1000, "output_tokens": 500}),
                Reply(text="b", usage={"input_tokens": 2000, "output_tokens": 1000}))
    complete(purpose="artifacts.summary", prompt="1", provider="openai", model="gpt-4o", user=owner)
    complete(purpose="segmentation.extract_taxonomy", prompt="2", provider="openai", model="gpt-4o-mini", user=owner)
    login(page, "owner", "owner-pass-123")
    page.goto("/llm/dashboard/")
    expect(page.locator("canvas[data-chart='chart-days']")).to_have_attribute("data-drawn", "1")
    expect(page.locator("canvas[data-chart='chart-models']")).to_have_attribute("data-drawn", "2")
    api = page.request.get("/api/llm/usage").json()
    assert page.locator("#total-cost").inner_text() == f"${float(api['totals']['cost_usd']):.6f}"
    assert page.locator("#total-calls").inner_text() == str(api["totals"]["calls"]) == "2"
    day_cost = page.locator("table:has(caption:text('Spend per day')) td[data-cost]").first.inner_text()
    assert float(day_cost) == float(api["daily"][0]["cost_usd"])
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the calls behind this view (CSV)").click()
    content = open(info.value.path()).read()
    assert content.count("\n") == 3 and "artifacts.summary" in content
