"""Every script in bench/ runs, in its tiny configuration, so none can rot unnoticed again.

Each script gets its own scratch database, a copy of the (already migrated) test database made
with CREATE DATABASE … TEMPLATE, so no script spends its time migrating; the four run side by side.
The figures of a tiny run mean nothing: this checks that each script runs to the end and prints
them. `make bench` (or each script alone, bench/README.md) gives the real figures.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPTS = {
    # script: (extra arguments, lines its output must have)
    "llm_overhead.py": (["--no-litellm"], ["overhead (wall), background writer", "database round trips per call"]),
    "dashboard_scale.py": ([], ["ratio 2,000 / 200"]),
    "segmentation_scale.py": ([], ["40 products, threads in one process", "-> OK"]),
    "segmentation_sql_paths.py": ([], ["claim (1 batch)", "finish_refine (40 + 40 rows)"]),
    "web_load.py": ([], ["notes list", "dashboard", "results, 200 products", "the notes list's requests/s"]),
    "evals_experiment.py": ([], ["critical path", "calls, 4 in flight"]),
    "html_to_text.py": ([], ["after s", "'<a '"]),
    "markdown_render.py": ([], ["after s", "'['"]),
    "cost_per_1k.py": (["--json"], ["batch <= 0.5x interactive (with and without caching) on every model: yes",
                                     "refine stage, input dollars per 1,000 products", '"usd_per_1k"']),
}
NO_DATABASE = {"html_to_text.py", "markdown_render.py"}  # pure CPU: no scratch database, no --db-url


def test_every_bench_script_is_covered():
    assert {p.name for p in (ROOT / "bench").glob("*.py")} == set(SCRIPTS)


def _check_cost_json(out: str) -> None:
    """cost_per_1k's last line: the four modes' dollars for the first model and the refine saving
    (issue 21), figures that must hold even on the tiny run: batch at most half, caching cheaper."""
    data = json.loads(out.strip().splitlines()[-1])
    usd = data["usd_per_1k"]
    assert data["model"] == "openai/gpt-4o-mini"
    assert set(usd) == {"interactive", "interactive_cached", "batch", "batch_cached"}, usd
    assert 0 < usd["batch"] <= 0.5 * usd["interactive"] * 1.001 and usd["interactive_cached"] < usd["interactive"], usd
    assert usd["batch_cached"] < usd["batch"], usd
    assert 0 < data["refine_input_saving"] < 1, data["refine_input_saving"]
    assert {"anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"} <= set(data["by_model"])


def _admin(sql: str, db: dict) -> None:
    import psycopg

    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    for attempt in range(20):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql)
            return
        except psycopg.errors.ObjectInUse:  # the template still has a connection closing
            time.sleep(0.2)
    raise AssertionError(f"could not run {sql}")


@pytest.mark.heavy  # five scripts side by side: in the worker tests' xdist group (conftest.py)
@pytest.mark.django_db(transaction=True)  # the test database exists, nothing of this test's is open in it
def test_the_bench_scripts_run_in_their_tiny_configuration(django_db_blocker, tmp_path):
    from django.db import connection, connections

    assert shutil.which("wrk"), "bench/web_load.py needs Debian's wrk: apt-get install -y wrk (scripts/test.sh does)"

    db = dict(connection.settings_dict)
    connections.close_all()
    base = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    scratch = {name: f"bench_tiny_{uuid.uuid4().hex[:8]}" for name in SCRIPTS}
    procs = {}
    try:
        with django_db_blocker.unblock():
            for name in set(SCRIPTS) - NO_DATABASE:
                _admin(f'CREATE DATABASE "{scratch[name]}" TEMPLATE "{db["NAME"]}"', db)
        for name, (extra, _) in SCRIPTS.items():
            url = f"{base}/{scratch[name]}"
            args = [] if name in NO_DATABASE else ["--db-url", url]
            env = {**os.environ, "DATABASE_URL": url, "STORAGE_ROOT": str(tmp_path / name / "storage")}
            log = open(tmp_path / f"{name}.log", "w")
            procs[name] = (subprocess.Popen([sys.executable, str(ROOT / "bench" / name), "--tiny", *args, *extra],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        for name, (proc, log) in procs.items():
            proc.wait(timeout=240)
            log.close()
        for name, (proc, _) in procs.items():
            out = (tmp_path / f"{name}.log").read_text()
            assert proc.returncode == 0, f"bench/{name} --tiny exited {proc.returncode}:\n{out[-3000:]}"
            for needed in SCRIPTS[name][1]:
                assert needed in out, f"bench/{name} --tiny did not print {needed!r}:\n{out[-3000:]}"
        _check_cost_json((tmp_path / "cost_per_1k.py.log").read_text())
    finally:
        for proc, log in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with django_db_blocker.unblock():
            for name in scratch.values():
                _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', db)
