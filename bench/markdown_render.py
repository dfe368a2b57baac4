"""Artifact Markdown rendering on hostile input: Python-Markdown (before) and cmark-gfm (after).

Issue 19, finding 6. The same nh3 sanitiser runs after both. Sizes stop growing for the old
renderer once one run takes more than --before-cap seconds. The last size is the paste/edit
limit (ARTIFACTS_MAX_TEXT_CHARS, 200,000 characters by default).

    .venv/bin/python bench/markdown_render.py [--sizes 2500,10000,40000,200000] [--before-cap 10]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import markdown  # noqa: E402

from artifacts.render import markdown_to_html, sanitize  # noqa: E402

SHAPES = {"[": "[", "![": "![", "[a](": "[a](", "*": "*", "*a ": "*a ", "<": "<", ">": ">", "`": "`",
          "&#": "&#", "\\": "\\", "<div>": "<div>", "prose": "Some **bold** text with a [link](https://x.example/).\n\n"}


def before(text: str) -> None:
    html = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists", "codehilite"],
                             extension_configs={"codehilite": {"css_class": "highlight", "guess_lang": False}})
    sanitize(html)


def timed(fn, text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2500,10000,40000,200000")
    ap.add_argument("--before-cap", type=float, default=10.0)
    ap.add_argument("--tiny", action="store_true", help="two small sizes, to check that the script runs")
    args = ap.parse_args()
    if args.tiny:
        args.sizes, args.before_cap = "1000,2000", 1.0
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}")
    print(f"{'shape':<10} {'size':>9} {'before s':>10} {'after s':>9}")
    for name, unit in SHAPES.items():
        gave_up = False
        for size in sizes:
            text = (unit * (size // len(unit) + 1))[:size]
            if gave_up:
                b = "skipped"
            else:
                seconds = timed(before, text)
                b, gave_up = f"{seconds:.3f}", seconds > args.before_cap
            a = min(timed(markdown_to_html, text) for _ in range(3))
            print(f"{name!r:<10} {size:>9,} {b:>10} {a:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
