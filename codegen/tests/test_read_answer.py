"""Steps read an answer they are handed (parsed or raw text, e.g. a downloaded batch answer) without a model call."""

import json

import pytest

from codegen.pipeline import StepFailed, files, plan


def test_the_plan_is_read_from_raw_text_and_a_bad_one_is_refused():
    from codegen.schemas import ArchitecturePlan

    good = ArchitecturePlan.model_validate_json(json.dumps(_plan()))
    assert plan.read_answer(json.dumps(_plan())) == good
    assert plan.read_answer(good) is good
    with pytest.raises(StepFailed, match="does not fit ArchitecturePlan"):
        plan.read_answer("not json at all")


def test_files_are_read_from_raw_text_with_unsafe_and_taken_paths_refused(settings):
    answer = json.dumps({"files": [
        {"path": "backend/app.py", "content": "print(1)\n", "purpose": "entry"},
        {"path": "../etc/passwd", "content": "x", "purpose": "escape"},
        {"path": "backend/models.py", "content": "x", "purpose": "taken by step 3.2"},
        {"path": "backend/nul.py", "content": "a\x00b", "purpose": "binary"},
    ]})
    got = files.read_answer(answer, step_key="3.1", existing=[("backend/models.py", "3.2")])
    assert list(got.accepted) == ["backend/app.py"] and got.accepted["backend/app.py"] == ["print(1)\n", "entry"]
    assert len(got.rejected) == 3 and all(line.startswith("✗ Rejected") for line in got.rejected)


def _plan() -> dict:
    from codegen.schemas import ArchitecturePlan

    # The smallest plan the schema accepts: every required field with an empty or short value.
    schema = ArchitecturePlan.model_json_schema()
    value = {}
    for name in schema.get("required", []):
        kind = schema["properties"][name].get("type")
        value[name] = [] if kind == "array" else {} if kind == "object" else "x"
    return value
