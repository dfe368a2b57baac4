"""Interaction files written off the answer path, never lost.

What ``complete()`` promises when it returns with ``LLM_INTERACTION_WRITES=background`` (opt-in; the
default is ``inline``, because on 2026-12-06 bench/llm_overhead.py measured no gain from it: p50
4.53 ms background against 4.01 ms inline, p99 14.25 against 15.22, LiteLLM 3.82 / 12.38):

* **the answer is in the row**: the LLMQuery row is final -- status, tokens, cost, and the path
  and sha256 of its interaction file -- committed in the same one round trip as before;
* **the file is durable first**: the file's exact bytes were appended to this process's journal
  (one ``write()`` to a local file, ``<LLM_JOURNAL_DIR>/<host>-<pid>-<token>.journal``) before
  the row was updated. A background thread then stores the file (local disk or S3) and empties
  the journal once nothing is left to write.

So a process killed right after ``complete()`` returned (``kill -9``, the OOM killer) leaves the
final row and the file's bytes in its journal. ``repair()`` stores every journaled file that is
missing or different in storage and deletes the journal; it runs when a process first writes (so
at every web and worker start, for the journals of dead processes on this host), when a Celery
worker is ready, and on demand: ``manage.py llm repair-interactions``. A live process holds an
exclusive ``flock`` on its journal, so repair never touches a journal that is still in use.

The journal is not fsynced: like the rows' asynchronous commit (llm/records/dblog.py) a power cut of the
machine can lose the last fraction of a second; a crashed process loses nothing, because the
bytes are in the kernel once ``write()`` returns.

Reads in this process see a file still queued (``pending``), so ``interactions.read`` of a path
``complete()`` just returned works at once. ``LLM_INTERACTION_WRITES=inline`` writes the file
before the row, on the answer path, as before (the test suite uses it: many tests look at files
on disk right after a call).
"""

import atexit
import fcntl
import glob
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import orjson
from django.conf import settings

from . import interactions

logger = logging.getLogger(__name__)

RETRY_EVERY = 5.0  # s between attempts at a file whose storage write failed
JOURNAL_TRUNCATE_AT = 8 << 20  # bytes; a journal's files already stored are skipped by repair
BATCH_DELAY = 0.02  # s between the writer's looks at the queue while calls keep coming


def background() -> bool:
    return getattr(settings, "LLM_INTERACTION_WRITES", "inline") == "background"


def journal_dir() -> Path:
    configured = getattr(settings, "LLM_JOURNAL_DIR", "")
    return Path(configured) if configured else Path(f"{settings.STORAGE_ROOT}.journal")


def _record(path: str, data: bytes) -> bytes:
    # A header line, then exactly n bytes of the file, then a newline: a torn last record (the
    # process died inside write(), so its call never returned) is recognised and skipped.
    return orjson.dumps({"path": path, "n": len(data)}) + b"\n" + data + b"\n"


def read_journal(path: Path) -> list[tuple[str, bytes]]:
    raw = path.read_bytes()
    out, at = [], 0
    while at < len(raw):
        end = raw.find(b"\n", at)
        if end < 0:
            break
        try:
            head = orjson.loads(raw[at:end])
            name, n = head["path"], int(head["n"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("Journal %s: unreadable record at byte %s; the rest is skipped", path, at)
            break
        data = raw[end + 1:end + 1 + n]
        if len(data) < n or raw[end + 1 + n:end + 2 + n] != b"\n":
            break  # torn tail
        out.append((name, data))
        at = end + 2 + n
    return out


class _Writer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch: list[tuple[str, bytes]] = []
        self.wake = threading.Event()
        self.sleeping = True
        self.pending: dict[str, bytes] = {}
        self.failed: list[tuple[str, bytes]] = []
        self.in_flight = 0
        self.retry_at = 0.0
        self.journal_bytes = 0
        self.idle = threading.Condition(self.lock)
        self.fd: int | None = None
        self.journal: Path | None = None
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    # -- the caller's side ---------------------------------------------------------------------
    def submit(self, path: str, data: bytes) -> None:
        with self.lock:
            if self.thread is None:
                self._start()
            record = _record(path, data)
            os.write(self.fd, record)  # durable against the process dying from here on
            self.journal_bytes += len(record)
            self.pending[path] = data
            self.in_flight += 1
            self.batch.append((path, data))
            if self.sleeping:
                self.sleeping = False
                self.wake.set()

    def _start(self) -> None:
        directory = journal_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.journal = directory / f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}.journal"
        self.fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.thread = threading.Thread(target=self._run, name="llm-interaction-writer", daemon=True)
        self.thread.start()

    # -- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            repaired = repair()
            if repaired:
                logger.warning("Stored %s interaction files left in the journals of dead processes", repaired)
        except Exception:
            logger.exception("Could not repair the interaction journals")
        while True:
            if self.sleeping:
                self.wake.wait(timeout=RETRY_EVERY if self.failed else None)
            # Batched, and polled while calls keep coming: a caller wakes the thread only when it
            # sleeps (nothing queued for a whole BATCH_DELAY), so a busy caller never pays for a
            # wake-up, and the thread takes the GIL once per batch, not once per call.
            time.sleep(BATCH_DELAY)
            with self.lock:
                self.wake.clear()
                items, self.batch = self.batch, []
                if self.failed and (not items or time.monotonic() >= self.retry_at):
                    items, self.failed = self.failed + items, []
                    self.retry_at = time.monotonic() + RETRY_EVERY
                self.sleeping = not items
            for path, data in items:
                self._store(path, data)

    def _store(self, path: str, data: bytes) -> None:
        try:
            interactions.store(path, data)
        except Exception:
            logger.exception("Could not store interaction file %s; kept in the journal, retried in %ss", path, RETRY_EVERY)
            with self.lock:
                self.failed.append((path, data))
            return
        with self.lock:
            if self.pending.get(path) is data:
                del self.pending[path]
            self.in_flight -= 1
            if self.in_flight == 0 and not self.failed:
                # Everything journaled is stored. Emptying the journal is a metadata write that
                # would hold up the callers waiting on this lock: done only once it is big.
                if self.fd is not None and self.journal_bytes > JOURNAL_TRUNCATE_AT:
                    os.ftruncate(self.fd, 0)
                    self.journal_bytes = 0
                self.idle.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued file is stored (True), or ``timeout`` passed (False)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.in_flight and not (self.failed and len(self.failed) >= self.in_flight):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.idle.wait(min(left, 0.05))
            return self.in_flight == 0

    def close(self) -> None:
        if self.thread is None or self.pid != os.getpid():
            return
        if self.flush() and self.journal is not None:
            with self.lock:
                os.close(self.fd)
                self.fd = None
                self.journal.unlink(missing_ok=True)


_writer = _Writer()


def _after_fork() -> None:
    # A forked child (Celery prefork, gunicorn --preload) has no writer thread: it starts its own,
    # with its own journal. The parent's journal stays the parent's.
    global _writer
    inherited, _writer = _writer, _Writer()
    if inherited.fd is not None:  # the parent's lock stays the parent's (flock is per open file)
        try:
            os.close(inherited.fd)
        except OSError:
            pass


os.register_at_fork(after_in_child=_after_fork)
atexit.register(lambda: _writer.close())


def write(path: str, document: dict) -> tuple[str, str]:
    """Journal the interaction file and queue it for storage; return (path, sha256) for the row.

    Inline mode stores it before returning, as ``interactions.write`` does."""
    if not background():
        return interactions.write(path, document)
    data = interactions.encode(document)
    _writer.submit(path, data)
    return path, hashlib.sha256(data).hexdigest()


def pending(path: str) -> bytes | None:
    """The bytes of a file this process has queued and not stored yet."""
    return _writer.pending.get(path)


interactions.read_queued_from(pending)


def flush(timeout: float = 30.0) -> bool:
    return _writer.flush(timeout)


def repair(directory: Path | None = None) -> int:
    """Store the files journaled by processes that died before storing them; delete their journals.

    Returns the number of files stored. Journals still locked by a live process are left alone."""
    directory = directory or journal_dir()
    stored = 0
    for name in sorted(glob.glob(str(directory / "*.journal"))):
        path = Path(name)
        if _writer.journal is not None and path == _writer.journal:
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive and writing
            for file_path, data in read_journal(path):
                digest = hashlib.sha256(data).hexdigest()
                if interactions.verify(file_path, digest):
                    continue
                interactions.store(file_path, data)
                stored += 1
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return stored
