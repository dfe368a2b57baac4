"""Who may reuse a cached answer (issue 19 #14): by default only the user who asked, so a
cache_hit never tells one user that another sent the same prompt; LLM_CACHE_SCOPE = "shared"
reuses answers across the deployment. The dashboard's "saved by the cache" follows the hits."""

from decimal import Decimal

import pytest
from django.urls import reverse

from llm.models import LLMCacheEntry, LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db

# gpt-4o at the bundled prices: 1000 x 2.50 + 100 x 10.00 per 1M tokens = $0.0035
COST = Decimal("0.00350000")


def _ask(user):
    return complete(purpose="tests.cache_scope", prompt="Is our merger with Acme announced yet?", provider="openai",
                    model="gpt-4o", user=user)


def _usage(client, user) -> dict:
    client.force_login(user)
    return client.get("/api/llm/usage").json()["totals"]


def test_by_default_another_user_with_the_same_prompt_misses(providers, fake, owner, outsider, client):
    fake.script(Reply(text="Not yet.", usage={"input_tokens": 1000, "output_tokens": 100}),
                Reply(text="Not yet.", usage={"input_tokens": 1000, "output_tokens": 100}))
    first = _ask(owner)
    second = _ask(outsider)
    assert first.status == second.status == "ok"  # the old shared cache answered "cache_hit" here
    assert len(fake.requests) == 2 and second.cost_usd == COST
    assert LLMCacheEntry.objects.count() == 2
    # The owner's own repeat still hits, in the owner's scope only.
    again = _ask(owner)
    assert again.status == "cache_hit" and len(fake.requests) == 2
    assert LLMQuery.objects.get(pk=again.query_id).user == owner

    owner_totals, outsider_totals = _usage(client, owner), _usage(client, outsider)
    assert Decimal(str(owner_totals["saved_cost_usd"])) == COST  # the owner's own hit
    assert Decimal(str(outsider_totals["saved_cost_usd"])) == 0  # nothing saved from someone else's answer
    assert Decimal(str(outsider_totals["cost_usd"])) == COST


def test_a_shared_scope_reuses_answers_across_users_and_counts_the_saving_for_the_one_who_hit(
        providers, fake, owner, outsider, client, settings):
    settings.LLM_CACHE_SCOPE = "shared"
    fake.script(Reply(text="Not yet.", usage={"input_tokens": 1000, "output_tokens": 100}))
    first = _ask(owner)
    second = _ask(outsider)
    assert first.status == "ok" and second.status == "cache_hit" and len(fake.requests) == 1
    hit = LLMQuery.objects.get(pk=second.query_id)
    assert hit.user == outsider and hit.cost_usd == 0 and hit.saved_cost_usd == COST

    owner_totals, outsider_totals = _usage(client, owner), _usage(client, outsider)
    assert Decimal(str(owner_totals["cost_usd"])) == COST and Decimal(str(owner_totals["saved_cost_usd"])) == 0
    assert Decimal(str(outsider_totals["cost_usd"])) == 0 and Decimal(str(outsider_totals["saved_cost_usd"])) == COST


def test_the_dashboard_shows_only_the_viewers_saving(providers, fake, owner, outsider, client):
    fake.script(Reply(text="Not yet.", usage={"input_tokens": 1000, "output_tokens": 100}),
                Reply(text="Not yet.", usage={"input_tokens": 1000, "output_tokens": 100}))
    _ask(owner)
    _ask(outsider)
    client.force_login(outsider)
    page = client.get(reverse("llm:dashboard")).content.decode()
    assert "$0.000000" in page.split("Saved by the cache", 1)[1][:80]
