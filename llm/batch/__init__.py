"""Provider batch delivery: gather a run's requests, send them as provider batches at batch prices,
poll them from Celery beat, and hand every answer to the same code path as an interactive one.

    from llm import batch
    batch.register_handler("products.bulk", BulkHandler())           # at AppConfig.ready()
    batch.submit(owner="products.BulkJob:12", handler="products.bulk", requests=[batch.Request(key=…, purpose=…, messages=…, schema=…)])

Answers arrive through ``complete()`` (validation, retry prompt, interaction files, LLMQuery rows
with delivery="batch", the batch id and the custom id), then the handler's ``on_answer``.
Modules: models.py (rows), adapters.py (one per provider SDK), service.py (submit, poll, deliver),
tasks.py (the beat task); collect mode, which gathers calls inside complete(), is llm/calls/collect.py.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: llm/models.py imports llm.batch.models while the app registry is still loading.
    import importlib

    service = importlib.import_module(f"{__name__}.service")
    if name in service.__all__:
        return getattr(service, name)
    raise AttributeError(name)
