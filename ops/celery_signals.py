"""Carry the request id into Celery tasks, make workers log through our LOGGING, and keep
their database connections between tasks under Django's rules (CONN_MAX_AGE, health checks).

Publishing (web request, or a task starting the next one): the current request id goes into
the message headers. Running: the worker reads it back from ``task.request`` and sets it for
the task, so the task's log lines and LLMQuery rows carry the id of the user action that
started it, and tasks it starts in turn keep it. A task that arrives without one (beat, the
shell) gets a fresh id so its own calls still group. Connected from ``OpsConfig.ready()``.
"""

import logging
import logging.config

from celery import signals

from . import context

HEADER = "request_id"

# Tokens to undo what task_prerun set, by task id: task_prerun and task_postrun both get it, and
# Celery sends task_postrun even when the task raised, so entries do not pile up.
_tokens: dict[str, tuple] = {}


def add_request_id_header(headers=None, **kwargs) -> None:
    request_id = context.current_request_id()
    if request_id and headers is not None and HEADER not in headers:
        headers[HEADER] = request_id


def _incoming_request_id(task) -> str:
    request = getattr(task, "request", None)
    for value in (getattr(request, HEADER, None), (getattr(request, "headers", None) or {}).get(HEADER)):
        if context.is_valid_request_id(value):
            return value
    return ""


def enter_task(task_id=None, task=None, **kwargs) -> None:
    # Eager tasks (tests, CELERY_TASK_ALWAYS_EAGER) run inside the caller: keep the caller's id.
    request_id = _incoming_request_id(task) or context.current_request_id() or context.new_request_id()
    _tokens[task_id] = (context.set_request_id(request_id), context.set_task(task_id, getattr(task, "name", "")))


def leave_task(task_id=None, **kwargs) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens is None:
        return
    request_token, task_token = tokens
    try:
        context.reset_task(task_token)
        context.reset_request_id(request_token)
    except ValueError:  # created in another context (should not happen): clear rather than leak
        context.set_task("", "")
        context.set_request_id("")


def configure_worker_logging(loglevel=None, **kwargs) -> None:
    """Workers log through settings.LOGGING (JSON or text, request id filter) instead of Celery's
    own handlers. Having a receiver for ``setup_logging`` is what stops Celery from installing them;
    the worker's ``--loglevel`` still sets the level."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def recycle_db_connections(task=None, **kwargs) -> None:
    """Before and after each task, what Django does around each web request: close connections
    that are past CONN_MAX_AGE or broken, and health-check the others on first use
    (CONN_HEALTH_CHECKS). Celery's own fixup only closes them every CELERY_DB_REUSE_MAX tasks.
    Eager tasks run inside the caller's transaction: leave its connection alone."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


def connect() -> None:
    # weak=False: the receivers are module functions, but be explicit that they must live on.
    signals.before_task_publish.connect(add_request_id_header, weak=False, dispatch_uid="ops.request_id.publish")
    signals.task_prerun.connect(enter_task, weak=False, dispatch_uid="ops.request_id.prerun")
    signals.task_postrun.connect(leave_task, weak=False, dispatch_uid="ops.request_id.postrun")
    signals.task_prerun.connect(recycle_db_connections, weak=False, dispatch_uid="ops.db.prerun")
    signals.task_postrun.connect(recycle_db_connections, weak=False, dispatch_uid="ops.db.postrun")
    signals.setup_logging.connect(configure_worker_logging, weak=False, dispatch_uid="ops.logging.setup")
