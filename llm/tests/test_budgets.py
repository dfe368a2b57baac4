"""Budgets: refused before sending with a clear message; no overspend under 50 concurrent calls."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from llm.errors import LLMBudgetExceeded
from llm.models import Budget, BudgetUsage, LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply


@pytest.mark.django_db
def test_a_call_over_the_budget_is_refused_before_anything_is_sent(providers, fake, owner):
    Budget.objects.create(user=owner, period="day", limit_usd=Decimal("0.001"))
    with pytest.raises(LLMBudgetExceeded) as info:
        complete(purpose="tests.budget", prompt="hello", provider="openai", model="gpt-4o", max_tokens=1000, user=owner)
    message = str(info.value)
    assert "daily budget for owner" in message and "$0.00" in message and "may cost up to $0.01" in message
    assert not fake.requests
    assert LLMQuery.objects.get().status == "budget_exceeded"
    # Another user is not held by owner's budget.
    complete(purpose="tests.budget", prompt="hello", provider="openai", model="gpt-4o", max_tokens=1000)


@pytest.mark.django_db
def test_the_reservation_is_settled_to_the_real_cost(providers, fake, owner):
    Budget.objects.create(period="month", limit_usd=Decimal("1"))
    fake.script(Reply(text="x", usage={"input_tokens": 1000, "output_tokens": 100}))
    result = complete(purpose="tests.budget", prompt="hi", provider="openai", model="gpt-4o", max_tokens=2000, user=owner)
    usage = BudgetUsage.objects.get()
    assert usage.reserved_usd == 0 and usage.spent_usd == result.cost_usd == Decimal("0.00350000")


@pytest.mark.django_db
def test_a_failed_call_releases_its_reservation(providers, fake, owner):
    Budget.objects.create(period="day", limit_usd=Decimal("1"))
    fake.set_default(Reply(status=400))
    with pytest.raises(Exception):
        complete(purpose="tests.budget", prompt="hi", provider="openai", model="gpt-4o", user=owner)
    usage = BudgetUsage.objects.get()
    assert usage.reserved_usd == 0 and usage.spent_usd == 0


@pytest.mark.django_db
def test_a_model_without_a_price_cannot_run_under_a_budget(providers, fake, owner):
    Budget.objects.create(period="day", limit_usd=Decimal("5"))
    with pytest.raises(LLMBudgetExceeded, match="no known price"):
        complete(purpose="tests.budget", prompt="hi", provider="openai", model="unpriced-model", user=owner)
    assert not fake.requests


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_calls_never_overspend(providers, fake, owner, capsys):
    limit = Decimal("0.05")
    Budget.objects.create(period="day", limit_usd=limit)
    # Each call may cost up to ~$0.0105 (gpt-4o, ~20 input tokens, 1000 output) and really costs ~$0.009.
    fake.set_default(Reply(text="ok", delay=0.2, usage={"input_tokens": 20, "output_tokens": 900}))
    outcomes, lock = [], threading.Lock()

    def one(i):
        try:
            complete(purpose="tests.budget50", prompt=f"call {i}", provider="openai", model="gpt-4o", max_tokens=1000, user=owner)
            outcome = "ok"
        except LLMBudgetExceeded:
            outcome = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = sum(q.cost_usd for q in LLMQuery.objects.filter(status="ok"))
    usage = BudgetUsage.objects.get()
    max_one = Decimal("0.01005")
    print(f"\n50 concurrent calls at a ${limit} budget: {outcomes.count('ok')} ran, {outcomes.count('refused')} refused, "
          f"spent ${spent}, overspend ${max(spent - limit, 0)} (allowed: one call's max ${max_one})")
    assert len(outcomes) == 50 and outcomes.count("ok") >= 4
    assert usage.spent_usd == spent and usage.reserved_usd == 0
    assert spent - limit <= max_one
    assert len(fake.requests) == outcomes.count("ok")
