"""Every periodic job is a registered task on a queue some worker listens to; every task gets the
time limits of its queue unless it declares its own; the visibility timeout outlasts them all."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from config.queues import QueueTimeLimits, kind_of
from ops.checks import check_visibility_timeout, longest_task_limit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _tasks_imported():
    longest_task_limit()  # imports every app's tasks module, as a worker does at start-up


def test_every_beat_entry_is_a_registered_task_routed_to_a_queue_workers_consume():
    procfile = (ROOT / "Procfile").read_text()
    consumed = set()
    for line in procfile.splitlines():
        if line.startswith("worker_"):
            consumed.update(re.search(r"-Q (\S+)", line).group(1).replace("${CELERY_QUEUE_PREFIX:-}", "").split(","))
    assert settings.CELERY_BEAT_SCHEDULE, "no periodic jobs"
    assert {"watchdog", "usage-rollups", "prune-cache", "log-retention"} <= set(settings.CELERY_BEAT_SCHEDULE)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name}: {entry['task']} is not a registered task"
        queue = app.amqp.router.route({}, entry["task"])["queue"].name
        assert queue == settings.CELERY_QUEUES_BY_KIND["bulk"], f"{name} runs on {queue}, not the bulk queue"
        # A worker started without -Q (make run) consumes every queue in CELERY_TASK_QUEUES ...
        assert queue in {q.name for q in settings.CELERY_TASK_QUEUES}
        # ... and the production Procfile has a worker for it (in the Procfile, queue names have no prefix).
        assert queue.removeprefix(settings.CELERY_QUEUE_PREFIX) in consumed


def test_the_procfile_has_a_worker_for_every_queue_and_a_beat():
    procfile = (ROOT / "Procfile").read_text()
    assert re.search(r"^beat: celery -A config beat ", procfile, re.M)
    for kind in ("interactive", "bulk", "images"):
        assert re.search(rf"^worker_{kind}: celery -A config worker -Q \S*{kind}", procfile, re.M)


@pytest.mark.parametrize("task_name, kind", [
    ("llm.tasks.run_llm_job", "interactive"),
    ("artifacts.tasks.generate_artifact", "interactive"),
    ("llm.tasks.run_image_job", "images"),
    ("artifacts.tasks.make_artifact_image", "images"),
    ("llm.tasks.prune_cache", "bulk"),
    ("llm.tasks.rebuild_recent_rollups", "bulk"),
])
def test_a_task_without_its_own_limits_gets_its_queues(task_name, kind):
    assert kind_of(task_name) == kind
    task = app.tasks[task_name]
    assert (task.soft_time_limit, task.time_limit) == settings.CELERY_QUEUE_TIME_LIMITS[kind]


def test_the_queues_differ_and_a_tasks_own_limits_win():
    limits = settings.CELERY_QUEUE_TIME_LIMITS
    assert limits["interactive"][1] < limits["images"][1] < limits["bulk"][1]
    assert (app.tasks["artifacts.tasks.deliver_webhook"].soft_time_limit, app.tasks["artifacts.tasks.deliver_webhook"].time_limit) == (60, 90)
    assert app.tasks["ops.tasks.watchdog"].time_limit == 300


def test_bad_queue_limits_are_refused():
    with pytest.raises(ValueError, match="bulk"):
        QueueTimeLimits({"bulk": (600, 600)})


def test_the_check_warns_when_the_visibility_timeout_is_shorter_than_a_task(settings):
    name, limit = longest_task_limit()
    assert limit >= settings.CELERY_QUEUE_TIME_LIMITS["bulk"][1] and name
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": limit}
    [warning] = check_visibility_timeout()
    assert warning.id == "ops.W001" and name in warning.msg
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": limit + 1}
    assert check_visibility_timeout() == []


def test_the_default_visibility_timeout_outlasts_every_task():
    assert settings.CELERY_VISIBILITY_TIMEOUT > longest_task_limit()[1]
