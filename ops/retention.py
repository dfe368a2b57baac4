"""Retention of interaction files: files older than LLM_LOG_RETENTION_DAYS are gzip-compressed in
place (``<name>.json`` -> ``<name>.json.gz``, same folder), and every row naming the file
(LLMQuery, the answer cache, segmentation's interaction index) is pointed at the new name.

The recorded sha256 stays that of the uncompressed JSON: ``llm.records.interactions.read`` unpacks a
``.gz`` file, so ``verify`` and the call pages work as before. A file whose content does not
match its sha256 is left alone and reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from llm.records import interactions
from llm.models import LLMCacheEntry, LLMQuery

logger = logging.getLogger(__name__)

# Calls still waiting for their answer may rewrite their file: never compress those.
UNSETTLED = [LLMQuery.Status.STARTED, LLMQuery.Status.PENDING_MANUAL]


@dataclass
class Report:
    cutoff: datetime
    dry_run: bool
    compressed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason"

    def as_dict(self) -> dict:
        return {"cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run, "compressed": len(self.compressed),
                "skipped": self.skipped[:50]}


def candidates(cutoff: datetime):
    """(file_path, sha256) of uncompressed files whose calls are all older than ``cutoff``."""
    recent = LLMQuery.objects.filter(created_at__gte=cutoff).exclude(file_path="").values("file_path")
    unsettled = LLMQuery.objects.filter(status__in=UNSETTLED).exclude(file_path="").values("file_path")
    return (
        LLMQuery.objects.filter(created_at__lt=cutoff).exclude(file_path="")
        .exclude(file_path__endswith=interactions.GZ).exclude(file_path__startswith="s3://")
        .exclude(file_path__in=recent).exclude(file_path__in=unsettled)
        .order_by("file_path").values_list("file_path", "file_sha256").distinct()
    )


def _repoint(old: str, new: str) -> None:
    from segmentation.models import LLMInteractionIndex

    with transaction.atomic():
        LLMQuery.objects.filter(file_path=old).update(file_path=new)
        LLMCacheEntry.objects.filter(file_path=old).update(file_path=new)
        LLMInteractionIndex.objects.filter(file_path=old).update(file_path=new)


def apply(*, days: int | None = None, dry_run: bool = False, limit: int | None = None,
          now: datetime | None = None) -> Report:
    days = settings.LLM_LOG_RETENTION_DAYS if days is None else days
    if days < 0:
        raise ValueError(f"days must be 0 (keep everything) or more, got {days}.")
    now = now or timezone.now()
    report = Report(cutoff=now - timedelta(days=days), dry_run=dry_run)
    if days == 0:
        return report
    for n, (path, sha) in enumerate(candidates(report.cutoff).iterator(chunk_size=2000)):
        if limit is not None and n >= limit:
            break
        if dry_run:
            report.compressed.append(path)
            continue
        try:
            new = interactions.compress(path, sha)
        except FileNotFoundError:
            report.skipped.append(f"{path}: missing from storage")
            continue
        except (ValueError, OSError) as exc:
            report.skipped.append(f"{path}: {exc}")
            logger.warning("retention: %s", exc)
            continue
        # Rows first, then the old file: a crash in between leaves rows on a file that still exists.
        _repoint(path, new)
        interactions.remove(path)
        report.compressed.append(path)
    return report
