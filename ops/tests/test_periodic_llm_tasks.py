"""The beat's llm jobs: recent usage rollups recomputed, expired cache entries pruned."""

from datetime import timedelta

import pytest
from django.utils import timezone

from llm.models import LLMCacheEntry, LLMQuery, UsageDaily
from llm.tasks import prune_cache, rebuild_recent_rollups

pytestmark = pytest.mark.django_db


def test_recent_rollups_are_recomputed_and_older_days_left_alone(owner, settings):
    settings.LLM_ROLLUP_DAYS = 3
    today = LLMQuery.objects.create(user=owner, purpose="t", provider_name="openai", model_name="m", status="ok",
                                    input_tokens=10, output_tokens=5, latency_ms=100)
    old = LLMQuery.objects.create(user=owner, purpose="t", provider_name="openai", model_name="m", status="ok",
                                  input_tokens=1, output_tokens=1, latency_ms=100)
    LLMQuery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    UsageDaily.objects.all().delete()  # rows lost or drifted: the periodic job puts them right

    assert rebuild_recent_rollups() == 1
    [row] = UsageDaily.objects.all()
    assert (row.day, row.calls, row.input_tokens) == (today.created_at.date(), 1, 10)
    assert rebuild_recent_rollups() == 1 and UsageDaily.objects.count() == 1  # safe to run twice


def test_a_bad_window_is_refused():
    with pytest.raises(ValueError, match="days"):
        rebuild_recent_rollups(days=0)


def test_expired_cache_entries_are_pruned():
    now = timezone.now()
    for key, expires in [("a", now - timedelta(seconds=1)), ("b", now + timedelta(days=1)), ("c", None)]:
        LLMCacheEntry.objects.create(key=key * 64, provider_name="openai", model_name="m", response_text="x",
                                     expires_at=expires)
    assert prune_cache() == 1
    assert sorted(LLMCacheEntry.objects.values_list("key", flat=True)) == ["b" * 64, "c" * 64]
