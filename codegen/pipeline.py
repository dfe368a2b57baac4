"""The chained generation of seed 003: eleven model calls, each building on the plan and the files before it.

No HTTP, no Celery here. ``execute_run`` runs the steps in order; each step is claimed with a
conditional UPDATE, so a step already completed is never paid for twice and a run whose worker
died resumes at the first unfinished step. Requests are built deterministically (sorted paths,
sorted plan keys), so a resumed step sends byte-identical requests and the llm answer cache (or
the copy/paste provider's stored answer) serves what was already answered.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from llm.calls import structured
from llm.calls import image_part
from llm.errors import LLMError, LLMTruncatedError, ManualAnswerPending
from llm.records import new_run_id, write_prompt_archive
from llm.models import LLMQuery
from llm.providers import get_provider, resolve_model
from llm.calls import complete

from . import checks, conf
from .prompting import render, template
from .mockups import extension_for
from .models import CodegenRun, CodegenStep, GeneratedFile
from .paths import PathRegistry, UnsafePath, check_path, path_key
from .schemas import ArchitecturePlan, FileBatch

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = "system_v0"
CONTINUATION_PROMPT = "continuation_v0"
REPAIR_PROMPT = "repair_v0"
EMPTY_RETRY_PROMPT = "empty_retry_v0"
IMPORT_REPAIR_PROMPT = "import_repair_v0"
TAIL_CHARS = 400


@dataclass(frozen=True)
class StepSpec:
    key: str
    title: str
    prompt: str
    phase: str
    intro: str = ""  # sub-steps: "Generating core application files..."
    label: str = ""  # "✓ Generated 3 core files"


STEPS = [
    StepSpec("1", "Architecture analysis", "step_1_architecture_v0", "1"),
    StepSpec("2", "Database schema", "step_2_database_v0", "2", label="schema"),
    StepSpec("3.1", "Backend core", "step_3_1_backend_core_v0", "3", "Generating core application files...", "core"),
    StepSpec("3.2", "Backend models and schemas", "step_3_2_backend_models_v0", "3",
             "Generating data models and schemas...", "model"),
    StepSpec("3.3", "Backend API routes", "step_3_3_backend_routes_v0", "3", "Generating API route handlers...", "route"),
    StepSpec("3.4", "Backend middleware and utilities", "step_3_4_backend_utils_v0", "3",
             "Generating middleware and utilities...", "utility"),
    StepSpec("4.1", "Frontend setup", "step_4_1_frontend_setup_v0", "4", "Generating project setup files...", "setup"),
    StepSpec("4.2", "Frontend core", "step_4_2_frontend_core_v0", "4", "Generating core application structure...", "core"),
    StepSpec("4.3", "Frontend pages", "step_4_3_frontend_pages_v0", "4", "Generating page components...", "page"),
    StepSpec("4.4", "Frontend components", "step_4_4_frontend_components_v0", "4",
             "Generating UI components and utilities...", "component"),
    StepSpec("5", "Configuration and deployment", "step_5_configuration_v0", "5", label="configuration"),
]
SPECS = {s.key: s for s in STEPS}
STEP_KEYS = [s.key for s in STEPS]
PHASES = {
    "1": ("ARCHITECTURE ANALYSIS", "Architecture planned"),
    "2": ("DATABASE SCHEMA GENERATION", "Database schema generated"),
    "3": ("BACKEND API GENERATION (Multi-phase)", "Backend API generated"),
    "4": ("FRONTEND COMPONENTS (Multi-phase)", "Frontend generated"),
    "5": ("CONFIGURATION FILES", "Configuration generated"),
}
RULE = "=" * 40


class StepFailed(Exception):
    pass


class StepHeld(Exception):
    """Another worker holds a step of this run (its claim is fresh): try again later."""


# ---- creating a run ----------------------------------------------------------------------------

def create_run(*, owner, name: str, description: str, stack: str = "", provider: str = "", model: str = "",
               mockup: bytes | None = None, mockup_media_type: str = "") -> CodegenRun:
    """A queued run with its eleven pending steps. Raises LLMConfigurationError for a bad provider/model."""
    provider_row = get_provider(provider or None)
    problem = provider_row.configuration_problem()
    if problem:
        from llm.errors import LLMConfigurationError

        raise LLMConfigurationError(problem)
    model_row = resolve_model(provider_row, model or None, user=owner)
    if mockup and model_row.price_source == model_row.PriceSource.BUNDLED and not model_row.supports_vision \
            and provider_row.kind != provider_row.Kind.MANUAL:
        from llm.errors import LLMConfigurationError

        raise LLMConfigurationError(
            f"{provider_row.name}/{model_row.name} does not accept images; choose a vision-capable model for a mockup."
        )
    limits = conf.get("MAX_TOKENS")
    with transaction.atomic():
        run = CodegenRun.objects.create(
            owner=owner, run_id=new_run_id(), name=name.strip(), description=description.strip(),
            stack=(stack or "").strip() or conf.get("DEFAULT_STACK"), provider_name=provider_row.name,
            model_name=model_row.name,
        )
        CodegenStep.objects.bulk_create([
            CodegenStep(run=run, key=s.key, position=i, title=s.title, max_tokens=int(limits[s.key]))
            for i, s in enumerate(STEPS)
        ])
        if mockup:
            run.mockup_media_type = mockup_media_type
            run.mockup.save(f"{run.run_id}.{extension_for(mockup_media_type)}", ContentFile(mockup), save=False)
            run.save(update_fields=["mockup", "mockup_media_type"])
    return run


# ---- running ------------------------------------------------------------------------------------

class Context:
    def __init__(self, run: CodegenRun, on_log: Callable[[str], None] | None = None):
        self.run = run
        self.on_log = on_log

    def log(self, message: str, step: CodegenStep | None = None, level: str = "INFO") -> None:
        line = f"{timezone.now():%Y-%m-%d %H:%M:%S} - {level} - {message}"
        self.run.append_log(line)
        if step is not None:
            step.append_log(line)
        if self.on_log is not None:
            self.on_log(line)
        logger.log(getattr(logging, level, logging.INFO), "%s %s", self.run.run_id, message)


def execute_run(run_pk: int, *, only_step: str | None = None, on_log: Callable[[str], None] | None = None) -> CodegenRun:
    """Run the unfinished steps (or just ``only_step``) and settle the run's status. Safe to call twice."""
    run = CodegenRun.objects.get(pk=run_pk)
    if only_step is None and run.is_finished:
        return run
    ctx = Context(run, on_log)
    CodegenRun.objects.filter(pk=run.pk).update(status=CodegenRun.Status.RUNNING, updated_at=timezone.now())
    if not run.log:
        ctx.log(f"Starting chained generation for: {run.name}")
    elif only_step:
        ctx.log(f"Re-running step {only_step} alone")
    else:
        ctx.log("Resuming at the first unfinished step")
    for step in run.steps.order_by("position"):
        if only_step and step.key != only_step:
            continue
        if not only_step and step.status in (CodegenStep.Status.COMPLETED, CodegenStep.Status.FAILED,
                                             CodegenStep.Status.SKIPPED):
            continue  # done (or tried and failed) before: never paid for twice
        if not claim(step):
            step.refresh_from_db()
            if step.status == CodegenStep.Status.RUNNING:
                # Another worker holds this step (or died holding it: its claim goes stale and the
                # task's retry takes the step over then).
                raise StepHeld(f"Step {step.key} of {run.run_id} is held by another worker.")
            continue
        step.refresh_from_db()
        try:
            run_step(ctx, step)
        except ManualAnswerPending as pending:
            CodegenStep.objects.filter(pk=step.pk).update(
                status=CodegenStep.Status.WAITING_MANUAL, pending_query_id=pending.query_id)
            CodegenRun.objects.filter(pk=run.pk).update(status=CodegenRun.Status.WAITING_MANUAL, updated_at=timezone.now())
            ctx.log(f"⏸ Step {step.key} is waiting for a pasted answer (copy/paste query #{pending.query_id})", step)
            update_totals(run)
            run.refresh_from_db()
            return run
        except SoftTimeLimitExceeded:
            _fail(ctx, step, "The run hit its time limit during this step.")
            run.steps.filter(status=CodegenStep.Status.PENDING).update(status=CodegenStep.Status.SKIPPED)
            ctx.log("Skipping the remaining steps: the run hit its time limit; re-run them one by one.",
                    level="WARNING")
            break
        step.refresh_from_db()
        _phase_summary(ctx, step)
        if step.key == "1" and step.status == CodegenStep.Status.FAILED and not only_step:
            # Without the plan the other steps have nothing to build on.
            run.steps.filter(status=CodegenStep.Status.PENDING).update(status=CodegenStep.Status.SKIPPED)
            ctx.log("Skipping the remaining steps: they need the architecture plan.", level="WARNING")
            break
    return finalize(run, ctx)


def claim(step: CodegenStep) -> bool:
    """Take the step with a conditional UPDATE: pending, waiting for a paste, or held by a dead worker."""
    now = timezone.now()
    stale = now - timedelta(seconds=conf.get("STEP_STALE_SECONDS"))
    claimable = Q(status__in=[CodegenStep.Status.PENDING, CodegenStep.Status.WAITING_MANUAL]) | Q(
        status=CodegenStep.Status.RUNNING, started_at__lt=stale)
    return bool(CodegenStep.objects.filter(claimable, pk=step.pk).update(
        status=CodegenStep.Status.RUNNING, started_at=now, finished_at=None, error="", pending_query_id=None))


def run_step(ctx: Context, step: CodegenStep) -> None:
    spec = SPECS[step.key]
    _step_heading(ctx, step)
    write_prompt_archive(ctx.run.run_id, spec.prompt, template(spec.prompt))
    try:
        if step.key == "1":
            _plan_step(ctx, step)
        else:
            _files_step(ctx, step)
    except ManualAnswerPending:
        _record_usage(step)
        raise
    except (StepFailed, LLMError) as exc:
        _fail(ctx, step, str(exc))
        return
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a bug must not cost the other steps' files; the step says what happened
        logger.exception("codegen step %s of %s crashed", step.key, ctx.run.run_id)
        _fail(ctx, step, f"{type(exc).__name__}: {exc}")
        return
    step.status = CodegenStep.Status.COMPLETED
    step.finished_at = timezone.now()
    step.fresh = False
    step.save(update_fields=["status", "finished_at", "fresh", "output", "continuations", "repaired"])
    _record_usage(step)


def _fail(ctx: Context, step: CodegenStep, error: str) -> None:
    CodegenStep.objects.filter(pk=step.pk).update(
        status=CodegenStep.Status.FAILED, error=error[:5000], finished_at=timezone.now(),
        continuations=step.continuations)
    ctx.log(f"✗ Step {step.key} failed: {error[:500]}", step, level="ERROR")
    _record_usage(step)


def _step_heading(ctx: Context, step: CodegenStep) -> None:
    spec = SPECS[step.key]
    first_of_phase = next(s for s in STEPS if s.phase == spec.phase).key == spec.key
    if first_of_phase:
        ctx.log(RULE)
        ctx.log(f"STEP {spec.phase}: {PHASES[spec.phase][0]}", step)
    if spec.intro:
        ctx.log(f"Step {spec.key}: {spec.intro}", step)


def _phase_summary(ctx: Context, step: CodegenStep) -> None:
    spec = SPECS[step.key]
    phase_steps = [s.key for s in STEPS if s.phase == spec.phase]
    if phase_steps[-1] != step.key:
        return
    rows = list(ctx.run.steps.filter(key__in=phase_steps).values_list("status", flat=True))
    if any(s != CodegenStep.Status.COMPLETED for s in rows):
        return
    done = PHASES[spec.phase][1]
    if spec.phase == "1":
        ctx.log(f"✓ Step 1/5: {done}")
    else:
        n = GeneratedFile.objects.filter(run=ctx.run, step__key__in=phase_steps).count()
        ctx.log(f"✓ Step {spec.phase}/5: {done} ({n} files)")


# ---- the model calls ----------------------------------------------------------------------------

def _ask(ctx: Context, step: CodegenStep, messages: list[dict], schema, version: str):
    """(parsed, text) for one structured request; a cut-off answer is continued and joined."""
    run = ctx.run
    kwargs = dict(
        purpose=f"codegen.step_{step.key}", provider=run.provider_name, model=run.model_name,
        max_tokens=step.max_tokens, user=run.owner, run=run.run_id, interaction_type=step.interaction_type,
        context={"codegen_run": run.run_id, "step": step.key}, cache=not step.fresh,
    )
    _heartbeat(step)
    try:
        result = complete(messages=messages, schema=schema, template_version=version, **kwargs)
        return result.parsed, result.text
    except LLMTruncatedError as exc:
        parts = [exc.partial_text or ""]
    limit = conf.get("MAX_CONTINUATIONS")
    for n in range(1, limit + 1):
        so_far = join_parts(parts)
        if not so_far.strip():
            raise StepFailed("The answer was cut off before any text arrived; raise this step's max tokens.")
        ctx.log(f"⚠ Answer cut off at {step.max_tokens} tokens; asking for the rest (continuation {n}/{limit})",
                step, level="WARNING")
        step.continuations += 1
        follow_up = messages + [
            {"role": "assistant", "content": so_far},
            {"role": "user", "content": render(CONTINUATION_PROMPT, tail=so_far[-TAIL_CHARS:])},
        ]
        _heartbeat(step)
        try:
            result = complete(messages=follow_up, template_version=CONTINUATION_PROMPT, **kwargs)
        except LLMTruncatedError as again:
            parts.append(again.partial_text or "")
            continue
        parts.append(result.text)
        text = join_parts(parts)
        parsed = structured.parse(text, schema)
        if not parsed.ok:
            raise StepFailed(f"The continued answer does not fit {schema.__name__}: {parsed.error}")
        ctx.log(f"✓ Joined {len(parts)} parts of the answer", step)
        return parsed.value, text
    raise StepFailed(f"The answer was still cut off after {limit} continuations; raise this step's max tokens.")


def _heartbeat(step: CodegenStep) -> None:
    """Renew the claim before each call, so only a worker that is really gone looks stale."""
    CodegenStep.objects.filter(pk=step.pk, status=CodegenStep.Status.RUNNING).update(started_at=timezone.now())


def join_parts(parts: list[str]) -> str:
    text = ""
    for part in parts:
        text = _join(text, part) if text else part
    return text


def _join(before: str, after: str) -> str:
    """Glue a continuation on, dropping a code fence and any tail the model repeated."""
    stripped = after.lstrip()
    if stripped.startswith("```"):
        first_newline = stripped.find("\n")
        after = stripped[first_newline + 1:] if first_newline >= 0 else ""
        if after.rstrip().endswith("```"):
            after = after.rstrip()[:-3]
    for k in range(min(len(before), len(after), 500), 15, -1):
        if before.endswith(after[:k]):
            return before + after[k:]
    return before + after


def _plan_step(ctx: Context, step: CodegenStep) -> None:
    run = ctx.run
    spec = SPECS[step.key]
    mockup = _mockup_bytes(run)
    text = render(
        spec.prompt, name=run.name, stack=run.stack, description=run.description,
        mockup_note="The attached image is the UI mockup: plan the pages and components it shows." if mockup
        else "There is no mockup: plan from the description.",
    )
    content = [{"type": "text", "text": text}, image_part(mockup, run.mockup_media_type)] if mockup else text
    messages = [{"role": "system", "content": render(SYSTEM_PROMPT)}, {"role": "user", "content": content}]
    plan, _ = _ask(ctx, step, messages, ArchitecturePlan, spec.prompt)
    step.output = plan.model_dump(mode="json")
    ctx.log(
        f"Planned {len(plan.pages)} pages, {len(plan.components)} components, {len(plan.api_endpoints)} API endpoints, "
        f"{len(plan.database_tables)} tables", step,
    )


def _mockup_bytes(run: CodegenRun) -> bytes | None:
    if not run.mockup:
        return None
    with run.mockup.open("rb") as fh:
        return fh.read()


def plan_text(run: CodegenRun) -> str:
    plan = run.steps.filter(key="1").values_list("output", flat=True).first()
    if not plan:
        return "(no plan: infer it from the description)"
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False)


def _existing_files(run: CodegenRun, step: CodegenStep) -> list[tuple[str, str]]:
    """(path, step key) of other steps' files, in a fixed order (step position, then path)."""
    return list(
        GeneratedFile.objects.filter(run=run).exclude(step=step).order_by("step__position", "path")
        .values_list("path", "step__key")
    )


def _files_step(ctx: Context, step: CodegenStep) -> None:
    run = ctx.run
    spec = SPECS[step.key]
    existing = _existing_files(run, step)
    listing = "\n".join(f"- {p}" for p, _ in existing) or "(none yet)"
    text = render(spec.prompt, name=run.name, stack=run.stack, description=run.description, plan=plan_text(run),
                  existing=listing)
    messages = [{"role": "system", "content": render(SYSTEM_PROMPT)}, {"role": "user", "content": text}]
    batch, answer_text = _ask(ctx, step, messages, FileBatch, spec.prompt)
    if not batch.files:
        # A well-formed answer without a single file is a slip of the model, not a verdict: ask once more.
        ctx.log("⚠ The answer listed no files; asking again", step, level="WARNING")
        messages = messages + [{"role": "assistant", "content": answer_text},
                               {"role": "user", "content": render(EMPTY_RETRY_PROMPT)}]
        batch, answer_text = _ask(ctx, step, messages, FileBatch, EMPTY_RETRY_PROMPT)

    registry = PathRegistry({path_key(p): f"step {k}" for p, k in existing})
    accepted: dict[str, list[str]] = {}  # path -> [content, purpose]
    max_files, max_bytes = conf.get("MAX_FILES_PER_STEP"), conf.get("MAX_FILE_BYTES")
    if len(batch.files) > max_files:
        ctx.log(f"✗ Rejected {len(batch.files) - max_files} files beyond the limit of {max_files} per step", step,
                level="WARNING")
    for spec_file in batch.files[:max_files]:
        try:
            path = registry.claim(spec_file.path, f"step {step.key}")
        except UnsafePath as exc:
            ctx.log(f"✗ Rejected path {_shown(spec_file.path)}: {exc}", step, level="WARNING")
            continue
        if len(spec_file.content.encode("utf-8")) > max_bytes:
            ctx.log(f"✗ Rejected {path}: larger than the {max_bytes}-byte limit", step, level="WARNING")
            continue
        if "\x00" in spec_file.content:
            ctx.log(f"✗ Rejected {path}: the content has NUL bytes (binary files are not generated)", step,
                    level="WARNING")
            continue
        accepted[path] = [spec_file.content, spec_file.purpose.replace("\x00", "")]
    if not accepted:
        raise StepFailed("The answer had no usable files.")

    results = {p: checks.check_file(p, c) for p, (c, _) in accepted.items()}
    failing = {p: r for p, r in results.items() if r.failed}
    repaired: set[str] = set()
    if failing and conf.get("REPAIR"):
        ctx.log(f"Repairing {len(failing)} file(s) that failed checks: {', '.join(sorted(failing))}", step,
                level="WARNING")
        errors = "\n".join(f"- {p}: {r.message}" for p, r in sorted(failing.items()))
        follow_up = messages + [
            {"role": "assistant", "content": answer_text},
            {"role": "user", "content": render(REPAIR_PROMPT, errors=errors,
                                               paths="\n".join(f"- {p}" for p in sorted(failing)))},
        ]
        try:
            fixed, _ = _ask(ctx, step, follow_up, FileBatch, REPAIR_PROMPT)
        except ManualAnswerPending:
            raise
        except (LLMError, StepFailed) as exc:
            ctx.log(f"✗ Repair call failed: {exc}", step, level="WARNING")
        else:
            step.repaired = True
            for spec_file in fixed.files:
                try:
                    path = check_path(spec_file.path)
                except UnsafePath as exc:
                    ctx.log(f"✗ Rejected repaired path {_shown(spec_file.path)}: {exc}", step, level="WARNING")
                    continue
                if path not in failing or len(spec_file.content.encode("utf-8")) > max_bytes \
                        or "\x00" in spec_file.content:
                    ctx.log(f"✗ Ignored repaired file {path}: it was not one to repair", step, level="WARNING")
                    continue
                accepted[path][0] = spec_file.content
                results[path] = checks.check_file(path, spec_file.content)
                repaired.add(path)
                ctx.log(f"{'✓' if not results[path].failed else '✗'} Repaired: {path} ({results[path].message})", step)

    with transaction.atomic():
        GeneratedFile.objects.filter(step=step).delete()
        GeneratedFile.objects.bulk_create([
            GeneratedFile(run=run, step=step, path=p, path_key=path_key(p), content=c, purpose=purpose[:2000],
                          check_status=results[p].status, check_message=results[p].message, repaired=p in repaired)
            for p, (c, purpose) in sorted(accepted.items())
        ])
    for p in sorted(accepted):
        if results[p].failed:
            ctx.log(f"  ✗ Generated (check failed): {p}: {results[p].message}", step, level="WARNING")
        else:
            ctx.log(f"  ✓ Generated: {p}", step)
    label = f" {spec.label}" if spec.label else ""
    ctx.log(f"✓ Generated {len(accepted)}{label} files", step)


def _shown(raw) -> str:
    """A rejected path as it may appear in a log line: quoted, control characters escaped, shortened."""
    text = repr(raw if isinstance(raw, str) else str(raw))
    return text if len(text) <= 200 else text[:200] + "…'"


# ---- settling -----------------------------------------------------------------------------------

def _record_usage(step: CodegenStep) -> None:
    rows = LLMQuery.objects.filter(run_id=step.run.run_id, interaction_type=step.interaction_type)
    billed = rows.exclude(status=LLMQuery.Status.CACHE_HIT)
    agg = billed.aggregate(inp=Sum("input_tokens"), out=Sum("output_tokens"), cost=Sum("cost_usd"))
    CodegenStep.objects.filter(pk=step.pk).update(
        attempts=rows.count(), input_tokens=agg["inp"] or 0, output_tokens=agg["out"] or 0, cost_usd=agg["cost"],
    )


def update_totals(run: CodegenRun) -> None:
    agg = run.steps.aggregate(inp=Sum("input_tokens"), out=Sum("output_tokens"), cost=Sum("cost_usd"))
    CodegenRun.objects.filter(pk=run.pk).update(
        total_tokens=(agg["inp"] or 0) + (agg["out"] or 0), total_cost_usd=agg["cost"], updated_at=timezone.now())


def recheck_imports(run: CodegenRun) -> int:
    """Re-judge every Python file with the whole project in view; returns how many have missing imports."""
    files = list(run.files.all())
    contents = {f.path: f.content for f in files}
    problems = checks.check_imports(contents)
    for f in files:
        if not f.path.endswith(".py"):
            continue
        base = checks.check_file(f.path, f.content)
        status, message = base.status, base.message
        if not base.failed and f.path in problems:
            status, message = checks.FAILED, problems[f.path]
        if (status, message) != (f.check_status, f.check_message):
            GeneratedFile.objects.filter(pk=f.pk).update(check_status=status, check_message=message)
    return len(problems)


def repair_imports(ctx: Context, run: CodegenRun) -> None:
    """Imports between files can only be judged once every step has run (a 3.1 file imports 3.2's
    models), so their repair comes here: one call per step that owns files importing project
    modules no generated file provides, with the errors quoted. Made once per step, even on resume."""
    if not conf.get("REPAIR"):
        return
    contents = {f.path: f.content for f in run.files.only("path", "content")}
    problems = checks.check_imports(contents)
    if not problems:
        return
    by_step: dict[int, list[GeneratedFile]] = {}
    for f in run.files.select_related("step").filter(path__in=list(problems)).order_by("path"):
        by_step.setdefault(f.step_id, []).append(f)
    available = "\n".join(f"- {p}" for p in sorted(contents) if p.endswith(".py")) or "(none)"
    for step in run.steps.filter(pk__in=list(by_step), imports_repaired=False).order_by("position"):
        files = by_step[step.pk]
        # Claimed first: one repair call per step, whatever happens to it.
        if not CodegenStep.objects.filter(pk=step.pk, imports_repaired=False).update(imports_repaired=True):
            continue
        ctx.log(f"Repairing imports in {len(files)} file(s): {', '.join(f.path for f in files)}", step, level="WARNING")
        errors = "\n".join(f"- {f.path}: {problems[f.path]}" for f in files)
        current = "\n\n".join(f"--- {f.path}\n{f.content}" for f in files)
        messages = [{"role": "system", "content": render(SYSTEM_PROMPT)},
                    {"role": "user", "content": render(IMPORT_REPAIR_PROMPT, name=run.name, errors=errors,
                                                       available=available, files=current)}]
        try:
            fixed, _ = _ask(ctx, step, messages, FileBatch, IMPORT_REPAIR_PROMPT)
        except (LLMError, StepFailed) as exc:  # a paste-wait included: the files stay as they are, marked
            ctx.log(f"✗ Import repair call failed: {exc}", step, level="WARNING")
            continue
        wanted = {f.path: f for f in files}
        for spec_file in fixed.files:
            try:
                path = check_path(spec_file.path)
            except UnsafePath as exc:
                ctx.log(f"✗ Rejected repaired path {_shown(spec_file.path)}: {exc}", step, level="WARNING")
                continue
            if path not in wanted or "\x00" in spec_file.content \
                    or len(spec_file.content.encode("utf-8")) > conf.get("MAX_FILE_BYTES"):
                ctx.log(f"✗ Ignored repaired file {path}: it was not one to repair", step, level="WARNING")
                continue
            GeneratedFile.objects.filter(pk=wanted[path].pk).update(content=spec_file.content, repaired=True)
            ctx.log(f"Repaired imports: {path}", step)
        _record_usage(step)


def finalize(run: CodegenRun, ctx: Context | None = None) -> CodegenRun:
    ctx = ctx or Context(run)
    update_totals(run)
    steps = list(run.steps.order_by("position"))
    if any(s.status in (CodegenStep.Status.PENDING, CodegenStep.Status.RUNNING, CodegenStep.Status.WAITING_MANUAL)
           for s in steps):
        run.refresh_from_db()
        return run  # not finished (another worker, or a paste to wait for)
    repair_imports(ctx, run)
    update_totals(run)
    unresolved = recheck_imports(run)
    if unresolved:
        ctx.log(f"Import check: {unresolved} Python file(s) import project modules no generated file provides",
                level="WARNING")
    failed = [s.key for s in steps if s.status == CodegenStep.Status.FAILED]
    skipped = [s.key for s in steps if s.status == CodegenStep.Status.SKIPPED]
    n_files = run.files.count()
    counts = dict(run.files.values_list("check_status").annotate(n=Count("id")))
    if steps[0].status != CodegenStep.Status.COMPLETED or n_files == 0:
        status = CodegenRun.Status.FAILED
    elif failed or skipped:
        status = CodegenRun.Status.PARTIAL
    else:
        status = CodegenRun.Status.COMPLETED
    first_error = next((s.error for s in steps if s.status == CodegenStep.Status.FAILED), "")
    CodegenRun.objects.filter(pk=run.pk).update(
        status=status, failing_step=", ".join(failed)[:100], error=first_error[:5000], updated_at=timezone.now())
    summary = (f"{n_files} files generated (checks: {counts.get('ok', 0)} passed, {counts.get('failed', 0)} failed, "
               f"{counts.get('skipped', 0)} not checked)")
    if status == CodegenRun.Status.COMPLETED:
        ctx.log(f"Chained generation completed: {summary}")
    else:
        ctx.log(f"Chained generation ended {status}: {summary}; failing step(s): {', '.join(failed) or '-'}",
                level="WARNING")
    run.refresh_from_db()
    return run


# ---- re-running one step ------------------------------------------------------------------------

class RerunRefused(Exception):
    pass


def prepare_rerun(run: CodegenRun, key: str) -> str | None:
    """Reset ``key`` so it runs again (bypassing the answer cache). Returns the step to run alone, or
    None when the whole chain should continue (re-running a failed plan un-skips the later steps)."""
    if key not in SPECS:
        raise RerunRefused(f"There is no step {key!r}.")
    if not run.is_finished:
        raise RerunRefused("The run is still going; re-run a step once it has finished.")
    with transaction.atomic():
        changed = CodegenStep.objects.filter(
            run=run, key=key,
            status__in=[CodegenStep.Status.COMPLETED, CodegenStep.Status.FAILED, CodegenStep.Status.SKIPPED],
        ).update(status=CodegenStep.Status.PENDING, fresh=True, error="")
        if not changed:
            raise RerunRefused(f"Step {key} cannot be re-run right now.")
        whole_chain = key == "1" and run.steps.filter(status=CodegenStep.Status.SKIPPED).exists()
        if whole_chain:
            run.steps.filter(status=CodegenStep.Status.SKIPPED).update(status=CodegenStep.Status.PENDING)
        CodegenRun.objects.filter(pk=run.pk).update(status=CodegenRun.Status.QUEUED, updated_at=timezone.now())
    return None if whole_chain else key
