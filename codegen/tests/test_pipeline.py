"""The eleven-step chain against the fake provider: full run, continuation, partial runs, repair, resume."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from PIL import Image

from codegen import pipeline
from codegen.models import CodegenRun, CodegenStep, GeneratedFile
from codegen.tests.demo import FILES, DemoModel, step_of, total_demo_files
from llm.models import LLMQuery

pytestmark = pytest.mark.django_db


def tiny_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def new_run(owner, **kwargs):
    defaults = dict(owner=owner, name="car-management-app", description="Manage cars and owners.",
                    provider="openai", model="gpt-4o-mini")
    return pipeline.create_run(**{**defaults, **kwargs})


def test_full_chain_generates_every_steps_files_with_checks(providers, fake, owner):
    fake.set_default(DemoModel())
    run = new_run(owner, mockup=tiny_png(), mockup_media_type="image/png")
    run = pipeline.execute_run(run.pk)

    assert run.status == CodegenRun.Status.COMPLETED, run.log
    steps = list(run.steps.order_by("position"))
    assert [s.key for s in steps] == ["1", "2", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "5"]
    assert [s.max_tokens for s in steps] == [2000, 2000, 3000, 4000, 5000, 3000, 3000, 4000, 5000, 4000, 2000]
    assert all(s.status == "completed" for s in steps)
    assert len(fake.requests) == 11
    assert [step_of(r) for r in fake.requests] == [s.key for s in steps]
    assert [r.body["max_completion_tokens"] for r in fake.requests] == [s.max_tokens for s in steps]

    # Step 1 carries the mockup as an image part; later steps carry the plan and the files so far.
    first = fake.requests[0].body["messages"][1]["content"]
    assert any(part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")
               for part in first)
    step_33 = fake.requests[4].body["messages"][1]["content"]
    assert '"database_tables"' in step_33 and "- backend/main.py" in step_33 and "- backend/models/car.py" in step_33
    assert steps[0].output["pages"][0]["name"] == "Dashboard"

    assert run.files.count() == total_demo_files()
    checks = {f.path: f.check_status for f in run.files.all()}
    assert checks["backend/main.py"] == "ok"  # imports of backend.routers (a later step) resolve at the end
    assert checks["backend/routers/cars.py"] == "ok"  # relative import ..services.car_service
    assert checks["frontend/package.json"] == "ok"
    assert checks["frontend/tsconfig.json"] == "ok"  # JSON with comments
    assert checks["pyproject.toml"] == "ok"
    assert checks["frontend/src/App.tsx"] == "skipped"
    assert not run.files.filter(check_status="failed").exists()

    assert run.total_tokens == sum(s.tokens for s in steps) > 0
    assert run.total_cost_usd is not None and run.total_cost_usd > 0
    assert all(s.attempts == 1 for s in steps)
    # Log lines as in the seed's example.
    assert "Starting chained generation for: car-management-app" in run.log
    assert "STEP 3: BACKEND API GENERATION (Multi-phase)" in run.log
    assert "Step 3.1: Generating core application files..." in run.log
    assert "✓ Generated 4 core files" in run.log
    assert "✓ Step 3/5: Backend API generated (16 files)" in run.log
    assert "  ✓ Generated: backend/main.py" in steps[2].log
    assert f"Chained generation completed: {total_demo_files()} files generated" in run.log
    # Every call is logged under the run with its step as interaction type.
    assert set(LLMQuery.objects.filter(run_id=run.run_id).values_list("interaction_type", flat=True)) == {
        f"step_{k}" for k in pipeline.STEP_KEYS}


def test_a_cut_off_answer_is_continued_and_joined(providers, fake, owner):
    fake.set_default(DemoModel(truncate={"3.3"}))
    run = pipeline.execute_run(new_run(owner).pk)

    assert run.status == "completed", run.log
    step = run.steps.get(key="3.3")
    assert step.continuations == 1 and step.attempts == 2
    assert sorted(step.files.values_list("path", flat=True)) == sorted(x["path"] for x in FILES["3.3"])
    continuation = fake.requests[5].body["messages"]
    assert continuation[-2]["role"] == "assistant"  # the partial answer
    assert "Continue exactly where you stopped" in continuation[-1]["content"]
    assert continuation[-2]["content"][-50:] in continuation[-1]["content"]  # the tail is quoted
    assert "response_format" not in fake.requests[5].body  # the rest alone is not a JSON document
    assert LLMQuery.objects.filter(run_id=run.run_id, interaction_type="step_3.3", status="truncated").count() == 1
    assert "asking for the rest (continuation 1/2)" in step.log


def test_a_failing_step_gives_a_partial_run_that_keeps_the_other_files(providers, fake, owner, settings):
    settings.LLM_VALIDATION_RETRIES = 0
    fake.set_default(DemoModel(fail={"3.2"}))
    run = pipeline.execute_run(new_run(owner).pk)

    assert run.status == CodegenRun.Status.PARTIAL
    assert run.failing_step == "3.2"
    assert "does not fit the schema" in run.error
    statuses = dict(run.steps.values_list("key", "status"))
    assert statuses["3.2"] == "failed"
    assert all(v == "completed" for k, v in statuses.items() if k != "3.2")
    assert run.files.count() == total_demo_files() - len(FILES["3.2"])
    assert run.files.filter(path="backend/routers/cars.py").exists()  # later steps still ran
    # The files importing the missing models are flagged by the project-wide import check.
    car_service = run.files.get(path="backend/services/car_service.py")
    assert car_service.check_status == "failed" and "from backend.models.car import Car" in car_service.check_message
    assert "✗ Step 3.2 failed" in run.log and "failing step(s): 3.2" in run.log


def test_without_the_plan_the_run_fails_and_later_steps_are_skipped(providers, fake, owner, settings):
    settings.LLM_VALIDATION_RETRIES = 0
    fake.set_default(DemoModel(fail={"1"}))
    run = pipeline.execute_run(new_run(owner).pk)
    assert run.status == "failed" and run.failing_step.startswith("1")
    assert len(fake.requests) == 1
    assert set(run.steps.exclude(key="1").values_list("status", flat=True)) == {"skipped"}


HOSTILE = [
    {"path": "/etc/passwd", "content": "x", "purpose": "absolute"},
    {"path": "../../outside.py", "content": "x", "purpose": "dotdot"},
    {"path": "backend/../../escape.py", "content": "x", "purpose": "dotdot inside"},
    {"path": "C:/Windows/evil.bat", "content": "x", "purpose": "drive"},
    {"path": "backend\\win.py", "content": "x", "purpose": "backslash"},
    {"path": "backend/nul\x00byte.py", "content": "x", "purpose": "nul"},
    {"path": "backend//double.py", "content": "x", "purpose": "empty segment"},
    {"path": "a" * 300 + ".py", "content": "x", "purpose": "long name"},
    {"path": "backend/main.py", "content": "print('second')", "purpose": "duplicate of step 3.1"},
    {"path": "BACKEND/MAIN.PY", "content": "x", "purpose": "duplicate by case"},
    {"path": ".git/hooks/post-checkout", "content": "rm -rf ~", "purpose": "git hook"},
]


def test_hostile_paths_are_rejected_and_logged(providers, fake, owner, settings):
    settings.CODEGEN = {"MAX_FILE_BYTES": 1000}
    bad_content = [
        {"path": "backend/binary.py", "content": "a\x00b", "purpose": "NUL in the content"},
        {"path": "backend/huge.py", "content": "#" * 1001, "purpose": "too large"},
    ]
    fake.set_default(DemoModel(hostile={"3.3": HOSTILE + bad_content}))
    run = pipeline.execute_run(new_run(owner).pk)

    assert run.status == "completed"
    step = run.steps.get(key="3.3")
    assert sorted(step.files.values_list("path", flat=True)) == sorted(x["path"] for x in FILES["3.3"])
    assert run.files.get(path="backend/main.py").step.key == "3.1"  # first wins
    assert "print('second')" not in run.files.get(path="backend/main.py").content
    for reason in ("the path is absolute", "'..' segment", "drive letter", "backslash", "NUL byte",
                   "empty segment", "longer than 255 bytes", "already generated by step 3.1", "writes into .git/"):
        assert reason in step.log, reason
    assert step.log.count("✗ Rejected path") == len(HOSTILE)
    assert "\x00" not in step.log  # the rejected path is logged escaped
    assert "✗ Rejected backend/binary.py: the content has NUL bytes" in step.log
    assert "✗ Rejected backend/huge.py: larger than the 1000-byte limit" in step.log


def test_a_file_failing_its_check_is_repaired_once(providers, fake, owner):
    fake.set_default(DemoModel(broken={"3.1": ("backend/config.py", "class Settings(:\n    pass\n")}))
    run = pipeline.execute_run(new_run(owner).pk)

    step = run.steps.get(key="3.1")
    assert step.repaired and step.attempts == 2
    config = run.files.get(path="backend/config.py")
    assert config.check_status == "ok" and config.repaired
    assert "class Settings(BaseSettings)" in config.content
    repair = fake.requests[3].body["messages"]
    assert repair[-1]["content"].startswith("REPAIR:")
    assert "backend/config.py: Python syntax error at line 1" in repair[-1]["content"]
    assert "Repairing 1 file(s) that failed checks: backend/config.py" in step.log
    assert len(fake.requests) == 12  # one extra call, once


def test_a_file_still_broken_after_the_repair_is_kept_and_marked(providers, fake, owner):
    model = DemoModel(broken={"4.1": ("frontend/package.json", '{"name": "x"}')})
    model.broken_forever = True

    def answer(req):
        reply = model(req)
        if model.seen[-1] == "4.1" and "REPAIR:" in str(req.body["messages"][-1]["content"]):
            from llm.testing.fake_provider import Reply
            return Reply(json={"files": [{"path": "frontend/package.json", "content": '{"name": "x"}', "purpose": ""}]})
        return reply

    fake.set_default(answer)
    run = pipeline.execute_run(new_run(owner).pk)
    package = run.files.get(path="frontend/package.json")
    assert package.check_status == "failed"
    assert '"version" is missing' in package.check_message
    assert run.steps.get(key="4.1").status == "completed"
    assert run.status == "completed"


def test_a_resumed_run_does_not_pay_for_finished_steps(providers, fake, owner):
    model = DemoModel()
    fake.set_default(model)
    run = new_run(owner)
    # The worker ran steps 1-3.1, then died while it held step 3.2.
    for step in run.steps.order_by("position")[:3]:
        assert pipeline.claim(step)
        pipeline.run_step(pipeline.Context(run), step)
    held = run.steps.get(key="3.2")
    CodegenStep.objects.filter(pk=held.pk).update(status="running", started_at=timezone.now() - timedelta(hours=2))
    CodegenRun.objects.filter(pk=run.pk).update(status="running")
    assert len(fake.requests) == 3

    run = pipeline.execute_run(run.pk)  # the redelivered task

    assert run.status == "completed"
    assert model.seen == ["1", "2", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "5"]
    assert len(fake.requests) == 11
    for key in ("1", "2", "3.1"):
        assert LLMQuery.objects.filter(run_id=run.run_id, interaction_type=f"step_{key}").count() == 1
    assert run.files.count() == total_demo_files()


def test_a_step_held_by_a_live_worker_is_left_alone(providers, fake, owner):
    fake.set_default(DemoModel())
    run = new_run(owner)
    CodegenStep.objects.filter(run=run, key="1").update(status="running", started_at=timezone.now())
    with pytest.raises(pipeline.StepHeld):
        pipeline.execute_run(run.pk)
    assert len(fake.requests) == 0
    assert run.steps.get(key="1").status == "running"


def test_running_a_finished_run_again_calls_nothing(providers, fake, owner):
    fake.set_default(DemoModel())
    run = pipeline.execute_run(new_run(owner).pk)
    assert len(fake.requests) == 11
    pipeline.execute_run(run.pk)
    assert len(fake.requests) == 11


def test_rerunning_one_step_replaces_its_files_only(providers, fake, owner, settings):
    settings.LLM_VALIDATION_RETRIES = 0
    fake.set_default(DemoModel(fail={"4.3"}))
    run = pipeline.execute_run(new_run(owner).pk)
    assert run.status == "partial" and run.failing_step == "4.3"
    before = set(run.files.values_list("pk", flat=True))

    fake.set_default(DemoModel())
    only = pipeline.prepare_rerun(run, "4.3")
    assert only == "4.3"
    run = pipeline.execute_run(run.pk, only_step=only)

    assert run.status == "completed" and run.failing_step == ""
    assert set(run.steps.get(key="4.3").files.values_list("path", flat=True)) == {x["path"] for x in FILES["4.3"]}
    assert before <= set(run.files.values_list("pk", flat=True))  # the other steps' files are untouched
    assert [step_of(r) for r in fake.requests[-1:]] == ["4.3"]
    assert "Re-running step 4.3 alone" in run.log


def test_rerun_is_refused_while_the_run_is_going(providers, owner):
    run = new_run(owner)
    with pytest.raises(pipeline.RerunRefused):
        pipeline.prepare_rerun(run, "2")
    CodegenRun.objects.filter(pk=run.pk).update(status="completed")
    run.refresh_from_db()
    with pytest.raises(pipeline.RerunRefused):
        pipeline.prepare_rerun(run, "9.9")


def test_max_tokens_come_from_settings(providers, fake, owner, settings):
    settings.CODEGEN = {"MAX_TOKENS": {"3.3": 6500}}
    run = new_run(owner)
    assert run.steps.get(key="3.3").max_tokens == 6500
    assert run.steps.get(key="3.2").max_tokens == 4000


def test_a_model_without_vision_is_refused_for_a_mockup(providers, owner):
    from llm.errors import LLMConfigurationError
    from llm.models import LLMModel

    LLMModel.objects.filter(provider__name="openai", name="gpt-4o-mini").update(supports_vision=False)
    with pytest.raises(LLMConfigurationError, match="does not accept images"):
        new_run(owner, mockup=tiny_png(), mockup_media_type="image/png")
    assert not CodegenRun.objects.exists() and not GeneratedFile.objects.exists()


def test_imports_no_generated_file_provides_are_repaired_once_at_the_end(providers, fake, owner):
    bad = "from backend.models.vehicle import Car\n\n\ndef list_cars():\n    return []\n"
    model = DemoModel(broken={"3.3": ("backend/services/car_service.py", bad)})
    # Parses fine (so the step's own check passes); only the project-wide import check can see it.
    fake.set_default(model)
    run = pipeline.execute_run(new_run(owner).pk)

    service = run.files.get(path="backend/services/car_service.py")
    assert service.check_status == "ok" and service.repaired
    assert "from backend.models.car import Car" in service.content
    assert model.seen.count("imports") == 1
    assert "Repairing imports in 1 file(s): backend/services/car_service.py" in run.log
    assert run.status == CodegenRun.Status.COMPLETED
    assert CodegenStep.objects.get(run=run, key="3.3").imports_repaired
    # Finalizing again (a resumed task) makes no second repair call.
    pipeline.finalize(run)
    assert model.seen.count("imports") == 1


@pytest.mark.django_db(transaction=True)
def test_with_the_background_writer_step_costs_are_the_calls_final_rows(providers, fake, owner, settings):
    # The final rows are queued (the writer would wait half a minute): record_usage's read of the
    # query log waits for them (llm/records/interaction_writer.py), so the totals are the real ones.
    from llm.records import interaction_writer

    settings.LLM_INTERACTION_WRITES = "background"
    settings.LLM_WRITER_BATCH_DELAY = 30
    applied = interaction_writer._writer.rows_applied
    fake.set_default(DemoModel())
    run = pipeline.execute_run(new_run(owner).pk)
    assert run.status == CodegenRun.Status.COMPLETED, run.log
    assert interaction_writer._writer.rows_applied - applied >= 11  # the rows did go through the writer
    rows = LLMQuery.objects.filter(run_id=run.run_id)
    assert rows.count() == 11 and set(rows.values_list("status", flat=True)) == {"ok"}
    assert run.total_tokens == sum(r.input_tokens + r.output_tokens for r in rows) > 0
    cost = sum(r.cost_usd for r in rows)
    assert cost > 0 and abs(run.total_cost_usd - cost) < Decimal("0.000001")  # the run's column keeps 6 places
    assert all(s.attempts == 1 and s.tokens > 0 for s in run.steps.all())
