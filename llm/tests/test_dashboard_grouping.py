"""The dashboard's figures come from one GROUPING SETS query on PostgreSQL; they must be exactly
what one grouped query per breakdown gives (the path other databases take)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from llm.models import UsageDaily
from llm.records import usage


@pytest.mark.django_db
def test_one_grouping_sets_query_gives_what_a_query_per_breakdown_gives(django_user_model, django_assert_num_queries):
    users = [django_user_model.objects.create(username=f"u{i}") for i in range(3)]
    today = date.today()
    n = 0
    for day in range(5):
        for purpose in ("artifacts.summary", "segmentation.refine", "products.generate"):
            for provider, model in (("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")):
                for mode in ("app", "user"):
                    for delivery in ("interactive", "batch"):
                        n += 1
                        UsageDaily.objects.create(
                            day=today - timedelta(days=day), user_ref=0 if n % 7 == 0 else users[n % 3].pk,
                            purpose=purpose, provider_name=provider, model_name=model, key_source=mode,
                            delivery=delivery, status="ok", calls=n, input_tokens=100 * n, output_tokens=10 * n,
                            cost_usd=Decimal("0.00012345") * n if n % 5 else Decimal("0"), unknown_cost_calls=1 if n % 5 == 0 else 0,
                            saved_cost_usd=Decimal("0.001") * (n % 3),
                        )
    f = usage.Filters(start=today - timedelta(days=3), end=today, provider="openai")
    qs = usage.rollups(users[0].__class__(is_staff=True), f)
    with django_assert_num_queries(2):  # the grouping sets, then the users' names
        fast = usage.summary(qs, with_users=True, purpose_model=True)
    slow = usage._summary(qs, with_users=True, purpose_model=True)
    assert fast == slow
    assert fast["days"] and len(fast["breakdowns"]["user"]) == 4 and fast["unknown_prices"]
    assert fast["totals"]["calls"] == sum(d["calls"] for d in fast["days"]) > 0


@pytest.mark.django_db
def test_without_users_or_the_quality_table_too(django_user_model):
    today = date.today()
    UsageDaily.objects.create(day=today, user_ref=0, purpose="a.b", provider_name="openai", model_name="m",
                              key_source="app", delivery="interactive", status="ok", calls=2, cost_usd=Decimal("1"))
    qs = usage.rollups(django_user_model(is_staff=True), usage.Filters.default())
    assert usage.summary(qs) == usage._summary(qs, with_users=False, purpose_model=False)
    assert usage.summary(qs)["totals"]["calls"] == 2
