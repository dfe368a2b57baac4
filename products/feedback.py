"""The wizard's suggestions judged by the person using it, through evals' public API: accepting
the suggested subcategory or picking another, keeping or editing each suggested attribute value
(each a human score of the call that made the suggestion); and the session promoted into the
product suites' datasets with the person's corrections as the expected values."""

from __future__ import annotations

import evals

from . import catalog
from .models import GenerationSession, GenerationStepLog, Step

CATEGORY_SCORER = "products.category_suggestion"
ATTRIBUTE_SCORER = "products.attribute_suggestion"


def step_query_id(session: GenerationSession, step: str) -> int | None:
    """The call whose answer the step shows (its last successful one)."""
    return (session.step_logs.filter(step=step, status=GenerationStepLog.Status.OK, query__isnull=False)
            .order_by("-id").values_list("query_id", flat=True).first())


def subject(session: GenerationSession, what: str) -> str:
    return f"products.GenerationSession:{session.pk}:{what}"


def category_chosen(session: GenerationSession, user) -> None:
    """After the person accepted the suggestion or chose another subcategory: 1 or 0."""
    query_id = step_query_id(session, Step.IDENTIFY_CATEGORY)
    if not query_id or not session.suggested_subcategory_id or not session.subcategory_id:
        return
    accepted = session.subcategory_id == session.suggested_subcategory_id
    evals.human_score(query_id=query_id, scorer=CATEGORY_SCORER, value=1.0 if accepted else 0.0, user=user,
                      subject=subject(session, "category"),
                      details={"suggested": session.suggested_subcategory_id, "chosen": session.subcategory_id})


def attributes_reviewed(session: GenerationSession, user) -> int:
    """After the person saved the attribute form: each value the model suggested scores 1 when
    kept, 0 when edited. Returns how many suggestions were scored."""
    query_id = step_query_id(session, Step.MAP_ATTRIBUTES)
    if not query_id:
        return 0
    edits = session.attribute_edits or {}
    scored = 0
    for name, suggestion in session.mapped_for_current_subcategory().items():
        if suggestion.get("value") is None:
            continue  # nothing was suggested for this attribute
        kept = name not in edits
        evals.human_score(query_id=query_id, scorer=ATTRIBUTE_SCORER, value=1.0 if kept else 0.0, user=user,
                          subject=subject(session, f"attribute:{name}"),
                          details={"suggested": suggestion.get("value"), **({} if kept else {"edited_to": edits[name]})})
        scored += 1
    return scored


def promote(session: GenerationSession, user) -> list:
    """The session as cases of products.identify_category (the chosen subcategory expected) and
    products.map_attributes (the attribute values after the person's edits expected)."""
    from . import pipeline

    if not session.subcategory_id:
        raise evals.PromotionError("Choose the product's subcategory first: it is the expected answer.")
    sub = session.subcategory
    cases = [evals.promote(
        dataset="products.identify_category", suite="products.identify_category", input={"text": session.raw_input},
        expected={"category": sub.category.name, "subcategory": sub.name}, source=subject(session, "category"),
        query_id=step_query_id(session, Step.IDENTIFY_CATEGORY), user=user, tags=[sub.category.name],
    )]
    valid, _ = pipeline.effective_attributes(session)
    if valid and catalog.definitions(session.subcategory_id):
        cases.append(evals.promote(
            dataset="products.map_attributes", suite="products.map_attributes",
            input={"text": session.raw_input, "category": sub.category.name, "subcategory": sub.name},
            expected=valid, source=subject(session, "attributes"),
            query_id=step_query_id(session, Step.MAP_ATTRIBUTES), user=user, tags=[sub.name],
        ))
    return cases
