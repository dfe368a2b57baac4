"""The one fault helper of the suite: start real Celery workers, kill -9 them, wait on them.

Every kill -9 test lives in tests/faults/ and goes through these three functions, so a change to
how a worker is started, killed or waited for is made once.
"""

import signal
import subprocess
import time

from conftest import WorkerPool, wait_until

__all__ = ["beat_polls_until", "kill_9", "kill_9_in_batch_poll", "start_worker", "wait_until"]


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


def kill_9_in_batch_poll(fake, proc: subprocess.Popen) -> None:
    """Make the fake's OpenAI batch status poll hang, send the beat's batch poll and kill -9 ``proc``,
    the worker that took it, inside the poll; then let later polls answer again."""
    from llm.tasks import poll_batches

    fake.set_batch_faults(retrieve_delay=60)
    poll_batches.delay()
    wait_until(lambda: fake.batch_store.retrieves_waiting > 0, [proc], "the worker's status poll")
    kill_9(proc)
    fake.set_batch_faults()


def beat_polls_until(done, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    """What Celery beat does, twice a second: send the batch poll until ``done()`` (``proc`` must stay alive)."""
    from llm.tasks import poll_batches

    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        assert proc.poll() is None, f"the worker died (log: {getattr(proc, 'log_path', '?')})"
        poll_batches.delay()
        time.sleep(0.5)
