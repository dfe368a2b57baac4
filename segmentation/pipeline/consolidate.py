"""Stage 2, consolidate: the batch taxonomies merged into one, hierarchically past
TAXONOMIES_PER_CONSOLIDATION (groups of taxonomies per call, level by level), then the final
taxonomy, every product's first-pass segment and the refine batches written in one transaction.

The maths: each call maps every input taxonomy's segment names to its output names
(``maps[level][taxonomy][name_cf] -> output name``); following a name through the levels gives
its final segment (``final_name``).
"""

from django.db import transaction
from django.utils import timezone

from .. import conf, prompting
from ..batching import chunks
from ..models import UNASSIGNED, ProductTaxonomy, RunProduct, SegmentationBatch, SegmentationRun, Stage
from . import storage
from .asking import Collected, Prompt, answer_data, ask, fold, items, text
from .base import CHUNK, MAX_SEGMENTS, Batch, Run, RunStopped, check_active


def merge_inputs(group: list[list[dict]]) -> list[dict]:
    """The group's segments, unique by casefolded name (the first definition wins)."""
    inputs: list[dict] = []
    seen: set[str] = set()
    for taxonomy in group:
        for seg in taxonomy:
            key = seg["name"].casefold()
            if key not in seen:
                seen.add(key)
                inputs.append(seg)
    return inputs


def build_prompt(run: SegmentationRun, inputs: list[dict], *, taxonomies: int) -> Prompt:
    """One consolidation prompt over the unique input segments, labelled T_1.. in order."""
    labels = [f"T_{n}" for n in range(1, len(inputs) + 1)]
    lines = "\n".join(f"{label}: {s['name']} - {s['definition']}" for label, s in zip(labels, inputs))
    return Prompt(
        text=prompting.render("consolidate", category=run.category_name,
                              max_segments=run.processing_params.get("max_segments") or MAX_SEGMENTS, segments=lines or "(none)"),
        labels=labels, schema_for=prompting.consolidate_schema, context={"taxonomies": taxonomies},
    )


def read_answer(answer, *, labels: list[str], got: Collected | None = None, where: str = "") -> Collected:
    """Output segments go into ``got.groups``; each input label (T_n) it merges maps to that segment's name."""
    got = Collected() if got is None else got
    pairs = []
    for seg in items(answer_data(answer), "segments"):
        name = text(seg.get("name"), 200)
        if not name:
            continue
        got.groups.setdefault(name.casefold(), {"name": name, "definition": text(seg.get("definition"), 1000)})
        canonical = got.groups[name.casefold()]["name"]
        ids = seg.get("merged_ids")
        for label in ids if isinstance(ids, list) else []:
            if isinstance(label, str):
                pairs.append((label, canonical))
    return fold(got, pairs, labels, where=where)


def call_result(group: list[list[dict]], inputs: list[dict], got: Collected) -> dict:
    """{"segments": [...], "maps": [per taxonomy of the group]} from one call's answers. An input
    segment the model never placed keeps its own name: its products are not dropped."""
    labels = [f"T_{n}" for n in range(1, len(inputs) + 1)]
    index_of = {seg["name"].casefold(): n for n, seg in enumerate(inputs)}
    for label, seg in zip(labels, inputs):
        if label not in got.assigned:
            got.groups.setdefault(seg["name"].casefold(), {"name": seg["name"], "definition": seg["definition"]})
            got.assigned[label] = got.groups[seg["name"].casefold()]["name"]
    used = {name.casefold() for name in got.assigned.values()}
    segments = [g for key, g in got.groups.items() if key in used]
    maps = []
    for taxonomy in group:
        maps.append({seg["name"].casefold(): got.assigned[labels[index_of[seg["name"].casefold()]]] for seg in taxonomy})
    return {"segments": segments, "maps": maps, "unknown_ids": got.unknown, "retries": got.retries}


def consolidate_call(run: SegmentationRun, group: list[list[dict]], batch_no: int | None) -> dict:
    """One consolidation prompt over a group of taxonomies (none when the group has no segment)."""
    inputs = merge_inputs(group)
    if inputs:
        got = ask(run, stage=Stage.CONSOLIDATE, batch_no=batch_no,
                  prompt=build_prompt(run, inputs, taxonomies=len(group)), read_answer=read_answer)
    else:
        got = Collected()
    return call_result(group, inputs, got)


def consolidate_calls(run: SegmentationRun, todo: list[tuple[int, list]], single_call: bool):
    """The consolidation calls of one level, side by side (SEGMENTATION_CONCURRENCY at a time)."""
    workers = min(conf.concurrency(), len(todo))
    if workers <= 1:
        return [(n, consolidate_call(run, group, None if single_call else n)) for n, group in todo]
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def one(item):
        n, group = item
        try:
            return n, consolidate_call(run, group, n)
        finally:
            connection.close()

    # New threads start with empty context variables: hand them this task's (its request id,
    # ops/context.py, so the calls' LLMQuery rows and log lines still group under the user action).
    import contextvars

    parent = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: parent.copy().run(one, item), todo))


def final_name(maps: list[list[dict]], per_call: int, taxonomy_index: int, name: str) -> str | None:
    """Where segment ``name`` of extract taxonomy ``taxonomy_index`` ends up after every level."""
    for level_maps in maps:
        target = level_maps[taxonomy_index].get(name.casefold()) if taxonomy_index < len(level_maps) else None
        if target is None:
            return None
        name = target
        taxonomy_index //= per_call
    return name


def run_batch(run: SegmentationRun, claim_batch: SegmentationBatch) -> list[int]:
    """Every level's calls (each call's result is kept on its own batch row, so a resumed run asks
    only the calls not done), then ``write_results``; returns the refine batch ids."""
    extract_batches = Batch.objects.filter(run=run, stage=Stage.EXTRACT).order_by("index")
    per_call = run.processing_params.get("taxonomies_per_consolidation") or conf.taxonomies_per_consolidation()
    # Each taxonomy is a list of {"name", "definition"}.
    taxonomies = [segments or [] for segments in extract_batches.values_list("result__segments", flat=True)]
    maps: list[list[dict]] = []
    call_no = 0
    single_call = len(taxonomies) <= per_call
    stats = {"unknown_ids": 0, "retries": 0, "calls": 0}
    while True:
        groups = chunks(taxonomies, per_call) or [[]]
        numbers = list(range(call_no + 1, call_no + len(groups) + 1))
        call_no += len(groups)
        done = {b.index: b.result for b in Batch.objects.filter(run=run, stage=Stage.CONSOLIDATE, index__in=numbers,
                                                                 status=Batch.Status.DONE)}
        todo = [(n, group) for n, group in zip(numbers, groups) if n not in done]
        for n, result in consolidate_calls(run, todo, single_call):
            Batch.objects.update_or_create(
                run=run, stage=Stage.CONSOLIDATE, index=n,
                defaults={"status": Batch.Status.DONE, "result": result, "finished_at": timezone.now(), "attempts": 1},
            )
            done[n] = result
        outputs, level_maps = [], []
        for n in numbers:
            outputs.append(done[n]["segments"])
            level_maps.extend(done[n]["maps"])
            stats["unknown_ids"] += len(done[n].get("unknown_ids") or [])
            stats["retries"] += done[n].get("retries") or 0
            stats["calls"] += 1
        maps.append(level_maps)
        if len(groups) == 1:
            final = outputs[0]
            break
        taxonomies = outputs
    return write_results(run, claim_batch, final, maps, per_call=per_call,
                         summary={"segments": len(final), "calls": call_no, **stats})


def write_results(run: SegmentationRun, claim_batch: SegmentationBatch, final: list[dict], maps: list[list[dict]], *,
                  per_call: int, summary: dict) -> list[int]:
    """The taxonomy rows, the refine batches (carrying each product's first-pass assignment) and
    the stage move, in one transaction; returns the refine batch ids."""
    extract_batches = Batch.objects.filter(run=run, stage=Stage.EXTRACT).order_by("index")
    check_active(run)
    refine_size = run.processing_params.get("products_per_refinement") or conf.products_per_refinement()
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.stage != Stage.CONSOLIDATE or locked.status != Run.Status.RUNNING:
            raise RunStopped(locked.status)
        ProductTaxonomy.objects.filter(run=run).delete()
        taxa = ProductTaxonomy.objects.bulk_create(
            [ProductTaxonomy(run=run, position=n, category_name=s["name"], definition=s["definition"])
             for n, s in enumerate(final, 1)]
            + [ProductTaxonomy(run=run, position=len(final) + 1, category_name=UNASSIGNED, is_unassigned=True,
                               definition="Products the model did not assign after every retry.")]
        )
        by_name = {t.category_name.casefold(): t for t in taxa if not t.is_unassigned}
        unassigned = taxa[-1]

        def first_pass():
            """(product id, taxonomy id, confidence) in product id order, one extract result at a
            time (flat memory on big runs). Extract batches are consecutive runs of the sorted ids."""
            rows = extract_batches.values_list("product_ids", "result").iterator(chunk_size=20)
            for taxonomy_index, (product_ids, result) in enumerate(rows):
                assigned = result.get("assignments", {})
                for pk in sorted(product_ids):
                    name, confidence = assigned.get(str(pk), (None, None))
                    target = final_name(maps, per_call, taxonomy_index, name) if name else None
                    taxon = by_name.get(target.casefold()) if target else None
                    yield pk, (taxon or unassigned).pk, confidence if taxon else None

        # Refine batches over the run's products (a product no extract result placed starts in
        # Unassigned: never dropped), each carrying its products' first-pass assignments.
        Batch.objects.filter(run=run, stage=Stage.REFINE).delete()
        refine: list[int] = []
        pending: list[Batch] = []
        part: list[int] = []
        part_first: list[list] = []
        ids = RunProduct.objects.filter(run=run).order_by("product_id").values_list("product_id", flat=True)
        # Closed explicitly when done: left to the garbage collector, the generator's server-side
        # cursor would be closed at a random moment, in the middle of another query on this connection.
        placed = first_pass()
        try:
            current = next(placed, None)
            for pk in ids.iterator(chunk_size=CHUNK):
                while current is not None and current[0] < pk:
                    current = next(placed, None)
                if current is not None and current[0] == pk:
                    part_first.append([current[1], current[2]])
                else:
                    part_first.append([unassigned.pk, None])
                part.append(pk)
                if len(part) == refine_size:
                    pending.append(Batch(run=run, stage=Stage.REFINE, index=len(refine) + len(pending) + 1,
                                         product_ids=part, first_pass=part_first))
                    part, part_first = [], []
                if len(pending) >= 100:
                    refine.extend(b.pk for b in Batch.objects.bulk_create(pending))
                    pending = []
        finally:
            placed.close()
        if part:
            pending.append(Batch(run=run, stage=Stage.REFINE, index=len(refine) + len(pending) + 1,
                                 product_ids=part, first_pass=part_first))
        refine.extend(b.pk for b in Batch.objects.bulk_create(pending))
        if not storage.finish(claim_batch, summary):
            raise RunStopped("claim lost")
        Run.objects.filter(pk=run.pk).update(stage=Stage.REFINE, updated_at=timezone.now())
    return refine
