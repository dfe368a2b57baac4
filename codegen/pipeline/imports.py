"""Imports between generated files, judged once every step has run, and their one repair call per step."""

from llm.errors import LLMError

from .. import checks, conf
from ..models import CodegenRun, CodegenStep, GeneratedFile
from ..schemas import FileBatch
from .calling import ask
from .files import repaired_files
from .records import record_usage
from .steps import IMPORT_REPAIR_PROMPT, SYSTEM_PROMPT, StepFailed, render, template


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


def repair_imports(ctx, run: CodegenRun) -> None:
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
            fixed, _ = ask(ctx, step, messages, FileBatch, IMPORT_REPAIR_PROMPT)
        except (LLMError, StepFailed) as exc:  # a paste-wait included: the files stay as they are, marked
            ctx.log(f"✗ Import repair call failed: {exc}", step, level="WARNING")
            continue
        wanted = {f.path: f for f in files}
        for path, content in repaired_files(ctx, step, fixed, wanted):
            GeneratedFile.objects.filter(pk=wanted[path].pk).update(content=content, repaired=True)
            ctx.log(f"Repaired imports: {path}", step)
        record_usage(step)
