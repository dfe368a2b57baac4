"""Interaction files: every call's prompt, parameters, raw answer and timing as one JSON file.

Layout and naming follow seed 004:
``llm_logs/RUN_<ts>_<hash>/<interaction_type>/<ts>_b<batch>_a<attempt>_<hash>.json``;
calls outside a run go under ``llm_logs/adhoc/<YYYY-MM-DD>/``.
"""

import hashlib
import json
import re
import secrets
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages

ROOT = "llm_logs"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
RUN_ID_RE = re.compile(r"^RUN_\d{8}T\d{6}Z_[0-9a-f]{4,16}$")


def storage():
    return storages["llm_logs"]


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
    return json.dumps(document, ensure_ascii=False, indent=2, default=_default).encode("utf-8")


def write(path: str, document: dict) -> tuple[str, str]:
    """Write the document at ``path`` (replacing it), return (stored path, sha256)."""
    data = encode(document)
    digest = hashlib.sha256(data).hexdigest()
    store = storage()
    if store.exists(path):
        store.delete(path)
    stored = store.save(path, ContentFile(data))
    return stored, digest


def read(path: str) -> bytes:
    with storage().open(path, "rb") as fh:
        return fh.read()


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
