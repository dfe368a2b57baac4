import pytest


@pytest.fixture
def private_queues(celery_workers):
    """The test's own (prefixed) queues with no worker on them: what the watchdog enqueues stays
    there to be counted, and is purged afterwards."""
    yield celery_workers
    from config.celery import app

    with app.connection_for_write() as conn:
        for name in celery_workers.queues.values():
            try:
                conn.default_channel.queue_purge(name)
            except Exception:
                pass
