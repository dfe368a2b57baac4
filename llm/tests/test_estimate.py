"""Offline estimates: token count within 10% of what the provider reports, and the cost range."""

from decimal import Decimal

import pytest

from llm.calls.estimate import estimate
from llm.calls import complete

pytestmark = pytest.mark.django_db

TEXT = (
    "Photosynthesis converts light energy into chemical energy. In the light-dependent reactions, "
    "chlorophyll absorbs photons and splits water, releasing oxygen and producing ATP and NADPH. "
    "The Calvin cycle then fixes carbon dioxide into three-carbon sugars using that ATP and NADPH. "
) * 8


@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o"), ("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.0-flash")])
def test_the_estimate_is_within_ten_percent_of_reported_usage(providers, fake, provider, model):
    est = estimate(system="You write study notes.", prompt=f"Summarise:\n{TEXT}", provider=provider, model=model, max_tokens=500)
    result = complete(purpose="tests.estimate", system="You write study notes.", prompt=f"Summarise:\n{TEXT}",
                      provider=provider, model=model, max_tokens=500)
    reported = result.usage.input_tokens
    assert abs(est.input_tokens - reported) / reported <= 0.10, (est.input_tokens, reported)
    assert est.max_output_tokens == 500
    assert est.min_cost_usd < est.max_cost_usd


def test_the_cost_range_uses_the_model_prices(providers):
    est = estimate(prompt="hello", provider="openai", model="gpt-4o", max_tokens=1000)
    assert est.max_cost_usd - est.min_cost_usd == Decimal("0.01000000")  # 1000 output tokens x $10 / 1M
    assert est.price_known
    unknown = estimate(prompt="hello", provider="openai", model="no-price-model")
    assert unknown.max_cost_usd is None and not unknown.price_known
