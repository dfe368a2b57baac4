"""Scheduled runs (the beat entry ``evals-scheduled``): an experiment per scheduled suite with its
default variant, a point on the suite's score over time, and no second run while one is unfinished."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals import runner, summary, tasks
from evals.models import Experiment
from evals.testing import CatalogModel

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SUITE = "products.identify_category"


@pytest.fixture
def scheduled(settings, providers, fake, identify_dataset, celery_eager):
    settings.EVALS_SCHEDULE = [SUITE]
    settings.LLM_DEFAULT_PROVIDER, settings.LLM_DEFAULT_MODEL = "openai", "gpt-4o-mini"
    fake.set_default(CatalogModel("correct"))
    return settings


def test_the_scheduled_task_runs_each_scheduled_suite_with_its_default_variant(scheduled):
    outcome = tasks.run_scheduled()
    experiment = Experiment.objects.get()
    assert outcome == {SUITE: f"started #{experiment.pk}"}
    assert experiment.trigger == "schedule" and experiment.status == Experiment.Status.DONE and experiment.owner is None
    [variant] = experiment.variants.all()
    assert (variant.template, variant.template_version, variant.provider, variant.model) == ("identify_category", 3, "", "")
    [row] = summary.summarize(experiment)
    assert row.score == 1.0 and row.done == 60
    # Each scheduled run is a point on the suite's score over time, next to manual runs.
    manual = runner.create_experiment(suite=SUITE, trigger="manual")
    runner.work(manual.pk, concurrency=2)
    assert [(p["trigger"], p["score"]) for p in summary.suite_history(SUITE)] == [("schedule", 1.0), ("manual", 1.0)]


def test_a_suite_with_an_unfinished_experiment_is_skipped(scheduled):
    busy = runner.create_experiment(suite=SUITE, trigger="manual")
    Experiment.objects.filter(pk=busy.pk).update(status=Experiment.Status.RUNNING)
    assert tasks.run_scheduled() == {SUITE: f"skipped: experiment #{busy.pk} is still running"}
    Experiment.objects.filter(pk=busy.pk).update(status=Experiment.Status.WAITING)
    assert tasks.run_scheduled()[SUITE].startswith("skipped")
    assert Experiment.objects.count() == 1
    Experiment.objects.filter(pk=busy.pk).update(status=Experiment.Status.DONE)
    assert tasks.run_scheduled()[SUITE].startswith("started #")
    assert Experiment.objects.filter(trigger="schedule", status=Experiment.Status.DONE).count() == 1


def test_an_unknown_suite_or_one_without_a_dataset_is_skipped_and_the_others_still_start(scheduled):
    scheduled.EVALS_SCHEDULE = ["no.such_suite", "artifacts.faithfulness", SUITE]
    outcome = tasks.run_scheduled()
    assert outcome["no.such_suite"].startswith("skipped: No evaluation suite 'no.such_suite'")
    assert outcome["artifacts.faithfulness"] == "skipped: No dataset for artifacts.faithfulness: import one (manage.py eval import) or run manage.py seed_demo."
    assert outcome[SUITE].startswith("started #")
    assert list(Experiment.objects.values_list("suite", flat=True)) == [SUITE]


def test_nothing_is_scheduled_by_default(settings, identify_dataset):
    assert settings.EVALS_SCHEDULE == [] and settings.EVALS_SCHEDULE_INTERVAL == 86400
    assert "evals-scheduled" not in settings.CELERY_BEAT_SCHEDULE
    assert tasks.run_scheduled() == {} and not Experiment.objects.exists()


def _beat_schedule(**env) -> dict:
    code = (
        "import json, django; django.setup()\n"
        "from django.conf import settings\n"
        "from config.celery import app\n"
        "app.loader.import_default_modules()\n"
        "entry = settings.CELERY_BEAT_SCHEDULE.get('evals-scheduled')\n"
        "queue = app.amqp.router.route({}, entry['task'])['queue'].name if entry else None\n"
        "print(json.dumps({'entry': entry, 'registered': bool(entry) and entry['task'] in app.tasks, 'queue': queue,\n"
        "                  'bulk': settings.CELERY_QUEUES_BY_KIND['bulk'], 'beat': 'evals-scheduled' in app.conf.beat_schedule}))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EVALS_SCHEDULE")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_beat_schedule_has_the_entry_when_suites_are_scheduled():
    configured = _beat_schedule(EVALS_SCHEDULE="products.identify_category,products.map_attributes",
                                EVALS_SCHEDULE_INTERVAL="3600")
    assert configured["entry"] == {"task": "evals.tasks.run_scheduled", "schedule": 3600.0, "options": {"expires": 3600.0}}
    assert configured["registered"] and configured["beat"] and configured["queue"] == configured["bulk"]
    assert _beat_schedule()["entry"] is None
    assert _beat_schedule(EVALS_SCHEDULE="products.identify_category", EVALS_SCHEDULE_INTERVAL="0")["entry"] is None
