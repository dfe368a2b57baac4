"""The tail of a call off the answer path, never lost: "durable first".

With ``LLM_INTERACTION_WRITES=background`` (the default), what ``complete()`` does between the
provider's answer and returning it is one ``write()`` to a local file, this process's journal
(``<LLM_JOURNAL_DIR>/<host>-<pid>-<token>.journal``): the interaction file's exact bytes and the
call's final row update (status, tokens, cost, the file's path and sha256, with the statements that
belong with it: the daily rollup and the answer-cache entry). A background thread then applies the
row updates in batches (one ``UPDATE … FROM (VALUES …)`` for every call queued in the last
``LLM_WRITER_BATCH_DELAY`` seconds, llm/records/dblog.py ``apply``), stores the files (local disk or
S3), and empties the journal once it is big and everything in it is done.

What is promised when ``complete()`` returns:

* **the record is durable first**: the file and the final row are in the journal, in the kernel
  once ``write()`` returned, so a process killed right after (``kill -9``, the OOM killer) loses
  nothing. ``repair()`` applies the row updates and stores the files that journals of dead
  processes still hold, and deletes those journals; it runs when a process first writes (at every
  web and worker start, for the journals of dead processes on this host), when a Celery worker is
  ready, and on demand: ``manage.py llm repair-interactions``. A live process holds an exclusive
  ``flock`` on its journal, so repair never touches a journal still in use. Applying is idempotent:
  a row update only applies while the row is still ``started`` (the state the call's insert left
  it in), so a repair after the writer already applied it changes nothing, the rollup included;
* **this process reads its own writes**: any statement this process sends that touches the query
  log, the daily rollup or the answer cache (``llm_llmquery``, ``llm_usagedaily``,
  ``llm_llmcacheentry``: a page, a pipeline's ``LLMQuery.objects…``, the dashboard's rollups, a
  test) first waits until this process's queued row updates are applied (``flush_rows``, which
  also cuts the batching delay). So code that reads the row right after ``complete()`` sees the
  final values, with no call of its own. Another process sees them a batch later (about 20 ms);
* **budgets stay exact**: a call that reserved budget finalises its row inline, as before, in one
  round trip with its settlement, so the real spend is booked before this or any other process
  checks a budget again. So does a call made inside a caller's transaction (its row is not
  visible to the writer's connection until the caller commits, and must roll back with it), a
  stream (llm.stream: its end is relayed to pages right away) and an image call.

The row's insert before the call stays in the database before the request leaves, on purpose:
it is the crash record of a call in flight (a call killed mid-request leaves a ``started`` row that
the watchdog and the pages see), it carries the answer-cache lookup, and every domain table that
points at the call (``query_id`` foreign keys written right after ``complete()`` returns) needs the
row to exist at once, so it is not journaled. It is overlapped instead (llm/records/dblog.py
``insert_nowait``): sent, with the lookup, before the SDK builds the request, and settled by the SDK
clients' send hook right before the request's first byte leaves, so the database does its part
while the SDK does its own. A row the database refuses stops the send; a lookup that finds the
answer drops the request there.

The journal is not fsynced: like the rows' asynchronous commit (llm/records/dblog.py) a power cut
of the machine can lose the last fraction of a second; a crashed process loses nothing.

Reads in this process see a file still queued (``pending``), so ``interactions.read`` of a path
``complete()`` just returned works at once. ``LLM_INTERACTION_WRITES=inline`` writes the file and
then the row before ``complete()`` returns, as before.
"""

import atexit
import base64
import fcntl
import glob
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created

try:
    from django.db.backends.postgresql.psycopg_any import Jsonb  # what Django binds a jsonb value as
except ImportError:  # no PostgreSQL driver: nothing is ever deferred (can_defer)
    class Jsonb:  # noqa: D101
        def __init__(self, obj):
            self.obj = obj

from . import dblog, interactions

logger = logging.getLogger(__name__)

RETRY_EVERY = 5.0  # s between attempts at a file or row whose write failed
JOURNAL_TRUNCATE_AT = 8 << 20  # bytes; a journal's files already stored are skipped by repair
BATCH_DELAY = 0.02  # s between the writer's looks at the queue while calls keep coming (LLM_WRITER_BATCH_DELAY)
IDLE_CLOSE = 2.0  # s without work after which the writer closes its database connection
READ_WAIT = 10.0  # s a read of the query log waits at most for this process's queued row updates
# The tables whose reads wait for this process's queued row updates (what a queued update writes).
WATCHED_TABLES = ("llm_llmquery", "llm_usagedaily", "llm_llmcacheentry")
STARTED = "started"  # LLMQuery.Status.STARTED: a queued update applies only to a row still in it


def background() -> bool:
    return getattr(settings, "LLM_INTERACTION_WRITES", "background") == "background"


def can_defer() -> bool:
    """May this call's final row update go to the journal? (Background mode, on PostgreSQL, and not
    inside a caller's transaction: its row must roll back with it, and the writer could not see it.)"""
    if not background():
        return False
    conn = connections[DEFAULT_DB_ALIAS]
    return conn.vendor == "postgresql" and not conn.in_atomic_block and dblog._one_message(conn)


def journal_dir() -> Path:
    configured = getattr(settings, "LLM_JOURNAL_DIR", "")
    return Path(configured) if configured else Path(f"{settings.STORAGE_ROOT}.journal")


def _batch_delay() -> float:
    return float(getattr(settings, "LLM_WRITER_BATCH_DELAY", BATCH_DELAY))


# -- the journal's format ----------------------------------------------------------------------
# A header line, then exactly n bytes, then a newline: a torn last record (the process died inside
# write(), so its call never returned) is recognised and skipped. A file's header is
# {"path", "n"}; a row update's is {"row": …, "n": 0}, its values tagged so they read back as the
# same Python values (Decimal, datetime, JSON for jsonb columns).


def _record(path: str, data: bytes) -> bytes:
    return orjson.dumps({"path": path, "n": len(data)}) + b"\n" + data + b"\n"


def _pack(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Jsonb):
        return {"$jsonb": value.obj}
    if isinstance(value, (dict, list)):
        return {"$json": value}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    raise TypeError(f"Cannot journal a {type(value).__name__}")


_UNPACK = {
    "$dec": Decimal, "$dt": datetime.fromisoformat, "$date": date.fromisoformat, "$jsonb": Jsonb, "$json": lambda v: v, "$uuid": uuid.UUID, "$b64": base64.b64decode,
}


def _unpack(value):
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        return _UNPACK[tag](inner)
    return value


def _row_record(record: dict) -> bytes:
    packed = {
        **record,
        "fields": {k: _pack(v) for k, v in record["fields"].items()},
        "also": [[sql, [_pack(p) for p in params]] for sql, params in record["also"]],
    }
    return orjson.dumps({"row": packed, "n": 0}, default=_default) + b"\n\n"


def _default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def _unpack_row(packed: dict) -> dict:
    return {
        **packed,
        "fields": {k: _unpack(v) for k, v in packed["fields"].items()},
        "also": [(sql, [_unpack(p) for p in params]) for sql, params in packed["also"]],
    }


def read_records(path: Path) -> tuple[list[tuple[str, bytes]], list[dict]]:
    """The files and the row updates of a journal, in order; a torn or unreadable tail is skipped."""
    raw = path.read_bytes()
    files, rows, at = [], [], 0
    while at < len(raw):
        end = raw.find(b"\n", at)
        if end < 0:
            break
        try:
            head = orjson.loads(raw[at:end])
            n = int(head["n"])
            row = _unpack_row(head["row"]) if "row" in head else None
            name = head["path"] if row is None else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("Journal %s: unreadable record at byte %s; the rest is skipped", path, at)
            break
        data = raw[end + 1:end + 1 + n]
        if len(data) < n or raw[end + 1 + n:end + 2 + n] != b"\n":
            break  # torn tail
        if row is not None:
            rows.append(row)
        else:
            files.append((name, data))
        at = end + 2 + n
    return files, rows


def read_journal(path: Path) -> list[tuple[str, bytes]]:
    """The files of a journal (see ``read_records``)."""
    return read_records(path)[0]


class _Writer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch: list[tuple[str, bytes]] = []
        self.rows: list[dict] = []
        self.wake = threading.Event()
        self.urgent = threading.Event()
        self.sleeping = True
        self.pending: dict[str, bytes] = {}
        self.cache_keys: dict[str, int] = {}  # answer-cache keys a queued row update stores
        self.failed: list[tuple[str, bytes]] = []
        self.failed_rows: list[dict] = []
        self.in_flight = 0
        self.rows_in_flight = 0
        self.retry_at = 0.0
        self.journal_bytes = 0
        self.idle = threading.Condition(self.lock)
        self.fd: int | None = None
        self.journal: Path | None = None
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()
        self.release = False  # settle() asks the thread to give its database connection back
        self.batches = 0  # row batches applied (bench/llm_overhead.py reports rows per batch)
        self.rows_applied = 0
        self.cpu_seconds = 0.0  # the writer thread's CPU time (bench/llm_overhead.py reports it per call)

    # -- the caller's side ---------------------------------------------------------------------
    def submit(self, file: tuple[str, bytes] | None = None, row: dict | None = None, cache_key: str = "") -> None:
        """Journal a file and/or a row update with one ``write()`` and queue them."""
        record = (_record(*file) if file is not None else b"") + (_row_record(row) if row is not None else b"")
        with self.lock:
            if self.thread is None:
                self._start()
            written = os.write(self.fd, record)  # durable against the process dying from here on
            if written < len(record):  # the disk is full: no torn record in front of the next ones
                os.ftruncate(self.fd, self.journal_bytes)
                raise OSError(f"The journal {self.journal} is full ({written} of {len(record)} bytes written).")
            self.journal_bytes += len(record)
            if file is not None:
                self.pending[file[0]] = file[1]
                self.in_flight += 1
                self.batch.append(file)
            if row is not None:
                self.rows_in_flight += 1
                self.rows.append(row)
                if cache_key:
                    self.cache_keys[cache_key] = self.cache_keys.get(cache_key, 0) + 1
                    row["_cache_key"] = cache_key
            if self.sleeping:
                self.sleeping = False
                self.wake.set()

    def _start(self) -> None:
        directory = journal_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.journal = directory / f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}.journal"
        self.fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _install_read_hook(connections[DEFAULT_DB_ALIAS])
        self.thread = threading.Thread(target=self._run, name="llm-interaction-writer", daemon=True)
        self.thread.start()

    # -- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        dblog.call_path.active = True  # the writer's own statements never wait for the writer
        try:
            repaired = repair()
            if repaired:
                logger.warning("Repaired the journals of dead processes: %s", repaired)
        except Exception:
            logger.exception("Could not repair the interaction journals")
        connected = False
        while True:
            if self.sleeping:
                timeout = RETRY_EVERY if (self.failed or self.failed_rows) else None
                if connected:
                    timeout = min(timeout or IDLE_CLOSE, IDLE_CLOSE)
                if not self.wake.wait(timeout=timeout) and connected:
                    # Idle for a while: give the database connection back (an idle process holds
                    # no server connection for its writer).
                    self._reset(connections[DEFAULT_DB_ALIAS])
                    connected = False
            # Batched, and polled while calls keep coming: a caller wakes the thread only when it
            # sleeps (nothing queued for a whole batch delay), so a busy caller never pays for a
            # wake-up, and the thread takes the GIL once per batch, not once per call. A flush
            # (a read of the query log in this process) cuts the delay short.
            self.urgent.wait(_batch_delay())
            with self.lock:
                self.wake.clear()
                self.urgent.clear()
                items, self.batch = self.batch, []
                rows, self.rows = self.rows, []
                retry = time.monotonic() >= self.retry_at
                if (self.failed or self.failed_rows) and retry:
                    items, self.failed = self.failed + items, []
                    rows, self.failed_rows = self.failed_rows + rows, []
                    self.retry_at = time.monotonic() + RETRY_EVERY
                self.sleeping = not items and not rows
            cpu = time.thread_time()
            if rows:
                self._apply(rows)
                connected = True
            for path, data in items:
                self._store(path, data)
            self.cpu_seconds += time.thread_time() - cpu
            if self.release:  # settle(): the connection goes now (a test database can then be dropped)
                self._reset(connections[DEFAULT_DB_ALIAS])
                connected = False
                with self.lock:
                    self.release = False
                    self.idle.notify_all()

    def _apply(self, rows: list[dict]) -> None:
        conn = connections[DEFAULT_DB_ALIAS]
        failed: list[dict] = []
        try:
            if conn.errors_occurred:  # not every batch: with CONN_HEALTH_CHECKS that is a "SELECT 1" each time
                conn.close_if_unusable_or_obsolete()
            dblog.apply(rows)
        except Exception:
            logger.exception("Could not apply a batch of %s queued row updates", len(rows))
            self._reset(conn)
            # One at a time, so that one update the database refuses does not hold up the others.
            for row in rows if len(rows) > 1 else []:
                try:
                    dblog.apply([row])
                except Exception:
                    self._reset(conn)
                    failed.append(row)
            if len(rows) == 1:
                failed = rows
        if failed:
            logger.error("%s queued row updates could not be applied (queries %s); kept in the journal, "
                         "retried in %ss", len(failed), ", ".join(str(r["pk"]) for r in failed[:20]), RETRY_EVERY)
        done = [r for r in rows if not any(r is f for f in failed)]
        with self.lock:
            self.failed_rows.extend(failed)
            self.batches += 1
            self.rows_applied += len(done)
            self.rows_in_flight -= len(done)
            for row in done:
                key = row.get("_cache_key")
                if key:
                    left = self.cache_keys.get(key, 1) - 1
                    if left > 0:
                        self.cache_keys[key] = left
                    else:
                        self.cache_keys.pop(key, None)
            self._done()

    @staticmethod
    def _reset(conn) -> None:
        try:
            conn.close()
        except Exception:
            pass

    def _store(self, path: str, data: bytes) -> None:
        try:
            interactions.store(path, data)
        except Exception:
            logger.exception("Could not store interaction file %s; kept in the journal, retried in %ss", path, RETRY_EVERY)
            with self.lock:
                self.failed.append((path, data))
                self.idle.notify_all()
            return
        with self.lock:
            if self.pending.get(path) is data:
                del self.pending[path]
            self.in_flight -= 1
            self._done()

    def _done(self) -> None:  # with the lock held
        if self.in_flight == 0 and self.rows_in_flight == 0 and not self.failed and not self.failed_rows:
            # Everything journaled is done. Emptying the journal is a metadata write that would
            # hold up the callers waiting on this lock: done only once it is big.
            if self.fd is not None and self.journal_bytes > JOURNAL_TRUNCATE_AT:
                os.ftruncate(self.fd, 0)
                self.journal_bytes = 0
        self.idle.notify_all()

    def _wait(self, busy, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            if busy():
                self.urgent.set()
                if self.sleeping:
                    self.sleeping = False
                    self.wake.set()
            while busy():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.idle.wait(min(left, 0.05))
            return True

    def _busy(self) -> bool:
        files = self.in_flight and not (self.failed and len(self.failed) >= self.in_flight)
        return bool(files or self._rows_busy())

    def _rows_busy(self) -> bool:
        return bool(self.rows_in_flight and not (self.failed_rows and len(self.failed_rows) >= self.rows_in_flight))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued file is stored and row update applied (True), or ``timeout``
        passed or a write keeps failing (False)."""
        return self._wait(self._busy, timeout) and self.in_flight == 0 and self.rows_in_flight == 0

    def flush_rows(self, timeout: float = READ_WAIT) -> bool:
        """Wait until every queued row update is applied (True), or not (False)."""
        return self._wait(self._rows_busy, timeout) and self.rows_in_flight == 0

    def settle(self, timeout: float = 30.0) -> bool:
        """``flush``, then have the thread close its database connection (the test suite does this
        after each test, so that no test sees another's queue and the test database can be dropped)."""
        done = self.flush(timeout)
        if self.thread is None or self.pid != os.getpid():
            return done
        deadline = time.monotonic() + timeout
        with self.lock:
            self.release = True
            self.urgent.set()
            self.sleeping = False
            self.wake.set()
            while self.release and time.monotonic() < deadline:
                self.idle.wait(0.05)
        return done

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
    # with its own journal. The parent's journal and queue stay the parent's.
    global _writer
    inherited, _writer = _writer, _Writer()
    if inherited.fd is not None:  # the parent's lock stays the parent's (flock is per open file)
        try:
            os.close(inherited.fd)
        except OSError:
            pass


os.register_at_fork(after_in_child=_after_fork)
atexit.register(lambda: _writer.close())


# -- reading this process's own writes ---------------------------------------------------------------

def _read_own_writes(execute, sql, params, many, context):
    if _writer.rows_in_flight and not getattr(dblog.call_path, "active", False) and isinstance(sql, str) \
            and any(table in sql for table in WATCHED_TABLES):
        if not _writer.flush_rows(READ_WAIT):
            logger.warning("Reading the query log before this process's queued row updates were applied")
    return execute(sql, params, many, context)


def _install_read_hook(connection, **kwargs) -> None:
    # First in the list: Django's execute_wrapper() context manager pops the last one on exit.
    if connection.vendor == "postgresql" and _read_own_writes not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _read_own_writes)


connection_created.connect(_install_read_hook, dispatch_uid="llm.interaction_writer.read_own_writes")


# -- the call path's side ------------------------------------------------------------------------------

def write(path: str, document: dict) -> tuple[str, str]:
    """Journal the interaction file and queue it for storage; return (path, sha256) for the row.

    Inline mode stores it before returning, as ``interactions.write`` does."""
    if not background():
        return interactions.write(path, document)
    data = interactions.encode(document)
    _writer.submit(file=(path, data))
    return path, hashlib.sha256(data).hexdigest()


def finish(row, also: list, *, file: tuple[str, bytes] | None = None, cache_key: str = "") -> None:
    """Journal ``row``'s final update (``dblog.update(row, also)`` made later, applied only while
    the row is still started) together with its interaction file, in one ``write()``; the background
    writer applies and stores them. ``cache_key``: the answer-cache entry ``also`` stores (a lookup
    of that key in this process waits for it). Call only when ``can_defer()``."""
    record = dblog.deferred(row, [a for a in also if a is not None], expect={"status": STARTED})
    _writer.submit(file=file, row=record, cache_key=cache_key)
    dblog.written(row, record)


def pending(path: str) -> bytes | None:
    """The bytes of a file this process has queued and not stored yet."""
    return _writer.pending.get(path)


interactions.read_queued_from(pending)


def cache_pending(key: str) -> bool:
    """Is an answer-cache entry for ``key`` still queued in this process?"""
    return key in _writer.cache_keys


def flush(timeout: float = 30.0) -> bool:
    """Wait until this process's queued files are stored and row updates applied."""
    return _writer.flush(timeout)


def settle(timeout: float = 30.0) -> bool:
    """Wait for the queue, then let the writer's database connection go (see ``_Writer.settle``)."""
    return _writer.settle(timeout)


def flush_rows(timeout: float = READ_WAIT) -> bool:
    """Wait until this process's queued row updates are applied (the files may still be queued)."""
    return _writer.flush_rows(timeout)


@dataclass
class Repaired:
    files: int = 0
    rows: int = 0
    journals: int = 0

    def __bool__(self) -> bool:
        return bool(self.files or self.rows)

    def __str__(self) -> str:
        return f"{self.files} files stored and {self.rows} row updates applied from {self.journals} journals"


def repair(directory: Path | None = None) -> Repaired:
    """Store the files and apply the row updates journaled by processes that died before; delete
    their journals. Journals still locked by a live process are left alone; a journal whose row
    updates cannot be applied now (the database is down) is kept for the next repair."""
    directory = directory or journal_dir()
    done = Repaired()
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
            files, rows = read_records(path)
            for file_path, data in files:
                digest = hashlib.sha256(data).hexdigest()
                if interactions.verify(file_path, digest):
                    continue
                interactions.store(file_path, data)
                done.files += 1
            if rows:
                with dblog.on_call_path():
                    done.rows += len(dblog.apply(rows))
            done.journals += 1
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return done
