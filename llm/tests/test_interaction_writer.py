"""The background writer: the interaction file and the final row update are durable (journaled)
before ``complete()`` returns and applied after it; a process killed right after loses nothing,
and this process reads its own writes (llm/records/interaction_writer.py)."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest

from llm.records import dblog, interaction_writer, interactions
from llm.models import LLMCacheEntry, LLMQuery, UsageDaily
from llm.calls import complete
from llm.testing.fake_provider import Reply

ROOT = Path(__file__).resolve().parents[2]

# The child makes one call in background mode with a writer that waits a minute before it writes
# anything (LLM_WRITER_BATCH_DELAY), so the kill surely lands between the answer and the writes;
# it prints the call's ids and waits to be killed.
CHILD = textwrap.dedent("""
    import os, sys, threading, django
    django.setup()
    from llm.calls.service import complete
    result = complete(purpose="test.kill", prompt="Say ok.", provider="openai", model="gpt-4o-mini")
    print(result.query_id, result.file_path, flush=True)
    threading.Event().wait(60)
""")


def _child_env(tmp_path, **extra) -> dict:
    from django.db import connection

    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "STORAGE_ROOT": str(tmp_path / "storage"),
        "LLM_JOURNAL_DIR": str(tmp_path / "journal"),
        "LLM_INTERACTION_WRITES": "background",
        "OPENAI_API_KEY": "sk-test-openai-0000",
        **extra,
    }


def _call_and_kill(tmp_path) -> tuple[int, str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env=_child_env(tmp_path, LLM_WRITER_BATCH_DELAY="60"))
    try:
        line = child.stdout.readline()
        child.send_signal(signal.SIGKILL)  # right after complete() returned
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
    finally:
        child.kill()
        child.wait(timeout=30)
    assert line, "the child made no call"
    query_id, file_path = line.split()
    return int(query_id), file_path


def _assert_left_in_the_journal(query_id: int, tmp_path, file_path: str) -> None:
    # The writer never ran: the row is as the insert before the call left it, no file is stored,
    # no rollup or cache entry exists -- and the journal holds all of it.
    row = LLMQuery.objects.get(pk=query_id)
    assert row.status == LLMQuery.Status.STARTED and row.output_tokens == 0 and not row.file_sha256
    assert not (tmp_path / "storage" / file_path).exists()
    assert not UsageDaily.objects.filter(purpose="test.kill").exists()
    assert not LLMCacheEntry.objects.filter(source_query_id=query_id).exists()
    journals = list((tmp_path / "journal").glob("*.journal"))
    assert len(journals) == 1
    files, rows = interaction_writer.read_records(journals[0])
    assert [p for p, _ in files] == [file_path] and [r["pk"] for r in rows] == [query_id]


def _assert_row_final_and_file_stored(query_id: int, tmp_path, file_path: str) -> LLMQuery:
    row = LLMQuery.objects.get(pk=query_id)
    assert row.status == LLMQuery.Status.OK and row.output_tokens > 0 and row.finished_at is not None
    assert row.cost_usd is not None and row.cost_usd > 0 and row.latency_ms is not None
    assert row.file_path == file_path and row.file_sha256
    on_disk = tmp_path / "storage" / file_path
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == row.file_sha256
    assert f'"query_id": {query_id}'.encode() in on_disk.read_bytes()
    day = UsageDaily.objects.get(purpose="test.kill", status="ok")
    assert day.calls == 1 and day.output_tokens == row.output_tokens and day.cost_usd == row.cost_usd
    entry = LLMCacheEntry.objects.get(source_query_id=query_id)  # the answer is in the cache: not paid twice
    assert entry.file_sha256 == row.file_sha256
    return row


@pytest.mark.django_db(transaction=True)
def test_kill_9_after_complete_leaves_the_journal_and_the_repair_command_finishes_row_and_file(tmp_path, providers):
    query_id, file_path = _call_and_kill(tmp_path)
    _assert_left_in_the_journal(query_id, tmp_path, file_path)
    saved = interaction_writer.read_records(next((tmp_path / "journal").glob("*.journal")))[1]

    out = subprocess.run([sys.executable, "manage.py", "llm", "repair-interactions"], cwd=ROOT, env=_child_env(tmp_path),
                         capture_output=True, text=True, check=True).stdout
    assert "1 files stored and 1 row updates applied from 1 journals" in out, out
    _assert_row_final_and_file_stored(query_id, tmp_path, file_path)
    assert not list((tmp_path / "journal").glob("*.journal"))

    # Idempotent: the same row update applied again (a second repair, the writer after a repair)
    # changes nothing, its rollup and cache statements included.
    assert dblog.apply(saved) == []
    _assert_row_final_and_file_stored(query_id, tmp_path, file_path)


@pytest.mark.django_db(transaction=True)
def test_the_next_process_to_start_writing_repairs_a_dead_processs_journal(tmp_path, providers):
    query_id, file_path = _call_and_kill(tmp_path)
    _assert_left_in_the_journal(query_id, tmp_path, file_path)
    # A new process (a web or worker start): its first call repairs.
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("threading.Event().wait(60)", "").replace(
        'purpose="test.kill", prompt="Say ok."', 'purpose="test.next", prompt="Say yes."')], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=_child_env(tmp_path))
    second_id, second_path = child.communicate(timeout=120)[0].split()
    _assert_row_final_and_file_stored(query_id, tmp_path, file_path)
    second = LLMQuery.objects.get(pk=int(second_id))  # applied and stored at exit (atexit flush)
    assert second.status == LLMQuery.Status.OK and interactions.verify(second_path, second.file_sha256)
    assert (tmp_path / "storage" / second_path).exists()
    assert not list((tmp_path / "journal").glob("*.journal"))


def _writer_asleep() -> None:
    # A writer started by an earlier test may still be in its last look at the queue (with the
    # earlier batch delay): wait until it sleeps, so the next submit wakes it with this test's delay.
    from conftest import wait_until

    wait_until(lambda: interaction_writer._writer.sleeping, what="the writer to sleep", timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_read_of_the_query_log_in_the_same_process_sees_the_final_row(settings, tmp_path, providers, fake):
    settings.LLM_INTERACTION_WRITES = "background"
    _writer_asleep()
    settings.LLM_WRITER_BATCH_DELAY = 30  # the writer would wait half a minute; the read cuts it short
    fake.set_default(Reply(text="the answer", usage={"input_tokens": 10, "output_tokens": 3}))
    started = time.monotonic()
    result = complete(purpose="test.ryw", prompt="Hi", provider="openai", model="gpt-4o-mini")
    assert interaction_writer._writer.rows_in_flight == 1  # queued, not applied: off the answer path
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.status == "ok" and row.output_tokens == 3 and row.cost_usd == result.cost_usd and row.file_sha256
    assert UsageDaily.objects.get(purpose="test.ryw").calls == 1
    # The same request again is answered by the cache entry the first call queued.
    again = complete(purpose="test.ryw", prompt="Hi", provider="openai", model="gpt-4o-mini")
    assert again.status == LLMQuery.Status.CACHE_HIT and len(fake.requests) == 1
    assert LLMQuery.objects.get(pk=again.query_id).status == LLMQuery.Status.CACHE_HIT
    assert time.monotonic() - started < 10
    assert interaction_writer.flush(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_call_with_a_budget_books_its_spend_before_returning(settings, tmp_path, providers, fake):
    from llm.models import Budget, BudgetUsage

    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_WRITER_BATCH_DELAY = 30
    Budget.objects.create(period=Budget.Period.DAY, limit_usd=Decimal("10"))
    fake.set_default(Reply(text="ok", usage={"input_tokens": 1000, "output_tokens": 100}))
    result = complete(purpose="test.budget", prompt="Hi", provider="openai", model="gpt-4o-mini", cache=False)
    assert interaction_writer._writer.rows_in_flight == 0  # finalised inline, with its settlement
    with dblog.on_call_path():  # read without waiting for the queue: there is nothing queued
        usage = BudgetUsage.objects.get()
        row = LLMQuery.objects.get(pk=result.query_id)
    assert usage.spent_usd == result.cost_usd > 0 and usage.reserved_usd == 0
    assert row.status == "ok"
    assert interaction_writer.flush(timeout=10)


@pytest.mark.django_db
def test_inside_a_callers_transaction_the_row_is_final_before_returning(settings, tmp_path, providers, fake):
    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_WRITER_BATCH_DELAY = 30
    result = complete(purpose="test.atomic", prompt="Hi", provider="openai", model="gpt-4o-mini", cache=False)
    assert interaction_writer._writer.rows_in_flight == 0
    with dblog.on_call_path():
        assert LLMQuery.objects.get(pk=result.query_id).status == "ok"
    assert interaction_writer.flush(timeout=10)


@pytest.mark.django_db
def test_in_background_mode_the_file_is_readable_at_once_and_stored_soon(settings, tmp_path, providers, fake,
                                                                          monkeypatch):
    monkeypatch.setattr(interaction_writer, "JOURNAL_TRUNCATE_AT", 0)
    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_JOURNAL_DIR = str(tmp_path / "journal")
    fake.set_default(Reply(text="the answer", usage={"input_tokens": 10, "output_tokens": 3}))
    result = complete(purpose="test.bg", prompt="Hi", provider="openai", model="gpt-4o-mini", cache=False)
    row = LLMQuery.objects.get(pk=result.query_id)
    assert row.status == "ok" and row.file_sha256
    assert b"the answer" in interactions.read(result.file_path)  # queued or stored, the same bytes
    assert interaction_writer.flush(timeout=10)
    assert interactions.verify(result.file_path, row.file_sha256)
    assert (tmp_path / "storage" / result.file_path).exists()
    journals = list((tmp_path / "journal").glob("*.journal"))
    assert all(j.stat().st_size == 0 for j in journals)  # emptied once everything is stored


def test_a_torn_last_record_is_skipped(tmp_path):
    good = interaction_writer._record("llm_logs/a.json", b'{"x": 1}')
    torn = interaction_writer._record("llm_logs/b.json", b'{"y": 2222}')[:-5]
    journal = tmp_path / "x.journal"
    journal.write_bytes(good + torn)
    assert interaction_writer.read_journal(journal) == [("llm_logs/a.json", b'{"x": 1}')]


@pytest.mark.django_db
def test_a_failed_store_stays_in_the_journal_and_is_retried(settings, tmp_path, providers, fake, monkeypatch):
    from conftest import wait_until

    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_JOURNAL_DIR = str(tmp_path / "journal")
    monkeypatch.setattr(interaction_writer, "RETRY_EVERY", 0.05)
    real, tries = interactions.store, []

    def flaky(path, data):
        tries.append(path)
        if len(tries) == 1:
            raise OSError("storage is down")
        return real(path, data)

    monkeypatch.setattr(interactions, "store", flaky)
    result = complete(purpose="test.flaky", prompt="Hi", provider="openai", model="gpt-4o-mini", cache=False)
    row = LLMQuery.objects.get(pk=result.query_id)
    wait_until(lambda: (tmp_path / "storage" / result.file_path).exists(), what="the retried store", timeout=10)
    assert len(tries) >= 2 and interactions.verify(result.file_path, row.file_sha256)
    assert interaction_writer.flush(timeout=10)


@pytest.mark.django_db
def test_a_batch_of_queued_updates_keeps_every_value_exactly(providers):
    """dblog.apply sends each column's values as one array (unnest): text that an array literal
    must escape, NULLs, decimals, times and JSON come back as they went."""
    from datetime import datetime, timezone as tz

    tricky = ['quote " brace { } comma , backslash \\ ', "", None, "NULL", "héllo \u2028 ✓", "{a,b}"]
    rows = []
    for n, error in enumerate(tricky):
        row = LLMQuery(purpose="tests.apply", provider_name="openai", model_name="m", params={"n": n}, status="started",
                       attempt=1, key_source="app", cache_key=f"k{n}", delivery="interactive")
        dblog.insert(row)
        row.status, row.error = "ok", error if error is not None else ""
        row.stop_reason = "" if n % 2 else "stop"
        row.cost_usd = None if n == 2 else Decimal("0.00001050") * n
        row.http_status = None if n == 3 else 200 + n
        row.finished_at = datetime(2026, 1, 2, 3, 4, 5, n, tzinfo=tz.utc)
        row.params = {"n": n, "nested": {"list": [1, "two", None]}, "text": tricky[0]}
        rows.append(row)
    records = [dblog.deferred(r, [], expect={"status": "started"}) for r in rows]
    assert len(dblog.apply(records)) == len(rows)
    assert dblog.apply(records) == []  # applied once: the rows are no longer started
    for row in rows:
        got = LLMQuery.objects.get(pk=row.pk)
        assert (got.status, got.error, got.cost_usd, got.http_status, got.finished_at, got.params) == (
            "ok", row.error, row.cost_usd, row.http_status, row.finished_at, row.params)
        assert got.stop_reason == row.stop_reason
