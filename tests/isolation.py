"""Per-worker resources for a parallel run (pytest-xdist), set before Django reads its settings.

Loaded with ``-p tests.isolation`` (pytest.ini), so it runs before pytest-django imports
``config.settings``: the settings, and every process a test starts (Celery workers, bench scripts,
``manage.py`` subprocesses), read these variables from the environment.

pytest-django already gives each xdist worker its own test database (``test_<name>_gw0``, …).
Everything else the tests share would collide between two workers, so worker ``gwN`` gets:

- Redis: ``REDIS_URL``'s database number + 2N for the broker, rate limits, concurrency leases and
  pub/sub, and the one after it for the cache (``cache.clear()`` is a FLUSHDB, which must not
  empty the other worker's keys or queues); ``CELERY_BROKER_URL`` and ``REDIS_CACHE_URL`` follow;
- ``VAR_DIR`` (the filesystem cache and broker fallbacks, static files, beat schedule): a
  temporary folder of its own.

Ports are never fixed (the fake provider, live server and test servers bind port 0) and
``tmp_path`` is per worker already. A serial run is worker 0: the databases it was given.
"""

import atexit
import os
import shutil
import tempfile
import urllib.parse

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … (unset in a serial run)
INDEX = int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else 0
REDIS_DBS_PER_WORKER = 2  # broker (and everything else in REDIS_URL), cache


def redis_db(url: str) -> int:
    path = urllib.parse.urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def with_redis_db(url: str, db: int) -> str:
    return urllib.parse.urlsplit(url)._replace(path=f"/{db}").geturl()


def _isolate() -> None:
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url.startswith(("redis://", "rediss://")) and INDEX:
        shift = REDIS_DBS_PER_WORKER * INDEX
        own = with_redis_db(redis_url, redis_db(redis_url) + shift)
        broker = os.environ.get("CELERY_BROKER_URL", "")
        if not broker or broker == redis_url:
            os.environ["CELERY_BROKER_URL"] = own
        elif broker.startswith(("redis://", "rediss://")):
            os.environ["CELERY_BROKER_URL"] = with_redis_db(broker, redis_db(broker) + shift)
        cache = os.environ.get("REDIS_CACHE_URL", "")
        if cache:
            os.environ["REDIS_CACHE_URL"] = with_redis_db(cache, redis_db(cache) + shift)
        os.environ["REDIS_URL"] = own
    if "VAR_DIR" not in os.environ:
        var = tempfile.mkdtemp(prefix=f"llmplatform-test-{WORKER or 'serial'}-")
        os.environ["VAR_DIR"] = var
        atexit.register(shutil.rmtree, var, ignore_errors=True)


_isolate()
