"""Stage 3, refine: each batch of products placed again, into the run's final taxonomy."""

from dataclasses import dataclass
from functools import partial

from .. import conf, prompting
from ..models import ProductTaxonomy, SegmentationBatch, SegmentationRun, Stage
from . import storage
from .asking import Collected, Prompt, answer_data, ask, fold, items
from .base import RunStopped


@dataclass(frozen=True)
class Taxonomy:
    real: tuple  # ProductTaxonomy rows except Unassigned, by position
    unassigned: ProductTaxonomy
    s_label: dict  # taxonomy pk -> "S_<position>"
    segment_lines: str

    @property
    def taxon_of_label(self) -> dict:
        return {label: pk for pk, label in self.s_label.items()}


_taxonomies: dict[str, Taxonomy] = {}


def taxonomy(run: SegmentationRun) -> Taxonomy:
    """The run's final taxonomy, read once per process: it is fixed once the refine stage runs
    (consolidation writes it and the refine batches in one transaction)."""
    key = f"{run.pk}:{run.created_at.isoformat() if run.created_at else ''}"
    found = _taxonomies.get(key)
    if found is None:
        taxa = list(ProductTaxonomy.objects.filter(run=run).order_by("position"))
        real = tuple(t for t in taxa if not t.is_unassigned)
        found = Taxonomy(real=real, unassigned=next(t for t in taxa if t.is_unassigned),
                         s_label={t.pk: f"S_{t.position}" for t in real},
                         segment_lines="\n".join(f"S_{t.position}: {t.category_name} - {t.definition}" for t in real))
        if len(_taxonomies) > 32:
            _taxonomies.clear()
        _taxonomies[key] = found
    return found


def build_prompt(run: SegmentationRun, tax: Taxonomy, rows: list[tuple], first: dict) -> Prompt:
    """``rows``: (pk, title, brand, description) in id order; ``first``: product id -> its first-pass
    taxonomy id (shown as the provisional segment)."""
    s_label = tax.s_label
    label_of = {pk: f"P_{n}" for n, (pk, *_rest) in enumerate(rows, 1)}
    pk_of = {label: pk for pk, label in label_of.items()}
    details = conf.refine_details()
    product_lines = "\n".join(
        prompting.product_line(label_of[pk], title, brand, desc, extra=f"provisional: {s_label.get(first.get(pk), 'none')}",
                               details=details)
        for pk, title, brand, desc in rows
    )
    segment_labels = [s_label[t.pk] for t in tax.real]
    return Prompt(
        text=prompting.render("refine", category=run.category_name, segments=tax.segment_lines, products=product_lines),
        labels=list(pk_of), schema_for=lambda wanted: prompting.refine_schema(wanted, segment_labels), pk_of=pk_of,
        context={"batch_size": len(rows), "segments": len(tax.real)},
    )


def read_answer(answer, *, labels: list[str], taxon_of_label: dict, got: Collected | None = None,
                where: str = "") -> Collected:
    """Each product label gets the taxonomy id of the segment (S_n) the answer names; a segment id
    outside ``taxon_of_label`` is recorded as unknown."""
    got = Collected() if got is None else got
    pairs = []
    for item in items(answer_data(answer), "assignments"):
        label, segment = item.get("product_id"), item.get("segment_id")
        if isinstance(label, str) and segment in taxon_of_label:
            pairs.append((label, taxon_of_label[segment]))
        elif isinstance(label, str) and isinstance(segment, str):
            got.unknown.append(segment)
    return fold(got, pairs, labels, where=where)


def write_results(batch: SegmentationBatch, got: Collected, pk_of: dict, *, unassigned_pk: int, first: dict,
                  first_pass: list | None) -> None:
    """The batch's refined rows (a product left unplaced goes to Unassigned), its products'
    first-pass rows when the batch carries them, its result and the run's count, all or nothing."""
    refined = {pk_of[label]: taxon for label, taxon in got.assigned.items()}
    missing = [pk for pk in batch.product_ids if pk not in refined]
    changed = sum(1 for pk, taxon in refined.items() if first.get(pk) != taxon)
    batch.result = {"changed": changed, "unassigned": missing, "unknown_ids": got.unknown,
                    "duplicates": got.duplicates, "retries": got.retries}
    first_rows = ([(pk, taxon, confidence) for pk, (taxon, confidence) in zip(batch.product_ids, first_pass)]
                  if first_pass is not None else [])
    if not storage.finish_refine(batch, [(pk, refined.get(pk, unassigned_pk)) for pk in batch.product_ids], first_rows):
        raise RunStopped("claim lost")


def run_batch(run: SegmentationRun, batch: SegmentationBatch) -> None:
    tax = taxonomy(run)
    # The first-pass taxonomy of each product: handed over by consolidation with the batch (a
    # batch made before that, by an older version, reads the rows consolidation wrote then).
    first_pass = batch.first_pass if len(batch.first_pass or ()) == len(batch.product_ids) else None
    rows, first = [], {}
    if first_pass is not None:
        first = {pk: taxon for pk, (taxon, _confidence) in zip(batch.product_ids, first_pass)}
        rows = list(storage.product_rows(batch.product_ids))
    else:
        for pk, title, brand, desc, taxon in storage.product_rows(batch.product_ids, first_pass_of_run=run.pk):
            rows.append((pk, title, brand, desc))
            first[pk] = taxon
    prompt = build_prompt(run, tax, rows, first)
    if tax.real:
        got = ask(run, stage=Stage.REFINE, batch_no=batch.index, prompt=prompt,
                  read_answer=partial(read_answer, taxon_of_label=tax.taxon_of_label))
    else:
        got = Collected()
    write_results(batch, got, prompt.pk_of, unassigned_pk=tax.unassigned.pk, first=first, first_pass=first_pass)
