"""LLM-as-judge: a rubric prompt template (evals/prompts/judge_rubric_v1.yaml), its calls logged
and costed like any other under the purpose ``evals.judge``. Its scores are checked against the
human scores on the same answers (summary.judge_agreement) before anyone should trust them."""

from __future__ import annotations

import json

from django.conf import settings
from pydantic import BaseModel, Field

from .scorers import Scorer, Verdict

PURPOSE = "evals.judge"
TEMPLATE = "evals.judge_rubric"
MAX_FIELD_CHARS = 12_000


class JudgeVerdict(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str


def _text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return (text or "")[:MAX_FIELD_CHARS]


def judge_once(*, rubric: str, case_input, answer, reference=None, ctx=None, version: int | None = None,
               user=None) -> tuple[Verdict, list[int]]:
    """Ask the judge model; (verdict with value 0..1, the call's query ids)."""
    import llm
    from llm import prompts

    rendered = prompts.render(prompts.get(TEMPLATE, version), {
        "rubric": rubric, "input": _text(case_input), "answer": _text(answer),
        "reference": _text(reference) if reference is not None else "",
    })
    kwargs = {}
    if ctx is not None:
        kwargs.update(run=ctx.run_id or None, batch=ctx.result_id, cache=ctx.use_cache, user=ctx.user)
    elif user is not None:
        kwargs["user"] = user
    result = llm.complete(
        purpose=PURPOSE, messages=rendered.messages, schema=JudgeVerdict,
        provider=getattr(settings, "EVALS_JUDGE_PROVIDER", "") or None,
        model=getattr(settings, "EVALS_JUDGE_MODEL", "") or None,
        temperature=rendered.params.get("temperature"), max_tokens=rendered.params.get("max_tokens"),
        template_version=rendered.version, **kwargs,
    )
    verdict = result.parsed  # a validated JudgeVerdict
    return (Verdict((verdict.score - 1) / 4, {"grade": verdict.score, "reason": verdict.reason[:500],
                                                 "query_id": result.query_id}), list(result.query_ids or [result.query_id]))


def _judge(answer, expected, case_input, *, ctx, rubric: str, version: int | None = None, input_key: str = "") -> Verdict:
    from llm.errors import LLMError

    from .scorers import pick

    if input_key:
        case_input = pick(case_input, input_key)  # only what the answer is judged against (e.g. the note)
    try:
        verdict, ids = judge_once(rubric=rubric, case_input=case_input, answer=answer, reference=expected, ctx=ctx,
                                  version=version)
    except LLMError as exc:
        if ctx is not None:
            ctx.record(exc.query_id, judge=True)
        raise
    if ctx is not None:
        ctx.record(*ids, judge=True)
    return verdict


def judge(rubric: str, *, name: str = "judge", field: str = "", version: int | None = None, input_key: str = "") -> Scorer:
    """A scorer that asks the judge model to grade the answer against ``rubric`` (shown the case's
    input, or only its ``input_key`` part)."""
    return Scorer(name=name, fn=_judge, field=field, options={"rubric": rubric, "version": version, "input_key": input_key},
                  needs_context=True)
