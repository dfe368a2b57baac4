"""Stage 1, extract: each batch of products gets a taxonomy of its own and a segment per product."""

from .. import prompting
from ..models import SegmentationBatch, SegmentationRun, Stage
from . import storage
from .asking import Collected, Prompt, answer_data, ask, confidence, fold, items, text
from .base import MAX_SEGMENTS, RunStopped


def build_prompt(run: SegmentationRun, rows: list[tuple]) -> Prompt:
    """``rows``: (pk, title, brand, description) in id order; products are labelled P_1.. in that order."""
    label_of = {pk: f"P_{n}" for n, (pk, *_rest) in enumerate(rows, 1)}
    pk_of = {label: pk for pk, label in label_of.items()}
    lines = "\n".join(prompting.product_line(label_of[pk], title, brand, desc) for pk, title, brand, desc in rows)
    return Prompt(
        text=prompting.render("extract", category=run.category_name,
                              max_segments=run.processing_params.get("max_segments") or MAX_SEGMENTS, products=lines),
        labels=list(pk_of), schema_for=prompting.extract_schema, pk_of=pk_of,
        context={"batch_size": len(rows), "batch_products": [r[1][:100] for r in rows]},
    )


def _more_confident(new, old) -> bool:
    return (new[1] or 0) > (old[1] or 0)


def read_answer(answer, *, labels: list[str], got: Collected | None = None, where: str = "") -> Collected:
    """Named segments go into ``got.groups``; each product label gets [segment name, confidence]
    (a segment the answer did not name is no assignment; a label seen twice keeps the more confident)."""
    got = Collected() if got is None else got
    data = answer_data(answer)
    for seg in items(data, "segments"):
        name = text(seg.get("name"), 200)
        if name and name.casefold() not in got.groups:
            got.groups[name.casefold()] = {"name": name, "definition": text(seg.get("definition"), 1000)}
    pairs = []
    for item in items(data, "assignments"):
        label, segment = item.get("product_id"), text(item.get("segment"), 200)
        if isinstance(label, str) and segment.casefold() in got.groups:
            pairs.append((label, [got.groups[segment.casefold()]["name"], confidence(item.get("confidence"))]))
    return fold(got, pairs, labels, better=_more_confident, where=where)


def write_results(batch: SegmentationBatch, got: Collected, pk_of: dict) -> None:
    """The batch's taxonomy (only segments in use) and assignments by product id, on the batch row."""
    used = {payload[0].casefold() for payload in got.assigned.values()}
    result = {
        "segments": [g for key, g in got.groups.items() if key in used],
        "assignments": {str(pk_of[label]): payload for label, payload in got.assigned.items()},
        "unassigned": [pk_of[label] for label in pk_of if label not in got.assigned],
        "unknown_ids": got.unknown, "duplicates": got.duplicates, "retries": got.retries,
    }
    if not storage.finish(batch, result):
        raise RunStopped("claim lost")


def run_batch(run: SegmentationRun, batch: SegmentationBatch) -> None:
    prompt = build_prompt(run, list(storage.product_rows(batch.product_ids)))
    got = ask(run, stage=Stage.EXTRACT, batch_no=batch.index, prompt=prompt, read_answer=read_answer)
    write_results(batch, got, prompt.pk_of)
