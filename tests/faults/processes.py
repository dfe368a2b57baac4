"""The one fault helper of the suite: start real Celery workers, kill -9 them, wait on them.

Every kill -9 test lives in tests/faults/ and goes through these three functions, so a change to
how a worker is started, killed or waited for is made once.
"""

import signal
import subprocess

from conftest import WorkerPool, wait_until

__all__ = ["kill_9", "start_worker", "wait_until"]


def start_worker(pool: WorkerPool, name: str, *, own_queue: bool = False, env: dict | None = None,
                 queues: list | None = None) -> subprocess.Popen:
    """A worker of ``pool``; ``own_queue=True`` puts it alone on a queue named after it
    (``proc.queue``), so two can warm up side by side and work goes to the one a test picks."""
    if own_queue:
        queues = [f"{pool.prefix}own-{name}"]
    proc = pool.start(name, queues=queues, env=env)
    proc.queue = queues[0] if own_queue else None
    return proc


def kill_9(proc: subprocess.Popen) -> None:
    """SIGKILL, as the OOM killer or a lost machine would: no shutdown code runs in the worker."""
    assert proc.poll() is None, f"the worker was already dead before the kill (log: {getattr(proc, 'log_path', '?')})"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, proc.returncode
