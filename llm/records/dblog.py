"""How log rows are committed.

An LLMQuery row is written before each call and updated after it: two commits per call. On
PostgreSQL each commit normally waits for the write-ahead log to reach the disk, which on
small machines costs more than the rest of our per-call work. With LLM_LOG_ASYNC_COMMIT (the
default) those two commits don't wait: an application crash loses nothing (the commit has
happened), only a crash of the database server itself could lose the last fraction of a second
of log rows — and the interaction file, written before the row is finalised, still holds the
answer. Other writes of the app are untouched.

Round trips cost more than the SQL itself, so on PostgreSQL each of those two writes is one
message to the server: ``insert`` sends ``SET LOCAL …; INSERT … RETURNING id`` and ``update``
sends ``SET LOCAL …; UPDATE …; <the statements that belong with it>`` (rollup, budget, cache).
Several statements in one simple-protocol message run as one transaction, so they commit or
fail together, exactly like the ``transaction.atomic()`` block they replace. Inside a caller's
transaction the statements just join it (no SET LOCAL). Elsewhere (SQLite, server-side binding)
the ORM does the same work in more round trips.

In background mode (llm/records/interaction_writer.py) the second write leaves the answer path:
``deferred`` turns it into data for the call's journal, and the background writer ``apply``-s many
calls' updates at once, each only while its row is still ``started`` (so a repair can replay it).
"""

import copy
import select
import threading
import time
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model

_ASYNC = "SET LOCAL synchronous_commit TO OFF"


def _async_commit() -> bool:
    return (
        getattr(settings, "LLM_LOG_ASYNC_COMMIT", True)
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block  # inside the caller's transaction: its own rules apply
    )


@contextmanager
def log_write():
    if not _async_commit():
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_ASYNC)
        yield


def _one_message(conn) -> bool:
    """Can several statements go to the server as one message? (psycopg's client-side binding: yes.)"""
    return conn.vendor == "postgresql" and not conn.settings_dict.get("OPTIONS", {}).get("server_side_binding")


def _message(conn, statements: list[tuple[str, list]]) -> tuple[str, list, int]:
    """The statements as one message (SQL, params), after the async-commit setting when it applies;
    and how many statements that setting added in front."""
    prefix = [(_ASYNC, [])] if (
        getattr(settings, "LLM_LOG_ASYNC_COMMIT", True) and not conn.in_atomic_block
    ) else []
    return "; ".join(s for s, _ in prefix + statements), [p for _, ps in prefix + statements for p in ps], len(prefix)


def _run(conn, statements: list[tuple[str, list]], *, returning: bool = False):
    sql, params, prefix = _message(conn, statements)
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:  # the first row of each statement's result (each must return rows)
            for _ in range(prefix):
                cursor.nextset()
            rows = []
            for n in range(len(statements)):
                if n:
                    cursor.nextset()
                rows.append(cursor.fetchone())
            return rows
    return None


def _prepared(conn, obj: Model, fields, add: bool) -> list:
    return [f.get_db_prep_save(f.pre_save(obj, add), conn) for f in fields]


@lru_cache(maxsize=None)
def _columns(model: type[Model]) -> tuple:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@lru_cache(maxsize=None)
def _insert_sql(model: type[Model]) -> str:
    meta, qn = model._meta, connection.ops.quote_name
    fields = _columns(model)
    return (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {qn(meta.pk.column)}"
    )


@lru_cache(maxsize=256)
def _update_sql(model: type[Model], fields: tuple) -> str:
    meta, qn = model._meta, connection.ops.quote_name
    assignments = ", ".join(qn(f.column) + " = %s" for f in fields)
    return f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s"


def insert(obj: Model, before: tuple[str, list] | None = None):
    """INSERT ``obj`` (a new row; save() signals are not sent) and set its primary key.

    ``before`` is a statement (SQL, params) that returns rows, run first in the same message and
    transaction (the call's cache lookup); its first row (or None) is returned.
    """
    with on_call_path():
        return _insert(obj, before)


def _insert(obj: Model, before: tuple[str, list] | None = None):
    conn = connections[DEFAULT_DB_ALIAS]
    if not _one_message(conn):
        found = None
        if before is not None:
            with conn.cursor() as cursor:
                cursor.execute(*before)
                found = cursor.fetchone()
        with log_write():
            obj.save(force_insert=True)
        return found
    fields = _columns(type(obj))
    statements = ([before] if before is not None else []) + [(_insert_sql(type(obj)), _prepared(conn, obj, fields, True))]
    *found, inserted = _run(conn, statements, returning=True)
    _inserted(conn, obj, inserted[0], fields)
    return found[0] if found else None


def _inserted(conn, obj: Model, pk, fields) -> None:
    """``obj`` is in the database under ``pk``: as save() leaves it, and its next ``update`` sends only what changed."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = conn.alias
    obj._dblog_written = _snapshot(obj, fields)


# -- the row's insert, overlapped with the building of the provider request ---------------------------
# ``insert_nowait`` sends the INSERT (one simple-protocol message, as ``insert`` does) and returns at
# once; ``settle_pending`` reads its result. The call path settles it right before the request's
# first byte leaves (the SDK clients' httpx "request" hook, llm/providers/base.py ``before_send``),
# so the row is still committed before the provider is called -- the database does its part while
# the SDK builds the request. Until then the connection has a statement in flight: any other
# statement through Django (the execute wrapper below) settles it first.

class _Pending:
    __slots__ = ("obj", "fields", "query", "started", "error", "before", "on_settled")

    def __init__(self, obj, fields, query, before: bool, on_settled):
        self.obj, self.fields, self.query, self.started, self.error = obj, fields, query, time.monotonic(), None
        self.before, self.on_settled = before, on_settled


class SendStopped(Exception):
    """Raised by the send hook when the settled statement says the request must not go (the
    answer cache had the answer): the request is dropped before its first byte."""


def _settle_first(execute, sql, params, many, context):
    if getattr(context["connection"], "_llm_pending_insert", None) is not None:
        settle_pending(context["connection"])
    return execute(sql, params, many, context)


def can_overlap() -> bool:
    conn = connections[DEFAULT_DB_ALIAS]
    return (getattr(settings, "LLM_OVERLAP_INSERT", True) and _one_message(conn) and not conn.in_atomic_block
            and getattr(conn, "_llm_pending_insert", None) is None)


def insert_nowait(obj: Model, before: tuple[str, list] | None = None, on_settled=None) -> bool:
    """Send ``obj``'s INSERT without waiting for it (True), or nothing (False: not PostgreSQL with
    client-side binding in autocommit mode, or a statement already in flight: use ``insert``).
    The primary key is set by ``settle_pending``, which must come before anything else uses the
    connection or ``obj.pk``. ``before``: a statement returning rows, run first in the same message
    (as for ``insert``); ``on_settled(first row or None)`` gets its result when the insert is
    settled, and what it returns, ``settle_pending`` returns (True: do not send)."""
    if not can_overlap():
        return False
    conn = connections[DEFAULT_DB_ALIAS]
    from psycopg import ClientCursor

    fields = _columns(type(obj))
    with conn.wrap_database_errors:
        conn.close_if_health_check_failed()
        conn.ensure_connection()
        if _settle_first not in conn.execute_wrappers:
            conn.execute_wrappers.insert(0, _settle_first)
        raw = conn.connection
        sql, params, _ = _message(conn, ([before] if before is not None else []) + [
            (_insert_sql(type(obj)), _prepared(conn, obj, fields, True))])
        query = ClientCursor(raw).mogrify(sql, params)
        pgconn = raw.pgconn
        pgconn.send_query(query.encode())
        while pgconn.flush():  # the whole message must be on its way (a big row: more than one write)
            select.select([], [pgconn.socket], [], 5.0)
    conn._llm_pending_insert = _Pending(obj, fields, query, before is not None, on_settled)
    return True


def settle_pending(conn=None) -> bool:
    """Read the result of this thread's ``insert_nowait`` (nothing when none is in flight): the row
    is then committed and ``obj.pk`` set. A refused insert raises its database error (again on every
    later call, until ``discard_pending``), so nothing is sent for a call whose row does not exist.
    Returns what the insert's ``on_settled`` returned (False when there was nothing to settle)."""
    from psycopg import errors, pq
    from psycopg.adapt import Transformer

    conn = conn or connections[DEFAULT_DB_ALIAS]
    pending = getattr(conn, "_llm_pending_insert", None)
    if pending is None:
        return False
    if pending.error is not None:
        raise pending.error
    try:
        with conn.wrap_database_errors:
            pgconn = conn.connection.pgconn
            while True:
                pgconn.consume_input()
                if not pgconn.is_busy():
                    break
                select.select([pgconn.socket], [], [], 5.0)
            results = []
            while (result := pgconn.get_result()) is not None:
                results.append(result)
            for result in results:
                if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                    raise errors.error_from_result(result, encoding="utf-8")
            pk = int(results[-1].get_value(0, 0))
            found = None
            if pending.before:  # its first row, typed as a cursor would give it (the connection's loaders)
                result = results[-2]
                if result.ntuples:
                    transformer = Transformer(conn.connection)
                    transformer.set_pgresult(result)
                    found = transformer.load_row(0, tuple)
    except BaseException as exc:
        pending.error = exc
        raise
    conn._llm_pending_insert = None
    _inserted(conn, pending.obj, pk, pending.fields)
    if conn.queries_logged:  # counted like any statement (CaptureQueriesContext, the debug toolbar)
        conn.queries_log.append({"sql": pending.query, "time": f"{time.monotonic() - pending.started:.3f}"})
    return bool(pending.on_settled(found)) if pending.on_settled is not None else False


def discard_pending(conn=None) -> None:
    """Forget a refused ``insert_nowait`` (after its error was raised to the caller)."""
    conn = conn or connections[DEFAULT_DB_ALIAS]
    pending = getattr(conn, "_llm_pending_insert", None)
    if pending is not None and pending.error is not None:
        conn._llm_pending_insert = None


def _snapshot(obj: Model, fields) -> dict:
    # Copies, so that a dict or list changed in place still counts as changed.
    values = {f.attname: getattr(obj, f.attname) for f in fields}
    return {k: copy.deepcopy(v) if isinstance(v, (dict, list)) else v for k, v in values.items()}


def update(obj: Model, also: list[tuple[str, list]] = ()) -> None:
    """UPDATE ``obj`` and run ``also`` (SQL, params) in the same transaction.

    After ``insert`` only the columns that changed since are sent (a shorter statement that
    psycopg can cache); otherwise every column, as ``save()`` does.
    """
    with on_call_path():
        _update(obj, also)


def _update(obj: Model, also: list[tuple[str, list]] = ()) -> None:
    also = list(also)
    conn = connections[DEFAULT_DB_ALIAS]
    if not _one_message(conn):
        with log_write():
            obj.save()
            with conn.cursor() as cursor:
                for sql, params in also:
                    cursor.execute(sql, params)
        return
    fields = _columns(type(obj))
    written = getattr(obj, "_dblog_written", None)
    if written is not None:
        fields = tuple(
            f for f in fields
            if getattr(f, "auto_now", False)
            or f.attname not in written
            or getattr(obj, f.attname) != written[f.attname]
        )
    statements = also
    if fields:
        statements = [(_update_sql(type(obj), fields), _prepared(conn, obj, fields, False) + [obj.pk])] + also
    if statements:
        _run(conn, statements)
    obj._dblog_written = {**(written or {}), **_snapshot(obj, fields)}


# -- the final update of a row, applied later by the background writer -----------------------------
# (llm/records/interaction_writer.py journals what ``deferred`` returns and hands it to ``apply``.)

# Set while the call path sends its own statements (the row's insert with the cache lookup), so
# that the read-your-own-writes hook of interaction_writer does not wait for the queue on them.
call_path = threading.local()


@contextmanager
def on_call_path():
    before = getattr(call_path, "active", False)
    call_path.active = True
    try:
        yield
    finally:
        call_path.active = before


def deferred(obj: Model, also: list[tuple[str, list]] = (), *, expect: dict | None = None) -> dict:
    """What ``update(obj, also)`` would send, as data for ``apply``: the model, the primary key,
    the changed columns' values (as Python values, see ``update``), the ``also`` statements, and
    ``expect``: the values the row must still have for the update to apply (e.g. status "started"),
    which makes applying the same update twice (the writer, then a repair) a no-op."""
    fields = _columns(type(obj))
    written = getattr(obj, "_dblog_written", None)
    if written is not None:
        fields = tuple(
            f for f in fields
            if getattr(f, "auto_now", False) or f.attname not in written or getattr(obj, f.attname) != written[f.attname]
        )
    values = {f.attname: f.pre_save(obj, False) for f in fields}
    return {"model": obj._meta.label, "pk": obj.pk, "fields": values, "also": [list(s) for s in also if s is not None],
            "expect": expect or {}}


def written(obj: Model, record: dict) -> None:
    """``obj``'s ``deferred`` update is on its way: its next update sends only what changes after it."""
    fields = [f for f in _columns(type(obj)) if f.attname in record["fields"]]
    obj._dblog_written = {**(getattr(obj, "_dblog_written", None) or {}), **_snapshot(obj, fields)}


APPLY_LOCK_TIMEOUT_MS = 500


@lru_cache(maxsize=256)
def _batch_update_sql(model: type[Model], attnames: tuple, expect: tuple) -> str:
    """One statement for any number of rows: each column's values travel as one array and
    ``unnest`` turns them back into rows, so the SQL text is the same whatever the batch size (psycopg
    parses it once, and the server gets a short statement instead of a VALUES list of n rows)."""
    meta, qn = model._meta, connection.ops.quote_name
    fields = [next(f for f in meta.concrete_fields if f.attname == a) for a in attnames]
    arrays = [f"CAST(%s AS {meta.pk.cast_db_type(connection)}[])"] + [
        f"CAST(%s AS {f.cast_db_type(connection)}[])" for f in fields]
    names = ["pk_"] + [f"c{i}" for i in range(len(fields))]
    sets = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(fields))
    where = "".join(f" AND t.{qn(next(f for f in meta.concrete_fields if f.attname == a).column)} = %s" for a in expect)
    return (
        f"UPDATE {qn(meta.db_table)} AS t SET {sets} FROM unnest({', '.join(arrays)}) AS v({', '.join(names)}) "
        f"WHERE t.{qn(meta.pk.column)} = v.pk_{where} RETURNING t.{qn(meta.pk.column)}"
    )


def apply(records: list[dict]) -> list[dict]:
    """Apply ``deferred`` updates in one transaction: the rows' updates grouped into one
    ``UPDATE … FROM (VALUES …)`` per set of columns, then the ``also`` statements of the rows
    that did change, in one message. A record whose row no longer has its ``expect`` values (already
    applied, or gone) changes nothing, its ``also`` statements included. Returns the applied records.

    PostgreSQL only (the background writer is used only there)."""
    from django.apps import apps

    if not records:
        return []
    conn = connections[DEFAULT_DB_ALIAS]
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = (record["model"], tuple(record["fields"]), tuple(record["expect"].items()))
        groups.setdefault(key, []).append(record)
    applied: list[dict] = []
    # Two round trips for the whole batch: "BEGIN; SET LOCAL …; UPDATE … RETURNING" and then "<the
    # applied rows' statements>; COMMIT" (in autocommit mode, one message may hold the transaction's
    # BEGIN or COMMIT: psycopg's client-side binding sends it as it is).
    settings_sql = ([_ASYNC] if getattr(settings, "LLM_LOG_ASYNC_COMMIT", True) else []) + [
        # A lock held by a caller's open transaction (its own inline rollup row) must not hold
        # the writer up while that caller waits for the queue: give up soon, retry later.
        f"SET LOCAL lock_timeout = '{APPLY_LOCK_TIMEOUT_MS}ms'"]
    own = not conn.in_atomic_block
    if own:
        conn.ensure_connection()
    prefix = ["BEGIN"] + settings_sql if own else []
    with conn.cursor() as cursor:
        try:
            for (label, attnames, expect), group in groups.items():
                model = apps.get_model(label)
                by_attname = {f.attname: f for f in model._meta.concrete_fields}
                if not attnames:
                    applied.extend(group)  # nothing to change on the row: only its statements
                    continue
                for start in range(0, len(group), 500):
                    chunk = group[start:start + 500]
                    columns: list[list] = [[record["pk"] for record in chunk]]
                    for a in attnames:
                        field = by_attname[a]
                        columns.append([field.get_db_prep_save(record["fields"][a], conn) for record in chunk])
                    params = columns + [by_attname[a].get_db_prep_save(v, conn) for a, v in expect]
                    sql = _batch_update_sql(model, attnames, tuple(a for a, _ in expect))
                    cursor.execute("; ".join(prefix + [sql]), params)
                    for _ in prefix:
                        cursor.nextset()
                    prefix = []
                    changed = {r[0] for r in cursor.fetchall()}
                    applied.extend(r for r in chunk if r["pk"] in changed)
            statements = [tuple(s) for r in applied for s in r["also"]]
            tail = ["COMMIT"] if own and not prefix else []  # prefix left: nothing was sent
            if statements or tail:
                cursor.execute("; ".join([s for s, _ in statements] + tail), [p for _, ps in statements for p in ps])
        except BaseException:
            if own and not prefix:
                try:
                    cursor.execute("ROLLBACK")
                except Exception:
                    pass
            raise
    return applied
