"""Import products from a CSV file, streaming, in chunked upserts keyed on ``external_id``."""

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from .models import Category, Product, Subcategory

COLUMNS = ("external_id", "title", "brand", "description", "price", "url", "category", "subcategory")
# Columns whose value an update overwrites, when the file has them.
UPDATABLE = {"title", "brand", "description", "price", "url"}
MAX_PRICE = Decimal("9999999999.99")


class MissingColumns(ValueError):
    pass


class BadRow(ValueError):
    pass


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    ignored_columns: list[str] = field(default_factory=list)


class ProductImporter:
    """Reads rows, keeps the good ones, reports the bad ones through ``on_bad_row(line, reason)``.

    Products with an external id already in the database are updated (the file's columns
    overwrite theirs), so importing the same file twice changes nothing the second time.
    """

    def __init__(self, on_bad_row: Callable[[int, str], None], chunk_size: int = 1000):
        self.on_bad_row = on_bad_row
        self.chunk_size = chunk_size
        self._categories: dict[str, Category] = {}
        self._subcategories: dict[tuple[int, str], Subcategory] = {}

    def import_file(self, lines: Iterable[str]) -> ImportResult:
        reader = csv.DictReader(lines)
        header = reader.fieldnames or []
        names = {name: (name or "").strip().lower() for name in header}
        if "title" not in names.values():
            found = ", ".join(repr(n) for n in header) or "none"
            raise MissingColumns(f"The file has no 'title' column. Columns found: {found}.")
        result = ImportResult(ignored_columns=[n for n, key in names.items() if key not in COLUMNS])
        present = {key for key in names.values() if key in COLUMNS}
        update_fields = sorted(present & UPDATABLE) + ["updated_at"]
        if "category" in present or "subcategory" in present:
            update_fields += ["category", "subcategory"]

        pending: dict[str, Product] = {}  # keyed by external id, or by line for rows without one
        previous_line = reader.line_num
        try:
            for raw in reader:
                line, previous_line = previous_line + 1, reader.line_num
                row = {names[k]: (v or "").strip() for k, v in raw.items() if k in names and isinstance(v, str)}
                try:
                    product = self._product(row)
                except BadRow as exc:
                    result.skipped += 1
                    self.on_bad_row(line, str(exc))
                    continue
                key = product.external_id or f"line:{line}"
                if key in pending:
                    result.updated += 1  # the same id twice in a chunk: the later row wins
                pending[key] = product
                if len(pending) >= self.chunk_size:
                    self._flush(pending, update_fields, result)
        except csv.Error as exc:
            raise csv.Error(f"line {reader.line_num}: {exc}") from exc
        finally:
            # Keep the good rows read before a broken line.
            self._flush(pending, update_fields, result)
        return result

    def _product(self, row: dict[str, str]) -> Product:
        title = row.get("title", "")
        if not title:
            raise BadRow("empty title")
        if len(title) > 500:
            raise BadRow(f"title is {len(title)} characters long, more than 500")
        external_id = row.get("external_id") or None
        if external_id and len(external_id) > 100:
            raise BadRow("external_id is longer than 100 characters")
        brand = row.get("brand", "")
        if len(brand) > 200:
            raise BadRow("brand is longer than 200 characters")
        return Product(
            external_id=external_id,
            title=title,
            brand=brand,
            description=row.get("description", ""),
            price=_price(row.get("price", "")),
            url=_url(row.get("url", "")),
            subcategory=self._subcategory(row.get("category", ""), row.get("subcategory", "")),
            category=self._category(row.get("category", "")),
            source=Product.Source.IMPORTED,
        )

    def _category(self, name: str) -> Category | None:
        if not name:
            return None
        if len(name) > 200:
            raise BadRow("category name is longer than 200 characters")
        key = name.casefold()
        if key not in self._categories:
            self._categories[key] = Category.objects.filter(name__iexact=name).first() or Category.objects.create(
                name=name
            )
        return self._categories[key]

    def _subcategory(self, category_name: str, name: str) -> Subcategory | None:
        if not name:
            return None
        if not category_name:
            raise BadRow(f"subcategory {name!r} has no category")
        if len(name) > 200:
            raise BadRow("subcategory name is longer than 200 characters")
        category = self._category(category_name)
        key = (category.pk, name.casefold())
        if key not in self._subcategories:
            existing = Subcategory.objects.filter(category=category, name__iexact=name).first()
            self._subcategories[key] = existing or Subcategory.objects.create(category=category, name=name)
        return self._subcategories[key]

    def _flush(self, pending: dict[str, Product], update_fields: list[str], result: ImportResult) -> None:
        if not pending:
            return
        products = list(pending.values())
        pending.clear()
        ids = [p.external_id for p in products if p.external_id]
        now = timezone.now()
        for product in products:
            product.updated_at = now
        with transaction.atomic():
            existing = set(Product.objects.filter(external_id__in=ids).values_list("external_id", flat=True))
            Product.objects.bulk_create(
                products,
                update_conflicts=True,
                unique_fields=["external_id"],
                update_fields=update_fields,
            )
        result.updated += len(existing)
        result.created += len(products) - len(existing)


def _price(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        price = Decimal(text.removeprefix("$").strip())
    except InvalidOperation:
        raise BadRow(f"price {text!r} is not a number") from None
    if not price.is_finite():
        raise BadRow(f"price {text!r} is not a number")
    if price < 0 or price > MAX_PRICE:
        raise BadRow(f"price {text!r} is out of range")
    return price.quantize(Decimal("0.01"))


def _url(text: str) -> str:
    if not text:
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise BadRow(f"url {text!r} is not an http(s) URL")
    if len(text) > 2000:
        raise BadRow("url is longer than 2000 characters")
    return text
