"""Suites, registered by the domain apps in their own ``evals.py`` (discovered at start like admin.py).

A suite says how to answer one case for a variant (``run(input, ctx)``), how to score the
answer (its scorers; the first is the main score) and, optionally, how to build its shipped
dataset (``build_cases``). The evals app calls these; it never imports a domain app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .scorers import Scorer


@dataclass
class Suite:
    name: str  # "app.what", e.g. products.identify_category
    run: Callable[[dict, Any], Any]  # (case input, Context) -> answer (JSON-able)
    scorers: list[Scorer]
    description: str = ""
    template: str = ""  # the prompt template the variants vary
    default_version: int | None = None
    build_cases: Callable[[], list[dict]] | None = None  # [{"key", "input", "expected", "tags"}]
    judge: bool = False  # one of the scorers is an LLM judge (its agreement with humans is reported)
    versions: Callable[[], list[int]] | None = None  # the template versions that exist
    # Promoting a logged call ("add to an evaluation dataset" on a call's page): the purposes of
    # the calls this suite's cases can be made from (default: the suite's name), and how to rebuild
    # the case input ``run`` expects from one such call (``evals.promotion.LoggedCall``: the row,
    # its interaction file). It raises ``evals.PromotionError`` when the call cannot make a case.
    purposes: tuple[str, ...] = ()
    input_from_call: Callable[[Any], dict] | None = None

    def takes(self, purpose: str) -> bool:
        """Whether calls of ``purpose`` can become this suite's cases (``purposes`` may end in ``*``)."""
        return any(purpose == p or (p.endswith("*") and purpose.startswith(p[:-1])) for p in self.purposes or (self.name,))

    @property
    def main_scorer(self) -> Scorer:
        return self.scorers[0]


_SUITES: dict[str, Suite] = {}


class UnknownSuite(KeyError):
    def __str__(self) -> str:
        return f"No evaluation suite {self.args[0]!r}. Known: {', '.join(sorted(_SUITES)) or 'none'} (manage.py eval list)."


def register(suite: Suite) -> Suite:
    if not suite.scorers:
        raise ValueError(f"Suite {suite.name} needs at least one scorer.")
    _SUITES[suite.name] = suite
    return suite


def unregister(name: str) -> None:
    _SUITES.pop(name, None)


def get(name: str) -> Suite:
    try:
        return _SUITES[name]
    except KeyError:
        raise UnknownSuite(name) from None


def all_suites() -> list[Suite]:
    return [_SUITES[k] for k in sorted(_SUITES)]


def for_purpose(purpose: str) -> Suite | None:
    """The suite whose cases calls of ``purpose`` can become (None: no suite takes them)."""
    return next((s for s in all_suites() if s.takes(purpose)), None)
