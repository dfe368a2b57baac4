"""Heartbeats for the batches this process is working on.

One daemon thread per process (started lazily, restarted after a fork, so it works in a solo
worker, in each prefork child and in ``run_inline``'s threads) touches
``SegmentationBatch.heartbeat_at`` of every batch registered here, every
``conf.heartbeat_interval()`` seconds, with one UPDATE per claim token. A batch whose worker
died stops beating, and ``resume_stale_runs`` picks it up once the beat is older than
``SEGMENTATION_HEARTBEAT_STALE_SECONDS``. A thread (rather than beating at the llm call
boundaries) keeps beating through a slow provider call or a long consolidation.
"""

import logging
import os
import threading
from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

from . import conf

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_active: dict[int, str] = {}  # batch id -> claim token
_thread: threading.Thread | None = None
_pid: int | None = None


@contextmanager
def beating(batch_id: int, token: str):
    """Keep the batch's heartbeat fresh while the block runs."""
    with _lock:
        _active[batch_id] = token
        _ensure_thread()
    try:
        yield
    finally:
        with _lock:
            _active.pop(batch_id, None)


def _ensure_thread() -> None:
    global _thread, _pid
    if _thread is not None and _pid == os.getpid() and _thread.is_alive():
        return
    _pid = os.getpid()
    _thread = threading.Thread(target=_loop, name="segmentation-heartbeat", daemon=True)
    _thread.start()


def beat_once() -> int:
    """Touch the heartbeat of every registered batch still held by its token; returns rows touched."""
    from .models import SegmentationBatch

    with _lock:
        items = dict(_active)
    by_token: dict[str, list[int]] = {}
    for batch_id, token in items.items():
        by_token.setdefault(token, []).append(batch_id)
    touched = 0
    now = timezone.now()
    for token, ids in by_token.items():
        touched += SegmentationBatch.objects.filter(
            pk__in=ids, status=SegmentationBatch.Status.RUNNING, claimed_by=token
        ).update(heartbeat_at=now)
    return touched


def _loop() -> None:
    import time

    while True:
        time.sleep(conf.heartbeat_interval())
        if not _active:
            continue
        try:
            beat_once()
        except Exception:  # a lost DB connection must not kill the thread: the next beat reconnects
            logger.warning("Segmentation heartbeat failed", exc_info=True)
        finally:
            # A beat every few seconds does not need a connection held open in between (and an
            # idle one would keep e.g. a test database from being dropped).
            try:
                connection.close()
            except Exception:
                pass
