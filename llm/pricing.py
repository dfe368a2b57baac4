"""Cost from usage and the model's prices. Unknown prices give ``None``, never a silent $0."""

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from .models import LLMModel, LLMProvider
from .providers.base import Usage

PRICES_FILE = Path(__file__).parent / "data" / "prices.json"
MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.00000001")


def cost_for(model: LLMModel, usage: Usage) -> Decimal | None:
    if model.provider.kind == LLMProvider.Kind.MANUAL:
        return Decimal("0")
    if model.input_price_per_1m is None or model.output_price_per_1m is None:
        return None
    cached_price = model.cached_input_price_per_1m if model.cached_input_price_per_1m is not None else model.input_price_per_1m
    write_price = model.cache_write_price_per_1m if model.cache_write_price_per_1m is not None else model.input_price_per_1m
    uncached = max(usage.input_tokens - usage.cached_input_tokens - usage.cache_write_input_tokens, 0)
    total = (
        Decimal(uncached) * model.input_price_per_1m
        + Decimal(usage.cached_input_tokens) * cached_price
        + Decimal(usage.cache_write_input_tokens) * write_price
        # Reasoning tokens are billed as output and are already inside output_tokens.
        + Decimal(usage.output_tokens) * model.output_price_per_1m
    ) / MILLION
    return total.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def max_cost_for(model: LLMModel, input_tokens: int, max_output_tokens: int) -> Decimal | None:
    """The most a call can cost: every input token uncached, every allowed output token used."""
    return cost_for(model, Usage(input_tokens=input_tokens, output_tokens=max_output_tokens))


@lru_cache(maxsize=1)
def bundled_prices() -> dict:
    return json.loads(PRICES_FILE.read_text())


def _dec(value) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


def sync_bundled_prices(*, provider_names: dict[str, str] | None = None) -> dict[str, int]:
    """Load the bundled price list into LLMModel rows.

    Rows edited in admin (price_source=admin) are left alone. ``provider_names`` maps a kind in
    the file to the LLMProvider name to attach models to (default: same name as the kind).
    """
    data = bundled_prices()
    as_of = date.fromisoformat(data["prices_as_of"])
    created = updated = skipped = 0
    for kind, entries in data["providers"].items():
        name = (provider_names or {}).get(kind, kind)
        provider = LLMProvider.objects.filter(name=name).first()
        if provider is None:
            continue
        for entry in entries:
            fields = {
                "context_window": entry.get("context_window"),
                "max_output_tokens": entry.get("max_output_tokens"),
                "input_price_per_1m": _dec(entry.get("input")),
                "cached_input_price_per_1m": _dec(entry.get("cached_input")),
                "cache_write_price_per_1m": _dec(entry.get("cache_write")),
                "output_price_per_1m": _dec(entry.get("output")),
                "image_prices": entry.get("image_prices", {}),
                "supports_vision": entry.get("vision", False),
                "supports_image_generation": entry.get("image_generation", False),
                "supports_json_schema": not entry.get("image_generation", False),
                "price_source": LLMModel.PriceSource.BUNDLED,
                "prices_as_of": as_of,
            }
            row = LLMModel.objects.filter(provider=provider, name=entry["name"]).first()
            if row is None:
                LLMModel.objects.create(provider=provider, name=entry["name"], **fields)
                created += 1
            elif row.price_source == LLMModel.PriceSource.ADMIN:
                skipped += 1
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
                row.save()
                updated += 1
    return {"created": created, "updated": updated, "kept_admin_edits": skipped}
