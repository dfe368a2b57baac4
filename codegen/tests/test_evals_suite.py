"""codegen.parses: the eleven-step chain per brief, scored by Python files parsing and project
imports resolving; run with ``manage.py eval run`` against the fake provider."""

import io
import json

import pytest
from django.core.management import call_command

from codegen.models import CodegenRun
from evals.models import Score
from evals.promotion import seed_datasets
from llm.testing.fake_provider import Reply

from .demo import DemoModel

pytestmark = pytest.mark.django_db
BROKEN = "def broken(:\n    return\n"


class CarelessModel(DemoModel):
    """The demo project, with every Python file a syntax error (the repair answers are broken too)."""

    def __call__(self, req) -> Reply:
        reply = super().__call__(req)
        if isinstance(reply.json, dict) and "files" in reply.json:
            reply.json = {"files": [dict(f, content=BROKEN) if f["path"].endswith(".py") else f
                                    for f in reply.json["files"]]}
        return reply


def _run(*args) -> tuple[int, dict]:
    out = io.StringIO()
    try:
        call_command("eval", "run", "codegen.parses", "--json", "--concurrency", "1", "--variant", ":openai:gpt-4o-mini",
                     *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue().strip().splitlines()[-1])


def test_a_project_that_parses_scores_1_and_a_broken_one_fails_the_gate(fake, providers):
    seed_datasets()
    fake.set_default(DemoModel())
    code, good = _run("--fail-below", "0.9")
    assert code == 0 and good["cases"] == 3 and good["failed"] == 0 and good["score"] == 1.0
    assert set(Score.objects.filter(scorer="imports_resolve").values_list("value", flat=True)) == {1.0}
    assert CodegenRun.objects.count() == 3 and all(r.owner.username == "evals" for r in CodegenRun.objects.all())
    fake.set_default(CarelessModel())
    code, bad = _run("--fail-below", "0.9", "--no-cache")
    assert code == 1 and bad["score"] == 0.0


def test_a_file_that_imports_a_missing_project_module_lowers_imports_resolve():
    from evals.scorers import imports_resolve

    files = {"app/__init__.py": "", "app/main.py": "from app.models import Car\nimport os\n"}
    assert imports_resolve(files, None).value == 0.0
    files["app/models.py"] = "class Car: ...\n"
    assert imports_resolve(files, None).value == 1.0
