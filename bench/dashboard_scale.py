"""Dashboard scale: time the cost dashboard page and the usage API with 10,000 and then
1,000,000 LLMQuery rows spread over 90 days, in PostgreSQL.

Rows are generated inside PostgreSQL (generate_series), the daily rollup is rebuilt from them
(`llm.records.rollups.rebuild`, the same GROUP BY as `manage.py llm rebuild-rollups`), then each page is
requested repeatedly through Django's test client as a staff user (who sees everyone's
numbers, the heaviest view) with the default 30-day range. Prints median and p95 per size and
the ratio. Run: DATABASE_URL=postgres://… .venv/bin/python bench/dashboard_scale.py [--sizes 10000,1000000]
[--repeat 15] [--db-url postgres://…/scratch] [--tiny] (``--tiny``: 200 and 2,000 rows, 3 requests each -- the check that the script
still runs, tests/test_bench_scripts.py)
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _i, _arg in enumerate(sys.argv):  # the database must be known before django.setup()
    if _arg == "--db-url" and _i + 1 < len(sys.argv):
        os.environ["DATABASE_URL"] = sys.argv[_i + 1]
    elif _arg.startswith("--db-url="):
        os.environ["DATABASE_URL"] = _arg.split("=", 1)[1]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

# A realistic shape: 8 users, each working in 3 of the 6 purposes with 2 of the 4 models, one
# key mode per user; statuses weighted (85% ok, 7% cache hits, the rest failures); 1% of the
# calls on a model whose price is unknown (cost NULL). The dimension combinations a team uses
# are few and fixed, so the rollup grows with days x combinations, not with the number of calls.
FILL = """
INSERT INTO llm_llmquery (user_id, purpose, run_id, interaction_type, batch, provider_id, model_id, provider_name,
  model_name, params, input_tokens, cached_input_tokens, cache_write_input_tokens, output_tokens, reasoning_tokens,
  cost_usd, saved_cost_usd, latency_ms, status, http_status, error, attempt, key_source, cache_key, request_id,
  file_path, file_sha256, cache_write_1h_input_tokens, price_tier, stop_reason, created_at, finished_at)
SELECT u.ids[1 + x.usr],
       (ARRAY['artifacts.summary','artifacts.quiz','segmentation.extract_taxonomy','segmentation.refine_assignments',
              'codegen.step_3_3','products.generate'])[1 + x.pur],
       '', '', NULL, NULL, NULL,
       (ARRAY['openai','openai','anthropic','gemini'])[1 + x.mdl],
       (ARRAY['gpt-4o','gpt-4o-mini','claude-sonnet-4-5','gemini-2.0-flash'])[1 + x.mdl],
       '{}'::jsonb, 500 + g % 1500, (g % 3) * 100, 0, 100 + g % 400, 0,
       CASE WHEN g % 100 = 0 THEN NULL ELSE round(((500 + g % 1500) * 2.5 + (100 + g % 400) * 10) / 1000000.0, 8) END,
       NULL, 200 + (g * 37) % 4000,
       CASE WHEN x.st < 85 THEN 'ok' WHEN x.st < 92 THEN 'cache_hit' WHEN x.st < 95 THEN 'rate_limited'
            WHEN x.st < 97 THEN 'invalid_output' WHEN x.st < 99 THEN 'error' ELSE 'timeout' END,
       200, '', CASE WHEN x.st >= 92 THEN 2 ELSE 1 END,
       CASE WHEN x.usr = 6 THEN 'user' WHEN x.usr = 7 THEN 'manual' ELSE 'app' END, '', '', '', '', 0, '', '',
       now() - ((abs(hashtext(g::text || 'd')) % 90) || ' days')::interval - ((abs(hashtext(g::text || 't')) % 86400) || ' seconds')::interval, now()
FROM generate_series(__START__::bigint, __END__::bigint) AS g
CROSS JOIN LATERAL (SELECT (abs(hashtext(g::text || 'u')) % 8)::int AS usr) AS a
CROSS JOIN LATERAL (SELECT a.usr, ((abs(hashtext(g::text || 'p')) % 3) + (a.usr % 2) * 3)::int AS pur,
                           ((abs(hashtext(g::text || 'm')) % 2) + (a.usr % 2) * 2)::int AS mdl, (abs(hashtext(g::text || 's')) % 100)::int AS st) AS x,
     (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user WHERE username LIKE 'bench-user-%%') AS u
"""


def timed(client, url, n):
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        out.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(out) * 1000, sorted(out)[int(len(out) * 0.95) - 1] * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="row counts, smallest first (default 10000,1000000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per page and size")
    parser.add_argument("--db-url", help="an existing, empty scratch database to use (migrated, not dropped)")
    parser.add_argument("--tiny", action="store_true", help="200,2000 rows, 3 requests: does the script still run?")
    args = parser.parse_args(argv)
    sizes = [200, 2000] if args.tiny else [int(x) for x in args.sizes.split(",")]
    repeat = 3 if args.tiny else args.repeat
    settings.DEBUG = False
    if args.db_url:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        old = None
    else:
        old = setup_databases(verbosity=0, interactive=False)
    try:
        from django.contrib.auth import get_user_model

        from llm.models import LLMQuery, UsageDaily
        from llm.records.rollups import rebuild

        User = get_user_model()
        staff = User.objects.create_user("bench-staff", password="x", is_staff=True)
        for i in range(8):
            User.objects.create_user(f"bench-user-{i}", password="x")
        client = Client()
        client.force_login(staff)
        results = {}
        total = 0
        for size in sizes:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(FILL.replace("__START__", str(total + 1)).replace("__END__", str(size)).replace("%%", "%"))
            total = size
            fill_s = time.perf_counter() - started
            started = time.perf_counter()
            rollup_rows = rebuild()
            rebuild_s = time.perf_counter() - started
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            timed(client, "/llm/dashboard/", 3)  # warm up
            page = timed(client, "/llm/dashboard/", repeat)
            api = timed(client, "/api/llm/usage", repeat)
            results[size] = (page, api)
            print(f"{LLMQuery.objects.count():>9,} calls -> {rollup_rows:,} rollup rows (fill {fill_s:.1f} s, "
                  f"rebuild {rebuild_s:.1f} s): dashboard median {page[0]:.1f} ms (p95 {page[1]:.1f}), "
                  f"usage API median {api[0]:.1f} ms (p95 {api[1]:.1f})")
        (p1, a1), (p2, a2) = results[sizes[0]], results[sizes[-1]]
        print(f"ratio {sizes[-1]:,} / {sizes[0]:,}: dashboard {p2[0] / p1[0]:.2f}x, usage API {a2[0] / a1[0]:.2f}x "
              "(target <= 2x)")
        assert UsageDaily.objects.exists()
    finally:
        if old is not None:
            teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
