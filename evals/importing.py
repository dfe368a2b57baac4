"""Cases from CSV or JSONL. Every bad row is reported with its line number; nothing is stored
unless the whole file is good (a half-imported dataset would be scored as if it were whole).

JSONL: one object a line with ``input`` (required), ``expected``, ``tags`` (a list), ``key``.
CSV: a header row; ``input`` and ``expected`` columns hold JSON or plain text, ``tags`` is
``;``-separated. Without an ``input`` column, every column but expected/tags/key becomes a key
of the input object.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max

from .models import Case, Dataset

MAX_ROWS = 100_000
RESERVED = {"expected", "tags", "key"}


@dataclass
class ImportReport:
    dataset: Dataset | None = None
    created: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportFailed(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:20]) + (f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""))
        self.errors = errors


def _json_or_text(value: str):
    text = value.strip()
    if text[:1] in "{[\"" or text in ("true", "false", "null") or _is_number(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return bool(text)


def _tags(value, where: str, errors: list[str]) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(";") if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return value
    errors.append(f"{where}: tags must be a list of strings (or ;-separated text in CSV).")
    return []


def parse_jsonl(text: str) -> tuple[list[dict], list[str]]:
    rows, errors = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{where}: each line must be a JSON object with an \"input\" key.")
            continue
        if "input" not in obj:
            errors.append(f"{where}: the \"input\" key is missing.")
            continue
        unknown = set(obj) - {"input", "expected", "tags", "key"}
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use input, expected, tags, key.")
            continue
        rows.append({"line": lineno, "key": str(obj.get("key") or ""), "input": obj["input"],
                     "expected": obj.get("expected"), "tags": _tags(obj.get("tags"), where, errors)})
    return rows, errors


def parse_csv(text: str) -> tuple[list[dict], list[str]]:
    rows, errors = [], []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], ["line 1: the file is empty; the first line must name the columns (input, expected, tags, key)."]
    except csv.Error as exc:
        return [], [f"line 1: {exc}"]
    header = [h.strip() for h in header]
    if len(set(header)) != len(header) or any(not h for h in header):
        return [], ["line 1: every column needs a name, and names must differ."]
    input_cols = ["input"] if "input" in header else [h for h in header if h not in RESERVED]
    if not input_cols:
        return [], ["line 1: no input column (name one \"input\", or add the input's fields as columns)."]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: {exc}")
            break
        lineno = reader.line_num
        if not any(v.strip() for v in values):
            continue
        where = f"line {lineno}"
        if len(values) != len(header):
            errors.append(f"{where}: {len(values)} cells, but the header has {len(header)} columns.")
            continue
        row = dict(zip(header, values))
        if input_cols == ["input"]:
            if not row["input"].strip():
                errors.append(f"{where}: the input cell is empty.")
                continue
            case_input = _json_or_text(row["input"])
        else:
            case_input = {c: _json_or_text(row[c]) for c in input_cols}
        expected = _json_or_text(row["expected"]) if row.get("expected", "").strip() else None
        rows.append({"line": lineno, "key": row.get("key", "").strip(), "input": case_input, "expected": expected,
                     "tags": _tags(row.get("tags", ""), where, errors)})
    return rows, errors


def parse(text: str, fmt: str) -> tuple[list[dict], list[str]]:
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"Unknown format {fmt!r}: use csv or jsonl.")
    return parse_csv(text) if fmt == "csv" else parse_jsonl(text)


def format_of(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    raise ValueError(f"{filename}: name the file .csv or .jsonl (or pass --format).")


def import_cases(text: str, fmt: str, *, name: str, suite: str = "", owner=None, new_version: bool = False,
                 description: str = "") -> ImportReport:
    """Parse and store; raises ImportFailed (every bad row by line) and stores nothing on a bad file."""
    rows, errors = parse(text, fmt)
    if len(rows) > MAX_ROWS:
        errors.append(f"{len(rows)} rows; the limit is {MAX_ROWS} per import.")
    keys: dict[str, int] = {}
    for row in rows:
        row["key"] = row["key"] or f"line-{row['line']}"
        if row["key"] in keys:
            errors.append(f"line {row['line']}: key {row['key']!r} is also on line {keys[row['key']]}.")
        keys.setdefault(row["key"], row["line"])
    if not rows and not errors:
        errors.append("The file holds no cases.")
    if errors:
        raise ImportFailed(errors)
    with transaction.atomic():
        dataset = Dataset.objects.filter(name=name).order_by("-version").select_for_update().first()
        if dataset is None or new_version:
            version = (Dataset.objects.filter(name=name).aggregate(m=Max("version"))["m"] or 0) + 1
            dataset = Dataset.objects.create(name=name, version=version, suite=suite or name,
                                             owner=owner if getattr(owner, "pk", None) else None, description=description)
        existing = set(dataset.cases.filter(key__in=list(keys)).values_list("key", flat=True))
        if existing:
            raise ImportFailed([f"line {keys[k]}: key {k!r} is already in {dataset}; use --new-version or another key."
                                for k in sorted(existing, key=keys.get)])
        Case.objects.bulk_create([
            Case(dataset=dataset, key=r["key"][:200], input=r["input"], expected=r["expected"], tags=r["tags"],
                 created_by=owner if getattr(owner, "pk", None) else None, source="import")
            for r in rows
        ], batch_size=2000)
    return ImportReport(dataset=dataset, created=len(rows))


def replace_cases(*, name: str, suite: str, cases: list[dict], description: str = "") -> Dataset:
    """A shipped dataset (seed_demo): a new version when the shipped cases changed, else the
    current one. Cases promoted from real work are not the shipped ones: they are left out of the
    comparison and carried over into a new version, so re-seeding never drops them."""
    current = Dataset.objects.filter(name=name).order_by("-version").first()
    wanted = sorted((c["key"], json.dumps(c["input"], sort_keys=True), json.dumps(c.get("expected"), sort_keys=True))
                    for c in cases)
    promoted = []
    if current is not None:
        promoted = [c for c in current.cases.all() if "promoted" in (c.tags or [])]
        have = sorted((k, json.dumps(i, sort_keys=True), json.dumps(e, sort_keys=True))
                      for k, i, e, tags in current.cases.values_list("key", "input", "expected", "tags")
                      if "promoted" not in (tags or []))
        if have == wanted:
            return current
    shipped_keys = {c["key"] for c in cases}
    with transaction.atomic():
        version = (current.version + 1) if current else 1
        dataset = Dataset.objects.create(name=name, version=version, suite=suite, description=description)
        Case.objects.bulk_create([
            Case(dataset=dataset, key=c["key"], input=c["input"], expected=c.get("expected"), tags=c.get("tags", []),
                 source=c.get("source", "shipped"))
            for c in cases
        ] + [
            Case(dataset=dataset, key=c.key, input=c.input, expected=c.expected, tags=c.tags, source=c.source,
                 source_query_id=c.source_query_id, created_by_id=c.created_by_id)
            for c in promoted if c.key not in shipped_keys
        ], batch_size=2000)
    return dataset
