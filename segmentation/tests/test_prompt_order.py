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


@pytest.mark.parametrize("details", [0, 12])
def test_refine_lines_show_as_much_description_as_configured(owner, catalog, smart_fake, settings, details):
    from products.models import Product

    settings.SEGMENTATION_REFINE_DETAILS = details
    _run(owner, catalog, "openai", "gpt-4o-mini")
    texts = [r.body["messages"][0]["content"] for r in smart_fake.requests_for("openai")]
    refine = [t for t in texts if "final taxonomy" in t]
    extract = [t for t in texts if "final taxonomy" not in t and "consolidating" not in t]
    assert refine and extract
    assert all("details: " in t for t in extract)  # the extract stage keeps the seed's 240 characters
    longest = max(len(p.description) for p in Product.objects.filter(pk__in=catalog))
    assert longest > 12
    cut = 0
    for text in refine:
        lines = [line for line in text.splitlines() if ITEM_LINE.match(line)]
        assert lines
        for line in lines:
            shown = [part for part in line.split(" | ") if part.startswith("details: ")]
            if details == 0:
                assert not shown, line
            else:
                assert all(len(part) - len("details: ") <= details for part in shown), line
                cut += sum(part.endswith("…") for part in shown)
    assert (cut > 0) == (details > 0)  # a longer description was cut, with an ellipsis


def test_a_negative_refine_details_setting_says_what_to_set(settings):
    from segmentation import conf

    settings.SEGMENTATION_REFINE_DETAILS = -1
    with pytest.raises(ValueError, match="SEGMENTATION_REFINE_DETAILS must be 0"):
        conf.refine_details()
