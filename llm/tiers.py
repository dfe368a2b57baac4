"""Long-context price tiers of a model: their stored shape and the check that gives it.

Pure (no models, no database), so ``LLMModel.clean`` can check a tier list without importing
the pricing machinery (llm/records/pricing.py imports the models: no import circle).
"""

from decimal import Decimal, InvalidOperation

TIER_PRICE_KEYS = ("input", "output", "cached_input", "cache_write", "cache_write_1h")


class PriceError(ValueError):
    """A price list or a tier that can't be used; the message says which entry and key."""


def parse_price(value, where: str) -> Decimal:
    """A price in USD per 1M tokens as a Decimal, or PriceError saying what is wrong with it."""
    if isinstance(value, bool) or value is None:
        raise PriceError(f"{where} must be a number (USD per 1M tokens), not {value!r}.")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PriceError(f"{where} must be a number (USD per 1M tokens), not {value!r}.") from None
    if not result.is_finite() or result < 0:
        raise PriceError(f"{where} must be a price of 0 or more, not {value!r}.")
    return result


def check_tiers(tiers) -> list[dict]:
    """The tiers in their stored form (prices as strings, sorted by threshold), or PriceError saying what to fix."""
    if tiers in (None, ""):
        return []
    if not isinstance(tiers, list):
        raise PriceError('Tiers must be a list such as [{"above_input_tokens": 200000, "input": "2.50", "output": "15.00"}].')
    out, seen = [], set()
    for i, tier in enumerate(tiers, 1):
        where = f"Tier {i}"
        if not isinstance(tier, dict):
            raise PriceError(f"{where} must be an object with above_input_tokens, input and output.")
        unknown = set(tier) - {"above_input_tokens", *TIER_PRICE_KEYS}
        if unknown:
            raise PriceError(f"{where} has unknown keys {sorted(unknown)}; allowed: above_input_tokens, "
                             f"{', '.join(TIER_PRICE_KEYS)}.")
        threshold = tier.get("above_input_tokens")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
            raise PriceError(f"{where}: above_input_tokens must be a whole number of tokens above 0, not {threshold!r}.")
        if threshold in seen:
            raise PriceError(f"{where}: two tiers start above {threshold} input tokens.")
        seen.add(threshold)
        for key in ("input", "output"):
            if tier.get(key) is None:
                raise PriceError(f"{where} (above {threshold} input tokens) needs an {key} price.")
        clean = {"above_input_tokens": threshold}
        for key in TIER_PRICE_KEYS:
            if tier.get(key) is not None:
                clean[key] = str(parse_price(tier[key], f"{where} (above {threshold} input tokens) {key}"))
        out.append(clean)
    return sorted(out, key=lambda t: t["above_input_tokens"])
