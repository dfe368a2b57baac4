"""Storage: the pipeline's bulk reads and writes, one function per statement.

Raw PostgreSQL statements (array parameters, data-modifying CTEs) with an ORM path for SQLite
stay only where the ORM was more than 1.2x slower on bench/segmentation_sql_paths.py at the
shape of a 2,000-product run; each function says its figures. Two raw statements that no
caller reached on PostgreSQL (``finish`` counting products, ``insert_first_pass``) are gone:
``finish_refine`` does both inside its own statement there.
"""

import json

from django.db import connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from products.models import Product

from .. import prompting
from ..batching import chunks
from ..models import ProductSegment, RefinedProductSegment, RunProduct, SegmentationBatch
from .base import CHUNK, Batch, Run, RunStopped


def insert_run_products(run_id: str, ids: list[int]) -> None:
    """The run's input rows, 10,000 per statement as one array parameter (no model instance per row).

    Raw on PostgreSQL because bulk_create is 2.3x slower here: 111 ms against 259 ms for 2,000 rows
    (bench/segmentation_sql_paths.py, median of 100, 2 shared CPUs)."""
    table = RunProduct._meta.db_table
    with connection.cursor() as cursor:
        for part in chunks(ids, 10_000):
            if connection.vendor == "postgresql":
                cursor.execute(f'INSERT INTO "{table}" ("run_id", "product_id") SELECT %s, unnest(%s::bigint[])', [run_id, part])
            else:
                RunProduct.objects.bulk_create([RunProduct(run_id=run_id, product_id=pk) for pk in part])


def existing_product_ids(ids: list[int]) -> list[int]:
    if connection.vendor != "postgresql":
        return list(Product.objects.filter(pk__in=ids).values_list("pk", flat=True))
    # One array parameter: an IN list of 10,000 placeholders costs more to build than to run.
    # filter(pk__in) measured 1.22x to 3.75x this statement over three passes of
    # bench/segmentation_sql_paths.py at 2,000 ids (28.6 ms against 34.8 ms in the steadiest): past 1.2x, kept.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "id" FROM "{Product._meta.db_table}" WHERE "id" = ANY(%s)', [ids])
        return [row[0] for row in cursor.fetchall()]


# What product_line adds around a product's own text at most: the label and ": ", the " | brand: "
# and " | details: " separators, an ellipsis (3 bytes) per cut field, and the line break.
_LINE_OVERHEAD_BYTES = 16 + 10 + 12 + 3 * 3 + 2


def line_byte_bounds(ids: list[int]):
    """An upper bound of each product's prompt line in UTF-8 bytes, in id order, computed by the
    database (collapsing spaces and cutting long fields only ever make a line shorter).

    Raw on PostgreSQL: the ORM with an octet_length Func is 1.6x slower at 2,000 ids (33.7 ms against
    53.3 ms), building the lines as SQLite does 1.7x (bench/segmentation_sql_paths.py)."""
    if connection.vendor != "postgresql":
        for line in product_lines(ids):
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


def product_rows(ids: list[int], *, first_pass_of_run: str | None = None):
    """(pk, title, brand, description) in id order, a chunk at a time (flat memory for big runs);
    with ``first_pass_of_run``, each row also carries the product's first-pass taxonomy id in
    that run (or None). On PostgreSQL one statement per chunk with the ids as one array parameter:
    values_list(pk__in) is 1.7x slower for a batch of 40 (2.0 ms against 3.5 ms, 50 calls a run),
    with the first-pass Subquery 2.1x (bench/segmentation_sql_paths.py)."""
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


def product_lines(ids: list[int]):
    for pk, title, brand, description in product_rows(ids):
        yield prompting.product_line("P_0", title, brand, description)


def finish(batch: SegmentationBatch, result: dict, *, processed: int = 0) -> bool:
    """Mark the batch done if this task still holds it (and count ``processed`` products on the
    run); False when the claim was lost. ORM only: its PostgreSQL statement (the two updates as
    one data-modifying WITH) was never reached, as the one caller that counts products on
    PostgreSQL, ``finish_refine``, folds both updates into its own statement."""
    if processed:
        Run.objects.filter(pk=batch.run_id).update(processed_products=F("processed_products") + processed,
                                                    updated_at=timezone.now())
    return bool(
        Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING, claimed_by=batch.claimed_by).update(
            status=Batch.Status.DONE, result=result, error="", finished_at=timezone.now()
        )
    )


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


def finish_refine(batch: SegmentationBatch, pairs: list[tuple[int, int]],
                  first_rows: list[tuple[int, int, float | None]] = ()) -> bool:
    """Write a refine batch's (product, taxonomy) rows and its products' first-pass rows, mark it
    done and count its products on the run, all or nothing and only while this task still holds
    the claim; False when it was lost.

    On PostgreSQL that is one statement (the rows are written only if the batch's conditional
    UPDATE matched), instead of a transaction of five round trips. The refined rows are upserted
    and the first-pass rows kept when present, so a batch redone after a lost claim duplicates
    nothing. The ORM path (bulk_create(ignore_conflicts), bulk_create(update_conflicts=True), two
    QuerySet.update) is 2.0x slower: 12.1 ms against 24.0 ms per batch of 40, 50 batches a run
    (bench/segmentation_sql_paths.py), so the raw statement stays.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            insert_first_pass(batch.run_id, list(first_rows))
            upsert_refined(batch.run_id, pairs)
            if not finish(batch, batch.result, processed=len(pairs)):
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


def insert_first_pass(run_id: str, rows: list[tuple[int, int, float | None]]) -> None:
    """(product, taxonomy, confidence) first-pass rows; a product already placed keeps its row (the
    ORM path of ``finish_refine``; on PostgreSQL its one statement writes them)."""
    if rows:
        ProductSegment.objects.bulk_create(
            [ProductSegment(run_id=run_id, product_id=pk, taxonomy_id=taxon, confidence=conf_) for pk, taxon, conf_ in rows],
            ignore_conflicts=True,
        )


def upsert_refined(run_id: str, pairs: list[tuple[int, int]]) -> None:
    """(product, taxonomy) rows of a refine batch, replacing any from an earlier try (the ORM
    path; on PostgreSQL ``finish_refine`` does it in its one statement)."""
    RefinedProductSegment.objects.bulk_create(
        [RefinedProductSegment(run_id=run_id, product_id=pk, taxonomy_id=taxon) for pk, taxon in pairs],
        update_conflicts=True, unique_fields=["run", "product"], update_fields=["taxonomy"],
    )
