"""segment_migrate_to_s3 / segment_rollback_s3 against moto's S3 server on loopback."""

import hashlib
import socket

import boto3
import pytest
from django.core.management import CommandError, call_command

from llm.records import interactions
from llm.models import LLMQuery
from segmentation import pipeline
from segmentation.models import LLMInteractionIndex

pytestmark = pytest.mark.django_db
BUCKET = "segmentation-logs"


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, settings):
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.SEGMENTATION_S3_BUCKET = BUCKET
    settings.SEGMENTATION_S3_ENDPOINT_URL = s3_endpoint
    settings.SEGMENTATION_S3_ACCESS_KEY_ID = "testing"
    settings.SEGMENTATION_S3_SECRET_ACCESS_KEY = "testing"
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def finished_run(owner, catalog, smart_fake):
    run = pipeline.start_run(owner=owner, product_ids=catalog[:30], category="D", provider="openai", model="gpt-4o-mini")
    return pipeline.run_inline(run.pk, workers=1)


def test_migration_keeps_the_layout_verifies_and_rolls_back(finished_run, s3, owner_client):
    run = finished_run
    local_paths = list(LLMInteractionIndex.objects.filter(run=run).values_list("file_path", flat=True))
    calls = LLMQuery.objects.filter(run_id=run.pk).exclude(file_path="")
    call_paths = dict(calls.values_list("pk", "file_path"))
    assert call_paths and set(call_paths.values()) <= set(local_paths)
    call_command("segment_migrate_to_s3", "--run-id", run.pk, "--verify-integrity", "--delete-local")
    # The llm call rows follow their files to S3 (storage-qualified), so no call page points at a deleted file.
    for pk, path in calls.values_list("pk", "file_path"):
        assert path == f"s3://{BUCKET}/{call_paths[pk]}"
        body = s3.get_object(Bucket=BUCKET, Key=call_paths[pk])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == LLMQuery.objects.get(pk=pk).file_sha256
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert set(local_paths) <= keys
    assert f"llm_logs/{run.pk}/prompts/extract_taxonomy_prompt.txt" in keys
    for row in LLMInteractionIndex.objects.filter(run=run):
        assert row.file_path.startswith(f"s3://{BUCKET}/llm_logs/{run.pk}/")
        assert row.prompt_file.startswith(f"s3://{BUCKET}/")
        key = row.file_path.removeprefix(f"s3://{BUCKET}/")
        assert hashlib.sha256(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest() == row.sha256
        assert not interactions.storage().exists(key)
    call_command("segment_rollback_s3", "--run-id", run.pk)
    for row in LLMInteractionIndex.objects.filter(run=run):
        assert row.file_path in local_paths and interactions.verify(row.file_path, row.sha256)
        assert interactions.storage().exists(row.prompt_file)
    # ...and come back with the rollback: the call file view serves them again.
    assert dict(calls.values_list("pk", "file_path")) == call_paths
    pk = next(iter(call_paths))
    response = owner_client.get(f"/llm/calls/{pk}/file/")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == LLMQuery.objects.get(pk=pk).file_sha256


def test_a_corrupted_file_is_detected_and_nothing_is_deleted(finished_run, s3):
    run = finished_run
    victim = LLMInteractionIndex.objects.filter(run=run).first()
    store = interactions.storage()
    store.delete(victim.file_path)
    from django.core.files.base import ContentFile
    store.save(victim.file_path, ContentFile(b'{"tampered": true}'))
    with pytest.raises(CommandError, match="1 file\\(s\\) failed the integrity check"):
        call_command("segment_migrate_to_s3", "--run-id", run.pk, "--verify-integrity", "--delete-local")
    victim.refresh_from_db()
    assert not victim.file_path.startswith("s3://")
    # Every local file is still there.
    for row in LLMInteractionIndex.objects.filter(run=run):
        path = row.file_path.removeprefix(f"s3://{BUCKET}/")
        assert store.exists(path)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert victim.file_path not in keys
    # Nothing was deleted, so the llm call rows still point at their local files.
    assert not LLMQuery.objects.filter(run_id=run.pk, file_path__startswith="s3://").exists()


def test_migration_without_a_bucket_says_what_to_set(finished_run, settings):
    settings.SEGMENTATION_S3_BUCKET = ""
    settings.S3_BUCKET = ""
    with pytest.raises(CommandError, match="SEGMENTATION_S3_BUCKET"):
        call_command("segment_migrate_to_s3", "--run-id", finished_run.pk)


def test_the_call_file_view_serves_a_migrated_file_from_s3(finished_run, s3, s3_endpoint, owner_client, settings, monkeypatch):
    # The shared S3 settings too (not only SEGMENTATION_S3_*), for an llm reader configured from them.
    for name, value in {"S3_ENDPOINT_URL": s3_endpoint, "S3_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
        setattr(settings, name, value)
    call_command("segment_migrate_to_s3", "--run-id", finished_run.pk, "--delete-local")
    row = LLMQuery.objects.filter(run_id=finished_run.pk).exclude(file_path="").first()
    assert row.file_path.startswith(f"s3://{BUCKET}/")
    response = owner_client.get(f"/llm/calls/{row.pk}/file/")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == row.file_sha256
