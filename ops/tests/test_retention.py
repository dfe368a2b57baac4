"""Old interaction files are gzip-compressed in place; their rows follow; the call pages still
show them; the sha256 stays that of the JSON; recent files are left alone."""

import gzip
import hashlib
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from llm.records import interactions
from llm.models import LLMCacheEntry, LLMQuery
from ops import retention
from segmentation.models import LLMInteractionIndex, SegmentationRun

pytestmark = pytest.mark.django_db


def call(owner, name, days_old, status=LLMQuery.Status.OK):
    path, sha = interactions.write(f"llm_logs/adhoc/2026-01-01/{name}.json", {"prompt": f"hello {name}", "answer": "ok"})
    row = LLMQuery.objects.create(user=owner, purpose="test", provider_name="openai", model_name="gpt-4o-mini",
                                  status=status, file_path=path, file_sha256=sha)
    LLMQuery.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    row.refresh_from_db()
    return row


def test_old_files_are_compressed_and_still_open(owner, owner_client, settings):
    settings.LLM_LOG_RETENTION_DAYS = 30
    old, new = call(owner, "old", 45), call(owner, "new", 2)
    waiting = call(owner, "waiting", 45, status=LLMQuery.Status.PENDING_MANUAL)
    entry = LLMCacheEntry.objects.create(key="k" * 64, provider_name="openai", model_name="gpt-4o-mini",
                                         response_text="ok", file_path=old.file_path, file_sha256=old.file_sha256)
    run = SegmentationRun.objects.create(id="RUN_20260101T000000Z_abcd", owner=owner, category_name="Lamps")
    index = LLMInteractionIndex.objects.create(run=run, interaction_type="extract", file_path=old.file_path,
                                               sha256=old.file_sha256, query=old)
    original_path, original = old.file_path, interactions.read(old.file_path)

    report = retention.apply()

    assert report.compressed == [original_path] and report.skipped == []
    old.refresh_from_db()
    assert old.file_path == original_path + ".gz"
    store = interactions.storage()
    assert not store.exists(original_path)
    with store.open(old.file_path, "rb") as fh:
        packed = fh.read()
    assert gzip.decompress(packed) == original and len(packed) < len(original) + 64
    # The sha256 is of the JSON, so the recorded one still verifies.
    assert old.file_sha256 == hashlib.sha256(original).hexdigest()
    assert interactions.verify(old.file_path, old.file_sha256)
    entry.refresh_from_db()
    index.refresh_from_db()
    assert entry.file_path == index.file_path == old.file_path
    # Recent files, and calls that may still rewrite theirs, are untouched.
    assert LLMQuery.objects.get(pk=new.pk).file_path == new.file_path and store.exists(new.file_path)
    assert LLMQuery.objects.get(pk=waiting.pk).file_path == waiting.file_path

    page = owner_client.get(f"/llm/calls/{old.pk}/")
    assert page.status_code == 200
    assert "hello old" in page.content.decode()
    assert "checksum matches" in page.content.decode()
    download = owner_client.get(f"/llm/calls/{old.pk}/file/")
    assert json.loads(download.content) == {"prompt": "hello old", "answer": "ok"}
    assert download["Content-Disposition"].endswith('old.json"')

    assert retention.apply().compressed == []  # nothing left to do


def test_a_damaged_file_is_left_alone(owner, settings):
    settings.LLM_LOG_RETENTION_DAYS = 30
    row = call(owner, "damaged", 45)
    LLMQuery.objects.filter(pk=row.pk).update(file_sha256="0" * 64)
    report = retention.apply()
    assert report.compressed == [] and "does not match" in report.skipped[0]
    assert LLMQuery.objects.get(pk=row.pk).file_path == row.file_path
    assert interactions.storage().exists(row.file_path)


def test_a_late_rewrite_of_a_compressed_file_stays_compressed(owner):
    path, sha = interactions.write("llm_logs/adhoc/2026-01-01/x.json.gz", {"answer": "pasted"})
    with interactions.storage().open(path, "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"
    assert json.loads(interactions.read(path)) == {"answer": "pasted"} and interactions.verify(path, sha)


def test_the_command_dry_run_changes_nothing(owner, capsys):
    row = call(owner, "dry", 400)
    call_command("llm_retention", "--dry-run", "--days", "365")
    out = capsys.readouterr().out
    assert row.file_path in out and "would compress 1 file(s)" in out
    assert LLMQuery.objects.get(pk=row.pk).file_path == row.file_path
    call_command("llm_retention", "--days", "365")
    assert LLMQuery.objects.get(pk=row.pk).file_path == row.file_path + ".gz"


def test_the_command_refuses_a_negative_age():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="days"):
        call_command("llm_retention", "--days", "-1")
