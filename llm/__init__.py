"""The one door to every model provider.

Domain apps call ``llm.complete(...)``; nothing outside this package imports a provider SDK.
"""


def complete(**kwargs):
    from .service import complete as _complete

    return _complete(**kwargs)


def stream(**kwargs):
    """``complete()``'s arguments; an iterator of text chunks whose ``.result`` is the Completion
    once exhausted (llm/streaming.py)."""
    from .streaming import stream as _stream

    return _stream(**kwargs)


def new_run_id() -> str:
    from .interactions import new_run_id as _new_run_id

    return _new_run_id()
