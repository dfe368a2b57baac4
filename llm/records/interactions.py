"""Interaction files: every call's prompt, parameters, raw answer and timing as one JSON file.

Layout and naming follow seed 004:
``llm_logs/RUN_<ts>_<hash>/<interaction_type>/<ts>_b<batch>_a<attempt>_<hash>.json``;
calls outside a run go under ``llm_logs/adhoc/<YYYY-MM-DD>/``.
"""

import contextlib
import gzip
import hashlib
import json
import os
import re
import secrets
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal
from typing import Any

import orjson
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.files.utils import validate_file_name
from django.utils._os import safe_makedirs

from .storage import interaction_storage, s3_storage

ROOT = "llm_logs"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
RUN_ID_RE = re.compile(r"^RUN_\d{8}T\d{6}Z_[0-9a-f]{4,16}$")


def storage():
    return interaction_storage()


# The lookup of files this process queued for the background writer and has not stored yet.
# interaction_writer.py registers it: the writer imports this module, never the reverse.
_queued = None


def metadata(row, **extra) -> dict:
    """An interaction file's ``metadata`` from its LLMQuery row (the same keys for every kind of
    call: provider calls, pasted answers), then ``extra`` (what only that kind of call knows)."""
    from django.utils import timezone

    return {
        "query_id": row.pk,
        "run_id": row.run_id or None,
        "interaction_type": row.interaction_type or None,
        "purpose": row.purpose,
        "batch_id": row.batch,
        "delivery": row.delivery,
        "provider_batch_id": row.provider_batch_id or None,
        "batch_custom_id": row.batch_custom_id or None,
        "attempt": row.attempt,
        "provider": row.provider_name,
        "model": row.model_name,
        "timestamp": timezone.now().isoformat(),
        "cache_key": row.cache_key,
        "prompt_template": row.prompt_template or None,
        "status": row.status,
        "http_status": row.http_status,
        "user_id": row.user_id,
        **extra,
    }


def read_queued_from(lookup) -> None:
    """Make ``read`` see the files ``lookup(path)`` still holds (bytes, or None when not queued)."""
    global _queued
    _queued = lookup


def new_run_id(now: datetime | None = None) -> str:
    """A run id as in seed 004: ``RUN_20250618T120301Z_8d24``."""
    now = now or datetime.now(dt_timezone.utc)
    return f"RUN_{now.strftime('%Y%m%dT%H%M%SZ')}_{secrets.token_hex(2)}"


def _segment(value: str, default: str) -> str:
    cleaned = _SAFE.sub("_", value or "").strip("._")
    return cleaned[:80] or default


def file_name(*, run_id: str, interaction_type: str, batch: int | None, attempt: int, when: datetime, unique: str) -> str:
    ts = when.astimezone(dt_timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    short = hashlib.sha256(unique.encode()).hexdigest()[:8]
    base = f"{ts}_b{batch}_a{attempt}_{short}.json" if batch is not None else f"{ts}_a{attempt}_{short}.json"
    if run_id:
        # The run id comes from our own code, but it ends up in a path: keep it to the expected shape.
        run_dir = run_id if RUN_ID_RE.match(run_id) else _segment(run_id, "RUN_unknown")
        return f"{ROOT}/{run_dir}/{_segment(interaction_type, 'calls')}/{base}"
    return f"{ROOT}/adhoc/{when.astimezone(dt_timezone.utc).strftime('%Y-%m-%d')}/{base}"


def _default(value: Any):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def encode(document: dict) -> bytes:
    # orjson writes the same indented UTF-8 JSON as the stdlib about twenty times faster: the
    # stdlib's C encoder is off whenever indent is set, and this runs once per model call.
    try:
        return orjson.dumps(document, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits, which only the stdlib writes
        return json.dumps(document, ensure_ascii=False, indent=2, default=_default).encode("utf-8")


def write(path: str, document: dict) -> tuple[str, str]:
    """Write the document at ``path`` (replacing it), return (stored path, sha256).

    The sha256 is always of the JSON itself; a ``.gz`` path (a compressed file being rewritten,
    e.g. a late pasted answer) is stored gzip-compressed."""
    data = encode(document)
    return store(path, data), hashlib.sha256(data).hexdigest()


def store(path: str, data: bytes) -> str:
    """Store the encoded JSON ``data`` at ``path`` (replacing it); return the stored path."""
    payload = _gzip(data) if path.endswith(GZ) else data
    store = storage()
    if type(store) is FileSystemStorage:
        return _write_local(store, path, payload)
    if store.exists(path):
        store.delete(path)
    return store.save(path, ContentFile(payload))


def _write_local(store: FileSystemStorage, path: str, payload: bytes) -> str:
    """The local-disk case of ``write``, once per model call: a quarter of the time of
    ``Storage.save`` (whose name checks and locking we don't need for names we made), and
    atomic -- a temporary file renamed over the target, so a reader or a crash never sees
    half a file."""
    validate_file_name(path, allow_relative_path=True)
    full = store.path(path)  # refuses a name outside the storage root
    directory = os.path.dirname(full)
    if store.directory_permissions_mode is None:
        os.makedirs(directory, exist_ok=True)
    else:
        safe_makedirs(directory, store.directory_permissions_mode, exist_ok=True)
    tmp = f"{full}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if store.file_permissions_mode is not None:
                os.fchmod(fd, store.file_permissions_mode)
        finally:
            os.close(fd)
        os.replace(tmp, full)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    same_group = getattr(store, "_ensure_location_group_id", None)  # as Storage.save does (Django 5.x)
    if same_group is not None:
        same_group(full)
    return path


S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^\x00]+)$")


def read(path: str) -> bytes:
    """The JSON bytes of an interaction file; a compressed one (``<name>.json.gz``) is unpacked and
    one moved to S3 (``s3://bucket/key``) is read from there."""
    uri = S3_URI.match(path)
    if uri:
        key = uri["key"]
        if ".." in key.split("/") or not key.startswith(f"{ROOT}/"):
            raise FileNotFoundError(f"{path} is not an interaction file key.")
        try:
            with s3_storage(uri["bucket"]).open(key, "rb") as fh:
                data = fh.read()
        except OSError:
            raise
        except Exception as exc:  # botocore's errors (no such bucket, endpoint unreachable, denied)
            raise OSError(f"Could not read {path} from S3: {exc}") from exc
    else:
        queued = _queued(path) if _queued else None  # stored by this process's background writer any moment now
        if queued is not None:
            return queued
        with storage().open(path, "rb") as fh:
            data = fh.read()
    return gzip.decompress(data) if path.endswith(GZ) else data


# Old files are compressed in place by the retention job (ops/retention.py): same folder, same
# name plus ".gz". The recorded sha256 stays that of the uncompressed JSON, so verify() still holds.
GZ = ".gz"


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)  # mtime=0: the same JSON gives the same bytes


def compress(path: str, sha256: str = "") -> str:
    """Store ``path`` as ``path + ".gz"`` and delete the original; return the new path.

    Refuses (ValueError) when the file does not match ``sha256``: a damaged file is kept as it is
    for someone to look at. Safe to repeat after a crash between the two writes."""
    if path.endswith(GZ):
        return path
    data = read(path)
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path} does not match its recorded sha256; left uncompressed.")
    store = storage()
    target = path + GZ
    if store.exists(target):
        store.delete(target)
    stored = store.save(target, ContentFile(_gzip(data)))
    if stored != target:  # the storage renamed it: never point rows at a name we did not choose
        store.delete(stored)
        raise ValueError(f"The storage refused the name {target} (gave {stored}).")
    return stored


def remove(path: str) -> None:
    store = storage()
    if store.exists(path):
        store.delete(path)


def verify(path: str, sha256: str) -> bool:
    try:
        return hashlib.sha256(read(path)).hexdigest() == sha256
    except (FileNotFoundError, OSError):
        return False


def write_prompt_archive(run_id: str, name: str, text: str) -> str:
    """Archive a prompt template once per run under ``RUN_…/prompts/`` (seed 004)."""
    path = f"{ROOT}/{run_id if RUN_ID_RE.match(run_id) else _segment(run_id, 'RUN_unknown')}/prompts/{_segment(name, 'prompt')}.txt"
    store = storage()
    if not store.exists(path):
        store.save(path, ContentFile(text.encode("utf-8")))
    return path
