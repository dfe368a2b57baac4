"""Regression tests for what the fault runs found (each one fast, without workers)."""

import pytest

from llm.testing.fake_provider import Reply

pytestmark = pytest.mark.django_db


def test_a_codegen_step_answered_with_no_files_is_asked_once_more(owner, fake, providers):
    from codegen import pipeline
    from codegen.tests.demo import FILES, DemoModel, step_of

    model = DemoModel()
    emptied: list[str] = []

    def answer(req):
        reply = model(req)
        if step_of(req) == "3.2" and not emptied:  # a schema-valid answer without files
            emptied.append("3.2")
            return Reply(json={"files": []})
        return reply

    fake.set_default(answer)
    run = pipeline.create_run(owner=owner, name="cars", description="Manage cars.", provider="openai",
                              model="gpt-4o-mini")
    pipeline.execute_run(run.pk)
    run.refresh_from_db()
    assert emptied and run.status == "completed", run.log
    step = run.steps.get(key="3.2")
    assert sorted(run.files.filter(step=step).values_list("path", flat=True)) == sorted(f["path"] for f in FILES["3.2"])
    assert "listed no files; asking again" in run.log
