"""Queue a Celery task by its registered name once the transaction commits.

The work (jobs.py, images.py) queues its follow-up through here instead of importing
``llm.tasks``: the task module imports the work, the work never imports its task module, so
there is no import circle. The name is the task's registered name, e.g. "llm.tasks.run_llm_job".
"""

from importlib import import_module

from django.db import transaction


def task_named(name: str):
    """The registered Celery task called ``name``; raises KeyError naming it when there is none."""
    from celery import current_app

    task = current_app.tasks.get(name)
    if task is None:  # autodiscovery is lazy outside a worker: importing the module registers its tasks
        module = name.rpartition(".")[0]
        if module:
            import_module(module)
        task = current_app.tasks.get(name)
    if task is None:
        raise KeyError(f"No Celery task is registered as {name!r}; check the name (module path + function).")
    return task


def enqueue_after_commit(name: str, *args) -> None:
    """``task.delay(*args)`` for the task registered as ``name``, after the current transaction
    commits (at once outside a transaction), so the worker finds the rows it is given."""
    transaction.on_commit(lambda: task_named(name).delay(*args))
