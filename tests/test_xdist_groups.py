"""`--dist loadgroup` really keeps an xdist_group on one worker (tests/xdist_groups.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GROUPED = '''
import os, time, pytest

@pytest.mark.xdist_group("processes")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i, tmp_path_factory):
    time.sleep(0.1)
    (OUT / f"{i}").write_text(os.environ["PYTEST_XDIST_WORKER"])

@pytest.mark.parametrize("i", range(6))
def test_free(i):
    time.sleep(0.1)
'''


def test_grouped_tests_run_on_one_worker(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "test_grouped.py").write_text(f"from pathlib import Path\nOUT = Path({str(out)!r})\n" + GROUPED)
    # Only xdist and our plugin: the suite's other plugins (Django, Playwright, schemathesis) would make
    # each of the two workers start for seconds.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
         "-p", "tests.xdist_groups",
         "-c", os.devnull, "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {path.read_text() for path in out.iterdir()}
    assert len(list(out.iterdir())) == 6
    assert len(workers) == 1, f"the group ran on {sorted(workers)}"
