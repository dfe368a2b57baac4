"""GET /api/artifacts/usage and /analytics, and the analytics page: same numbers, per user, to the cent."""

from decimal import Decimal

import pytest

from artifacts import pipeline
from artifacts.models import NoteArtifact, OtherArtifactRequest
from llm.testing.fake_provider import Reply
from notes.models import Note

pytestmark = pytest.mark.django_db


@pytest.fixture
def generated(note, owner, outsider, providers, fake):
    # gemini-2.0-flash: $0.10 in / $0.40 out per 1M tokens.
    fake.script(
        Reply(text="A summary.", usage={"input_tokens": 10000, "output_tokens": 1000}),  # $0.0014
        Reply(text="- point", usage={"input_tokens": 5000, "output_tokens": 500}),  # $0.0007
        Reply(status=400),  # a failed key points request
        Reply(text="Their summary.", usage={"input_tokens": 1000, "output_tokens": 1000}),  # outsider: $0.0005
    )
    for kind, description in (("summary", ""), ("key_points", ""), ("key_points", "only the pitfalls")):
        pipeline.run(pipeline.create_artifact(note, owner, kind, description).pk)
    other_note = Note.objects.create(owner=outsider, page_title="Theirs", body="x")
    pipeline.run(pipeline.create_artifact(other_note, outsider, "summary").pk)
    OtherArtifactRequest.objects.create(user=owner, note=note, description="mind map")
    OtherArtifactRequest.objects.create(user=owner, note=note, description="mind map")
    OtherArtifactRequest.objects.create(user=outsider, description="podcast script")


def test_usage_per_type_matches_the_logged_costs(owner_client, generated):
    data = owner_client.get("/api/artifacts/usage").json()
    assert Decimal(str(data["totals"]["cost_usd"])) == Decimal("0.0021")
    by_type = {r["key"]: Decimal(str(r["cost_usd"])) for r in data["by_type"]}
    assert by_type == {"summary": Decimal("0.0014"), "key_points": Decimal("0.0007")}
    assert data["totals"]["calls"] == 3 and "by_user" not in data
    assert Decimal(str(data["daily"][0]["cost_usd"])) == Decimal("0.0021")


def test_analytics_success_rates_popular_and_requested_types(owner_client, generated):
    data = owner_client.get("/api/artifacts/analytics").json()
    rates = {(r["artifact_type"], r["generation_mode"]): r for r in data["success"]}
    assert rates[("summary", "app_key")]["success_rate"] == 1.0
    assert rates[("key_points", "app_key")]["completed"] == 1 and rates[("key_points", "app_key")]["failed"] == 1
    assert rates[("key_points", "app_key")]["success_rate"] == 0.5
    assert data["popular_types"][0] == {"artifact_type": "key_points", "count": 2}
    assert data["other_requests"] == [{"description": "mind map", "count": 2}]
    assert NoteArtifact.objects.filter(owner__username="outsider").count() == 1


def test_a_user_sees_only_their_own_and_staff_see_everyone(client, generated, outsider, staff):
    client.force_login(outsider)
    mine = client.get("/api/artifacts/usage").json()
    assert Decimal(str(mine["totals"]["cost_usd"])) == Decimal("0.0005")
    assert client.get("/api/artifacts/analytics").json()["other_requests"] == [{"description": "podcast script", "count": 1}]
    client.force_login(staff)
    everyone = client.get("/api/artifacts/usage").json()
    assert Decimal(str(everyone["totals"]["cost_usd"])) == Decimal("0.0026")
    assert {r["key"] for r in everyone["by_user"]} == {"owner", "outsider"}


def test_the_page_shows_the_api_numbers_and_bad_dates_are_400(owner_client, generated):
    page = owner_client.get("/artifacts/analytics/").content.decode()
    assert "$0.002100" in page and "mind map" in page and "50%" in page
    assert owner_client.get("/api/artifacts/usage?start=nope").status_code == 400
    assert owner_client.get("/api/artifacts/analytics?start=2030-02-01&end=2030-01-01").status_code == 400
