"""A trigram index for the catalog's title search (``title__icontains``), on PostgreSQL only.

Django compiles ``icontains`` to ``UPPER("title"::text) LIKE UPPER('%…%')``, which no B-tree
index can serve; a pg_trgm GIN index on the same expression can. SQLite has no pg_trgm, and
a database role that may not create the extension keeps working, only with slower searches.
"""

import logging

from django.db import migrations, transaction

log = logging.getLogger(__name__)

INDEX = "product_title_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON products_product USING gin (UPPER(title::text) gin_trgm_ops)"
            )
    except Exception as exc:  # noqa: BLE001 - a missing extension only makes search slower
        log.warning("Title search index not created (%s); searches will scan the table.", exc)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("products", "0001_initial")]
    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
