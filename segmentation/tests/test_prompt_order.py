"""Issue 21, prompt caching: every segmentation prompt puts its stable part (instructions, the
run's taxonomy) first and the per-item part (products, input segments) last, and on Anthropic the
cache breakpoint sits exactly between them; the runs complete on all three providers' wires."""

import re

import pytest

from segmentation import pipeline
from segmentation.models import SegmentationRun

pytestmark = pytest.mark.django_db

ITEM_LINE = re.compile(r"^(P_\d+|T_\d+): ")


def _run(owner, ids, provider, model):
    run = pipeline.start_run(owner=owner, product_ids=ids, category="Dimmer Switches", provider=provider, model=model)
    run = pipeline.run_inline(run.pk, workers=1)
    assert run.status == SegmentationRun.Status.COMPLETED, run.error
    return run


def test_anthropic_requests_break_between_the_stable_part_and_the_items(owner, catalog, smart_fake, settings):
    settings.SEGMENTATION_MAX_SEGMENTS = 40
    _run(owner, catalog, "anthropic", "claude-haiku-4-5")
    sent = [r.body["messages"][0]["content"] for r in smart_fake.requests_for("anthropic")]
    assert len(sent) == 3 + 1 + 3  # extract (40 per prompt), one consolidation, refine (40 per refinement)
    seen = set()
    for content in sent:
        stable, items = content  # two text blocks: the breakpoint after the stable part, then the items
        assert stable["cache_control"] == {"type": "ephemeral"} and "cache_control" not in items
        lines = [line for line in items["text"].splitlines() if line.strip()]
        assert lines and all(ITEM_LINE.match(line) for line in lines), items["text"][:300]
        assert not any(ITEM_LINE.match(line) for line in stable["text"].splitlines())
        if "final taxonomy" in stable["text"]:  # refine: the whole taxonomy is in the stable part
            seen.add("refine")
            assert re.search(r"^S_1: ", stable["text"], re.M) and "S_" not in items["text"].replace("provisional: S_", "")
        elif "consolidating" in stable["text"]:
            seen.add("consolidate")
            assert "at most 40 final segments" in stable["text"]
        else:
            seen.add("extract")
            assert "between 2 and 40 segments" in stable["text"]
    assert seen == {"extract", "consolidate", "refine"}


def test_openai_and_gemini_get_the_same_order(owner, catalog, smart_fake):
    for provider, model in (("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")):
        _run(owner, catalog, provider, model)
    texts = [r.body["messages"][0]["content"] for r in smart_fake.requests_for("openai")]
    texts += ["".join(p["text"] for p in r.body["contents"][0]["parts"]) for r in smart_fake.requests_for("gemini")]
    assert len(texts) == 2 * 7
    for text in texts:
        lines = text.splitlines()
        first_item = next(i for i, line in enumerate(lines) if ITEM_LINE.match(line))
        assert all(ITEM_LINE.match(line) for line in lines[first_item:] if line.strip())
        assert lines[first_item - 1].strip() in ("Products:", "Input segments:")
