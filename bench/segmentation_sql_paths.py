"""Segmentation's raw PostgreSQL statements against their ORM equivalents (issue 23 §4).

Each of the pipeline's bulk reads and writes that had a raw statement and an ORM path for
SQLite is timed both ways, at the shape of a 2,000-product run (bench/segmentation_scale.py:
50 extract batches and 50 refine batches of 40 products, 2,000 run products), on PostgreSQL:
median wall time per call over ``--repeat`` calls (the variants called in turn, so a
shared machine's load falls on both alike), how often a 2,000-product run makes it, and
the ORM/raw ratio. Rule (issue 23): within 1.2x, the ORM path stays and the raw one goes; past
it, one raw path stays behind one small tested function in segmentation/pipeline/storage.py.

The raw statements are copied here as they were before the decision (the ones that were
deleted live on only here, so the comparison can be run again).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/llmplatform .venv/bin/python bench/segmentation_sql_paths.py [--repeat 40] [--tiny]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _admin(url: str, sql: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(sql)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=40, help="calls per path and variant (median printed)")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--tiny", action="store_true", help="80 products, 3 calls: does the script still run?")
    parser.add_argument("--db-url", default=None, help="a migrated scratch database to use as it is (kept); default: "
                        "DATABASE_URL's name + _sqlpaths, created and dropped")
    args = parser.parse_args(argv)
    if args.tiny:
        args.repeat, args.products = 3, 80
    base = args.db_url or os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        parser.error("set DATABASE_URL to a PostgreSQL URL (or pass --db-url)")
    url, name = args.db_url, None
    if url is None:
        parts = urlsplit(base)
        url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_sqlpaths"))
        name = urlsplit(url).path.lstrip("/")
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(url, f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        import django

        django.setup()
        return _measure(args)
    finally:
        from django.db import connections

        connections.close_all()
        if name:
            _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _measure(args) -> int:
    import json

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery, Value
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from products.models import Category, Product
    from segmentation.models import (
        ProductSegment,
        ProductTaxonomy,
        RefinedProductSegment,
        RunProduct,
        SegmentationBatch,
        SegmentationRun,
        Stage,
    )
    from segmentation.pipeline import storage

    Batch, Run = SegmentationBatch, SegmentationRun
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create(username=f"sqlpaths-{os.getpid()}")
    category = Category.objects.create(name=f"SQL paths {os.getpid()}")
    Product.objects.bulk_create([Product(title=f"Dimmer model {i}", brand=f"Brand{i % 7}", category=category,
                                         description=f"A dimmer for tests, number {i}.") for i in range(args.products)])
    ids = list(Product.objects.filter(category=category).order_by("pk").values_list("pk", flat=True))
    batch_ids = ids[:40]
    runs = iter(range(1_000_000))

    def new_run() -> SegmentationRun:
        run = Run.objects.create(id=f"RUN_SQL_{os.getpid()}_{next(runs)}", owner=user, category_name="Dimmers", stage=Stage.REFINE)
        return run

    def timed(fns, setup=lambda: None) -> list[float]:
        """Median ms per call of each of ``fns``, called in turn (raw, ORM, raw, ORM...) so that
        every variant sees the same load on a shared machine."""
        times = [[] for _ in fns]
        for _ in range(args.repeat):
            for n, fn in enumerate(fns):
                state = setup()
                t0 = time.perf_counter()
                fn(state)
                times[n].append(time.perf_counter() - t0)
        return [statistics.median(t) * 1000 for t in times]

    # --- the variants -------------------------------------------------------------------------

    def run_products_raw(run):
        with connection.cursor() as cursor:
            cursor.execute(f'INSERT INTO "{RunProduct._meta.db_table}" ("run_id", "product_id") '
                           f'SELECT %s, unnest(%s::bigint[])', [run.pk, ids])

    def run_products_orm(run):
        RunProduct.objects.bulk_create([RunProduct(run_id=run.pk, product_id=pk) for pk in ids])

    def existing_raw(_):
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT "id" FROM "{Product._meta.db_table}" WHERE "id" = ANY(%s)', [ids])
            return [row[0] for row in cursor.fetchall()]

    def existing_orm(_):
        return list(Product.objects.filter(pk__in=ids).values_list("pk", flat=True))

    def bounds_raw(_):
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT octet_length(coalesce("title", \'\')) + octet_length(coalesce("brand", \'\')) '
                f'+ octet_length(coalesce("description", \'\')) FROM "{Product._meta.db_table}" WHERE "id" = ANY(%s) '
                f'ORDER BY "id"', [ids])
            return [size for (size,) in cursor.fetchall()]

    def octets(field):
        return Func(Coalesce(F(field), Value("")), function="octet_length", output_field=IntegerField())

    def bounds_orm(_):
        return list(Product.objects.filter(pk__in=ids).order_by("pk")
                    .annotate(n=octets("title") + octets("brand") + octets("description")).values_list("n", flat=True))

    def bounds_python(_):  # the SQLite path: every prompt line built and measured
        from segmentation import prompting

        return [len(prompting.product_line("P_0", t, b, d).encode("utf-8")) + 2
                for t, b, d in Product.objects.filter(pk__in=ids).order_by("pk").values_list("title", "brand", "description")]

    def rows_raw(_):
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT p."id", p."title", p."brand", p."description" FROM "{Product._meta.db_table}" AS p '
                           f'WHERE p."id" = ANY(%s) ORDER BY p."id"', [batch_ids])
            return cursor.fetchall()

    def rows_orm(_):
        return list(Product.objects.filter(pk__in=batch_ids).order_by("pk").values_list("pk", "title", "brand", "description"))

    first_run = new_run()
    taxon = ProductTaxonomy.objects.create(run=first_run, position=1, category_name="Rotary")
    ProductSegment.objects.bulk_create([ProductSegment(run=first_run, product_id=pk, taxonomy=taxon) for pk in batch_ids])

    def first_rows_raw(_):
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT p."id", p."title", p."brand", p."description", (SELECT s."taxonomy_id" FROM '
                           f'"{ProductSegment._meta.db_table}" AS s WHERE s."run_id" = %s AND s."product_id" = p."id" LIMIT 1) '
                           f'FROM "{Product._meta.db_table}" AS p WHERE p."id" = ANY(%s) ORDER BY p."id"',
                           [first_run.pk, batch_ids])
            return cursor.fetchall()

    def first_rows_orm(_):
        first = ProductSegment.objects.filter(run_id=first_run.pk, product_id=OuterRef("pk"))
        return list(Product.objects.filter(pk__in=batch_ids).order_by("pk")
                    .annotate(first=Subquery(first.values("taxonomy_id")[:1]))
                    .values_list("pk", "title", "brand", "description", "first"))

    claim_run = Run.objects.create(id=f"RUN_SQL_CLAIM_{os.getpid()}", owner=user, category_name="Dimmers")
    claim_batch = Batch.objects.create(run=claim_run, stage=Stage.EXTRACT, index=1, product_ids=batch_ids)

    def pending():
        Batch.objects.filter(pk=claim_batch.pk).update(status=Batch.Status.PENDING, claimed_by="")

    fields_b = ("id", "run_id", "stage", "index", "product_ids", "status", "claimed_by", "first_pass", "attempts", "started_at")
    fields_r = ("id", "owner_id", "category_name", "status", "stage", "model_config", "processing_params",
                "total_products", "created_at")

    def claim_raw(_):
        now = timezone.now()
        returning = ", ".join([f'b."{f}"' for f in fields_b] + [f'r."{f}"' for f in fields_r])
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{Batch._meta.db_table}" AS b SET "status" = %s, "claimed_by" = %s, "attempts" = b."attempts" + 1, '
                f'"started_at" = %s, "heartbeat_at" = %s FROM "{Run._meta.db_table}" AS r '
                f'WHERE b."id" = %s AND r."id" = b."run_id" AND r."status" = %s '
                f'AND (b."status" = %s OR (b."status" = %s AND b."claimed_by" = %s)) RETURNING {returning}',
                [Batch.Status.RUNNING, "t", now, now, claim_batch.pk, Run.Status.RUNNING, Batch.Status.PENDING,
                 Batch.Status.RUNNING, "t"])
            row = cursor.fetchone()
        values = dict(zip([*fields_b, *(f"run.{f}" for f in fields_r)], row))
        run = Run.from_db(connection.alias, list(fields_r), [values[f"run.{f}"] for f in fields_r])
        batch = Batch.from_db(connection.alias, list(fields_b), [values[f] for f in fields_b])
        batch.run = run
        return batch

    def claim_orm(_):
        now = timezone.now()
        mine = Q(status=Batch.Status.PENDING) | Q(status=Batch.Status.RUNNING, claimed_by="t")
        updated = Batch.objects.filter(mine, pk=claim_batch.pk, run__status=Run.Status.RUNNING).update(
            status=Batch.Status.RUNNING, claimed_by="t", attempts=F("attempts") + 1, started_at=now, heartbeat_at=now)
        return Batch.objects.select_related("run", "run__owner").get(pk=claim_batch.pk) if updated else None

    def refine_setup():
        run = new_run()
        taxa = ProductTaxonomy.objects.create(run=run, position=1, category_name="Rotary")
        batch = Batch.objects.create(run=run, stage=Stage.REFINE, index=1, product_ids=batch_ids, status=Batch.Status.RUNNING,
                                     claimed_by="t", result={"changed": 0})
        return batch, [(pk, taxa.pk) for pk in batch_ids], [(pk, taxa.pk, 0.9) for pk in batch_ids]

    def refine_raw(state):
        batch, pairs, first_rows = state
        assert storage.finish_refine(batch, pairs, first_rows) if connection.vendor == "postgresql" else True

    def refine_orm(state):
        batch, pairs, first_rows = state
        with transaction.atomic():
            ProductSegment.objects.bulk_create(
                [ProductSegment(run_id=batch.run_id, product_id=pk, taxonomy_id=t, confidence=c) for pk, t, c in first_rows],
                ignore_conflicts=True)
            RefinedProductSegment.objects.bulk_create(
                [RefinedProductSegment(run_id=batch.run_id, product_id=pk, taxonomy_id=t) for pk, t in pairs],
                update_conflicts=True, unique_fields=["run", "product"], update_fields=["taxonomy"])
            Run.objects.filter(pk=batch.run_id).update(processed_products=F("processed_products") + len(pairs),
                                                        updated_at=timezone.now())
            assert Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING, claimed_by="t").update(
                status=Batch.Status.DONE, result=json.loads(json.dumps(batch.result)), error="", finished_at=timezone.now())

    n_extract = n_refine = args.products // 40
    paths = [
        (f"insert_run_products ({args.products:,} rows)", 1, run_products_raw, {"bulk_create": run_products_orm}, lambda: new_run()),
        (f"existing_product_ids ({args.products:,} ids)", 1, existing_raw, {"filter(pk__in)": existing_orm}, lambda: None),
        (f"line_byte_bounds ({args.products:,} ids)", 1, bounds_raw, {"annotate(octet_length)": bounds_orm,
                                                           "SQLite path (build lines)": bounds_python}, lambda: None),
        ("product_rows (40 ids)", n_extract, rows_raw, {"values_list": rows_orm}, lambda: None),
        ("product_rows + first pass (40 ids)", 0, first_rows_raw, {"Subquery": first_rows_orm}, lambda: None),
        ("claim (1 batch)", n_extract + n_refine + 1, claim_raw, {"update + get": claim_orm}, pending),
        ("finish_refine (40 + 40 rows)", n_refine, refine_raw, {"bulk_create x2 + update x2": refine_orm}, refine_setup),
    ]
    print(f"PostgreSQL {connection.pg_version}; {args.products:,} products, median of {args.repeat} calls; "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'statement':40} {'calls/run':>9} {'raw ms':>8} {'ORM ms':>8} {'ORM/raw':>8}  {'per run: raw -> ORM'}")
    for label, calls, raw, orms, setup in paths:
        for variant, orm in orms.items():
            raw_ms, orm_ms = timed([raw, orm], setup)
            verdict = "ORM" if orm_ms <= 1.2 * raw_ms else "keep raw"
            print(f"{label:40} {calls:>9} {raw_ms:>8.2f} {orm_ms:>8.2f} {orm_ms / raw_ms:>7.2f}x  "
                  f"{raw_ms * calls:.1f} -> {orm_ms * calls:.1f} ms  [{variant}: {verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
