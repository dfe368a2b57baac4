"""Captured HTML -> text on hostile input: the standard library's parser (before) and lxml (after).

Issue 19, finding 2. Each hostile shape is timed at growing sizes with the same text logic
(notes.text._TextExtractor) fed by two parsers:

- before: ``html.parser.HTMLParser`` (what notes/text.py used), quadratic on malformed markup;
  sizes stop growing once one run takes more than --before-cap seconds;
- after: libxml2's HTML push parser through lxml (notes.text.extract_text), with the 2 MB parse
  cap (NOTES_SECTION_PARSE_MAX_CHARS) so a 9 MB section costs what 2 MB costs.

    .venv/bin/python bench/html_to_text.py [--sizes 10000,40000,100000,1000000,2000000,9000000] [--before-cap 15]

No database needed.
"""

import argparse
import os
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from notes.text import DEFAULT_MAX_HTML, _TextExtractor, extract_text  # noqa: E402

SHAPES = {
    "<a ": "<a ",
    "<!--": "<!--",
    "<![CDATA[": "<![CDATA[",
    "<div><b>": "<div><b>",
    "&#": "&#",
    "&#x": "&#x",
    "<": "<",
    "prose": "<p>Some <b>ordinary</b> text, with a <a href='/x'>link</a>.</p>\n",
}


class _StdlibFeeder(HTMLParser):
    """The old parser driving the same text logic."""

    def __init__(self, target: _TextExtractor) -> None:
        super().__init__(convert_charrefs=True)
        self.target = target

    def handle_starttag(self, tag, attrs):
        self.target.start(tag, attrs)

    def handle_endtag(self, tag):
        self.target.end(tag)

    def handle_data(self, data):
        self.target.data(data)


def before(html: str) -> None:
    target = _TextExtractor()
    parser = _StdlibFeeder(target)
    for start in range(0, len(html), 64 * 1024):
        parser.feed(html[start : start + 64 * 1024])
        target.flush()
    parser.close()
    target.flush()


def after(html: str) -> None:
    extract_text(html, limit=50_000)


def timed(fn, html: str) -> float:
    start = time.perf_counter()
    fn(html)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,40000,100000,1000000,2000000,9000000")
    ap.add_argument("--before-cap", type=float, default=15.0, help="stop the old parser's sizes past this many seconds")
    ap.add_argument("--tiny", action="store_true", help="two small sizes, to check that the script runs")
    args = ap.parse_args()
    if args.tiny:
        args.sizes, args.before_cap = "1000,2000", 1.0
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} parse cap={DEFAULT_MAX_HTML:,} chars")
    print(f"{'shape':<12} {'size':>10} {'before s':>10} {'after s':>9}")
    for name, unit in SHAPES.items():
        gave_up = False
        for size in sizes:
            html = (unit * (size // len(unit) + 1))[:size]
            if gave_up:
                b = "skipped"
            else:
                seconds = timed(before, html)
                b = f"{seconds:.3f}"
                gave_up = seconds > args.before_cap
            a = min(timed(after, html) for _ in range(3))
            print(f"{name!r:<12} {size:>10,} {b:>10} {a:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
