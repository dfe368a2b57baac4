"""Step 1, the architecture plan: pages, components, API endpoints and tables the later steps build on.

``build_prompt`` (the description, and the mockup as an image when there is one),
``read_answer`` (one answer, a parsed ``ArchitecturePlan`` or raw text validated against it:
no live call) and ``write_results`` (the plan onto the step row, saved with the step).
"""

import json

from llm.calls import structured
from llm.calls import image_part

from ..models import CodegenRun, CodegenStep
from ..schemas import ArchitecturePlan
from .calling import ask
from .steps import SPECS, SYSTEM_PROMPT, StepFailed, render, template


def mockup_bytes(run: CodegenRun) -> bytes | None:
    if not run.mockup:
        return None
    with run.mockup.open("rb") as fh:
        return fh.read()


def build_prompt(run: CodegenRun, step: CodegenStep) -> list[dict]:
    spec = SPECS[step.key]
    mockup = mockup_bytes(run)
    text = render(
        spec.prompt, name=run.name, stack=run.stack, description=run.description,
        mockup_note="The attached image is the UI mockup: plan the pages and components it shows." if mockup
        else "There is no mockup: plan from the description.",
    )
    content = [{"type": "text", "text": text}, image_part(mockup, run.mockup_media_type)] if mockup else text
    return [{"role": "system", "content": render(SYSTEM_PROMPT)}, {"role": "user", "content": content}]


def read_answer(answer) -> ArchitecturePlan:
    """The plan in one answer: a live call's parsed plan, or raw text validated here (StepFailed
    saying what does not fit)."""
    if isinstance(answer, ArchitecturePlan):
        return answer
    parsed = structured.parse(answer, ArchitecturePlan)
    if not parsed.ok:
        raise StepFailed(f"The answer does not fit ArchitecturePlan: {parsed.error}")
    return parsed.value


def write_results(ctx, step: CodegenStep, plan: ArchitecturePlan) -> None:
    step.output = plan.model_dump(mode="json")
    ctx.log(
        f"Planned {len(plan.pages)} pages, {len(plan.components)} components, {len(plan.api_endpoints)} API endpoints, "
        f"{len(plan.database_tables)} tables", step,
    )


def run_step(ctx, step: CodegenStep) -> None:
    plan, _ = ask(ctx, step, build_prompt(ctx.run, step), ArchitecturePlan, SPECS[step.key].prompt)
    write_results(ctx, step, read_answer(plan))


def plan_text(run: CodegenRun) -> str:
    """The plan as the later steps' prompts quote it (sorted keys: byte-identical on resume)."""
    plan = run.steps.filter(key="1").values_list("output", flat=True).first()
    if not plan:
        return "(no plan: infer it from the description)"
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False)
