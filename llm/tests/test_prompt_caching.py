"""Provider prompt caching: the marked stable prefix becomes Anthropic's cache_control breakpoint,
OpenAI and Gemini get the same order, and every provider's cached tokens come back priced."""

import pytest

from llm import prompts
from llm.models import LLMQuery
from llm.prompts import STABLE_END, TemplateError, parse_file
from llm.calls.service import complete

pytestmark = pytest.mark.django_db

# About 1,500 tokens of instructions that repeat from call to call, then the item.
RULES = "\n".join(f"- Rule {n}: a product whose title names feature {n} belongs to segment S_{n % 40}." for n in range(120))
TEMPLATE = f"""description: Sorting items (prompt caching test).
variables: [rules, item]
system: |
  You sort items into segments.
user: |
  Rules:
  {{{{ rules }}}}

  {STABLE_END}Item: {{{{ item }}}}
"""


@pytest.fixture
def template_dir(tmp_path, settings):
    (tmp_path / "sorting_v0.yaml").write_text(TEMPLATE)
    settings.LLM_PROMPT_DIRS = [str(tmp_path)]
    prompts.load_all.cache_clear()
    yield tmp_path
    prompts.load_all.cache_clear()


def _ask(provider, model, item, **kwargs):
    rendered = prompts.render("sorting", {"rules": RULES, "item": item})
    result = complete(purpose="tests.caching", provider=provider, model=model, messages=rendered.messages,
                      cache=False, **kwargs)
    return rendered, LLMQuery.objects.get(pk=result.query_id)


def test_the_marker_is_removed_and_remembered(template_dir):
    rendered = prompts.render("sorting", {"rules": "Be brief.", "item": "a lamp"})
    assert STABLE_END not in rendered.user
    assert rendered.user == "Rules:\nBe brief.\n\nItem: a lamp\n"
    assert rendered.user[:rendered.user.stable_end] == "Rules:\nBe brief.\n\n"
    assert rendered.user.template == "sorting_v0" and rendered.system.stable_end is None


def test_a_template_may_mark_its_stable_prefix_only_once(tmp_path):
    path = tmp_path / "twice_v0.yaml"
    path.write_text(f"variables: []\nsystem: 'a{STABLE_END}'\nuser: 'b{STABLE_END}'\n")
    with pytest.raises(TemplateError, match="once"):
        parse_file(path)
    path.write_text("variables: []\nuser: hi\ncache_ttl: 2h\n")
    with pytest.raises(TemplateError, match="5m or 1h"):
        parse_file(path)


def test_anthropic_gets_a_breakpoint_and_the_repeat_reads_the_cache(template_dir, providers, fake):
    rendered, first = _ask("anthropic", "claude-sonnet-4-5", "a brass floor lamp")
    _, second = _ask("anthropic", "claude-sonnet-4-5", "a smart dimmer")
    body = fake.requests_for("anthropic")[0].body
    stable = rendered.user[:rendered.user.stable_end]
    # What the fake received: the same text, cut in two blocks, the breakpoint after the stable part.
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Item: a brass floor lamp\n"},
    ]
    assert body["system"] == "You sort items into segments.\n"  # before the breakpoint: cached with it
    assert first.cache_write_input_tokens > 1024 and first.cached_input_tokens == 0
    assert second.cached_input_tokens == first.cache_write_input_tokens and second.cache_write_input_tokens == 0
    assert second.cost_usd < first.cost_usd
    assert first.prompt_template == second.prompt_template == "sorting_v0"


def test_a_one_hour_lifetime_is_asked_for_and_priced_as_such(template_dir, providers, fake):
    _, first = _ask("anthropic", "claude-sonnet-4-5", "a lamp", prompt_cache="1h")
    block = fake.requests_for("anthropic")[0].body["messages"][0]["content"][0]
    assert block["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert first.cache_write_1h_input_tokens == first.cache_write_input_tokens > 0


def test_caching_can_be_turned_off_for_a_call(template_dir, providers, fake):
    rendered, row = _ask("anthropic", "claude-sonnet-4-5", "a lamp", prompt_cache=False)
    assert fake.requests_for("anthropic")[0].body["messages"][0]["content"] == rendered.user
    assert row.cache_write_input_tokens == 0


def test_openai_gets_the_same_text_and_caches_the_repeated_prefix_itself(template_dir, providers, fake):
    rendered, first = _ask("openai", "gpt-4o-mini", "a brass floor lamp")
    _, second = _ask("openai", "gpt-4o-mini", "a smart dimmer")
    sent = fake.requests_for("openai")[0].body["messages"]
    assert sent[1]["content"] == rendered.user  # a plain string: nothing OpenAI would not accept
    assert first.cached_input_tokens == 0
    assert second.cached_input_tokens >= 1024 and second.cached_input_tokens % 128 == 0
    assert second.cached_input_tokens <= second.input_tokens and second.cost_usd < first.cost_usd


def test_gemini_reports_the_implicitly_cached_prefix(template_dir, providers, fake):
    _, first = _ask("gemini", "gemini-2.5-flash", "a brass floor lamp")
    _, second = _ask("gemini", "gemini-2.5-flash", "a smart dimmer")
    assert first.cached_input_tokens == 0 and second.cached_input_tokens >= 1024
    assert second.cost_usd < first.cost_usd


def test_an_admin_override_can_move_the_breakpoint(template_dir, providers, fake):
    from llm.models import PromptOverride

    PromptOverride.objects.create(name="sorting", template_version=0,
                                  user=f"{{{{ rules }}}}\n{STABLE_END}Sort: {{{{ item }}}}\n")
    rendered, row = _ask("anthropic", "claude-sonnet-4-5", "a lamp")
    blocks = fake.requests_for("anthropic")[0].body["messages"][0]["content"]
    assert [b["text"] for b in blocks] == [RULES + "\n", "Sort: a lamp\n"]
    assert row.prompt_template == "sorting_v0+db1"


def test_the_dashboard_shows_what_prompt_caching_saved_beside_the_answer_cache(template_dir, providers, fake, client,
                                                                               staff):
    from llm.records.pricing import cost_for
    from llm.providers import Usage

    _, first = _ask("anthropic", "claude-sonnet-4-5", "a brass floor lamp")
    _, second = _ask("anthropic", "claude-sonnet-4-5", "a smart dimmer")
    full = cost_for(second.model, Usage(input_tokens=second.input_tokens, output_tokens=second.output_tokens))
    assert second.prompt_cache_saved_usd == full - second.cost_usd > 0
    assert first.prompt_cache_saved_usd < 0  # the write costs 1.25x: paid back by the first read
    client.force_login(staff)
    page = client.get("/llm/dashboard/").content.decode()
    saved = first.prompt_cache_saved_usd + second.prompt_cache_saved_usd
    assert f'<dd id="prompt-cache-saved">${saved:.6f}</dd>' in page and "Saved by the cache" in page


def test_the_template_module_imports_no_models_so_models_can_import_it():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(prompts.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m in ("models", "llm.models", "definitions", "llm.definitions")}, imported


def test_the_setting_turns_prompt_caching_off_for_every_call(template_dir, providers, fake, settings):
    from llm import batch as llm_batch

    settings.LLM_PROMPT_CACHE = False
    rendered, row = _ask("anthropic", "claude-sonnet-4-5", "a lamp")
    _, again = _ask("anthropic", "claude-sonnet-4-5", "a dimmer")
    sent = fake.requests_for("anthropic")
    assert sent[0].body["messages"][0]["content"] == rendered.user  # one plain string: no cache_control
    assert row.cache_write_input_tokens == 0 and again.cached_input_tokens == 0
    # A call gathered for a provider batch carries no breakpoint either.
    gathered = prompts.render("sorting", {"rules": RULES, "item": "a toaster"})
    with llm_batch.collecting() as calls:
        with pytest.raises(llm_batch.BatchPending):
            complete(purpose="tests.caching", provider="anthropic", model="claude-sonnet-4-5", messages=gathered.messages)
    assert calls[0].kwargs["cache_points"] == []
    settings.LLM_PROMPT_CACHE = True
    _, on = _ask("anthropic", "claude-sonnet-4-5", "a kettle")
    assert on.cache_write_input_tokens > 1024


def test_a_stream_takes_prompt_cache_like_complete(template_dir, providers, fake):
    from llm.calls.streaming import stream

    rendered = prompts.render("sorting", {"rules": RULES, "item": "a lamp"})
    for prompt_cache in (True, False):
        s = stream(purpose="tests.caching", provider="anthropic", model="claude-sonnet-4-5",
                   messages=rendered.messages, cache=False, prompt_cache=prompt_cache)
        "".join(s)
    cached, plain = (r.body["messages"][0]["content"] for r in fake.requests_for("anthropic"))
    assert cached[0]["cache_control"] == {"type": "ephemeral"}
    assert plain == rendered.user  # one plain string: no breakpoint
