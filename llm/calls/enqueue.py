"""Queue a Celery task by its registered name (now, or once the transaction commits).

The one way work hands work to a worker, in llm and in the domain apps (``llm.enqueue`` /
``llm.enqueue_after_commit``): the work (llm's jobs.py and images.py, products' bulk items, the
batch passes of segmentation, artifacts and evals) queues its follow-up by name instead of importing
its task module, so a task module imports the work and the work never imports its task module: no
import circle. The name is the task's registered name, e.g. "llm.tasks.run_llm_job". Looked up in
Celery's registry, so ``task_always_eager`` still runs it inline.
"""

from importlib import import_module

from django.db import transaction


def task_named(name: str):
    """The registered Celery task called ``name``; raises KeyError naming it when there is none."""
    from celery import current_app

    task = current_app.tasks.get(name)
    if task is None:  # autodiscovery is lazy outside a worker (a web process): importing the module registers its tasks
        module = name.rpartition(".")[0]
        if module:
            try:
                import_module(module)
            except ImportError:
                current_app.loader.import_default_modules()
        task = current_app.tasks.get(name)
    if task is None:
        raise KeyError(f"No Celery task is registered as {name!r}; check the name (module path + function).")
    return task


def enqueue(name: str, *args) -> None:
    """``task.delay(*args)`` for the task registered as ``name``, now."""
    task_named(name).delay(*args)


def enqueue_after_commit(name: str, *args) -> None:
    """``task.delay(*args)`` for the task registered as ``name``, after the current transaction
    commits (at once outside a transaction), so the worker finds the rows it is given."""
    transaction.on_commit(lambda: task_named(name).delay(*args))
