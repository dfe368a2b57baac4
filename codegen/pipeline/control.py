"""Run control: a new run and its steps, running the steps in order (each claimed with a
conditional UPDATE), failures, phase headings and summaries, settling the run, re-running a step."""

import logging
from datetime import timedelta
from typing import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from llm.errors import LLMError, ManualAnswerPending
from llm.records import new_run_id, write_prompt_archive
from llm.providers import get_provider, resolve_model

from .. import conf
from ..mockups import extension_for
from ..models import CodegenRun, CodegenStep, GeneratedFile
from . import files, plan
from .imports import recheck_imports, repair_imports
from .records import record_usage, update_totals
from .steps import PHASES, RULE, SPECS, STEPS, StepFailed, StepHeld, template

logger = logging.getLogger("codegen.pipeline")


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
            plan.run_step(ctx, step)
        else:
            files.run_step(ctx, step)
    except ManualAnswerPending:
        record_usage(step)
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
    record_usage(step)


def _fail(ctx: Context, step: CodegenStep, error: str) -> None:
    CodegenStep.objects.filter(pk=step.pk).update(
        status=CodegenStep.Status.FAILED, error=error[:5000], finished_at=timezone.now(),
        continuations=step.continuations)
    ctx.log(f"✗ Step {step.key} failed: {error[:500]}", step, level="ERROR")
    record_usage(step)


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


# ---- settling -----------------------------------------------------------------------------------

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
