"""One structured request for a step: a cut-off answer is continued and the parts joined."""

from django.utils import timezone

from llm.calls import structured
from llm.errors import LLMTruncatedError
from llm.calls import complete

from .. import conf
from ..models import CodegenStep
from .steps import CONTINUATION_PROMPT, TAIL_CHARS, StepFailed, render


def ask(ctx, step: CodegenStep, messages: list[dict], schema, version: str):
    """(parsed, text) for one structured request; a cut-off answer is continued and joined."""
    run = ctx.run
    kwargs = dict(
        purpose=f"codegen.step_{step.key}", provider=run.provider_name, model=run.model_name,
        max_tokens=step.max_tokens, user=run.owner, run=run.run_id, interaction_type=step.interaction_type,
        context={"codegen_run": run.run_id, "step": step.key}, cache=not step.fresh,
    )
    heartbeat(step)
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
        heartbeat(step)
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


def heartbeat(step: CodegenStep) -> None:
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
