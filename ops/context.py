"""The request id of the user action being served, carried through context variables.

The web middleware sets it for a request, Celery signals carry it into the tasks that request
starts (and the tasks those start), and log lines and ``LLMQuery`` rows read it from here, so
one user action can be followed from the browser to the last model call. Context variables
rather than thread-locals: each thread, task and asyncio task sees its own value.

No Django or Celery imports here: the logging filter and a model field default use this
module, and logging is configured before the apps are loaded.
"""

import contextvars
import re
import uuid

# An incoming id (X-Request-ID header, task message header) is accepted only in this shape:
# it ends up in log lines, headers and a database column.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_task: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("celery_task", default=("", ""))


def new_request_id() -> str:
    return uuid.uuid4().hex


def is_valid_request_id(value) -> bool:
    return isinstance(value, str) and bool(REQUEST_ID_PATTERN.match(value))


def current_request_id() -> str:
    """The current request id, or "" outside a request or task (also the ``LLMQuery.request_id`` default)."""
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def current_task() -> tuple[str, str]:
    """(task id, task name) of the Celery task running in this context, or ("", "")."""
    return _task.get()


def set_task(task_id: str, task_name: str) -> contextvars.Token:
    return _task.set((task_id or "", task_name or ""))


def reset_task(token: contextvars.Token) -> None:
    _task.reset(token)
