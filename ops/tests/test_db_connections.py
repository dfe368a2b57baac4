"""Workers keep their database connection from task to task (Celery's Django fixup would close it
before and after every task), while Django's rules still apply between tasks: a connection past
CONN_MAX_AGE is closed, and one that broke is replaced."""

import time
from types import SimpleNamespace

import pytest
from django.db import connection

from ops.celery_signals import recycle_db_connections


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _task(eager=False):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def _around_task(fixup, task, body):
    # The order a worker runs them in: Celery's fixup and our receiver at task_prerun, the task,
    # then both again at task_postrun.
    fixup.on_task_prerun(sender=task)
    recycle_db_connections(task=task)
    try:
        return body()
    finally:
        fixup.on_task_postrun(sender=task)
        recycle_db_connections(task=task)


@pytest.mark.django_db(transaction=True)
def test_a_worker_reuses_its_connection_across_tasks_and_still_recycles_old_ones(settings):
    from celery.fixups.django import DjangoWorkerFixup

    from config.celery import app

    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max == settings.CELERY_DB_REUSE_MAX > 0
    task = _task()

    pids = {_around_task(fixup, task, _backend_pid) for _ in range(6)}
    assert len(pids) == 1, "every task opened a new PostgreSQL connection"

    connection.close_at = time.monotonic() - 1  # older than CONN_MAX_AGE
    assert _around_task(fixup, task, _backend_pid) not in pids

    # A connection that broke between tasks (server restart, idle timeout) is replaced before use.
    broken = _backend_pid()
    with _other_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [broken])
    assert _around_task(fixup, task, _backend_pid) != broken


class _other_connection:
    """A second, plain psycopg connection to the same database (to end the first one's backend)."""

    def __enter__(self):
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.conn = psycopg.connect(**params, autocommit=True)
        return self.conn

    def __exit__(self, *exc):
        self.conn.close()


@pytest.mark.django_db(transaction=True)
def test_the_setting_can_turn_reuse_off(settings):
    from celery.fixups.django import DjangoWorkerFixup

    from config.celery import app

    app.conf.CELERY_DB_REUSE_MAX = 0
    try:
        fixup = DjangoWorkerFixup(app)
        pids = {_around_task(fixup, _task(), _backend_pid) for _ in range(3)}
        assert len(pids) == 3
    finally:
        app.conf.CELERY_DB_REUSE_MAX = settings.CELERY_DB_REUSE_MAX
