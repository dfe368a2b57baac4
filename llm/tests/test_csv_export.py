"""One CSV helper for every export: text cells that a spreadsheet would run as formulas are escaped."""

from datetime import date
from decimal import Decimal

import pytest

from llm.records import csv_lines, safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'])
def test_it_prefixes_formula_starts_with_a_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["gpt-4o", "", "a=b", "1-2", " =x"])
def test_it_leaves_plain_text_alone(value):
    assert safe_cell(value) == value


def test_numbers_and_dates_are_not_text():
    assert safe_cell(-1) == -1 and safe_cell(Decimal("-0.5")) == Decimal("-0.5")
    assert safe_cell(date(2026, 1, 2)) == date(2026, 1, 2) and safe_cell(None) == ""


def test_every_cell_of_every_row_goes_through_it():
    lines = list(csv_lines([["name", "n"], ["=cmd|' /C calc'!A0", -3]]))
    assert lines == ["name,n\r\n", "'=cmd|' /C calc'!A0,-3\r\n"]
