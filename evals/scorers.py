"""Scorers: each turns (answer, expected, case input) into a value in 0..1 and its details.

The deterministic ones are plain functions; ``Scorer`` wraps one with a name and, optionally,
a ``field`` so a suite can score one key of a structured answer. The LLM judge lives in
``judge.py`` (it calls a model, so it needs the run's context).
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable


@dataclass
class Verdict:
    value: float
    details: dict = dataclasses.field(default_factory=dict)


@dataclass
class Scorer:
    name: str
    fn: Callable[..., Verdict]
    field: str = ""  # score answer[field] against expected[field]
    options: dict = dataclasses.field(default_factory=dict)
    needs_context: bool = False  # the judge: called with ctx=

    def __call__(self, answer: Any, expected: Any, case_input: Any = None, ctx=None) -> Verdict:
        if self.field:
            answer = pick(answer, self.field)
            expected = pick(expected, self.field)
        kwargs = dict(self.options)
        if self.needs_context:
            kwargs["ctx"] = ctx
        return self.fn(answer, expected, case_input, **kwargs)


def pick(value: Any, path: str) -> Any:
    """``a.b`` of nested dicts; None when a key is missing (a missing answer scores 0, never crashes)."""
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


# --- deterministic scorers -------------------------------------------------------------------


def exact_match(answer, expected, case_input=None, *, normalize: bool = True) -> Verdict:
    a, e = (_norm(answer), _norm(expected)) if normalize else (answer, expected)
    return Verdict(1.0 if a == e and answer is not None else 0.0, {"answer": answer, "expected": expected})


def _as_set(value) -> set:
    if value is None:
        return set()
    if isinstance(value, (str, int, float, bool)):
        value = [value]
    return {str(_norm(v)) for v in value}


def set_prf(answer, expected, case_input=None) -> Verdict:
    """F1 of the answer's items against the expected items (precision and recall in details).
    Both empty is a perfect answer; one empty is 0."""
    a, e = _as_set(answer), _as_set(expected)
    if not a and not e:
        return Verdict(1.0, {"precision": 1.0, "recall": 1.0, "f1": 1.0})
    hit = len(a & e)
    precision = hit / len(a) if a else 0.0
    recall = hit / len(e) if e else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Verdict(f1, {"precision": precision, "recall": recall, "f1": f1,
                        "missing": sorted(e - a), "extra": sorted(a - e)})


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def numeric_tolerance(answer, expected, case_input=None, *, abs_tol: float = 0.0, rel_tol: float = 0.0) -> Verdict:
    a, e = _number(answer), _number(expected)
    if a is None or e is None:
        return Verdict(0.0, {"error": f"not a number: {answer!r}" if a is None else f"expected is not a number: {expected!r}"})
    ok = math.isclose(a, e, rel_tol=rel_tol, abs_tol=abs_tol)
    return Verdict(1.0 if ok else 0.0, {"difference": a - e})


def contains(answer, expected, case_input=None, *, case_sensitive: bool = False) -> Verdict:
    """Share of the expected snippets (a string or a list) found in the answer text."""
    text = answer if isinstance(answer, str) else ("" if answer is None else str(answer))
    needles = [expected] if isinstance(expected, str) else list(expected or [])
    if not needles:
        return Verdict(1.0, {})
    hay = text if case_sensitive else text.casefold()
    found = [n for n in needles if (n if case_sensitive else str(n).casefold()) in hay]
    return Verdict(len(found) / len(needles), {"missing": [n for n in needles if n not in found]})


def regex(answer, expected, case_input=None, *, pattern: str = "") -> Verdict:
    """The answer matches ``pattern`` (or, without one, the expected value as a pattern)."""
    text = answer if isinstance(answer, str) else ("" if answer is None else str(answer))
    try:
        compiled = re.compile(pattern or str(expected))
    except re.error as exc:
        return Verdict(0.0, {"error": f"bad pattern: {exc}"})
    return Verdict(1.0 if compiled.search(text) else 0.0, {"pattern": compiled.pattern})


def json_schema_valid(answer, expected, case_input=None, *, schema: dict | None = None) -> Verdict:
    import jsonschema

    schema = schema or (expected if isinstance(expected, dict) else None)
    if schema is None:
        return Verdict(0.0, {"error": "no schema to validate against"})
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(answer), key=lambda e: list(e.path))
    return Verdict(0.0 if errors else 1.0, {"errors": [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}"
                                                        for e in errors[:10]]})


def python_parses(answer, expected=None, case_input=None) -> Verdict:
    """Share of the answer's ``.py`` files (a {path: source} dict) that parse."""
    files = answer if isinstance(answer, dict) else {}
    sources = {p: s for p, s in files.items() if str(p).endswith(".py")}
    if not sources:
        return Verdict(0.0, {"error": "no Python files in the answer"})
    errors = {}
    for path, source in sources.items():
        try:
            ast.parse(source if isinstance(source, str) else "", filename=path)
        except SyntaxError as exc:
            errors[path] = f"line {exc.lineno}: {exc.msg}"
    return Verdict((len(sources) - len(errors)) / len(sources), {"files": len(sources), "errors": errors})


def imports_resolve(answer, expected=None, case_input=None, *, stdlib_ok: bool = True) -> Verdict:
    """Share of the project-relative imports of the answer's Python files that name a file of the
    answer (``import pkg.mod`` / ``from .mod import x``); third-party and stdlib names are skipped."""
    import sys

    files = answer if isinstance(answer, dict) else {}
    modules = set()
    for path in files:
        if str(path).endswith(".py"):
            dotted = str(path)[:-3].replace("/", ".")
            modules.add(dotted.removesuffix(".__init__"))
    tops = {m.split(".")[0] for m in modules}
    checked, missing = 0, []
    for path, source in files.items():
        if not str(path).endswith(".py"):
            continue
        try:
            tree = ast.parse(source)
        except (SyntaxError, TypeError):
            continue
        package = str(path)[:-3].replace("/", ".").rsplit(".", 1)[0] if "/" in str(path) else ""
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: max(len(package.split(".")) - node.level + 1, 0)] if package else []
                    names = [".".join([*base, node.module] if node.module else base)]
                else:
                    names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if not name or (top not in tops and not (node.__class__ is ast.ImportFrom and node.level)):
                    continue  # stdlib or third-party
                if stdlib_ok and top in sys.stdlib_module_names and top not in tops:
                    continue
                checked += 1
                if name not in modules and not any(m.startswith(name + ".") for m in modules):
                    missing.append(f"{path}: {name}")
    if not checked:
        return Verdict(1.0, {"checked": 0})
    return Verdict((checked - len(missing)) / checked, {"checked": checked, "missing": missing[:20]})


def fields_match(answer, expected, case_input=None, *, rel_tol: float = 0.01) -> Verdict:
    """Share of the expected keys the answer got right: numbers within ``rel_tol``, lists as
    sets, text compared without case and spacing. Keys only the answer has are not counted."""
    a = answer if isinstance(answer, dict) else {}
    e = expected if isinstance(expected, dict) else {}
    if not e:
        return Verdict(1.0 if not a else 0.0, {})
    wrong = {}
    for key, want in e.items():
        got = a.get(key)
        if _number(want) is not None and not isinstance(want, bool):
            ok = _number(got) is not None and math.isclose(_number(got), _number(want), rel_tol=rel_tol)
        elif isinstance(want, list):
            ok = isinstance(got, list) and _as_set(got) == _as_set(want)
        else:
            ok = _norm(got) == _norm(want)
        if not ok:
            wrong[key] = {"answer": got, "expected": want}
    return Verdict((len(e) - len(wrong)) / len(e), {"wrong": wrong, "fields": len(e)})


# --- segmentation ----------------------------------------------------------------------------


def coverage(answer, expected=None, case_input=None) -> Verdict:
    """Share of the items that got a segment. ``answer`` = {item: segment or None}; the items are
    the expected labels' keys when given (an item the answer forgot counts as unassigned)."""
    assigned = answer if isinstance(answer, dict) else {}
    items = list(expected) if isinstance(expected, dict) and expected else list(assigned)
    if not items:
        return Verdict(0.0, {"error": "no items"})
    done = sum(1 for i in items if assigned.get(i) not in (None, ""))
    return Verdict(done / len(items), {"items": len(items), "assigned": done})


def unassigned_share(answer, expected=None, case_input=None) -> Verdict:
    """1 - the share left unassigned (so higher is better, like every score); the share is in details."""
    v = coverage(answer, expected, case_input)
    share = 1 - v.value if "items" in v.details else 1.0
    return Verdict(1 - share, {**v.details, "unassigned_share": share})


def _comb2(n: int) -> float:
    return n * (n - 1) / 2


def adjusted_rand_index(labels_true: list, labels_pred: list) -> float:
    """Hubert & Arabie's ARI (the formula scikit-learn's adjusted_rand_score uses)."""
    if len(labels_true) != len(labels_pred):
        raise ValueError("both labelings need the same items")
    n = len(labels_true)
    if n < 2:
        return 1.0
    contingency = Counter(zip(labels_true, labels_pred))
    sum_cells = sum(_comb2(c) for c in contingency.values())
    sum_rows = sum(_comb2(c) for c in Counter(labels_true).values())
    sum_cols = sum(_comb2(c) for c in Counter(labels_pred).values())
    expected = sum_rows * sum_cols / _comb2(n)
    maximum = (sum_rows + sum_cols) / 2
    if maximum == expected:  # both are one cluster or all singletons: identical partitions
        return 1.0
    return (sum_cells - expected) / (maximum - expected)


def _entropy(counts: Iterable[int], n: int) -> float:
    return -sum((c / n) * math.log(c / n) for c in counts if c)


def normalized_mutual_info(labels_true: list, labels_pred: list) -> float:
    """NMI with the arithmetic mean of the entropies (scikit-learn's default)."""
    if len(labels_true) != len(labels_pred):
        raise ValueError("both labelings need the same items")
    n = len(labels_true)
    if n == 0:
        return 1.0
    rows, cols = Counter(labels_true), Counter(labels_pred)
    h_true, h_pred = _entropy(rows.values(), n), _entropy(cols.values(), n)
    if h_true == 0 and h_pred == 0:
        return 1.0
    mi = 0.0
    for (t, p), c in Counter(zip(labels_true, labels_pred)).items():
        mi += (c / n) * math.log(c * n / (rows[t] * cols[p]))
    denominator = (h_true + h_pred) / 2
    return max(0.0, min(1.0, mi / denominator)) if denominator else 0.0


def _labelings(answer, expected) -> tuple[list, list]:
    """The items both name, in a stable order; unassigned items form their own "(none)" label."""
    assigned = answer if isinstance(answer, dict) else {}
    truth = expected if isinstance(expected, dict) else {}
    items = sorted(truth)
    return [truth[i] for i in items], [assigned.get(i) or "(none)" for i in items]


def ari(answer, expected, case_input=None) -> Verdict:
    t, p = _labelings(answer, expected)
    if not t:
        return Verdict(0.0, {"error": "no labelled items"})
    value = adjusted_rand_index(t, p)
    # ARI can be negative (worse than chance); scores live in 0..1, the raw value is kept.
    return Verdict(max(0.0, value), {"ari": value, "items": len(t)})


def nmi(answer, expected, case_input=None) -> Verdict:
    t, p = _labelings(answer, expected)
    if not t:
        return Verdict(0.0, {"error": "no labelled items"})
    return Verdict(normalized_mutual_info(t, p), {"items": len(t)})


BUILTIN: dict[str, Callable[..., Verdict]] = {
    "exact_match": exact_match,
    "set_f1": set_prf,
    "fields_match": fields_match,
    "numeric_tolerance": numeric_tolerance,
    "contains": contains,
    "regex": regex,
    "json_schema_valid": json_schema_valid,
    "python_parses": python_parses,
    "imports_resolve": imports_resolve,
    "coverage": coverage,
    "unassigned_share": unassigned_share,
    "ari": ari,
    "nmi": nmi,
}
