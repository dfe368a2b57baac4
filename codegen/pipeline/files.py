"""Steps 2 to 5, the files: each step's batch of files, checked, repaired once when a check fails, stored.

``build_prompt`` (the plan and the files of the other steps), ``read_answer`` (one answer, a
parsed ``FileBatch`` or raw text: every path checked against the run's registry, sizes and NUL
bytes refused, no live call) and ``write_results`` (the step's files, replaced in one
transaction); ``run_step`` chains them with the empty-answer re-ask and the repair call.
"""

from dataclasses import dataclass, field

from django.db import transaction

from llm.calls import structured
from llm.errors import LLMError, ManualAnswerPending

from .. import checks, conf
from ..models import CodegenRun, CodegenStep, GeneratedFile
from ..paths import PathRegistry, UnsafePath, check_path, path_key
from ..schemas import FileBatch
from .calling import ask
from .plan import plan_text
from .steps import EMPTY_RETRY_PROMPT, REPAIR_PROMPT, SPECS, SYSTEM_PROMPT, StepFailed, render, template


def existing_files(run: CodegenRun, step: CodegenStep) -> list[tuple[str, str]]:
    """(path, step key) of other steps' files, in a fixed order (step position, then path)."""
    return list(
        GeneratedFile.objects.filter(run=run).exclude(step=step).order_by("step__position", "path")
        .values_list("path", "step__key")
    )


def build_prompt(run: CodegenRun, step: CodegenStep, existing: list[tuple[str, str]]) -> list[dict]:
    spec = SPECS[step.key]
    listing = "\n".join(f"- {p}" for p, _ in existing) or "(none yet)"
    text = render(spec.prompt, name=run.name, stack=run.stack, description=run.description, plan=plan_text(run),
                  existing=listing)
    return [{"role": "system", "content": render(SYSTEM_PROMPT)}, {"role": "user", "content": text}]


@dataclass
class FileAnswer:
    accepted: dict = field(default_factory=dict)  # path -> [content, purpose]
    rejected: list = field(default_factory=list)  # one log line per refused file, in answer order


def read_answer(answer, *, step_key: str, existing: list[tuple[str, str]]) -> FileAnswer:
    """The usable files of one answer (a live call's parsed ``FileBatch``, or raw text validated
    here): at most MAX_FILES_PER_STEP, each path safe and not another step's, each file under
    MAX_FILE_BYTES and without NUL bytes; what is refused is said in ``rejected``."""
    if not isinstance(answer, FileBatch):
        parsed = structured.parse(answer, FileBatch)
        if not parsed.ok:
            raise StepFailed(f"The answer does not fit FileBatch: {parsed.error}")
        answer = parsed.value
    registry = PathRegistry({path_key(p): f"step {k}" for p, k in existing})
    out = FileAnswer()
    max_files, max_bytes = conf.get("MAX_FILES_PER_STEP"), conf.get("MAX_FILE_BYTES")
    if len(answer.files) > max_files:
        out.rejected.append(f"✗ Rejected {len(answer.files) - max_files} files beyond the limit of {max_files} per step")
    for spec_file in answer.files[:max_files]:
        try:
            path = registry.claim(spec_file.path, f"step {step_key}")
        except UnsafePath as exc:
            out.rejected.append(f"✗ Rejected path {shown(spec_file.path)}: {exc}")
            continue
        if len(spec_file.content.encode("utf-8")) > max_bytes:
            out.rejected.append(f"✗ Rejected {path}: larger than the {max_bytes}-byte limit")
            continue
        if "\x00" in spec_file.content:
            out.rejected.append(f"✗ Rejected {path}: the content has NUL bytes (binary files are not generated)")
            continue
        out.accepted[path] = [spec_file.content, spec_file.purpose.replace("\x00", "")]
    return out


def write_results(ctx, step: CodegenStep, accepted: dict, results: dict, repaired: set[str]) -> None:
    """The step's files (any from an earlier try replaced), with their check results, then the log lines."""
    spec = SPECS[step.key]
    with transaction.atomic():
        GeneratedFile.objects.filter(step=step).delete()
        GeneratedFile.objects.bulk_create([
            GeneratedFile(run=ctx.run, step=step, path=p, path_key=path_key(p), content=c, purpose=purpose[:2000],
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


def run_step(ctx, step: CodegenStep) -> None:
    run = ctx.run
    spec = SPECS[step.key]
    existing = existing_files(run, step)
    messages = build_prompt(run, step, existing)
    batch, answer_text = ask(ctx, step, messages, FileBatch, spec.prompt)
    if not batch.files:
        # A well-formed answer without a single file is a slip of the model, not a verdict: ask once more.
        ctx.log("⚠ The answer listed no files; asking again", step, level="WARNING")
        messages = messages + [{"role": "assistant", "content": answer_text},
                               {"role": "user", "content": render(EMPTY_RETRY_PROMPT)}]
        batch, answer_text = ask(ctx, step, messages, FileBatch, EMPTY_RETRY_PROMPT)

    answer = read_answer(batch, step_key=step.key, existing=existing)
    for line in answer.rejected:
        ctx.log(line, step, level="WARNING")
    accepted = answer.accepted
    if not accepted:
        raise StepFailed("The answer had no usable files.")

    results = {p: checks.check_file(p, c) for p, (c, _) in accepted.items()}
    repaired = repair(ctx, step, messages, answer_text, accepted, results)
    write_results(ctx, step, accepted, results, repaired)


def repair(ctx, step: CodegenStep, messages: list[dict], answer_text: str, accepted: dict, results: dict) -> set[str]:
    """One repair call for the files whose checks failed; ``accepted`` and ``results`` take the
    repaired contents. Returns the repaired paths."""
    failing = {p: r for p, r in results.items() if r.failed}
    repaired: set[str] = set()
    if not failing or not conf.get("REPAIR"):
        return repaired
    ctx.log(f"Repairing {len(failing)} file(s) that failed checks: {', '.join(sorted(failing))}", step,
            level="WARNING")
    errors = "\n".join(f"- {p}: {r.message}" for p, r in sorted(failing.items()))
    follow_up = messages + [
        {"role": "assistant", "content": answer_text},
        {"role": "user", "content": render(REPAIR_PROMPT, errors=errors,
                                           paths="\n".join(f"- {p}" for p in sorted(failing)))},
    ]
    try:
        fixed, _ = ask(ctx, step, follow_up, FileBatch, REPAIR_PROMPT)
    except ManualAnswerPending:
        raise
    except (LLMError, StepFailed) as exc:
        ctx.log(f"✗ Repair call failed: {exc}", step, level="WARNING")
        return repaired
    step.repaired = True
    for path, content in repaired_files(ctx, step, fixed, failing):
        accepted[path][0] = content
        results[path] = checks.check_file(path, content)
        repaired.add(path)
        ctx.log(f"{'✓' if not results[path].failed else '✗'} Repaired: {path} ({results[path].message})", step)
    return repaired


def repaired_files(ctx, step: CodegenStep, fixed: FileBatch, wanted):
    """The (path, content) pairs of a repair answer that may replace a file: a safe path among
    ``wanted``, no NUL byte, within MAX_FILE_BYTES; each one refused is logged and skipped."""
    max_bytes = conf.get("MAX_FILE_BYTES")
    for spec_file in fixed.files:
        try:
            path = check_path(spec_file.path)
        except UnsafePath as exc:
            ctx.log(f"✗ Rejected repaired path {shown(spec_file.path)}: {exc}", step, level="WARNING")
            continue
        if path not in wanted or len(spec_file.content.encode("utf-8")) > max_bytes or "\x00" in spec_file.content:
            ctx.log(f"✗ Ignored repaired file {path}: it was not one to repair", step, level="WARNING")
            continue
        yield path, spec_file.content


def shown(raw) -> str:
    """A rejected path as it may appear in a log line: quoted, control characters escaped, shortened."""
    text = repr(raw if isinstance(raw, str) else str(raw))
    return text if len(text) <= 200 else text[:200] + "…'"
