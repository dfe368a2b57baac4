"""Token count and cost range of a call before it is made (offline: no provider is asked)."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from . import structured
from ..models import LLMModel, LLMProvider
from ..records import cost_for
from ..providers import Usage, get_provider, resolve_model
from .service import normalize_messages
from .tokens import count_input_tokens


@dataclass
class Estimate:
    provider: str
    model: str
    input_tokens: int
    max_output_tokens: int
    min_cost_usd: Decimal | None  # input only (the answer could be empty)
    max_cost_usd: Decimal | None  # input plus every allowed output token
    price_known: bool


def max_output_for(model: LLMModel, max_tokens: int | None) -> int:
    return max_tokens or min(model.max_output_tokens or settings.LLM_DEFAULT_MAX_TOKENS, settings.LLM_DEFAULT_MAX_TOKENS)


def estimate(*, messages=None, prompt=None, system=None, provider: "LLMProvider | str | None" = None,
             model: "LLMModel | str | None" = None, schema=None, max_tokens: int | None = None,
             user=None) -> Estimate:
    provider_row = get_provider(provider)
    model_row = resolve_model(provider_row, model, user=user)
    msgs = normalize_messages(messages, prompt, system)
    json_schema, _ = structured.schema_of(schema)
    n_in = count_input_tokens(msgs, json_schema)
    n_out = max_output_for(model_row, max_tokens)
    return Estimate(
        provider=provider_row.name, model=model_row.name, input_tokens=n_in, max_output_tokens=n_out,
        min_cost_usd=cost_for(model_row, Usage(input_tokens=n_in)),
        max_cost_usd=cost_for(model_row, Usage(input_tokens=n_in, output_tokens=n_out)),
        price_known=model_row.price_known,
    )
