"""The background interaction writer: the row is final and the file durable (journaled) before
``complete()`` returns; a process killed right after loses nothing (llm/records/interaction_writer.py)."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llm.records import interaction_writer, interactions
from llm.models import LLMQuery
from llm.calls import complete
from llm.testing.fake_provider import Reply

ROOT = Path(__file__).resolve().parents[2]

# The child makes one call in background mode with a storage that never finishes a write (so the
# kill surely lands between the answer and the file), prints the call's ids, and waits to be killed.
CHILD = textwrap.dedent("""
    import os, sys, threading, django
    django.setup()
    from llm.records import interactions
    if os.environ.get("CHILD_STALL_STORAGE"):
        interactions.store = lambda path, data: threading.Event().wait()
    from llm.calls.service import complete
    result = complete(purpose="test.kill", prompt="Say ok.", provider="openai", model="gpt-4o-mini", cache=False)
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
                             env=_child_env(tmp_path, CHILD_STALL_STORAGE="1"))
    try:
        line = child.stdout.readline()
        child.send_signal(signal.SIGKILL)  # right after complete() returned
    finally:
        child.kill()
        child.wait(timeout=30)
    assert line, "the child made no call"
    query_id, file_path = line.split()
    return int(query_id), file_path


def _assert_row_final(query_id: int, tmp_path, file_path: str) -> LLMQuery:
    row = LLMQuery.objects.get(pk=query_id)
    assert row.status == LLMQuery.Status.OK and row.output_tokens > 0 and row.finished_at is not None
    assert row.file_path == file_path and row.file_sha256
    return row


@pytest.mark.django_db(transaction=True)
def test_kill_9_after_complete_leaves_the_row_and_the_repair_command_stores_the_file(tmp_path, providers):
    query_id, file_path = _call_and_kill(tmp_path)
    row = _assert_row_final(query_id, tmp_path, file_path)
    on_disk = tmp_path / "storage" / file_path
    assert not on_disk.exists()  # the storage write never finished...
    assert list((tmp_path / "journal").glob("*.journal"))  # ...but the bytes are in the journal

    out = subprocess.run([sys.executable, "manage.py", "llm", "repair-interactions"], cwd=ROOT, env=_child_env(tmp_path),
                         capture_output=True, text=True, check=True).stdout
    assert "journals" in out and ": 1." in out
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == row.file_sha256
    assert f'"query_id": {query_id}'.encode() in on_disk.read_bytes()
    assert not list((tmp_path / "journal").glob("*.journal"))


@pytest.mark.django_db(transaction=True)
def test_the_next_process_to_start_writing_repairs_a_dead_processs_journal(tmp_path, providers):
    query_id, file_path = _call_and_kill(tmp_path)
    row = _assert_row_final(query_id, tmp_path, file_path)
    # A new process (a web or worker start) with a working storage: its first call repairs.
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("threading.Event().wait(60)", "")], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, env=_child_env(tmp_path))
    second_id, second_path = child.communicate(timeout=120)[0].split()
    on_disk = tmp_path / "storage" / file_path
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == row.file_sha256
    assert (tmp_path / "storage" / second_path).exists()  # stored at exit (atexit flush)
    assert not list((tmp_path / "journal").glob("*.journal"))


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
