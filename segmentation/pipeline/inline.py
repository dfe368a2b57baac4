"""The in-process runner (``manage.py segment``, the bench): a run's batches on a thread pool."""

import time
from typing import Callable

from .. import conf
from ..models import SegmentationRun
from . import control
from .base import Run
from .control import advance, pending_batches
from .progress import index_interactions


def run_inline(run_id: str, *, workers: int | None = None, on_progress: Callable[[SegmentationRun], None] | None = None) -> SegmentationRun:
    """Run (or resume) a run in this process, ``workers`` batches at a time, until it stops."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    workers = workers or conf.concurrency()
    token = f"inline-{time.monotonic_ns()}"
    # One pool for the whole run: each thread keeps its database connection from batch to batch
    # (opening one per batch cost more than the batch's own queries) and closes it at the end.
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    def one(batch_id: int) -> str:
        return control.process_batch(batch_id, token)  # looked up per call: the bench wraps it

    indexed_stage = None
    try:
        while True:
            run = Run.objects.get(pk=run_id)
            if run.status != Run.Status.RUNNING:
                break
            pending = pending_batches(run_id)
            # A lone batch (consolidation) runs in this thread: it may hold the caller's transaction.
            results = pool.map(one, pending) if pool and len(pending) > 1 else map(one, pending)
            if pending and run.stage != indexed_stage:
                # The calls of the stage before go into the index (while the new stage's batches run,
                # when they run in the pool).
                index_interactions(run)
                indexed_stage = run.stage
            for _ in results:
                if on_progress:
                    on_progress(Run.objects.get(pk=run_id))
            stage_before = run.stage
            advance(run_id)
            run.refresh_from_db()
            if run.stage == stage_before and not pending_batches(run_id):
                break
    finally:
        if pool:
            # Every thread closes its own connection: each close task waits at the barrier until
            # all threads hold one, so no thread can take two.
            barrier = threading.Barrier(workers)

            def close() -> None:
                try:
                    barrier.wait(timeout=30)
                finally:
                    connection.close()

            for future in [pool.submit(close) for _ in range(workers)]:
                try:
                    future.result()
                except threading.BrokenBarrierError:
                    pass
            pool.shutdown()
    run = Run.objects.get(pk=run_id)
    if on_progress:
        on_progress(run)
    return run
