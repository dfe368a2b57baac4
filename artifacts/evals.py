"""The artifacts app's evaluation suite (discovered by evals at start).

``artifacts.faithfulness`` sends an artifact's exact request (the system and user prompt the
app builds from a note) to the variant's model and scores the answer twice: an LLM judge with a
faithfulness rubric, shown only the note (the main score), and schema validity (flashcards and
quizzes must be the app's structured shape; text types must not be empty). The shipped cases
are the demo notes (``seed_demo``) × summary and flashcards; promoted artifacts add more, with
a hand edit as the reference.
"""

from __future__ import annotations

from evals import register
from evals.judge import judge
from evals.registry import Suite
from evals.scorers import Scorer, Verdict

TYPES = ("summary", "flashcards")
RUBRIC = """Faithfulness to the note. The answer was generated from the note shown as the input.
5: every statement in the answer is supported by the note; nothing is invented or contradicted.
3: mostly supported, with a minor unsupported detail.
1: the answer states things the note does not say, or contradicts it.
If a reference answer is given, it is what the note's owner considers right; use it as a guide,
but grade faithfulness to the note, not wording."""


def run_faithfulness(case_input: dict, ctx):
    from .schemas import SCHEMAS, validate_structured

    artifact_type = case_input.get("artifact_type", "")
    if not case_input.get("prompt"):
        raise ValueError("The case has no prompt (an artifact's request): re-promote it or rebuild the dataset.")
    schema = SCHEMAS.get(artifact_type)
    result = ctx.complete(purpose=f"artifacts.{artifact_type}", system=case_input.get("system") or None,
                          prompt=case_input["prompt"], schema=schema,
                          interaction_type=f"artifact_{artifact_type}")
    if schema is not None:
        return validate_structured(artifact_type, result.parsed.model_dump())
    return result.text.strip()


def schema_valid(answer, expected, case_input=None) -> Verdict:
    from pydantic import ValidationError

    from .schemas import SCHEMAS, validate_structured

    artifact_type = (case_input or {}).get("artifact_type", "")
    schema = SCHEMAS.get(artifact_type)
    if schema is None:
        ok = isinstance(answer, str) and bool(answer.strip())
        return Verdict(1.0 if ok else 0.0, {} if ok else {"error": "empty answer"})
    try:
        validate_structured(artifact_type, schema.model_validate(answer).model_dump())
    except (ValidationError, ValueError, TypeError) as exc:
        return Verdict(0.0, {"error": str(exc)[:500]})
    return Verdict(1.0, {})


def cases_for_notes(notes) -> list[dict]:
    """One case per note and type: the request the app would send for it today."""
    from .context import build_prompt
    from .feedback import note_text
    from .pipeline import DEFAULT_OUTPUT_TOKENS, OUTPUT_TOKENS

    cases = []
    for note in notes:
        for artifact_type in TYPES:
            built = build_prompt(note, artifact_type, "", context_window=None,
                                 max_output_tokens=OUTPUT_TOKENS.get(artifact_type, DEFAULT_OUTPUT_TOKENS))
            cases.append({"key": f"note-{note.pk}-{artifact_type}", "tags": [artifact_type],
                          "input": {"artifact_type": artifact_type, "system": built.system, "prompt": built.prompt,
                                    "note": note_text(note)},
                          "expected": None})
    return cases


def demo_cases() -> list[dict]:
    from django.contrib.auth import get_user_model

    from notes.models import Note

    from accounts.management.commands.seed_demo import DEMO_USERNAME
    owner = get_user_model().objects.filter(username=DEMO_USERNAME).first()
    if owner is None:
        return []
    return cases_for_notes(Note.objects.filter(owner=owner).order_by("pk"))


# Every text or structured artifact's call (an image's call has no text to judge).
PURPOSES = tuple(f"artifacts.{t}" for t in ("summary", "key_points", "flashcards", "quiz", "explanation",
                                             "code_example", "diagram", "other"))


def input_from_call(call) -> dict:
    """An artifact's call as a case: the artifact's request (the app's system and user prompt) and its note."""
    from evals import PromotionError
    from notes.models import Note

    from .feedback import case_input, note_text
    from .models import NoteArtifact

    artifact = NoteArtifact.objects.filter(query_id=call.query.pk).select_related("note").first()
    if artifact is not None:
        return case_input(artifact)
    note = Note.objects.filter(pk=call.context.get("note_id")).first() if call.context.get("note_id") else None
    if note is None or not call.prompt:
        raise PromotionError(f"Call #{call.query.pk} is not an artifact's request with its note: it cannot be a case.")
    return {"artifact_type": call.context.get("artifact_type") or call.query.purpose.partition(".")[2],
            "system": call.system, "prompt": call.prompt, "note": note_text(note)}


register(Suite(
    name="artifacts.faithfulness",
    description="Artifacts from notes: does the text stay faithful to the note (LLM judge), and is it the app's shape?",
    run=run_faithfulness,
    scorers=[judge(RUBRIC, name="faithfulness", input_key="note"), Scorer("schema_valid", schema_valid)],
    judge=True,
    build_cases=demo_cases,
    purposes=PURPOSES, input_from_call=input_from_call,
))
