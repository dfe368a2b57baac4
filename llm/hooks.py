"""Places where other apps add to llm's pages without llm importing them (arrows stay one way).

An app registers at ``AppConfig.ready()``; llm's views ask this registry. Two kinds:

- panels: a template (and a function giving its context) included on one of llm's pages, in a
  named slot ("call_detail", "dashboard"). A panel's function may return None to stay hidden.
- quality: a function ``(viewer, filters) -> {(purpose, model_name): (mean, n)}`` whose figures
  the cost dashboard shows beside each purpose and model's spend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

logger = logging.getLogger(__name__)

SLOTS = ("call_detail", "dashboard")


@dataclass(frozen=True)
class Panel:
    template: str
    context: Callable[..., dict | None] | None = None


_PANELS: dict[str, list[Panel]] = {}
_QUALITY: list[Callable[[Any, Any], dict]] = []


def register_panel(slot: str, template: str, context: Callable[..., dict | None] | None = None) -> None:
    if slot not in SLOTS:
        raise ValueError(f"No panel slot {slot!r}; llm's pages have {', '.join(SLOTS)}.")
    panel = Panel(template, context)
    if panel not in _PANELS.setdefault(slot, []):
        _PANELS[slot].append(panel)


def panels(slot: str, request, **objects) -> list[dict]:
    """The panels to include in ``slot``: [{"template": …, **their context}]."""
    out = []
    for panel in _PANELS.get(slot, []):
        extra = panel.context(request, **objects) if panel.context else {}
        if extra is not None:
            out.append({"template": panel.template, **extra})
    return out


def register_quality(provider: Callable[[Any, Any], dict]) -> None:
    if provider not in _QUALITY:
        _QUALITY.append(provider)


def has_quality() -> bool:
    return bool(_QUALITY)


def quality(viewer, filters) -> dict[tuple[str, str], tuple[float, int]]:
    """{(purpose, model_name): (mean score 0..1, number of scores)} from every registered provider."""
    merged: dict[tuple[str, str], tuple[float, int]] = {}
    for provider in _QUALITY:
        for key, (mean, n) in (provider(viewer, filters) or {}).items():
            if key in merged:  # two providers on the same rows: a weighted mean
                m0, n0 = merged[key]
                merged[key] = ((m0 * n0 + mean * n) / (n0 + n), n0 + n) if n0 + n else (mean, 0)
            else:
                merged[key] = (mean, n)
    return merged
