"""Move a run's interaction files from local storage to S3 (seed 004 section 10) and back.

Upload keeps the layout (the S3 key is the local path), checks every file's sha256 against
the index before upload and, when asked, after reading it back from S3; the index then
points at ``s3://bucket/key``. Local files are deleted only when every file of the run was
verified. Rollback points the index back at the local paths (downloading any file that is no
longer on disk).
"""

import hashlib
from dataclasses import dataclass, field

from django.core.files.base import ContentFile

from llm import records
from llm.records import interactions

from . import conf
from .models import LLMInteractionIndex, SegmentationRun
from .pipeline import run_queries


class S3NotConfigured(Exception):
    pass


@dataclass
class Report:
    bucket: str = ""
    uploaded: list = field(default_factory=list)
    verified: list = field(default_factory=list)
    already: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (path, reason)
    deleted: list = field(default_factory=list)
    restored: list = field(default_factory=list)
    queries_updated: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def s3_storage():
    options = conf.s3_options()
    if not options["bucket"]:
        raise S3NotConfigured("Set SEGMENTATION_S3_BUCKET (or S3_BUCKET) to the bucket to migrate to.")
    return records.s3_storage(options.pop("bucket"), **options)


def _uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _key(bucket: str, uri: str) -> str | None:
    prefix = f"s3://{bucket}/"
    return uri[len(prefix):] if uri.startswith(prefix) else None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe(path: str, run_id: str) -> bool:
    # Paths come from our own index, but they become S3 keys and local paths: keep them in the run's folder.
    return path.startswith(f"{interactions.ROOT}/{run_id}/") and ".." not in path.split("/")


def migrate_run(run: SegmentationRun, *, verify: bool = False, delete_local: bool = False, remote=None) -> Report:
    local = interactions.storage()
    remote = remote or s3_storage()
    verify = verify or delete_local  # never delete what was not read back intact
    report = Report(bucket=remote.bucket_name)
    moved: dict[str, str] = {}  # local path -> key, for files uploaded (and verified when asked)

    def upload(path: str, expected: str) -> bool:
        if not _safe(path, run.pk):
            report.problems.append((path, "path outside the run's folder"))
            return False
        try:
            with local.open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            report.problems.append((path, f"cannot read the local file: {exc}"))
            return False
        if expected and _sha(data) != expected:
            report.problems.append((path, f"sha256 mismatch before upload: index {expected[:12]}…, file {_sha(data)[:12]}…"))
            return False
        remote.save(path, ContentFile(data))
        report.uploaded.append(path)
        if verify:
            with remote.open(path, "rb") as fh:
                back = fh.read()
            if _sha(back) != _sha(data):
                report.problems.append((path, "sha256 mismatch after upload"))
                return False
            report.verified.append(path)
        moved[path] = path
        return True

    rows = list(LLMInteractionIndex.objects.filter(run=run).exclude(file_path=""))
    for row in rows:
        if row.file_path.startswith("s3://"):
            report.already.append(row.file_path)
            continue
        if upload(row.file_path, row.sha256):
            row.file_path = _uri(report.bucket, row.file_path)
            row.save(update_fields=["file_path"])
    prompts_dir = f"{interactions.ROOT}/{run.pk}/prompts"
    try:
        _, prompt_files = local.listdir(prompts_dir)
    except (FileNotFoundError, OSError):
        prompt_files = []
    for name in sorted(prompt_files):
        path = f"{prompts_dir}/{name}"
        with local.open(path, "rb") as fh:
            expected = _sha(fh.read())
        if upload(path, expected):
            LLMInteractionIndex.objects.filter(run=run, prompt_file=path).update(prompt_file=_uri(report.bucket, path))
    if delete_local and report.ok:
        for path in moved:
            local.delete(path)
            report.deleted.append(path)
        # The llm call rows point at the same files: point them at S3 too, or /llm/calls/<id>/file/
        # would link to a deleted file.
        report.queries_updated = _repoint_queries(run, report.deleted, lambda path: _uri(report.bucket, path))
    return report


def _repoint_queries(run: SegmentationRun, paths, new_path) -> int:
    from llm.models import LLMQuery

    updated = 0
    paths = sorted(set(paths))
    for start in range(0, len(paths), 500):
        rows = run_queries(run).filter(file_path__in=paths[start:start + 500]).values_list("pk", "file_path")
        for pk, path in rows:
            updated += LLMQuery.objects.filter(pk=pk, file_path=path).update(file_path=new_path(path))
    return updated


def rollback_run(run: SegmentationRun, *, remote=None) -> Report:
    local = interactions.storage()
    remote = remote or s3_storage()
    report = Report(bucket=remote.bucket_name)

    def restore(uri: str, expected: str = "") -> str | None:
        key = _key(report.bucket, uri)
        if key is None or not _safe(key, run.pk):
            report.problems.append((uri, "not a path of this run in this bucket"))
            return None
        if not local.exists(key):
            with remote.open(key, "rb") as fh:
                data = fh.read()
            if expected and _sha(data) != expected:
                report.problems.append((uri, "sha256 mismatch in S3; local file not restored"))
                return None
            local.save(key, ContentFile(data))
            report.restored.append(key)
        return key

    for row in LLMInteractionIndex.objects.filter(run=run, file_path__startswith="s3://"):
        key = restore(row.file_path, row.sha256)
        if key:
            row.file_path = key
            row.save(update_fields=["file_path"])
    for uri in set(LLMInteractionIndex.objects.filter(run=run, prompt_file__startswith="s3://").values_list("prompt_file", flat=True)):
        key = restore(uri)
        if key:
            LLMInteractionIndex.objects.filter(run=run, prompt_file=uri).update(prompt_file=key)
    # The llm call rows moved with --delete-local come back to their local files (only those on disk again).
    prefix = f"s3://{report.bucket}/"
    back = [uri for uri in run_queries(run).filter(file_path__startswith=prefix).values_list("file_path", flat=True)
            if local.exists(uri[len(prefix):])]
    report.queries_updated = _repoint_queries(run, back, lambda uri: uri[len(prefix):])
    return report
