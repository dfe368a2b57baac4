import json, os, time
from pathlib import Path
import pytest
from pydantic import BaseModel
from llm.models import LLMQuery
from llm.service import complete
from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db
WIRE = Path(__file__).resolve().parent / "fixtures" / "wire"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-6", "gemini": "gemini-2.5-flash"}
class Location(BaseModel):
    city: str
    temperature: float
    units: str
OUT = os.environ["PROBE_OUT"]
CASES = [(p.split("+")[0], "+schema" in p) for p in """openai/refusal openai/refusal+schema openai/content_filter openai/content_filter+schema
anthropic/refusal anthropic/refusal+schema anthropic/context_window_exceeded anthropic/pause_turn
gemini/safety gemini/safety+schema gemini/prohibited_content gemini/blocklist gemini/spii gemini/recitation gemini/prompt_blocked
gemini/max_tokens_thinking_only openai/429_insufficient_quota anthropic/400_credit_balance anthropic/400_usage_limit gemini/429_daily_quota
gemini/429_retry_info gemini/400_api_key_invalid anthropic/cache_usage""".split()]

@pytest.mark.parametrize("name,with_schema", CASES)
def test_probe(providers, fake, settings, name, with_schema):
    settings.LLM_MAX_RETRY_AFTER = 2.0
    d = json.loads((WIRE / f"{name}.json").read_text())
    r = Reply(status=d["status"], headers=d["headers"], raw_body=json.dumps(d["body"]))
    provider = name.split("/")[0]
    ok = json.loads((WIRE / f"{provider}/text.json").read_text())
    fake.script(r, r, r, r, r, r, r, r, r, r)
    kinds = {"anthropic": None}
    t = time.monotonic(); exc = None
    try:
        res = complete(purpose="probe", prompt="x", provider=provider, model=MODELS[provider],
                       schema=(None if provider == "anthropic" and with_schema is False else (Location if with_schema else None)))
        outcome = f"returned text={res.text!r:.40}"
    except Exception as e:
        exc = e; outcome = f"{type(e).__name__}: {str(e)[:90]}"
    el = time.monotonic() - t
    rows = list(LLMQuery.objects.order_by("id").values_list("status", flat=True))
    row = LLMQuery.objects.order_by("id").last()
    cached = "cached" if LLMQuery.objects.filter(status="ok").exists() and __import__("llm.models", fromlist=["x"]) else ""
    entry = {"case": name + ("+schema" if with_schema else ""), "statuses": rows, "requests": len(fake.requests),
             "outcome": outcome, "elapsed": round(el, 2),
             "usage": [row.input_tokens, row.cached_input_tokens, row.cache_write_input_tokens, row.output_tokens, row.reasoning_tokens]}
    # second identical call: does it reach the provider?
    n = len(fake.requests)
    try:
        complete(purpose="probe", prompt="x", provider=provider, model=MODELS[provider], schema=(Location if with_schema else None))
    except Exception:
        pass
    entry["second_call_reaches_provider"] = len(fake.requests) > n
    with open(OUT, "a") as f:
        f.write(json.dumps(entry) + "\n")
