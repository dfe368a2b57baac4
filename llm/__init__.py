"""The one door to every model provider.

Domain apps call ``llm.complete(...)``; nothing outside this package imports a provider SDK.
"""


def complete(**kwargs):
    from .calls import complete as _complete

    return _complete(**kwargs)


def stream(**kwargs):
    """``complete()``'s arguments; an iterator of text chunks whose ``.result`` is the Completion
    once exhausted (llm/calls/streaming.py)."""
    from .calls.streaming import stream as _stream

    return _stream(**kwargs)


def enqueue(name: str, *args) -> None:
    """Queue the Celery task registered as ``name`` now (llm/calls/enqueue.py)."""
    from .calls.enqueue import enqueue as _enqueue

    _enqueue(name, *args)


def enqueue_after_commit(name: str, *args) -> None:
    """Queue the Celery task registered as ``name`` once the current transaction commits."""
    from .calls.enqueue import enqueue_after_commit as _after

    _after(name, *args)


def new_run_id() -> str:
    from .records import new_run_id as _new_run_id

    return _new_run_id()
