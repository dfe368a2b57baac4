"""No import circles inside any app: a task module imports the work, the work never imports its
task module (it queues by name through ``llm.enqueue``/``llm.enqueue_after_commit``).

The graph and the circle search are llm's own check (llm/tests/test_import_graph.py), run here
over every app of the project.
"""

from pathlib import Path

import pytest

from llm.tests.test_import_graph import cycles, import_graph, module_files

ROOT = Path(__file__).resolve().parents[1]
APPS = ["accounts", "artifacts", "codegen", "evals", "notes", "ops", "products", "segmentation"]


@pytest.mark.parametrize("app", APPS)
def test_the_app_has_no_import_circles(app):
    found = cycles(import_graph(module_files(ROOT / app)))
    assert not found, f"Import circles in {app}:\n" + "\n".join(" -> ".join(circle) for circle in found)
