"""Prompt caching inside provider batches: a request gathered from a rendered template keeps its
stable-prefix mark, so the Anthropic batch request carries the same cache_control breakpoint as
an interactive call (Anthropic caches within batches), and OpenAI gets the same order."""

import pytest

from llm import batch as llm_batch
from llm import prompts
from llm.batch.models import LLMBatch, LLMBatchItem
from llm.calls.service import complete
from llm.models import LLMQuery
from llm.testing.fake_provider import Reply

from .test_prompt_caching import RULES, template_dir  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


class Recorder:
    def on_answer(self, owner, key, completion):
        pass

    def on_error(self, owner, key, error):
        pass

    def on_finished(self, owner):
        pass


def _gather(provider, model, items, **kwargs):
    gathered = []
    for item in items:
        rendered = prompts.render("sorting", {"rules": RULES, "item": item})
        with llm_batch.collecting() as calls:
            with pytest.raises(llm_batch.BatchPending):
                complete(purpose="tests.caching", provider=provider, model=model, messages=rendered.messages, **kwargs)
        gathered += calls
    return rendered, gathered


def _poll(owner):
    for _ in range(5):
        llm_batch.poll_due()
        if not LLMBatch.objects.for_owner(owner).active().exists():
            return
    raise AssertionError("the batch never finished")


def test_an_anthropic_batch_request_carries_the_templates_cache_breakpoint(template_dir, providers, fake):  # noqa: F811
    llm_batch.register_handler("tests.caching", Recorder())
    fake.set_default(Reply(text="S_1"))
    rendered, gathered = _gather("anthropic", "claude-sonnet-4-5", ["a brass floor lamp", "a smart dimmer"])
    stable = rendered.user[:rendered.user.stable_end]
    assert all(g.kwargs["cache_points"] for g in gathered)
    llm_batch.submit_gathered(owner="tests.Caching:1", handler="tests.caching", gathered=gathered)
    item = LLMBatchItem.objects.filter(batch__owner="tests.Caching:1").first()
    assert item.request["cache_points"] == [[1, None, len(stable), "5m"]]  # message 1: the user turn
    _poll("tests.Caching:1")
    sent = [r for r in fake.requests_for("anthropic") if r.path.startswith("/batch/")]
    assert len(sent) == 2
    for request in sent:
        content = request.body["messages"][0]["content"]
        assert content[0] == {"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}}
        assert content[1]["text"].startswith("Item: ")
    rows = LLMQuery.objects.filter(purpose="tests.caching", delivery="batch").order_by("pk")
    assert rows.count() == 2
    # The fake caches a repeated prefix inside its window, batch requests included: one writes, one reads.
    writes = sorted(r.cache_write_input_tokens for r in rows)
    reads = sorted(r.cached_input_tokens for r in rows)
    assert writes[0] == 0 and writes[1] > 1024 and reads == [0, writes[1]], (writes, reads)


def test_a_one_hour_lifetime_and_caching_off_reach_the_batch_request(template_dir, providers, fake):  # noqa: F811
    llm_batch.register_handler("tests.caching", Recorder())
    fake.set_default(Reply(text="S_1"))
    _, hour = _gather("anthropic", "claude-sonnet-4-5", ["a lamp"], prompt_cache="1h")
    _, off = _gather("anthropic", "claude-sonnet-4-5", ["a dimmer"], prompt_cache=False)
    assert hour[0].kwargs["cache_points"][0][3] == "1h" and off[0].kwargs["cache_points"] == []
    llm_batch.submit_gathered(owner="tests.Caching:2", handler="tests.caching", gathered=hour + off)
    _poll("tests.Caching:2")
    bodies = {r.body["messages"][0]["content"] if isinstance(r.body["messages"][0]["content"], str) else "blocks": r.body
              for r in fake.requests_for("anthropic") if r.path.startswith("/batch/")}
    blocks = bodies.pop("blocks")["messages"][0]["content"]
    assert blocks[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    [plain] = bodies.values()
    assert "Item: a dimmer" in plain["messages"][0]["content"]  # no breakpoint: one plain string
