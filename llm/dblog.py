"""How log rows are committed.

An LLMQuery row is written before each call and updated after it: two commits per call. On
PostgreSQL each commit normally waits for the write-ahead log to reach the disk, which on
small machines costs more than the rest of our per-call work. With LLM_LOG_ASYNC_COMMIT (the
default) those two commits don't wait: an application crash loses nothing (the commit has
happened), only a crash of the database server itself could lose the last fraction of a second
of log rows — and the interaction file, written before the row is finalised, still holds the
answer. Other writes of the app are untouched.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction


@contextmanager
def log_write():
    if (
        not getattr(settings, "LLM_LOG_ASYNC_COMMIT", True)
        or connection.vendor != "postgresql"
        or connection.in_atomic_block  # inside the caller's transaction: its own rules apply
    ):
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
