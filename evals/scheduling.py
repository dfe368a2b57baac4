"""Scheduled runs: every EVALS_SCHEDULE_INTERVAL seconds the beat entry ``evals-scheduled`` starts
one experiment (trigger "schedule", the suite's default variant) for each suite named in
EVALS_SCHEDULE, so each suite's score-over-time chart gets a point per run without anyone
starting it. A suite that still has an unfinished experiment (queued, running, or waiting for
pasted answers) is skipped: a slow or stuck run is never stacked on by the next tick."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction

from . import queueing, registry, runner
from .models import Experiment

logger = logging.getLogger(__name__)

UNFINISHED = (Experiment.Status.QUEUED, Experiment.Status.RUNNING, Experiment.Status.WAITING)


def scheduled_suites() -> list[str]:
    return [name.strip() for name in getattr(settings, "EVALS_SCHEDULE", []) if name.strip()]


def start_scheduled(names: list[str] | None = None) -> dict[str, str]:
    """Start the scheduled suites' experiments; {suite: "started #id" or why it was skipped}."""
    outcome: dict[str, str] = {}
    for name in scheduled_suites() if names is None else names:
        try:
            suite = registry.get(name)
        except registry.UnknownSuite as exc:
            outcome[name] = f"skipped: {exc}"
            logger.warning("EVALS_SCHEDULE names an unknown suite: %s", exc)
            continue
        with transaction.atomic():
            _lock(suite.name)  # one start per suite at a time, even if two beat ticks overlap
            busy = Experiment.objects.filter(suite=suite.name, status__in=UNFINISHED).order_by("pk").first()
            if busy is not None:
                outcome[name] = f"skipped: experiment #{busy.pk} is still {busy.status}"
                continue
            try:
                experiment = runner.create_experiment(suite=suite.name, variants=[runner.default_variant(suite)],
                                                      trigger="schedule", name=f"{suite.name} (scheduled)")
            except ValueError as exc:  # no dataset, or an empty one
                outcome[name] = f"skipped: {exc}"
                logger.warning("Scheduled evaluation of %s not started: %s", name, exc)
                continue
            queueing.enqueue(experiment.pk)  # after commit, on the bulk queue (evals.tasks.* is routed there)
        outcome[name] = f"started #{experiment.pk}"
    return outcome


def _lock(name: str) -> None:
    """A transaction-scoped lock on the suite's name (PostgreSQL; elsewhere one process runs beat)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"evals.schedule:{name}"])
