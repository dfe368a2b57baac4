"""Start an experiment's work on the bulk queue, by task name (evals/tasks.py imports this module;
the work never imports its task module, so there is no import circle)."""

import llm

from . import batch_delivery
from .models import Experiment

RUN_TASK = "evals.tasks.run_experiment"


def enqueue(experiment_id: int) -> None:
    """After commit: a batch pass for delivery=batch, else the experiment's run task."""
    if Experiment.objects.filter(pk=experiment_id, delivery="batch").exists():
        batch_delivery.send_pass(experiment_id)
        return
    llm.enqueue_after_commit(RUN_TASK, experiment_id)
