"""Cost from usage and the model's prices. Unknown prices give ``None``, never a silent $0.

A model has base prices per kind of token (input, cached input, 5-minute and 1-hour cache
writes, output) and may have long-context tiers: when a request's prompt is longer than a
tier's ``above_input_tokens``, every token of that request is charged at the tier's prices,
as Gemini 2.5 Pro and Claude's 1M-context beta bill it. All arithmetic is Decimal.
"""

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

from django.db import transaction

from ..models import LLMModel, LLMProvider
from ..providers.base import Usage
from ..tiers import PriceError, check_tiers, parse_price as _price  # noqa: F401  (PriceError, check_tiers: re-exported)

PRICES_FILE = Path(__file__).parent.parent / "data" / "prices.json"
MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True)
class Prices:
    """The per-1M-token prices that apply to one request (base or one tier)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    tier: str = ""  # "" = base prices; else e.g. "above 200000 input tokens"


@dataclass(frozen=True)
class Charge:
    cost: Decimal | None
    tier: str = ""


def tier_label(threshold: int) -> str:
    return f"above {threshold} input tokens"


def prices_for(model: LLMModel, prompt_tokens: int) -> Prices | None:
    """The prices a request with ``prompt_tokens`` input tokens pays, or None when they are unknown."""
    if model.input_price_per_1m is None or model.output_price_per_1m is None:
        return None
    inp, out = model.input_price_per_1m, model.output_price_per_1m
    # Missing prices fall back to dearer ones, never to $0: a cache read costs what an input token
    # costs, a 1-hour write what a 5-minute write costs.
    cached = model.cached_input_price_per_1m if model.cached_input_price_per_1m is not None else inp
    write = model.cache_write_price_per_1m if model.cache_write_price_per_1m is not None else inp
    write_1h = model.cache_write_1h_price_per_1m if model.cache_write_1h_price_per_1m is not None else write
    chosen = None
    for tier in model.tiers or []:
        if prompt_tokens > tier["above_input_tokens"]:
            chosen = tier  # sorted ascending: the last that applies is the highest threshold passed
    if chosen is None:
        return Prices(inp, out, cached, write, write_1h)
    t_in, t_out = Decimal(chosen["input"]), Decimal(chosen["output"])
    t_cached = Decimal(chosen["cached_input"]) if chosen.get("cached_input") is not None else t_in
    t_write = Decimal(chosen["cache_write"]) if chosen.get("cache_write") is not None else t_in
    t_write_1h = Decimal(chosen["cache_write_1h"]) if chosen.get("cache_write_1h") is not None else t_write
    return Prices(t_in, t_out, t_cached, t_write, t_write_1h, tier=tier_label(chosen["above_input_tokens"]))


def charge_for(model: LLMModel, usage: Usage, *, batch: bool = False) -> Charge:
    """The cost of one call and the tier it was charged at (``batch``: answered in a provider batch,
    every token at the model's batch multiplier)."""
    if model.provider.kind == LLMProvider.Kind.MANUAL:
        return Charge(Decimal("0"))
    prices = prices_for(model, usage.input_tokens)
    if prices is None:
        return Charge(None)
    write_1h = min(usage.cache_write_1h_input_tokens, usage.cache_write_input_tokens)
    write_5m = usage.cache_write_input_tokens - write_1h
    uncached = max(usage.input_tokens - usage.cached_input_tokens - usage.cache_write_input_tokens, 0)
    total = (
        Decimal(uncached) * prices.input
        + Decimal(usage.cached_input_tokens) * prices.cached_input
        + Decimal(write_5m) * prices.cache_write
        + Decimal(write_1h) * prices.cache_write_1h
        # Reasoning tokens are billed as output and are already inside output_tokens.
        + Decimal(usage.output_tokens) * prices.output
    ) / MILLION
    if batch and model.batch_price_multiplier is not None:
        total *= model.batch_price_multiplier
    return Charge(total.quantize(QUANTUM, rounding=ROUND_HALF_UP), prices.tier)


def cost_for(model: LLMModel, usage: Usage) -> Decimal | None:
    return charge_for(model, usage).cost


def prompt_cache_saving(model: LLMModel, usage: Usage, charged: Decimal | None, *, batch: bool = False) -> Decimal | None:
    """What the provider's prompt cache saved on a call: its cost with every input token at the full
    price (of the same delivery: a batch answer is compared with the batch price, so the batch
    discount is not counted as caching) minus what was charged (a cache write's surcharge makes it
    negative). None when the call touched no cache or its price is unknown."""
    if charged is None or not (usage.cached_input_tokens or usage.cache_write_input_tokens):
        return None
    full = charge_for(model, Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                   reasoning_tokens=usage.reasoning_tokens), batch=batch).cost
    return None if full is None else full - charged


def max_cost_for(model: LLMModel, input_tokens: int, max_output_tokens: int) -> Decimal | None:
    """The most a call can cost: every input token uncached, every allowed output token used (at
    the tier that many input tokens reach)."""
    return cost_for(model, Usage(input_tokens=input_tokens, output_tokens=max_output_tokens))


# --------------------------------------------------------------------------- #
# Price lists: the bundled one and LiteLLM's model_prices_and_context_window.json
# --------------------------------------------------------------------------- #
@lru_cache(maxsize=1)
def bundled_prices() -> dict:
    return json.loads(PRICES_FILE.read_text())


def _dec(value, where: str) -> Decimal | None:
    return _price(value, where) if value is not None else None


@dataclass
class PriceRow:
    """One model's prices as read from a price list, before it touches the database."""

    kind: str  # provider kind: openai, anthropic, gemini
    name: str
    fields: dict


def _bundled_rows(data: dict) -> tuple[list[PriceRow], date]:
    try:
        as_of = date.fromisoformat(str(data["prices_as_of"]))
    except (KeyError, ValueError):
        raise PriceError(f"prices_as_of must be a date (YYYY-MM-DD), not {data.get('prices_as_of')!r}.") from None
    if not isinstance(data.get("providers"), dict):
        raise PriceError("providers must be an object of provider kind -> list of models.")
    multipliers = data.get("batch_multipliers") or {}
    if not isinstance(multipliers, dict):
        raise PriceError('batch_multipliers must be an object of provider kind -> multiplier, e.g. {"openai": "0.5"}.')
    rows = []
    for kind, entries in data["providers"].items():
        if not isinstance(entries, list):
            raise PriceError(f"providers.{kind} must be a list of models.")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise PriceError(f"providers.{kind}[{i}] needs a name.")
            where = f"{kind}/{entry['name']}"
            image = bool(entry.get("image_generation", False))
            image_prices = entry.get("image_prices", {})
            if not isinstance(image_prices, dict):
                raise PriceError(f"{where}: image_prices must be an object of \"size/quality\" -> USD per image.")
            for key, value in image_prices.items():
                _price(value, f"{where} image_prices[{key!r}]")
            try:
                tiers = check_tiers(entry.get("tiers", []))
            except PriceError as exc:
                raise PriceError(f"{where}: {exc}") from None
            rows.append(PriceRow(kind, entry["name"], {
                "context_window": entry.get("context_window"),
                "max_output_tokens": entry.get("max_output_tokens"),
                "input_price_per_1m": _dec(entry.get("input"), f"{where} input"),
                "cached_input_price_per_1m": _dec(entry.get("cached_input"), f"{where} cached_input"),
                "cache_write_price_per_1m": _dec(entry.get("cache_write"), f"{where} cache_write"),
                "cache_write_1h_price_per_1m": _dec(entry.get("cache_write_1h"), f"{where} cache_write_1h"),
                "output_price_per_1m": _dec(entry.get("output"), f"{where} output"),
                "tiers": tiers,
                "image_prices": {k: str(v) for k, v in image_prices.items()},
                "supports_vision": bool(entry.get("vision", False)),
                "supports_image_generation": image,
                "supports_json_schema": not image,
                "retired": bool(entry.get("retired", False)),
                "batch_price_multiplier": _multiplier(entry.get("batch_multiplier", multipliers.get(kind)), where),
            }))
    return rows, as_of


def _multiplier(value, where: str) -> Decimal | None:
    if value is None:
        return None
    result = _price(value, f"{where} batch_multiplier")
    if result > 1:
        raise PriceError(f"{where}: batch_multiplier must be at most 1 (a discount), not {value!r}.")
    return result


# LiteLLM's provider names for the kinds we run; its Gemini entries are keyed "gemini/<model>".
LITELLM_PROVIDERS = {"openai": "openai", "text-completion-openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}
LITELLM_MODES = {"chat", "completion", "responses", "image_generation"}
_LITELLM_IMAGE_KEY = re.compile(r"^(?:(?P<quality>[a-z]+)/)?(?P<w>\d+)-x-(?P<h>\d+)/(?P<model>[^/]+)$")


def _per_1m(entry: dict, key: str, where: str) -> Decimal | None:
    """LiteLLM prices are USD per token; ours per 1M tokens (exact: Decimal of the JSON text)."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PriceError(f"{where}: {key} must be a number (USD per token), not {value!r}.")
    per_1m = (_price(value, f"{where}: {key}") * MILLION).normalize()
    return Decimal(format(per_1m, "f"))  # 1e-05 per token is "10", not "1E+1"


def _litellm_rows(data: dict, today: date) -> tuple[list[PriceRow], int]:
    rows: dict[tuple[str, str], PriceRow] = {}
    images: list[tuple[str, str, str, Decimal]] = []
    skipped = 0
    for key, entry in data.items():
        if key == "sample_spec" or not isinstance(entry, dict):
            continue
        kind = LITELLM_PROVIDERS.get(entry.get("litellm_provider"))
        if kind is None or entry.get("mode", "chat") not in LITELLM_MODES:
            skipped += 1
            continue
        where = f"entry {key!r}"
        image_key = _LITELLM_IMAGE_KEY.match(key)
        if image_key and entry.get("mode") == "image_generation":
            w, h = int(image_key["w"]), int(image_key["h"])
            per_image = entry.get("output_cost_per_image", entry.get("input_cost_per_image"))
            if per_image is not None:
                price = _price(per_image, f"{where}: output_cost_per_image")
            elif entry.get("input_cost_per_pixel") is not None:
                price = _price(entry["input_cost_per_pixel"], f"{where}: input_cost_per_pixel") * w * h
            else:
                skipped += 1
                continue
            images.append((kind, image_key["model"], f"{w}x{h}" + (f"/{image_key['quality']}" if image_key["quality"] else ""),
                           Decimal(format(price.quantize(QUANTUM, rounding=ROUND_HALF_UP).normalize(), "f"))))
            continue
        name = key.split("/", 1)[1] if "/" in key and key.split("/", 1)[0] == entry.get("litellm_provider") else key
        if "/" in name:  # region- or route-qualified keys (e.g. "gemini/eu/...") are not model names we send
            skipped += 1
            continue
        image = entry.get("mode") == "image_generation"
        tiers = _litellm_tiers(entry, where)
        deprecation = entry.get("deprecation_date")
        try:
            retired = bool(deprecation) and date.fromisoformat(str(deprecation)) <= today
        except ValueError:
            raise PriceError(f"{where}: deprecation_date must be YYYY-MM-DD, not {deprecation!r}.") from None
        fields = {
            "context_window": _count(entry.get("max_input_tokens"), where, "max_input_tokens"),
            "max_output_tokens": _count(entry.get("max_output_tokens"), where, "max_output_tokens"),
            "input_price_per_1m": _per_1m(entry, "input_cost_per_token", where),
            "cached_input_price_per_1m": _per_1m(entry, "cache_read_input_token_cost", where),
            "cache_write_price_per_1m": _per_1m(entry, "cache_creation_input_token_cost", where),
            "cache_write_1h_price_per_1m": _per_1m(entry, "cache_creation_input_token_cost_above_1hr", where),
            # Image models: the output is image tokens, priced apart from text output.
            "output_price_per_1m": _per_1m(entry, "output_cost_per_image_token" if image and entry.get(
                "output_cost_per_image_token") is not None else "output_cost_per_token", where),
            "tiers": tiers,
            "supports_vision": bool(entry.get("supports_vision", False)),
            "supports_image_generation": image,
            "supports_json_schema": not image,
            "retired": retired,
        }
        if image and entry.get("output_cost_per_image") is not None:
            fields["image_prices"] = {"default": str(_price(entry["output_cost_per_image"], f"{where}: output_cost_per_image"))}
        rows[(kind, name)] = PriceRow(kind, name, fields)
    for kind, model, size_key, price in images:
        row = rows.get((kind, model))
        if row is None:
            row = rows[(kind, model)] = PriceRow(kind, model, {"supports_image_generation": True, "supports_json_schema": False})
        row.fields.setdefault("image_prices", {})[size_key] = str(price)
    return list(rows.values()), skipped


# "input_cost_per_token_above_200k_tokens", "cache_creation_input_token_cost_above_1hr_above_200k_tokens", ...
_LITELLM_TIER_KEY = re.compile(
    r"^(?P<kind>input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|"
    r"cache_creation_input_token_cost(?:_above_1hr)?)_above_(?P<k>\d+)k_tokens$"
)
_LITELLM_TIER_FIELDS = {"input_cost_per_token": "input", "output_cost_per_token": "output",
                        "cache_read_input_token_cost": "cached_input", "cache_creation_input_token_cost": "cache_write",
                        "cache_creation_input_token_cost_above_1hr": "cache_write_1h"}


def _litellm_tiers(entry: dict, where: str) -> list[dict]:
    """Long-context tiers from the ``*_above_<N>k_tokens`` keys (200k for Gemini and Claude, 272k for GPT-5.4)."""
    by_threshold: dict[int, dict] = {}
    for key in entry:
        match = _LITELLM_TIER_KEY.match(key)
        if match:
            tier = by_threshold.setdefault(int(match["k"]) * 1000, {})
            tier[_LITELLM_TIER_FIELDS[match["kind"]]] = str(_per_1m(entry, key, where))
    tiers = []
    for threshold, prices in sorted(by_threshold.items()):
        # A tier needs both main prices; LiteLLM lists a lone cache price above 200k for some models.
        prices.setdefault("input", str(_per_1m(entry, "input_cost_per_token", where)) if entry.get("input_cost_per_token") is not None else None)
        prices.setdefault("output", str(_per_1m(entry, "output_cost_per_token", where)) if entry.get("output_cost_per_token") is not None else None)
        if prices["input"] is None or prices["output"] is None:
            continue
        tiers.append({"above_input_tokens": threshold, **prices})
    try:
        return check_tiers(tiers)
    except PriceError as exc:
        raise PriceError(f"{where}: {exc}") from None


def _count(value, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PriceError(f"{where}: {key} must be a whole number of tokens, not {value!r}.")
    return value


def read_price_file(path) -> tuple[str, list[PriceRow], date, int]:
    """(format, rows, prices_as_of, entries skipped) from our price list or LiteLLM's, told apart by content."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PriceError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceError(f"{path}: can't be read ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise PriceError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    if isinstance(data, dict) and "providers" in data and "prices_as_of" in data:
        rows, as_of = _bundled_rows(data)
        return "bundled", rows, as_of, 0
    if isinstance(data, dict) and any(isinstance(v, dict) and "litellm_provider" in v for v in data.values()):
        today = date.today()
        rows, skipped = _litellm_rows(data, today)
        return "litellm", rows, today, skipped
    raise PriceError(
        f"{path} is neither this project's price list (an object with prices_as_of and providers, like "
        "llm/data/prices.json) nor LiteLLM's model_prices_and_context_window.json (an object of model name -> "
        "entry with litellm_provider and input_cost_per_token)."
    )


def sync_prices(rows: list[PriceRow], as_of: date, *, source: str = LLMModel.PriceSource.BUNDLED,
                provider_names: dict[str, str] | None = None, retire_missing: bool = True) -> dict[str, int]:
    """Write price rows into LLMModel rows, in one transaction.

    Rows edited in admin (price_source=admin) are left alone. ``provider_names`` maps a kind to
    the LLMProvider name to attach models to (default: same name as the kind). With
    ``retire_missing``, a row this list wrote before but no longer has is marked retired (kept
    for the log, shown as retired), never deleted.
    """
    created = updated = skipped = retired = kept_newer = 0
    with transaction.atomic():
        by_kind: dict[str, list[PriceRow]] = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row)
        for kind, kind_rows in by_kind.items():
            name = (provider_names or {}).get(kind, kind)
            provider = LLMProvider.objects.filter(name=name).first()
            if provider is None:
                continue
            existing = {m.name: m for m in LLMModel.objects.filter(provider=provider)}
            for entry in kind_rows:
                fields = {**entry.fields, "price_source": source, "prices_as_of": as_of}
                model = existing.get(entry.name)
                if model is None:
                    LLMModel.objects.create(provider=provider, name=entry.name, **fields)
                    created += 1
                elif model.price_source == LLMModel.PriceSource.ADMIN:
                    skipped += 1
                elif (model.price_source == LLMModel.PriceSource.IMPORTED and source != model.price_source
                      and model.prices_as_of and model.prices_as_of >= as_of):
                    kept_newer += 1  # an operator's newer import outlives an older bundle (migrate runs this)
                elif any(getattr(model, k) != v for k, v in fields.items()):
                    for key, value in fields.items():
                        setattr(model, key, value)
                    model.save()
                    updated += 1
            if retire_missing:
                listed = {e.name for e in kind_rows}
                for model in existing.values():
                    if (model.price_source == source and model.name not in listed and not model.retired):
                        model.retired = True
                        model.save(update_fields=["retired"])
                        retired += 1
    return {"created": created, "updated": updated, "kept_admin_edits": skipped, "kept_newer_imports": kept_newer,
            "retired": retired}


def sync_bundled_prices(*, provider_names: dict[str, str] | None = None) -> dict[str, int]:
    """Load the bundled price list into LLMModel rows (see ``sync_prices``)."""
    rows, as_of = _bundled_rows(bundled_prices())
    return sync_prices(rows, as_of, provider_names=provider_names)


def sync_price_file(path, *, provider_names: dict[str, str] | None = None) -> dict:
    """Load a price file (ours or LiteLLM's); nothing is written unless the whole file reads cleanly."""
    fmt, rows, as_of, skipped = read_price_file(path)
    source = LLMModel.PriceSource.BUNDLED if fmt == "bundled" else LLMModel.PriceSource.IMPORTED
    # A LiteLLM file lists what it lists: a model it lacks is not thereby retired.
    result = sync_prices(rows, as_of, source=source, provider_names=provider_names, retire_missing=fmt == "bundled")
    return {"format": fmt, "skipped_entries": skipped, **result}
