"""The codegen app's evaluation suite (discovered by evals at start).

``codegen.parses`` runs the whole eleven-step chain for a short brief and scores the project it
writes: the share of its Python files that parse (the main score) and the share of its imports
of project modules that name a file the project has (``imports resolve``). Third-party and
standard-library imports are not judged.
"""

from __future__ import annotations

from evals import register
from evals.registry import Suite
from evals.scorers import Scorer, imports_resolve, python_parses

BRIEFS = [
    ("fleet", "Car fleet manager", "Track company cars, their drivers and service dates; list cars due for service."),
    ("library", "Library loans", "Members borrow and return books; overdue loans are listed with the member's contact."),
    ("tasks", "Team task board", "Tasks with an owner, a due date and a status column; a board view per team."),
]


def brief_cases() -> list[dict]:
    return [{"key": key, "input": {"name": name, "description": description}, "expected": None, "tags": ["brief"]}
            for key, name, description in BRIEFS]


def run_project(case_input: dict, ctx) -> dict:
    from evals.context import acting_user
    from llm.models import LLMQuery

    from . import pipeline
    from .models import CodegenRun, CodegenStep

    if not (case_input.get("description") or "").strip():
        raise ValueError("The case has no description to generate a project from.")
    run = pipeline.create_run(owner=acting_user(ctx), name=case_input.get("name") or "Evaluation project",
                              description=case_input["description"], stack=case_input.get("stack", ""),
                              provider=ctx.provider, model=ctx.model)
    if not ctx.use_cache:
        CodegenStep.objects.filter(run=run).update(fresh=True)  # the run's calls skip llm's answer cache
    try:
        run = pipeline.execute_run(run.pk)
    finally:
        ctx.record(*LLMQuery.objects.filter(run_id=run.run_id).order_by("pk").values_list("pk", flat=True))
    files = dict(run.files.order_by("path").values_list("path", "content"))
    if run.status == CodegenRun.Status.FAILED and not files:
        raise RuntimeError(f"The codegen run {run.run_id} failed: {run.error or 'no error recorded'}")
    return files


def input_from_call(call) -> dict:
    """Any step's call as a case: the brief of the run it belongs to (a case is a whole chain)."""
    from evals import PromotionError

    from .models import CodegenRun

    run = CodegenRun.objects.filter(run_id=call.query.run_id or call.context.get("codegen_run") or "").first()
    if run is None:
        raise PromotionError(f"Call #{call.query.pk} belongs to no codegen run: it cannot be a case.")
    return {"name": run.name, "description": run.description, "stack": run.stack}


register(Suite(
    name="codegen.parses",
    description="Chained code generation from a brief: do the Python files parse, and do their project imports resolve?",
    run=run_project,
    scorers=[Scorer("python_parses", python_parses), Scorer("imports_resolve", imports_resolve)],
    build_cases=brief_cases,
    purposes=("codegen.step_*",), input_from_call=input_from_call,
))
