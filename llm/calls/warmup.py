"""Pay a worker's one-time costs when it starts, not on the first user's call.

The first ``complete()`` in a fresh process builds the SDK client (connection pool, TLS
context: tens of milliseconds), loads the provider/model/budget definitions and imports the
structured-output machinery. A Celery worker process does this at start
(``worker_process_init`` / ``worker_ready``, see llm/tasks.py), so the first batch of a run is as
fast as the others.
"""

import logging

log = logging.getLogger(__name__)


def warm_up() -> list[str]:
    """Build the SDK clients of the enabled providers that have a key; returns their names."""
    from .. import definitions
    from . import structured  # noqa: F401  (imported for its one-time cost)
    from ..models import LLMProvider
    from ..providers import client_for

    definitions.current()
    warmed = []
    for config in LLMProvider.objects.filter(enabled=True).exclude(kind="manual"):
        try:
            provider = client_for(config)
            if not provider.api_key and config.kind in ("openai", "anthropic", "gemini"):
                continue
            provider.client()
            warmed.append(config.name)
        except Exception as exc:  # a provider that cannot be built now fails, with its message, on first use
            log.info("warm-up skipped %s: %s", config.name, exc)
    return warmed
