"""Default providers and the bundled prices: created after every ``migrate`` and ``make run`` (idempotent).

Existing rows are never changed here except by the price sync, which leaves rows edited in
admin alone; a provider an admin edited keeps its edits.
"""

from django.db import DEFAULT_DB_ALIAS, connections

from .models import LLMModel, LLMProvider
from .records import sync_bundled_prices

DEFAULT_PROVIDERS = [
    {"name": "openai", "kind": "openai", "display_name": "OpenAI", "api_key_env": "OPENAI_API_KEY", "default_model": "gpt-4o-mini"},
    {"name": "anthropic", "kind": "anthropic", "display_name": "Anthropic", "api_key_env": "ANTHROPIC_API_KEY", "default_model": "claude-haiku-4-5"},
    {"name": "gemini", "kind": "gemini", "display_name": "Google Gemini", "api_key_env": "GEMINI_API_KEY", "default_model": "gemini-2.0-flash"},
    {"name": "manual", "kind": "manual", "display_name": "Copy/paste (any chat LLM)", "key_source": "none", "default_model": "manual"},
    # A local OpenAI-compatible server (Ollama's default address); disabled until someone runs one.
    {"name": "ollama", "kind": "openai_compatible", "display_name": "Ollama (local)", "key_source": "none",
     "base_url": "http://127.0.0.1:11434/v1", "default_model": "llama3.2", "enabled": False},
]


def ensure_defaults() -> dict:
    created = []
    for spec in DEFAULT_PROVIDERS:
        spec = dict(spec)
        name = spec.pop("name")
        _, was_created = LLMProvider.objects.get_or_create(name=name, defaults=spec)
        if was_created:
            created.append(name)
    manual = LLMProvider.objects.get(name="manual")
    LLMModel.objects.get_or_create(
        provider=manual, name="manual",
        defaults={"display_name": "Whatever chat LLM you paste from", "input_price_per_1m": 0, "output_price_per_1m": 0,
                  "cached_input_price_per_1m": 0, "price_source": LLMModel.PriceSource.BUNDLED},
    )
    prices = sync_bundled_prices()
    return {"providers_created": created, **prices}


def defaults_after_migrate(sender, *, apps=None, using=DEFAULT_DB_ALIAS, verbosity=1, **kwargs) -> None:
    """post_migrate receiver: ``ensure_defaults`` once the llm tables match the current models.

    Skipped when llm was migrated backwards (the tables then lack fields the code reads) or
    the run is on another database than the default one.
    """
    if using != DEFAULT_DB_ALIAS:
        return
    if apps is not None:
        try:
            state = {m: {f.name for f in apps.get_model("llm", m)._meta.get_fields()} for m in ("LLMProvider", "LLMModel")}
        except LookupError:
            return
        current = {"LLMProvider": LLMProvider, "LLMModel": LLMModel}
        for name, fields in state.items():
            if not {f.name for f in current[name]._meta.concrete_fields} <= fields:
                return
    if LLMProvider._meta.db_table not in connections[using].introspection.table_names():
        return
    result = ensure_defaults()
    if verbosity >= 1 and (result["providers_created"] or result["created"]):
        print(f"  LLM defaults: providers created {result['providers_created'] or 'none'}; "
              f"{result['created']} models priced from the bundled list.")
