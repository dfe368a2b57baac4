import csv

from django.core.management.base import BaseCommand, CommandError

from products.importing import MissingColumns, ProductImporter


class Command(BaseCommand):
    help = (
        "Import products from a CSV file with a header row. Required column: title. Optional: "
        "external_id, brand, description, price, url, category, subcategory. Rows whose external_id "
        "exists update that product; bad rows are reported on stderr and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV file (UTF-8, a BOM is fine)")
        parser.add_argument("--chunk-size", type=int, default=1000, help="rows per transaction (default 1000)")
        parser.add_argument("--encoding", default="utf-8-sig")

    def handle(self, *args, path, chunk_size, encoding, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")

        def report(line: int, reason: str) -> None:
            self.stderr.write(f"{path}, line {line}: {reason} (row skipped)")

        importer = ProductImporter(on_bad_row=report, chunk_size=chunk_size)
        try:
            with open(path, newline="", encoding=encoding) as lines:
                result = importer.import_file(lines)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not valid {encoding} text: {exc.reason}") from exc
        except MissingColumns as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except csv.Error as exc:
            raise CommandError(f"{path} is not readable CSV ({exc}); rows before the error were imported.") from exc

        if result.ignored_columns:
            self.stderr.write(f"Ignored columns: {', '.join(result.ignored_columns)}")
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.skipped} skipped (bad rows)."
        )
