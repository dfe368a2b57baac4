"""An artifact into an evaluation case, and a person's rating of it (through evals' public API)."""

from __future__ import annotations

import evals

from .models import NoteArtifact

DATASET = "artifacts.faithfulness"
RATING_SCORER = "artifacts.rating"


def generated_version(artifact: NoteArtifact) -> NoteArtifact | None:
    """The version whose call produced this one's text (itself, or the nearest generated parent of an edit)."""
    seen, current = set(), artifact
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        if current.origin == NoteArtifact.Origin.GENERATED and current.query_id:
            return current
        current = NoteArtifact.objects.filter(pk=current.parent_id).first() if current.parent_id else None
    return None


def note_text(note) -> str:
    """What the artifact must stay faithful to: the highlight, the note and the captured section."""
    parts = [note.page_title, note.highlighted_text, note.body]
    if (note.page_section_html or "").strip():
        parts.append(note.page_section_text(limit=20_000)[0])
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def case_input(generated: NoteArtifact) -> dict:
    return {"artifact_type": generated.artifact_type, "system": generated.system_prompt, "prompt": generated.prompt,
            "note": note_text(generated.note)}


def answer_of(artifact: NoteArtifact):
    return artifact.structured_content if artifact.structured_content is not None else artifact.content


def promote(artifact: NoteArtifact, user):
    """The generating call's request as the input; a hand-edited version's content as the expected
    answer (promoting the edit after the original replaces the expected value)."""
    generated = generated_version(artifact)
    if generated is None:
        raise evals.PromotionError("This artifact has no generated version with a logged call to learn from.")
    expected = answer_of(artifact) if artifact.origin == NoteArtifact.Origin.EDITED else None
    return evals.promote(dataset=DATASET, suite=DATASET, input=case_input(generated), expected=expected,
                         source=f"artifacts.NoteArtifact:{generated.pk}", query_id=generated.query_id, user=user,
                         tags=[generated.artifact_type, "edited" if expected is not None else "as generated"])


def rate(artifact: NoteArtifact, user, stars) -> object:
    """A 1–5 rating, stored as a human score (0..1) of the call that produced the text."""
    try:
        stars = int(stars)
    except (TypeError, ValueError):
        raise evals.PromotionError("A rating is a whole number of stars from 1 to 5.") from None
    if not 1 <= stars <= 5:
        raise evals.PromotionError(f"A rating is from 1 to 5 stars, not {stars}.")
    generated = generated_version(artifact)
    if generated is None:
        raise evals.PromotionError("This artifact has no logged call to rate (it was never generated).")
    return evals.human_score(query_id=generated.query_id, scorer=RATING_SCORER, value=(stars - 1) / 4, user=user,
                             subject=f"artifacts.NoteArtifact:{artifact.pk}", details={"stars": stars})
