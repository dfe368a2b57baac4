"""Overhead of llm.complete over the bare SDK call, against the fake provider answering at once.

Both paths call the same loopback server with the official OpenAI SDK. llm.complete also
writes the LLMQuery row (before and after), the interaction JSON file, checks budgets and
the cache key. Run: `.venv/bin/python bench/llm_overhead.py [N]` with DATABASE_URL set (the
numbers quoted in the README come from PostgreSQL). Prints p50/p95 of both and of the difference.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("STORAGE_ROOT", tempfile.mkdtemp(prefix="bench-storage-"))

import django  # noqa: E402

django.setup()

import openai  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from llm.testing.fake_provider import FakeProviderServer, Reply  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def main(n: int = 300) -> None:
    old = setup_databases(verbosity=0, interactive=False)
    server = FakeProviderServer().start()
    server.set_default(Reply(text="ok", usage={"input_tokens": 50, "output_tokens": 5}))
    try:
        from llm.bootstrap import ensure_defaults
        from llm.models import LLMProvider
        from llm.service import complete

        ensure_defaults()
        os.environ["OPENAI_API_KEY"] = "sk-bench"
        LLMProvider.objects.filter(name="openai").update(base_url=server.openai_base_url)
        sdk = openai.OpenAI(api_key="sk-bench", base_url=server.openai_base_url, max_retries=0)
        messages = [{"role": "user", "content": "Say ok."}]
        for _ in range(20):  # warm up both paths
            sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, max_completion_tokens=16)
            complete(purpose="bench.warmup", messages=messages, provider="openai", model="gpt-4o-mini", max_tokens=16, cache=False)
        bare, ours = [], []
        for i in range(n):
            started = time.perf_counter()
            sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, max_completion_tokens=16)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            complete(purpose="bench.overhead", messages=messages, provider="openai", model="gpt-4o-mini",
                     max_tokens=16, cache=False)
            ours.append(time.perf_counter() - started)
        diff = [o - b for o, b in zip(ours, bare)]
        print(f"database: {connection.vendor}; {n} sequential calls each")
        print(f"bare SDK call     p50 {pct(bare, .5):6.2f} ms   p95 {pct(bare, .95):6.2f} ms")
        print(f"llm.complete      p50 {pct(ours, .5):6.2f} ms   p95 {pct(ours, .95):6.2f} ms")
        print(f"overhead per call p50 {statistics.median(diff) * 1000:6.2f} ms   p95 {pct(diff, .95):6.2f} ms")
    finally:
        server.stop()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
