"""The segmentation pipeline (seed 004): extract taxonomy per batch -> consolidate -> refine.

No HTTP, no Celery. Work is cut into ``SegmentationBatch`` rows; a worker claims one with a
conditional UPDATE, does it, and stores its result; ``advance`` moves the run to the next
stage exactly once (another conditional UPDATE). Every step checks what already exists, so a
resumed run redoes only unfinished batches, and sends byte-identical requests (deterministic
batches, prompts and schemas) so the llm cache answers what was already paid for.
"""

import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from llm.records import interactions
from llm.calls import tokens
from llm.errors import (
    LLMConfigurationError,
    LLMError,
    LLMInvalidOutputError,
    LLMTruncatedError,
    ManualAnswerPending,
)
from llm.models import LLMQuery
from llm.providers import get_provider, resolve_model
from llm.calls import complete
from products.models import Product

from . import conf, heartbeat, prompting
from .batching import calculate_optimal_batch_sizes, chunks, split
from .models import (
    UNASSIGNED,
    LLMInteractionIndex,
    ProductSegment,
    ProductTaxonomy,
    RefinedProductSegment,
    RunProduct,
    SegmentationBatch,
    SegmentationRun,
    Stage,
)

logger = logging.getLogger(__name__)

Batch = SegmentationBatch
Run = SegmentationRun
INTERACTION_TYPES = {Stage.EXTRACT: "segmentation", Stage.CONSOLIDATE: "consolidate_taxonomy", Stage.REFINE: "refine_assignments"}
PROMPT_OF_TYPE = {"segmentation": "extract", "consolidate_taxonomy": "consolidate", "refine_assignments": "refine"}
DEFAULT_CONTEXT_WINDOW = 128_000
OUTPUT_TOKENS_PER_PRODUCT = 40
MAX_SEGMENTS = 12
CHUNK = 2000


class StartError(ValueError):
    """Bad input for a new run; the message names the problem (a 400 in the API)."""


class RunStopped(Exception):
    """The run was cancelled (or failed elsewhere) while this batch was working."""


# --------------------------------------------------------------------------- starting a run


def clean_product_ids(product_ids) -> list[int]:
    if not product_ids:
        raise StartError("product_ids is empty: choose at least one product.")
    try:
        ids = sorted({int(pk) for pk in product_ids})
    except (TypeError, ValueError):
        raise StartError("product_ids must be a list of integer product ids.") from None
    limit = conf.max_products()
    if len(ids) > limit:
        raise StartError(f"{len(ids)} products is over the maximum of {limit} per run (SEGMENTATION_MAX_PRODUCTS).")
    found: set[int] = set()
    for part in chunks(ids, 10_000):
        found.update(_existing_product_ids(part))
    unknown = [pk for pk in ids if pk not in found]
    if unknown:
        shown = ", ".join(map(str, unknown[:20])) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
        raise StartError(f"Unknown product ids: {shown}.")
    return ids


def start_run(*, owner, product_ids, category: str, provider: str | None = None, model: str | None = None,
              temperature: float | None = None, fresh: bool = False) -> SegmentationRun:
    """Validate the input, create the run, its products and its extract batches (nothing is called yet)."""
    category = (category or "").strip()
    if not category:
        raise StartError("category is empty: name the product category being segmented.")
    if len(category) > 255:
        raise StartError("category is longer than 255 characters.")
    if temperature is not None and not (0 <= float(temperature) <= 2):
        raise StartError("temperature must be between 0 and 2.")
    ids = clean_product_ids(product_ids)
    try:
        provider_row = get_provider(provider or None)
        model_row = resolve_model(provider_row, model or None, user=owner)
    except LLMConfigurationError as exc:
        raise StartError(str(exc)) from None
    temperature = conf.default_temperature() if temperature is None else float(temperature)
    run_id = interactions.new_run_id()
    params = {
        "products_per_prompt": conf.products_per_prompt(),
        "taxonomies_per_consolidation": conf.taxonomies_per_consolidation(),
        "products_per_refinement": conf.products_per_refinement(),
        "max_retries": conf.max_retries(),
        "prompt_version": prompting.VERSION,
    }
    with transaction.atomic():
        run = SegmentationRun.objects.create(
            id=run_id, owner=owner, category_name=category, total_products=len(ids),
            model_config={"provider": provider_row.name, "model": model_row.name, "temperature": temperature,
                          **({"fresh": True} if fresh else {})},  # fresh: never answered from llm's cache
            processing_params=params,
        )
        _insert_run_products(run.pk, ids)
        sizes = _batch_sizes(ids, context_window=model_row.context_window or DEFAULT_CONTEXT_WINDOW,
                             max_output_tokens=model_row.max_output_tokens or 4096,
                             max_per_batch=params["products_per_prompt"])
        Batch.objects.bulk_create(
            [Batch(run=run, stage=Stage.EXTRACT, index=n, product_ids=part) for n, part in enumerate(split(ids, sizes), 1)],
            batch_size=1000,
        )
        run.processing_params = {**params, "extract_batches": len(sizes)}
        run.save(update_fields=["processing_params"])
    for name, (_, archive_name) in prompting.TEMPLATES.items():
        interactions.write_prompt_archive(run.pk, archive_name, prompting.template_text(name))
    return run


def _insert_run_products(run_id: str, ids: list[int]) -> None:
    """The run's input rows, 10,000 per statement as one array parameter (no model instance per row)."""
    from django.db import connection

    table = RunProduct._meta.db_table
    with connection.cursor() as cursor:
        for part in chunks(ids, 10_000):
            if connection.vendor == "postgresql":
                cursor.execute(f'INSERT INTO "{table}" ("run_id", "product_id") SELECT %s, unnest(%s::bigint[])', [run_id, part])
            else:
                RunProduct.objects.bulk_create([RunProduct(run_id=run_id, product_id=pk) for pk in part])


def _existing_product_ids(ids: list[int]) -> list[int]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return list(Product.objects.filter(pk__in=ids).values_list("pk", flat=True))
    # One array parameter: an IN list of 10,000 placeholders costs more to build than to run.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "id" FROM "{Product._meta.db_table}" WHERE "id" = ANY(%s)', [ids])
        return [row[0] for row in cursor.fetchall()]


# What product_line adds around a product's own text at most: the label and ": ", the " | brand: "
# and " | details: " separators, an ellipsis (3 bytes) per cut field, and the line break.
_LINE_OVERHEAD_BYTES = 16 + 10 + 12 + 3 * 3 + 2


def _line_byte_bounds(ids: list[int]):
    """An upper bound of each product's prompt line in UTF-8 bytes, in id order, computed by the
    database (collapsing spaces and cutting long fields only ever make a line shorter)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        for line in _product_lines(ids):
            yield len(line.encode("utf-8")) + 2
        return
    table = Product._meta.db_table
    with connection.cursor() as cursor:
        for part in chunks(ids, 10_000):
            cursor.execute(
                f'SELECT octet_length(coalesce("title", \'\')) + octet_length(coalesce("brand", \'\')) '
                f'+ octet_length(coalesce("description", \'\')) FROM "{table}" WHERE "id" = ANY(%s) ORDER BY "id"',
                [part],
            )
            for (size,) in cursor.fetchall():
                yield size + _LINE_OVERHEAD_BYTES


def _product_rows(ids: list[int], *, first_pass_of_run: str | None = None):
    """(pk, title, brand, description) in id order, a chunk at a time (flat memory for big runs);
    with ``first_pass_of_run``, each row also carries the product's first-pass taxonomy id in
    that run (or None). On PostgreSQL one statement per chunk with the ids as one array parameter."""
    from django.db import connection

    for part in chunks(ids, CHUNK):
        if connection.vendor != "postgresql":
            rows = Product.objects.filter(pk__in=part).order_by("pk")
            if first_pass_of_run is not None:
                first = ProductSegment.objects.filter(run_id=first_pass_of_run, product_id=OuterRef("pk"))
                rows = rows.annotate(first=Subquery(first.values("taxonomy_id")[:1]))
                yield from rows.values_list("pk", "title", "brand", "description", "first")
            else:
                yield from rows.values_list("pk", "title", "brand", "description")
            continue
        product = Product._meta.db_table
        first_sql, params = "", [part]
        if first_pass_of_run is not None:
            first_sql = (f', (SELECT s."taxonomy_id" FROM "{ProductSegment._meta.db_table}" AS s '
                         f'WHERE s."run_id" = %s AND s."product_id" = p."id" LIMIT 1)')
            params = [first_pass_of_run, part]
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT p."id", p."title", p."brand", p."description"{first_sql} FROM "{product}" AS p '
                           f'WHERE p."id" = ANY(%s) ORDER BY p."id"', params)
            yield from cursor.fetchall()


def _product_lines(ids: list[int]):
    for pk, title, brand, description in _product_rows(ids):
        yield prompting.product_line("P_0", title, brand, description)


def _batch_sizes(ids: list[int], *, context_window: int, max_output_tokens: int, max_per_batch: int) -> list[int]:
    """``calculate_optimal_batch_sizes`` over the products' token counts, without tokenizing every product.

    A line never has more tokens than UTF-8 bytes (each token is at least one byte), so the
    byte lengths are an upper bound. When batching with the upper bounds is never cut by the
    context budget (the usual case: batches are capped by ``max_per_batch``), batching with the
    exact counts gives the very same batches, so the tokenizer runs only when it could matter.
    """
    options = dict(output_tokens_per_product=OUTPUT_TOKENS_PER_PRODUCT, max_output_tokens=max_output_tokens,
                   max_per_batch=max_per_batch)
    template = prompting.template_text("extract")
    bounds = list(_line_byte_bounds(ids))
    sizes = calculate_optimal_batch_sizes(context_window, bounds, **options,
                                          prompt_overhead_tokens=len(template.encode("utf-8")) + 200)
    cap = min(max_per_batch, max(1, max_output_tokens // OUTPUT_TOKENS_PER_PRODUCT))
    if all(size == cap for size in sizes[:-1]):
        return sizes
    return calculate_optimal_batch_sizes(context_window, [tokens.count_text(line) + 2 for line in _product_lines(ids)],
                                         **options, prompt_overhead_tokens=tokens.count_text(template) + 200)


# --------------------------------------------------------------------------- claiming work


# In the models' field order: Model.from_db takes a partial row in that order.
_CLAIM_BATCH_FIELDS = ("id", "run_id", "stage", "index", "product_ids", "status", "claimed_by", "first_pass", "attempts",
                       "started_at")
_CLAIM_RUN_FIELDS = ("id", "owner_id", "category_name", "status", "stage", "model_config", "processing_params",
                     "total_products", "created_at")
_JSON_FIELDS = {"product_ids", "first_pass", "model_config", "processing_params"}


def claim(batch_id: int, token: str) -> SegmentationBatch | None:
    """Claim a pending batch (or re-enter one this same task id claimed before a redelivery).

    One round trip: a conditional UPDATE joined with the run (which must be running) that
    returns the batch and the run fields the work needs. Rows are built with ``from_db``, so
    any other field (the owner's too) is loaded lazily if something asks for it.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    now = timezone.now()
    if connection.vendor != "postgresql":  # SQLite's RETURNING cannot name the joined run
        mine = Q(status=Batch.Status.PENDING) | Q(status=Batch.Status.RUNNING, claimed_by=token)
        updated = Batch.objects.filter(mine, pk=batch_id, run__status=Run.Status.RUNNING).update(
            status=Batch.Status.RUNNING, claimed_by=token, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)
        return Batch.objects.select_related("run", "run__owner").get(pk=batch_id) if updated else None
    returning = ", ".join([f'b."{f}"' for f in _CLAIM_BATCH_FIELDS] + [f'r."{f}"' for f in _CLAIM_RUN_FIELDS])
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{Batch._meta.db_table}" AS b SET "status" = %s, "claimed_by" = %s, "attempts" = b."attempts" + 1, '
            f'"started_at" = %s, "heartbeat_at" = %s FROM "{Run._meta.db_table}" AS r '
            f'WHERE b."id" = %s AND r."id" = b."run_id" AND r."status" = %s '
            f'AND (b."status" = %s OR (b."status" = %s AND b."claimed_by" = %s)) RETURNING {returning}',
            [Batch.Status.RUNNING, token, now, now, batch_id, Run.Status.RUNNING, Batch.Status.PENDING,
             Batch.Status.RUNNING, token],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    names = [*_CLAIM_BATCH_FIELDS, *(f"run.{f}" for f in _CLAIM_RUN_FIELDS)]
    values = {name: (json.loads(v) if name.split(".")[-1] in _JSON_FIELDS and isinstance(v, str) else v)
              for name, v in zip(names, row)}
    run = Run.from_db(connection.alias, list(_CLAIM_RUN_FIELDS), [values[f"run.{f}"] for f in _CLAIM_RUN_FIELDS])
    run.owner = get_user_model().from_db(connection.alias, ["id"], [run.owner_id])
    batch = Batch.from_db(connection.alias, list(_CLAIM_BATCH_FIELDS), [values[f] for f in _CLAIM_BATCH_FIELDS])
    batch.run = run
    return batch


def _release(batch: SegmentationBatch) -> None:
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING, claimed_by=batch.claimed_by).update(
        status=Batch.Status.PENDING, claimed_by=""
    )


def _check_active(run: SegmentationRun) -> None:
    status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    if status != Run.Status.RUNNING:
        raise RunStopped(status or "deleted")


def process_batch(batch_id: int, token: str) -> str:
    """Do one batch. Returns done, skipped, stopped, waiting or failed."""
    return run_one(batch_id, token)


def run_one(batch_id: int, token: str, *, start: Callable[[list[int]], Any] | None = None) -> str:
    """Claim and do one batch. With ``start``, a batch that ends its stage moves the run on and
    hands the next stage's batch ids to ``start`` (the Celery task enqueues them). Returns done,
    skipped, stopped, waiting or failed."""
    batch = claim(batch_id, token)
    if batch is None:
        return "skipped"
    with heartbeat.beating(batch.pk, token):
        outcome = _process(batch)
    if outcome != "done" or start is None:
        return outcome
    # Cheap common case: other batches of this stage are still unfinished (one indexed EXISTS).
    if batch.stage != Stage.CONSOLIDATE and (
        Batch.objects.filter(run_id=batch.run_id, stage=batch.stage).exclude(status=Batch.Status.DONE).exists()
    ):
        return outcome
    next_ids = advance(batch.run_id)
    if batch.stage == Stage.CONSOLIDATE:
        next_ids = next_ids + pending_batches(batch.run_id)
    if next_ids:
        start(next_ids)
        # The finished stage's calls go into the interaction index once the next stage is under
        # way, not before (finalize, failures and resumes index too; this is idempotent).
        index_interactions(batch.run)
    return outcome


def _process(batch: SegmentationBatch) -> str:
    run = batch.run
    done = False
    try:
        if batch.stage == Stage.EXTRACT:
            _extract(run, batch)
        elif batch.stage == Stage.CONSOLIDATE:
            _consolidate(run, batch, batch.claimed_by)
        else:
            _refine(run, batch)
        done = True
        return "done"
    except RunStopped:
        _release(batch)
        return "stopped"
    except ManualAnswerPending:
        _release(batch)
        Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(status=Run.Status.WAITING_MANUAL)
        return "waiting"
    except Exception as exc:  # the run records why; the task logs the traceback
        if not isinstance(exc, LLMError):
            logger.exception("Segmentation %s %s batch %s failed", run.pk, batch.stage, batch.index)
        message = f"{batch.get_stage_display()}, batch {batch.index}: {exc}"
        Batch.objects.filter(pk=batch.pk, claimed_by=batch.claimed_by).update(
            status=Batch.Status.FAILED, error=message[:5000], claimed_by=""
        )
        Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
            status=Run.Status.FAILED, error=message[:5000] + " Resume the run to try again.", updated_at=timezone.now()
        )
        return "failed"
    finally:
        # A finished batch's calls are indexed when its stage ends (one query per stage, not per
        # batch); a stopped or failed one's right away, so its attempts show on the run page.
        if not done:
            index_interactions(run, since=batch.started_at)


def _finish(batch: SegmentationBatch, result: dict, *, processed: int = 0) -> bool:
    """Mark the batch done if this task still holds it (and count ``processed`` products on the run,
    in the same statement); False when the claim was lost."""
    from django.db import connection

    if not processed or connection.vendor != "postgresql":  # SQLite has no UPDATE inside WITH
        if processed:
            Run.objects.filter(pk=batch.run_id).update(processed_products=F("processed_products") + processed,
                                                        updated_at=timezone.now())
        return bool(
            Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING, claimed_by=batch.claimed_by).update(
                status=Batch.Status.DONE, result=result, error="", finished_at=timezone.now()
            )
        )
    ctes, params = _done_ctes(batch, result, processed)
    with connection.cursor() as cursor:
        cursor.execute(f'WITH {ctes} SELECT count(*) FROM done', params)
        return cursor.fetchone()[0] == 1


def _done_ctes(batch: SegmentationBatch, result: dict, processed: int) -> tuple[str, list]:
    """``done``: the batch marked done if this task still holds its claim (its run id, or no row);
    ``counted``: the run's processed count moved on by ``processed`` if it was. PostgreSQL runs
    both exactly once whatever the main statement reads, all in one statement."""
    now = timezone.now()
    return (
        f'done AS (UPDATE "{Batch._meta.db_table}" SET "status" = %s, "result" = %s, "error" = \'\', '
        f'"finished_at" = %s WHERE "id" = %s AND "status" = %s AND "claimed_by" = %s RETURNING "run_id"), '
        f'counted AS (UPDATE "{Run._meta.db_table}" SET "processed_products" = "processed_products" + %s, '
        f'"updated_at" = %s WHERE "id" IN (SELECT "run_id" FROM done))',
        [Batch.Status.DONE, json.dumps(result), now, batch.pk, Batch.Status.RUNNING, batch.claimed_by, processed, now],
    )


# --------------------------------------------------------------------------- asking with retries


@dataclass
class Collected:
    assigned: dict = field(default_factory=dict)  # label -> payload
    groups: dict = field(default_factory=dict)  # casefolded name -> {"name", "definition"}
    unknown: list = field(default_factory=list)
    duplicates: int = 0
    retries: int = 0
    problems: list = field(default_factory=list)


def _ask(run: SegmentationRun, *, stage: str, batch_no: int | None, prompt: str, labels: list[str],
         schema_for: Callable[[list[str]], Any], read: Callable[[dict, Collected], list[tuple[str, Any]]],
         better: Callable[[Any, Any], bool] | None = None, context: dict | None = None) -> Collected:
    """Ask once, then re-ask (shared retry prompt) for the labels still missing, up to MAX_RETRIES.

    ``read`` turns one answer into (label, payload) pairs (and records any named groups);
    labels outside the prompt are logged and ignored; a label seen twice keeps the first
    payload unless ``better`` prefers the new one.
    """
    config = run.model_config
    wanted = list(labels)
    known = set(labels)
    got = Collected()
    messages = [{"role": "user", "content": prompt}]
    interaction_type = INTERACTION_TYPES[stage]
    for round_no in range(conf.max_retries() + 1):
        if round_no or stage == Stage.CONSOLIDATE:  # the claim has just checked the run for the first round
            _check_active(run)
        problem = ""
        try:
            result = complete(
                purpose=f"segmentation.{interaction_type}", messages=messages, schema=schema_for(wanted),
                provider=config.get("provider") or None, model=config.get("model") or None,
                temperature=config.get("temperature"), user=run.owner, run=run.pk, interaction_type=interaction_type,
                batch=batch_no, context={**(context or {}), "category": run.category_name, "expected_ids": wanted,
                                         "round": round_no + 1},
                template_version=prompting.VERSION, cache=not config.get("fresh", False),
            )
            text, data = result.text, result.parsed.model_dump()
        except LLMTruncatedError as exc:
            text, data, problem = exc.partial_text, prompting.salvage(exc.partial_text), "your answer was cut off."
        except LLMInvalidOutputError as exc:
            text, data, problem = exc.last_text, prompting.salvage(exc.last_text), "your answer was not valid JSON."
        for label, payload in read(data, got):
            if label not in known:
                got.unknown.append(label)
                logger.warning("Segmentation %s %s b%s: ignored unknown id %r", run.pk, stage, batch_no, label)
            elif label in got.assigned:
                got.duplicates += 1
                if better is not None and better(payload, got.assigned[label]):
                    got.assigned[label] = payload
            else:
                got.assigned[label] = payload
        wanted = [label for label in labels if label not in got.assigned]
        if not wanted:
            break
        if round_no == conf.max_retries():
            break
        got.retries += 1
        missing_note = f"{len(wanted)} id(s) were missing or unusable."
        got.problems.append(problem or missing_note)
        messages = messages + [
            {"role": "assistant", "content": text or "(no answer)"},
            {"role": "user", "content": prompting.render("retry", problem=problem or missing_note, missing_ids=", ".join(wanted))},
        ]
    return got


def _items(data: dict, key: str) -> list[dict]:
    value = data.get(key) if isinstance(data, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value, limit: int) -> str:
    return prompting.one_line(value, limit) if isinstance(value, str) else ""


def _confidence(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return min(1.0, max(0.0, number)) if math.isfinite(number) else None


# --------------------------------------------------------------------------- stage 1: extract


def _extract(run: SegmentationRun, batch: SegmentationBatch) -> None:
    rows = list(_product_rows(batch.product_ids))
    label_of = {pk: f"P_{n}" for n, (pk, *_rest) in enumerate(rows, 1)}
    pk_of = {label: pk for pk, label in label_of.items()}
    lines = "\n".join(prompting.product_line(label_of[pk], title, brand, desc) for pk, title, brand, desc in rows)
    prompt = prompting.render("extract", category=run.category_name, max_segments=MAX_SEGMENTS, products=lines)

    def read(data: dict, got: Collected):
        for seg in _items(data, "segments"):
            name = _text(seg.get("name"), 200)
            if name and name.casefold() not in got.groups:
                got.groups[name.casefold()] = {"name": name, "definition": _text(seg.get("definition"), 1000)}
        pairs = []
        for item in _items(data, "assignments"):
            label, segment = item.get("product_id"), _text(item.get("segment"), 200)
            if isinstance(label, str) and segment.casefold() in got.groups:
                pairs.append((label, [got.groups[segment.casefold()]["name"], _confidence(item.get("confidence"))]))
        return pairs

    got = _ask(run, stage=Stage.EXTRACT, batch_no=batch.index, prompt=prompt, labels=list(pk_of),
               schema_for=prompting.extract_schema, read=read, better=lambda new, old: (new[1] or 0) > (old[1] or 0),
               context={"batch_size": len(rows), "batch_products": [r[1][:100] for r in rows]})
    used = {payload[0].casefold() for payload in got.assigned.values()}
    result = {
        "segments": [g for key, g in got.groups.items() if key in used],
        "assignments": {str(pk_of[label]): payload for label, payload in got.assigned.items()},
        "unassigned": [pk_of[label] for label in pk_of if label not in got.assigned],
        "unknown_ids": got.unknown, "duplicates": got.duplicates, "retries": got.retries,
    }
    if not _finish(batch, result):
        raise RunStopped("claim lost")


# --------------------------------------------------------------------------- stage 2: consolidate


def _consolidate(run: SegmentationRun, claim_batch: SegmentationBatch, token: str) -> list[int]:
    """Consolidate the batch taxonomies (hierarchically past TAXONOMIES_PER_CONSOLIDATION), then
    write the taxonomy rows, the first-pass segments and the refine batches in one transaction."""
    extract_batches = Batch.objects.filter(run=run, stage=Stage.EXTRACT).order_by("index")
    per_call = run.processing_params.get("taxonomies_per_consolidation") or conf.taxonomies_per_consolidation()
    # Each taxonomy is a list of {"name", "definition"}; maps[level][taxonomy][name_cf] -> output name.
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
        for n, result in _consolidate_calls(run, todo, single_call):
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

    def final_name(taxonomy_index: int, name: str) -> str | None:
        for level_maps in maps:
            target = level_maps[taxonomy_index].get(name.casefold()) if taxonomy_index < len(level_maps) else None
            if target is None:
                return None
            name = target
            taxonomy_index //= per_call
        return name

    _check_active(run)
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
                    target = final_name(taxonomy_index, name) if name else None
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
        if not _finish(claim_batch, {"segments": len(final), "calls": call_no, **stats}):
            raise RunStopped("claim lost")
        Run.objects.filter(pk=run.pk).update(stage=Stage.REFINE, updated_at=timezone.now())
    return refine


def _consolidate_calls(run: SegmentationRun, todo: list[tuple[int, list]], single_call: bool):
    """The consolidation calls of one level, side by side (SEGMENTATION_CONCURRENCY at a time)."""
    workers = min(conf.concurrency(), len(todo))
    if workers <= 1:
        return [(n, _consolidate_call(run, group, None if single_call else n)) for n, group in todo]
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def one(item):
        n, group = item
        try:
            return n, _consolidate_call(run, group, n)
        finally:
            connection.close()

    # New threads start with empty context variables: hand them this task's (its request id,
    # ops/context.py, so the calls' LLMQuery rows and log lines still group under the user action).
    import contextvars

    parent = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: parent.copy().run(one, item), todo))


def _consolidate_call(run: SegmentationRun, group: list[list[dict]], batch_no: int | None) -> dict:
    """One consolidation prompt over a group of taxonomies: {"segments": [...], "maps": [per taxonomy]}."""
    inputs: list[dict] = []  # unique by casefolded name, first definition wins
    index_of: dict[str, int] = {}
    for taxonomy in group:
        for seg in taxonomy:
            key = seg["name"].casefold()
            if key not in index_of:
                index_of[key] = len(inputs)
                inputs.append(seg)
    labels = [f"T_{n}" for n in range(1, len(inputs) + 1)]
    lines = "\n".join(f"{label}: {s['name']} - {s['definition']}" for label, s in zip(labels, inputs))
    prompt = prompting.render("consolidate", category=run.category_name, max_segments=MAX_SEGMENTS, segments=lines or "(none)")

    def read(data: dict, got: Collected):
        pairs = []
        for seg in _items(data, "segments"):
            name = _text(seg.get("name"), 200)
            if not name:
                continue
            got.groups.setdefault(name.casefold(), {"name": name, "definition": _text(seg.get("definition"), 1000)})
            canonical = got.groups[name.casefold()]["name"]
            ids = seg.get("merged_ids")
            for label in ids if isinstance(ids, list) else []:
                if isinstance(label, str):
                    pairs.append((label, canonical))
        return pairs

    if inputs:
        got = _ask(run, stage=Stage.CONSOLIDATE, batch_no=batch_no, prompt=prompt, labels=labels,
                   schema_for=prompting.consolidate_schema, read=read, context={"taxonomies": len(group)})
    else:
        got = Collected()
    # An input segment the model never placed keeps its own name: its products are not dropped.
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


# --------------------------------------------------------------------------- stage 3: refine


@dataclass(frozen=True)
class _Taxonomy:
    real: tuple  # ProductTaxonomy rows except Unassigned, by position
    unassigned: ProductTaxonomy
    s_label: dict  # taxonomy pk -> "S_<position>"
    segment_lines: str


_taxonomies: dict[str, _Taxonomy] = {}


def _taxonomy(run: SegmentationRun) -> _Taxonomy:
    """The run's final taxonomy, read once per process: it is fixed once the refine stage runs
    (consolidation writes it and the refine batches in one transaction)."""
    key = f"{run.pk}:{run.created_at.isoformat() if run.created_at else ''}"
    found = _taxonomies.get(key)
    if found is None:
        taxa = list(ProductTaxonomy.objects.filter(run=run).order_by("position"))
        real = tuple(t for t in taxa if not t.is_unassigned)
        found = _Taxonomy(real=real, unassigned=next(t for t in taxa if t.is_unassigned),
                          s_label={t.pk: f"S_{t.position}" for t in real},
                          segment_lines="\n".join(f"S_{t.position}: {t.category_name} - {t.definition}" for t in real))
        if len(_taxonomies) > 32:
            _taxonomies.clear()
        _taxonomies[key] = found
    return found


def _refine(run: SegmentationRun, batch: SegmentationBatch) -> None:
    taxonomy = _taxonomy(run)
    real, unassigned, s_label = taxonomy.real, taxonomy.unassigned, taxonomy.s_label
    taxon_of_label = {label: pk for pk, label in s_label.items()}
    # The first-pass taxonomy of each product: handed over by consolidation with the batch (a
    # batch made before that, by an older version, reads the rows consolidation wrote then).
    first_pass = batch.first_pass if len(batch.first_pass or ()) == len(batch.product_ids) else None
    rows, first = [], {}
    if first_pass is not None:
        first = {pk: taxon for pk, (taxon, _confidence) in zip(batch.product_ids, first_pass)}
        rows = list(_product_rows(batch.product_ids))
    else:
        for pk, title, brand, desc, taxon in _product_rows(batch.product_ids, first_pass_of_run=run.pk):
            rows.append((pk, title, brand, desc))
            first[pk] = taxon
    label_of = {pk: f"P_{n}" for n, (pk, *_rest) in enumerate(rows, 1)}
    pk_of = {label: pk for pk, label in label_of.items()}
    segment_lines = taxonomy.segment_lines
    product_lines = "\n".join(
        prompting.product_line(label_of[pk], title, brand, desc, extra=f"provisional: {s_label.get(first.get(pk), 'none')}")
        for pk, title, brand, desc in rows
    )
    prompt = prompting.render("refine", category=run.category_name, segments=segment_lines, products=product_lines)
    segment_labels = [s_label[t.pk] for t in real]

    def read(data: dict, got: Collected):
        pairs = []
        for item in _items(data, "assignments"):
            label, segment = item.get("product_id"), item.get("segment_id")
            if isinstance(label, str) and segment in taxon_of_label:
                pairs.append((label, taxon_of_label[segment]))
            elif isinstance(label, str) and isinstance(segment, str):
                got.unknown.append(segment)
        return pairs

    if real:
        got = _ask(run, stage=Stage.REFINE, batch_no=batch.index, prompt=prompt, labels=list(pk_of),
                   schema_for=lambda wanted: prompting.refine_schema(wanted, segment_labels), read=read,
                   context={"batch_size": len(rows), "segments": len(real)})
    else:
        got = Collected()
    refined = {pk_of[label]: taxon for label, taxon in got.assigned.items()}
    missing = [pk for pk in batch.product_ids if pk not in refined]
    changed = sum(1 for pk, taxon in refined.items() if first.get(pk) != taxon)
    batch.result = {"changed": changed, "unassigned": missing, "unknown_ids": got.unknown,
                    "duplicates": got.duplicates, "retries": got.retries}
    first_rows = ([(pk, taxon, confidence) for pk, (taxon, confidence) in zip(batch.product_ids, first_pass)]
                  if first_pass is not None else [])
    if not _finish_refine(batch, [(pk, refined.get(pk, unassigned.pk)) for pk in batch.product_ids], first_rows):
        raise RunStopped("claim lost")


def _finish_refine(batch: SegmentationBatch, pairs: list[tuple[int, int]],
                   first_rows: list[tuple[int, int, float | None]] = ()) -> bool:
    """Write a refine batch's (product, taxonomy) rows and its products' first-pass rows, mark it
    done and count its products on the run, all or nothing and only while this task still holds
    the claim; False when it was lost.

    On PostgreSQL that is one statement (the rows are written only if the batch's conditional
    UPDATE matched), instead of a transaction of five round trips. The refined rows are upserted
    and the first-pass rows kept when present, so a batch redone after a lost claim duplicates
    nothing.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        with transaction.atomic():
            _insert_first_pass(batch.run_id, list(first_rows))
            _upsert_refined(batch.run_id, pairs)
            if not _finish(batch, batch.result, processed=len(pairs)):
                raise RunStopped("claim lost")
        return True
    ctes, params = _done_ctes(batch, batch.result, len(pairs))
    first_cte = ""
    if first_rows:
        first_cte = (
            f', first_pass AS (INSERT INTO "{ProductSegment._meta.db_table}" ("run_id", "product_id", "taxonomy_id", '
            f'"confidence") SELECT done."run_id", f.p, f.t, f.c FROM done, '
            f'unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS f(p, t, c) ON CONFLICT DO NOTHING)'
        )
        params = params + [[r[0] for r in first_rows], [r[1] for r in first_rows], [r[2] for r in first_rows]]
    with connection.cursor() as cursor:
        cursor.execute(
            f'WITH {ctes}{first_cte} INSERT INTO "{RefinedProductSegment._meta.db_table}" ("run_id", "product_id", "taxonomy_id") '
            f'SELECT done."run_id", u.p, u.t FROM done, unnest(%s::bigint[], %s::bigint[]) AS u(p, t) '
            f'ON CONFLICT ("run_id", "product_id") DO UPDATE SET "taxonomy_id" = EXCLUDED."taxonomy_id" RETURNING 1',
            params + [[pk for pk, _ in pairs], [taxon for _, taxon in pairs]],
        )
        return len(cursor.fetchall()) == len(pairs)


def _insert_first_pass(run_id: str, rows: list[tuple[int, int, float | None]]) -> None:
    """(product, taxonomy, confidence) first-pass rows; a product already placed keeps its row."""
    from django.db import connection

    if not rows:
        return
    if connection.vendor != "postgresql":
        ProductSegment.objects.bulk_create(
            [ProductSegment(run_id=run_id, product_id=pk, taxonomy_id=taxon, confidence=conf_) for pk, taxon, conf_ in rows],
            ignore_conflicts=True,
        )
        return
    table = ProductSegment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("run_id", "product_id", "taxonomy_id", "confidence") '
            f'SELECT %s, p, t, c FROM unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS u(p, t, c) '
            f'ON CONFLICT DO NOTHING',
            [run_id, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        )


def _upsert_refined(run_id: str, pairs: list[tuple[int, int]]) -> None:
    """(product, taxonomy) rows of a refine batch, replacing any from an earlier try (the ORM
    path; on PostgreSQL ``_finish_refine`` does it in its one statement)."""
    RefinedProductSegment.objects.bulk_create(
        [RefinedProductSegment(run_id=run_id, product_id=pk, taxonomy_id=taxon) for pk, taxon in pairs],
        update_conflicts=True, unique_fields=["run", "product"], update_fields=["taxonomy"],
    )


# --------------------------------------------------------------------------- moving between stages


def advance(run_id: str) -> list[int]:
    """Move the run on when its current stage is finished; returns batch ids to start now.

    The stage change is a conditional UPDATE, so when several batches finish together exactly
    one caller moves the run on.
    """
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.status != Run.Status.RUNNING:
        return []
    unfinished = Batch.objects.filter(run=run, stage=run.stage).exclude(status=Batch.Status.DONE)
    if run.stage == Stage.EXTRACT:
        if unfinished.exists():
            return []
        with transaction.atomic():
            if not Run.objects.filter(pk=run.pk, stage=Stage.EXTRACT).update(stage=Stage.CONSOLIDATE, updated_at=timezone.now()):
                return []
            claim_batch, _ = Batch.objects.get_or_create(run=run, stage=Stage.CONSOLIDATE, index=0)
        return [claim_batch.pk]
    if run.stage == Stage.CONSOLIDATE:
        claim_batch, _ = Batch.objects.get_or_create(run=run, stage=Stage.CONSOLIDATE, index=0)
        return [claim_batch.pk] if claim_batch.status == Batch.Status.PENDING else []
    if run.stage == Stage.REFINE and not unfinished.exists():
        with transaction.atomic():
            if Run.objects.filter(pk=run.pk, stage=Stage.REFINE, status=Run.Status.RUNNING).update(stage=Stage.DONE):
                finalize(run)
    return []


def finalize(run: SegmentationRun) -> None:
    index_interactions(run)
    counts = dict(RefinedProductSegment.objects.filter(run=run).values_list("taxonomy").annotate(n=Count("id")))
    for taxon in ProductTaxonomy.objects.filter(run=run):
        n = counts.get(taxon.pk, 0)
        if taxon.is_unassigned and n == 0 and not ProductSegment.objects.filter(taxonomy=taxon).exists():
            taxon.delete()
        elif taxon.product_count != n:
            ProductTaxonomy.objects.filter(pk=taxon.pk).update(product_count=n)
    extract_unassigned = unknown = retries = duplicates = 0
    for stage, result in Batch.objects.filter(run=run).exclude(index=0, stage=Stage.CONSOLIDATE).values_list("stage", "result"):
        unknown += len(result.get("unknown_ids") or [])
        retries += result.get("retries") or 0
        duplicates += result.get("duplicates") or 0
        if stage == Stage.EXTRACT:
            extract_unassigned += len(result.get("unassigned") or [])
    refined = RefinedProductSegment.objects.filter(run=run)
    changed = _changed_count(run)
    calls = run_queries(run)
    totals = calls.aggregate(cost=Sum("cost_usd"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"))
    summary = {
        "products": run.total_products,
        "refined_products": refined.count(),
        "taxonomies": ProductTaxonomy.objects.filter(run=run, is_unassigned=False).count(),
        "unassigned": refined.filter(taxonomy__is_unassigned=True).count(),
        "unassigned_first_pass": ProductSegment.objects.filter(run=run, taxonomy__is_unassigned=True).count(),
        "extract_unassigned": extract_unassigned,
        "changed_in_refinement": changed,
        "unknown_ids_ignored": unknown,
        "duplicate_ids": duplicates,
        "retries": retries,
        "llm_calls": calls.count(),
        "llm_calls_ok": calls.filter(status=LLMQuery.Status.OK).count(),
        "input_tokens": totals["input_tokens"] or 0,
        "output_tokens": totals["output_tokens"] or 0,
        "cost_usd": str(totals["cost"]) if totals["cost"] is not None else None,
        "duration_s": round((timezone.now() - run.created_at).total_seconds(), 1),
    }
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=Run.Status.COMPLETED, result_summary=summary, finished_at=timezone.now(), updated_at=timezone.now(),
        processed_products=summary["refined_products"],
    )


def _changed_count(run: SegmentationRun) -> int:
    return with_first_pass(RefinedProductSegment.objects.filter(run=run)).exclude(taxonomy_id=F("first_taxonomy_id")).count()


def with_first_pass(refined):
    """Annotate refined rows with their first-pass taxonomy and confidence (one query, no dict in memory)."""
    first = ProductSegment.objects.filter(run_id=OuterRef("run_id"), product_id=OuterRef("product_id"))
    return refined.annotate(first_taxonomy_id=Subquery(first.values("taxonomy_id")[:1]),
                            first_confidence=Subquery(first.values("confidence")[:1]))


# --------------------------------------------------------------------------- cancel, resume, index


def cancel_run(run: SegmentationRun) -> bool:
    return bool(Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(
        status=Run.Status.CANCELLED, error="Cancelled.", finished_at=timezone.now(), updated_at=timezone.now()
    ))


def resume_run(run: SegmentationRun, *, stale_only: bool = False) -> list[int]:
    """Put the run back to running and return the batch ids to (re)start. Finished batches are kept."""
    if run.status == Run.Status.COMPLETED:
        return []
    Run.objects.filter(pk=run.pk).exclude(status=Run.Status.COMPLETED).update(
        status=Run.Status.RUNNING, error="", finished_at=None, updated_at=timezone.now()
    )
    stuck = Batch.objects.filter(run=run, status__in=[Batch.Status.RUNNING, Batch.Status.FAILED])
    if stale_only:
        stuck = stuck.filter(Q(status=Batch.Status.FAILED) | _stale_q(stale_cutoff()))
    stuck.update(status=Batch.Status.PENDING, claimed_by="")
    return pending_batches(run.pk) or advance(run.pk)


def stale_cutoff():
    return timezone.now() - timedelta(seconds=conf.heartbeat_stale_seconds())


def quiet_cutoff():
    # Longer than a stale heartbeat: a run merely waiting in a busy queue is not pushed again and again.
    return timezone.now() - timedelta(seconds=max(3 * conf.heartbeat_stale_seconds(), 30))


def _stale_q(cutoff) -> Q:
    # Every claim sets heartbeat_at; started_at covers rows claimed before heartbeats existed.
    return Q(status=Batch.Status.RUNNING) & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))


def stale_run_ids() -> list[str]:
    """Running runs that need a push: a batch whose worker stopped beating, or no sign of life at all
    for a stale period (a dead worker's prefetched tasks, a stage that never advanced)."""
    cutoff = stale_cutoff()
    dead = Batch.objects.filter(_stale_q(cutoff), run__status=Run.Status.RUNNING).values_list("run_id", flat=True)
    quiet = Run.objects.filter(status=Run.Status.RUNNING, updated_at__lt=quiet_cutoff()).values_list("pk", flat=True)
    return sorted(set(dead) | set(quiet))


def resume_stale(run_id: str) -> list[int]:
    """Automatic resume of one run (worker restart, beat watchdog); returns the batch ids to enqueue.

    Batches of a dead worker go back to pending (finished ones are kept, and the llm cache
    answers calls that completed), at most SEGMENTATION_MAX_RESUMES times per run; after that
    the run fails with the reason instead of staying "running" for ever. A run with no stale
    batch but no sign of life for a stale period gets its pending batches sent again (a
    duplicate task finds its batch claimed and skips it): quiet means max(3 x stale, 30 s).
    Safe to call concurrently.
    """
    cutoff = stale_cutoff()
    with transaction.atomic():
        run = Run.objects.select_for_update(skip_locked=True).filter(pk=run_id, status=Run.Status.RUNNING).first()
        if run is None:
            return []
        batches = Batch.objects.filter(run=run)
        stale = batches.filter(_stale_q(cutoff))
        labels = [f"{stage} b{index}" for stage, index in stale.values_list("stage", "index")[:5]]
        now = timezone.now()
        if labels:
            limit = conf.max_resumes()
            if run.auto_resumes >= limit:
                reason = (f"Gave up after {run.auto_resumes} automatic resume(s) (SEGMENTATION_MAX_RESUMES={limit}): "
                          f"the worker running {', '.join(labels)} stopped again. Resume the run to try again.")
                stale.update(status=Batch.Status.FAILED, claimed_by="", error="The worker stopped answering.")
                Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED, error=reason, finished_at=now, updated_at=now)
                logger.error("Segmentation %s: %s", run.pk, reason)
                return []
            stale.update(status=Batch.Status.PENDING, claimed_by="")
            Run.objects.filter(pk=run.pk).update(auto_resumes=F("auto_resumes") + 1, updated_at=now)
            logger.warning("Segmentation %s: resuming %s left by a dead worker (automatic resume %s of %s)",
                           run.pk, ", ".join(labels), run.auto_resumes + 1, limit)
        elif run.updated_at >= quiet_cutoff() or batches.filter(
            Q(status=Batch.Status.RUNNING) | Q(finished_at__gte=quiet_cutoff())
        ).exists():
            return []  # alive: someone is working on it
        else:
            Run.objects.filter(pk=run.pk).update(updated_at=now)  # so the next look waits a stale period again
    return pending_batches(run_id) or advance(run_id)


def pending_batches(run_id: str) -> list[int]:
    """Ids of the current stage's batches waiting for a worker (not the consolidation call records)."""
    run = Run.objects.filter(pk=run_id).only("stage").first()
    if run is None:
        return []
    return list(
        Batch.objects.filter(run_id=run_id, stage=run.stage, status=Batch.Status.PENDING)
        .exclude(stage=Stage.CONSOLIDATE, index__gt=0).order_by("index").values_list("pk", flat=True)
    )


def run_queries(run: SegmentationRun, since=None):
    """The run's LLMQuery rows. Filtered by owner and time first: llm_query has a (user, created_at)
    index but none on run_id, and it is the biggest table of the house."""
    return LLMQuery.objects.filter(user_id=run.owner_id, created_at__gte=since or run.created_at, run_id=run.pk)


def index_interactions(run: SegmentationRun, since=None) -> int:
    """Index every LLMQuery of the run (each attempt, failures too) that is not indexed yet."""
    queries = run_queries(run, since).exclude(status=LLMQuery.Status.STARTED)
    if since is not None:
        queries = queries.exclude(pk__in=LLMInteractionIndex.objects.filter(run=run, created_at__gte=since).values("query_id"))
    else:
        queries = queries.exclude(pk__in=LLMInteractionIndex.objects.filter(run=run).values("query_id"))
    rows = [
        LLMInteractionIndex(
            run=run, interaction_type=itype, batch_id=batch, attempt=attempt, file_path=file_path,
            prompt_file=_prompt_file(run.pk, itype), cache_key=cache_key[:64], sha256=sha, status=status, query_id=pk,
        )
        for pk, itype, batch, attempt, file_path, cache_key, sha, status in queries.order_by("pk").values_list(
            "pk", "interaction_type", "batch", "attempt", "file_path", "cache_key", "file_sha256", "status")
    ]
    LLMInteractionIndex.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _prompt_file(run_id: str, interaction_type: str) -> str:
    name = PROMPT_OF_TYPE.get(interaction_type)
    return f"{interactions.ROOT}/{run_id}/prompts/{prompting.TEMPLATES[name][1]}.txt" if name else ""


# --------------------------------------------------------------------------- progress


def consolidation_calls(taxonomies: int, per_call: int) -> int:
    """How many consolidation prompts ``taxonomies`` batch taxonomies need (one per group, level by level)."""
    calls, n = 0, max(taxonomies, 1)
    while True:
        n = math.ceil(n / per_call)
        calls += n
        if n <= 1:
            return calls


def progress(run: SegmentationRun) -> dict:
    """Per-stage batch counts, overall percent, and an ETA from the observed batch rate."""
    counts: dict[tuple[str, str], int] = {}
    for stage, status, n in (Batch.objects.filter(run=run).exclude(stage=Stage.CONSOLIDATE, index=0)
                             .values_list("stage", "status").annotate(n=Count("id"))):
        counts[(stage, status)] = n

    def total(stage):
        return sum(n for (s, _), n in counts.items() if s == stage)

    def done(stage):
        return counts.get((stage, Batch.Status.DONE), 0)

    refine_size = run.processing_params.get("products_per_refinement") or conf.products_per_refinement()
    per_call = run.processing_params.get("taxonomies_per_consolidation") or conf.taxonomies_per_consolidation()
    expected_refine = math.ceil(run.total_products / max(1, refine_size)) if run.total_products else 0
    consolidate_done = run.stage in (Stage.REFINE, Stage.DONE)
    stages = [
        {"key": Stage.EXTRACT.value, "label": Stage.EXTRACT.label, "done": done(Stage.EXTRACT), "total": total(Stage.EXTRACT)},
        {"key": Stage.CONSOLIDATE.value, "label": Stage.CONSOLIDATE.label, "done": done(Stage.CONSOLIDATE),
         "total": max(total(Stage.CONSOLIDATE), consolidation_calls(total(Stage.EXTRACT), per_call)), "finished": consolidate_done},
        {"key": Stage.REFINE.value, "label": Stage.REFINE.label, "done": done(Stage.REFINE),
         "total": total(Stage.REFINE) or expected_refine},
    ]
    for s in stages:
        if s.pop("finished", False) or (s["total"] and s["done"] >= s["total"] and s["key"] != Stage.CONSOLIDATE):
            s["percent"] = 100.0
        else:
            s["percent"] = min(99.0, round(100.0 * s["done"] / s["total"], 1)) if s["total"] else 0.0
        s["current"] = run.stage == s["key"]
    if run.status == Run.Status.COMPLETED:
        percent = 100.0
    else:
        parts = [stages[0]["percent"], 100.0 if consolidate_done else 0.0, stages[2]["percent"]]
        percent = round((parts[0] * 0.45 + parts[1] * 0.1 + parts[2] * 0.45), 1)
    units_done = stages[0]["done"] + stages[1]["done"] + stages[2]["done"]
    units_left = sum(max(0, s["total"] - s["done"]) for s in stages)
    eta = None
    if run.is_active and units_done and units_left > 0:
        elapsed = (timezone.now() - run.created_at).total_seconds()
        eta = timezone.now() + timedelta(seconds=elapsed / units_done * units_left)
    elif run.status == Run.Status.COMPLETED:
        eta = run.finished_at
    return {"stages": stages, "progress_percent": percent, "estimated_completion": eta}


# --------------------------------------------------------------------------- in-process runner (the command)


def run_inline(run_id: str, *, workers: int | None = None, on_progress: Callable[[SegmentationRun], None] | None = None) -> SegmentationRun:
    """Run (or resume) a run in this process, ``workers`` batches at a time, until it stops."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    workers = workers or conf.concurrency()
    token = f"inline-{time.monotonic_ns()}"
    # One pool for the whole run: each thread keeps its database connection from batch to batch
    # (opening one per batch cost more than the batch's own queries) and closes it at the end.
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    def one(batch_id: int) -> str:
        return process_batch(batch_id, token)

    indexed_stage = None
    try:
        while True:
            run = Run.objects.get(pk=run_id)
            if run.status != Run.Status.RUNNING:
                break
            pending = pending_batches(run_id)
            # A lone batch (consolidation) runs in this thread: it may hold the caller's transaction.
            results = pool.map(one, pending) if pool and len(pending) > 1 else map(one, pending)
            if pending and run.stage != indexed_stage:
                # The calls of the stage before go into the index (while the new stage's batches run,
                # when they run in the pool).
                index_interactions(run)
                indexed_stage = run.stage
            for _ in results:
                if on_progress:
                    on_progress(Run.objects.get(pk=run_id))
            stage_before = run.stage
            advance(run_id)
            run.refresh_from_db()
            if run.stage == stage_before and not pending_batches(run_id):
                break
    finally:
        if pool:
            # Every thread closes its own connection: each close task waits at the barrier until
            # all threads hold one, so no thread can take two.
            barrier = threading.Barrier(workers)

            def close() -> None:
                try:
                    barrier.wait(timeout=30)
                finally:
                    connection.close()

            for future in [pool.submit(close) for _ in range(workers)]:
                try:
                    future.result()
                except threading.BrokenBarrierError:
                    pass
            pool.shutdown()
    run = Run.objects.get(pk=run_id)
    if on_progress:
        on_progress(run)
    return run
