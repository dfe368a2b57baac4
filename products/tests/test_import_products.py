import csv
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from products.models import Category, Product, Subcategory

pytestmark = pytest.mark.django_db


def write_csv(path, rows, header=("external_id", "title", "brand", "price", "url", "category", "subcategory")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(path, **options):
    out, err = StringIO(), StringIO()
    call_command("import_products", str(path), stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_it_imports_rows_and_creates_categories_by_name(tmp_path):
    path = write_csv(
        tmp_path / "p.csv",
        [
            ["A-1", "Lumora Glide Dimmer", "Lumora", "24.99", "https://shop.example/a1", "Lighting", "Dimmers"],
            ["A-2", "Voltaro Plug Mini", "Voltaro", "", "", "lighting", "Smart Plugs"],
            ["", "Unbranded Kettle", "", "19", "", "Kitchen", ""],
        ],
    )
    out, err = run_import(path)
    assert "3 created, 0 updated, 0 skipped" in out
    assert err == ""
    assert Category.objects.count() == 2  # "Lighting" and "lighting" are one category
    a1 = Product.objects.get(external_id="A-1")
    assert (a1.brand, a1.price, a1.subcategory.name, a1.category.name) == ("Lumora", Decimal("24.99"), "Dimmers", "Lighting")
    assert a1.source == Product.Source.IMPORTED
    assert Product.objects.get(external_id="A-2").price is None
    assert Product.objects.get(title="Unbranded Kettle").external_id is None
    assert Subcategory.objects.filter(category__name="Lighting").count() == 2


def test_it_reports_bad_rows_with_line_numbers_and_keeps_the_good_ones(tmp_path):
    path = write_csv(
        tmp_path / "p.csv",
        [
            ["B-1", "Good one", "", "10.00", "", "", ""],
            ["B-2", "   ", "", "10.00", "", "", ""],
            ["B-3", "Bad price", "", "ten", "", "", ""],
            ["B-4", "Bad url", "", "", "javascript:alert(1)", "", ""],
            ["B-5", "Multi\nline title", "", "5", "ftp://files.example/x", "", ""],
            ["B-6", "Good two", "", "", "http://shop.example/b6", "", ""],
        ],
    )
    out, err = run_import(path)
    assert "2 created, 0 updated, 4 skipped (bad rows)" in out
    assert "line 3: empty title" in err
    assert "line 4: price 'ten' is not a number" in err
    assert "line 5: url 'javascript:alert(1)' is not an http(s) URL" in err
    assert "line 6: url 'ftp://files.example/x'" in err  # the record starts on line 6 and spans two lines
    assert sorted(Product.objects.values_list("external_id", flat=True)) == ["B-1", "B-6"]


def test_it_updates_by_external_id_instead_of_duplicating(tmp_path):
    write_csv(tmp_path / "v1.csv", [["C-1", "Old title", "Brand", "10", "", "", ""]])
    run_import(tmp_path / "v1.csv")
    path = write_csv(tmp_path / "v2.csv", [["C-1", "New title", "Brand", "12.50", "", "", ""], ["C-2", "Other", "", "", "", "", ""]])
    out, _ = run_import(path)
    assert "1 created, 1 updated, 0 skipped" in out
    product = Product.objects.get(external_id="C-1")
    assert (product.title, product.price) == ("New title", Decimal("12.50"))
    assert Product.objects.count() == 2


def test_an_update_leaves_columns_the_file_does_not_have(tmp_path):
    write_csv(tmp_path / "full.csv", [["D-1", "Title", "Brand", "10", "", "Kitchen", "Knives"]])
    run_import(tmp_path / "full.csv")
    write_csv(tmp_path / "titles.csv", [["D-1", "Renamed"]], header=("external_id", "title"))
    run_import(tmp_path / "titles.csv")
    product = Product.objects.get(external_id="D-1")
    assert (product.title, product.brand, product.price, product.subcategory.name) == ("Renamed", "Brand", Decimal("10.00"), "Knives")


def test_a_file_without_a_title_column_is_an_error_naming_the_columns(tmp_path):
    path = write_csv(tmp_path / "p.csv", [["E-1", "x"]], header=("sku", "name"))
    with pytest.raises(CommandError, match=r"no 'title' column\. Columns found: 'sku', 'name'"):
        run_import(path)


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run_import(tmp_path / "nope.csv")


def test_it_accepts_a_bom_and_header_case(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeffTitle,Brand,Extra\nKettle,Ovenbird,1\n", encoding="utf-8")
    out, err = run_import(path)
    assert "1 created" in out
    assert "Ignored columns: Extra" in err
    assert Product.objects.get().brand == "Ovenbird"


def test_it_imports_20000_rows_in_chunks_and_a_rerun_changes_nothing(tmp_path):
    rows = (
        [f"BULK-{i:05d}", f"Bulk product {i}", f"Brand {i % 37}", f"{i % 500}.{i % 100:02d}", f"https://shop.example/{i}",
         f"Category {i % 4}", f"Subcategory {i % 12}"]
        for i in range(20_000)
    )
    path = write_csv(tmp_path / "bulk.csv", rows)

    started = time.monotonic()
    out, err = run_import(path)
    first_run = time.monotonic() - started
    assert "20000 created, 0 updated, 0 skipped" in out
    assert err == ""
    assert Product.objects.count() == 20_000
    assert Category.objects.count() == 4
    assert Subcategory.objects.count() == 12
    assert first_run < 30, f"the import took {first_run:.1f}s"

    out, _ = run_import(path)
    assert "0 created, 20000 updated, 0 skipped" in out
    assert Product.objects.count() == 20_000
    assert Product.objects.get(external_id="BULK-12345").price == Decimal("345.45")


def test_a_repeated_external_id_in_one_file_keeps_the_last_row(tmp_path):
    path = write_csv(tmp_path / "p.csv", [["F-1", "First", "", "", "", "", ""], ["F-1", "Second", "", "", "", "", ""]])
    out, _ = run_import(path)
    assert "1 created, 1 updated" in out
    assert Product.objects.get(external_id="F-1").title == "Second"
