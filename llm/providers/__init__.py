"""The provider registry: one class per provider kind, and how to pick the provider of a call."""

import difflib

from django.conf import settings

from .. import definitions
from ..errors import LLMConfigurationError
from ..models import LLMModel, LLMProvider
from .anthropic_provider import AnthropicProvider
from .base import Provider, ProviderRequest, ProviderResponse, Usage
from .gemini_provider import GeminiProvider
from .manual import ManualProvider
from .openai_provider import OpenAICompatibleProvider, OpenAIProvider

PROVIDERS: dict[str, type[Provider]] = {
    cls.kind: cls for cls in (OpenAIProvider, OpenAICompatibleProvider, AnthropicProvider, GeminiProvider, ManualProvider)
}

# Preference order for the default when LLM_DEFAULT_PROVIDER is not set.
_DEFAULT_ORDER = ["gemini", "openai", "anthropic", "openai_compatible"]

__all__ = [
    "PROVIDERS", "Provider", "ProviderRequest", "ProviderResponse", "Usage",
    "client_for", "default_provider", "get_provider", "provider_statuses", "resolve_model", "resolve_target",
]


def client_for(config: LLMProvider, *, api_key: str | None = None) -> Provider:
    cls = PROVIDERS.get(config.kind)
    if cls is None:
        raise LLMConfigurationError(f"Provider {config.name} has unknown kind {config.kind!r}.")
    timeout = config.timeout_seconds or settings.LLM_REQUEST_TIMEOUT
    return cls(config, api_key=api_key, timeout=timeout)


def get_provider(provider: "LLMProvider | str | None") -> LLMProvider:
    if isinstance(provider, LLMProvider):
        return provider
    if provider:
        found = definitions.provider_named(provider)
        if found is None:
            names = ", ".join(LLMProvider.objects.values_list("name", flat=True)) or "none"
            raise LLMConfigurationError(f"Unknown provider {provider!r}. Known providers: {names}.")
        return found
    return default_provider()


def resolve_target(provider: "LLMProvider | str | None",
                   model: "LLMModel | str | None") -> tuple[LLMProvider, "LLMModel | str | None"]:
    """The provider a call goes to and the model (row or name) to send it.

    A named provider wins (``model`` may then still be written ``provider/model``). Without one:
    ``provider/model`` (``anthropic/claude-haiku-4-5``, as LiteLLM users write it) names both; a
    model the price list knows picks its provider; no model at all goes to the default provider;
    a name on several providers, or on none, is an error that lists the choices (unless
    LLM_DEFAULT_PROVIDER is set, which then serves the names nobody else lists).
    """
    if isinstance(model, LLMModel):
        return (get_provider(provider) if provider else model.provider), model
    if provider:
        row = get_provider(provider)
        if model and model.startswith(row.name + "/"):
            model = model[len(row.name) + 1:]
        return row, model
    if not model:
        return default_provider(), model
    prefix, _, rest = model.partition("/")
    if rest:
        named = definitions.provider_named(prefix)
        if named is not None:
            return named, rest
    return _provider_of_model(model), model


def _provider_of_model(name: str) -> LLMProvider:
    rows = list(
        LLMModel.objects.filter(name=name, provider__enabled=True)
        .exclude(provider__kind=LLMProvider.Kind.MANUAL).select_related("provider")
    )
    default_name = settings.LLM_DEFAULT_PROVIDER
    if default_name and any(r.provider.name == default_name for r in rows):
        return get_provider(default_name)
    # Rows with unknown prices are mostly names someone once sent to the wrong provider: a priced row wins.
    known = [r for r in rows if r.price_source != LLMModel.PriceSource.UNKNOWN] or rows
    configured = [r for r in known if r.provider.is_configured]
    if len(known) == 1:
        return known[0].provider
    if len(configured) == 1:
        return configured[0].provider
    if known:
        choices = ", ".join(f"{r.provider.name}/{name}" for r in (configured or known))
        raise LLMConfigurationError(
            f"Model {name!r} is offered by several providers: {choices}. Name one, e.g. {(configured or known)[0].provider.name}/{name} "
            "(or provider=… / --provider)."
        )
    if default_name:
        return get_provider(default_name)
    known_names = sorted(
        f"{p}/{m}" for p, m in LLMModel.objects.filter(provider__enabled=True)
        .exclude(price_source=LLMModel.PriceSource.UNKNOWN).exclude(provider__kind=LLMProvider.Kind.MANUAL)
        .values_list("provider__name", "name")
    )
    close = difflib.get_close_matches(name, [n.split("/", 1)[1] for n in known_names], n=5, cutoff=0.6)
    similar = [n for n in known_names if n.split("/", 1)[1] in close][:5]
    configured = [p for p in LLMProvider.objects.filter(enabled=True) if p.is_configured]
    example = next((p.name for p in configured if p.kind != LLMProvider.Kind.MANUAL), "openai")
    raise LLMConfigurationError(
        f"Unknown model {name!r}: no provider's price list has it, so say which provider serves it, e.g. "
        f"{example}/{name} (or provider=… / --provider). Configured providers: "
        f"{', '.join(p.name for p in configured) or 'none'}."
        + (f" Similar known models: {', '.join(similar)}." if similar else "")
    )


def default_provider() -> LLMProvider:
    """LLM_DEFAULT_PROVIDER if set, else the first configured provider, else the manual one."""
    if settings.LLM_DEFAULT_PROVIDER:
        return get_provider(settings.LLM_DEFAULT_PROVIDER)
    everything = definitions.providers()
    if everything is None:
        everything = list(LLMProvider.objects.all())
    candidates = [p for p in everything if p.enabled]
    for kind in _DEFAULT_ORDER:
        for p in candidates:
            if p.kind == kind and p.is_configured:
                return p
    # The copy/paste provider by name first: "browser" (llm/providers/browser.py) is manual-kind too.
    manual = next((p for p in candidates if p.kind == LLMProvider.Kind.MANUAL and p.name == "manual"), None) or next(
        (p for p in candidates if p.kind == LLMProvider.Kind.MANUAL), None)
    if manual is None:
        manual, _ = LLMProvider.objects.get_or_create(
            name="manual", defaults={"kind": LLMProvider.Kind.MANUAL, "display_name": "Copy/paste (any chat LLM)",
                                     "key_source": LLMProvider.KeySource.NONE, "default_model": "manual"},
        )
    return manual


def resolve_model(provider: LLMProvider, model: "LLMModel | str | None", user=None) -> LLMModel:
    """The LLMModel row for a name; an unknown name gets a row with unknown prices (cost logged NULL).

    ``user``: who asked for the name. A new row made for a user who is not staff is theirs
    (``owner``): listed to them only, never in the model list everyone else sees.
    """
    if isinstance(model, LLMModel):
        return model
    name = model or provider.default_model
    if not name and settings.LLM_DEFAULT_MODEL and provider.name == settings.LLM_DEFAULT_PROVIDER:
        name = settings.LLM_DEFAULT_MODEL
    if not name:
        first = provider.models.filter(enabled=True).order_by("name").first()
        if first is None:
            raise LLMConfigurationError(f"Provider {provider.name} has no models: name one with model=… or add it in admin.")
        first.provider = provider
        return first
    defaults = (
        {"price_source": LLMModel.PriceSource.UNKNOWN}
        if provider.kind != LLMProvider.Kind.MANUAL
        else {"price_source": LLMModel.PriceSource.BUNDLED, "input_price_per_1m": 0, "output_price_per_1m": 0,
              "cached_input_price_per_1m": 0}
    )
    if getattr(user, "pk", None) and not user.is_staff:
        defaults["owner_id"] = user.pk
    return definitions.model_named(provider, name, defaults)


def provider_statuses() -> list[dict]:
    return [
        {"provider": p, "configured": p.is_configured, "problem": p.configuration_problem()}
        for p in LLMProvider.objects.all()
    ]
