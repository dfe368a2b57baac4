"""Claiming background work with a conditional UPDATE, so two workers never run the same job.

A job found "running" whose claim is older than LLM_JOB_STALE_AFTER belonged to a worker that
died (kill -9, lost machine): it may be claimed again. Its earlier, finished LLM calls are not
paid twice — the answer cache returns them.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone


def claim(model, pk: int, *, claimable=("queued",)) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.LLM_JOB_STALE_AFTER)
    takeable = Q(status__in=claimable) | Q(status="running", claimed_at__lt=stale) | Q(status="running", claimed_at__isnull=True)
    return model.objects.filter(Q(pk=pk) & takeable).update(status="running", claimed_at=now) == 1
