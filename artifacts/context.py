"""The context builder (seed 001 phases 2.1 and 2.2): a note becomes one prompt.

The prompt is made of the artifact type's template (llm template ``artifacts.<type>``, version 0), the page's
metadata, and four parts in priority order: highlighted text, the note, the page section
(HTML turned into plain text) and the owner's other notes on the same page. When the parts
do not fit the model's context window minus the output budget (and the app's input
ceiling), the lower-priority parts are cut first; the report says what was cut.

Everything here is deterministic for the same note and arguments, so a stored prompt can be
sent again byte for byte.
"""

from dataclasses import dataclass, field

from llm import prompts
from llm.calls import tokens

from . import conf

TEMPLATE_VERSION = 0
SYSTEM_TEMPLATE = "artifacts.system"
CUT_MARKER = "\n[… cut to fit the model's context window]"
# Page text is extracted at most this many characters per token of budget, so a 10 MB page
# section is never parsed or tokenised in full (English runs about 4 characters per token).
CHARS_PER_TOKEN_CEILING = 8
MESSAGE_OVERHEAD_TOKENS = 16  # chat framing of two messages (see llm.calls.tokens.count_messages)
RELATED_LIMIT = 20
RELATED_ITEM_CHARS = 600
METADATA_ITEM_CHARS = 300
DESCRIPTION_CHARS = 2000

PART_LABELS = {
    "highlighted_text": "highlighted text",
    "note": "note",
    "section": "page section",
    "related_notes": "related notes",
}


def template_name(artifact_type: str) -> str:
    """The llm template of an artifact type, e.g. ``artifacts.quiz``."""
    return f"artifacts.{artifact_type}"


@dataclass
class PartReport:
    name: str
    original_chars: int
    kept_chars: int = 0
    kept_tokens: int = 0
    cut: bool = False

    @property
    def label(self) -> str:
        return PART_LABELS[self.name]

    def as_dict(self) -> dict:
        return {
            "name": self.name, "label": self.label, "original_chars": self.original_chars,
            "kept_chars": self.kept_chars, "kept_tokens": self.kept_tokens, "cut": self.cut,
            "dropped": self.cut and self.kept_chars == 0,
        }


@dataclass
class BuiltPrompt:
    system: str
    prompt: str
    template: str
    input_tokens: int
    budget_tokens: int
    parts: list[PartReport] = field(default_factory=list)
    limits: dict = field(default_factory=dict)

    @property
    def cut_parts(self) -> list[PartReport]:
        return [p for p in self.parts if p.cut]

    @property
    def summary(self) -> str:
        if not self.cut_parts:
            return "Nothing was cut: the whole note fits."
        pieces = []
        for p in self.cut_parts:
            if p.kept_chars == 0:
                pieces.append(f"{p.label} left out ({p.original_chars:,} characters)")
            else:
                pieces.append(f"{p.label} cut to {p.kept_chars:,} of {p.original_chars:,} characters")
        return f"Cut to fit {self.budget_tokens:,} input tokens: " + "; ".join(pieces) + "."

    def report(self) -> dict:
        return {
            "template": self.template,
            "input_tokens": self.input_tokens,
            "budget_tokens": self.budget_tokens,
            "limits": self.limits,
            "parts": [p.as_dict() for p in self.parts],
            "cut": [p.label for p in self.cut_parts],
            "summary": self.summary,
        }


def fit_text(text: str, max_tokens: int) -> tuple[str, int, bool]:
    """``text`` cut (at a word boundary, with a marker) to at most ``max_tokens``: (text, tokens, cut)."""
    if not text:
        return "", 0, False
    if max_tokens <= 0:
        return "", 0, True
    cut = False
    if len(text) > max_tokens * CHARS_PER_TOKEN_CEILING:
        text, cut = text[: max_tokens * CHARS_PER_TOKEN_CEILING], True
    count = tokens.count_text(text)
    if count <= max_tokens and not cut:
        return text, count, False
    marker_tokens = tokens.count_text(CUT_MARKER)
    room = max_tokens - marker_tokens
    if room <= 0:
        return "", 0, True
    while count > room:
        keep = max(int(len(text) * room / count * 0.97), 0)
        text = text[:keep]
        space = text.rfind(" ", max(keep - 200, 0))
        if space > 0:
            text = text[:space]
        count = tokens.count_text(text)
    text = text.rstrip() + CUT_MARKER
    return text, tokens.count_text(text), True


def _metadata_block(note) -> str:
    lines = []
    if note.page_title:
        lines.append(f"Title: {note.page_title}")
    if note.page_url:
        lines.append(f"URL: {note.page_url}")
    if note.site:
        lines.append(f"Site: {note.site}")
    for key, value in note.metadata_items(limit=20):
        value = " ".join(value.split())
        if len(value) > METADATA_ITEM_CHARS:
            value = value[:METADATA_ITEM_CHARS] + "…"
        lines.append(f"{key[:60]}: {value}")
    return "\n".join(lines)


def _related_lines(note) -> list[str]:
    lines = []
    for other in note.related_notes().order_by("-updated_at", "-id")[:RELATED_LIMIT]:
        text = " ".join(filter(None, [
            f"Highlighted: “{' '.join(other.highlighted_text.split())}”" if other.highlighted_text.strip() else "",
            f"Note: {' '.join(other.body.split())}" if other.body.strip() else "",
        ]))
        if len(text) > RELATED_ITEM_CHARS:
            text = text[:RELATED_ITEM_CHARS] + "…"
        if text:
            lines.append(f"- {text}")
    return lines


def _section(title: str, text: str) -> str:
    return f"=== {title} ===\n{text}\n=== end of {title.lower()} ===" if text else ""


def _render(template: str, description: str, blocks: list[str]) -> str:
    context = "\n\n".join(b for b in blocks if b)
    text = prompts.render(template, {"user_description": description, "context": context}, version=TEMPLATE_VERSION).user
    return text.strip() + "\n"


def input_budget(context_window: int | None, max_output_tokens: int) -> tuple[int, dict]:
    """Tokens the prompt may use: the window minus the output budget, under the app's ceiling."""
    ceiling = conf.max_input_tokens()
    limits = {"context_window": context_window, "max_output_tokens": max_output_tokens, "app_ceiling": ceiling}
    if context_window:
        return max(min(context_window - max_output_tokens, ceiling), 0), limits
    return ceiling, limits


def build_prompt(note, artifact_type: str, user_description: str = "", *, context_window: int | None,
                 max_output_tokens: int, regeneration: int = 0) -> BuiltPrompt:
    """The system and user prompt for ``artifact_type`` on ``note``, cut to fit the budget."""
    budget, limits = input_budget(context_window, max_output_tokens)
    template = template_name(artifact_type)
    system = prompts.render(SYSTEM_TEMPLATE, {}, version=TEMPLATE_VERSION).user.strip()

    description = " ".join((user_description or "").split())[:DESCRIPTION_CHARS]
    description_line = f"What the person asks for: {description}" if description else ""
    if regeneration:
        # A regeneration must not be answered from a cache of the earlier version.
        description_line += f"\n(Version {regeneration + 1}: write a fresh take that differs from the earlier versions.)"
    metadata = _section("Page", _metadata_block(note))

    fixed = tokens.count_text(system) + tokens.count_text(_render(template, description_line, [metadata]))
    remaining = budget - fixed - MESSAGE_OVERHEAD_TOKENS
    parts: list[PartReport] = []
    blocks = [metadata]

    def take(name: str, title: str, text: str, original_chars: int | None = None) -> None:
        nonlocal remaining
        report = PartReport(name=name, original_chars=len(text) if original_chars is None else original_chars)
        wrapper = tokens.count_text(_section(title, "x")) if text else 0
        kept, count, cut = fit_text(text, remaining - wrapper)
        report.kept_chars = len(kept) - (len(CUT_MARKER) if cut and kept else 0)
        report.kept_tokens = count
        report.cut = cut or (original_chars is not None and original_chars > 0 and not kept)
        if kept:
            blocks.append(_section(title, kept))
            remaining -= count + wrapper
        parts.append(report)

    take("highlighted_text", "Highlighted text", note.highlighted_text.strip())
    take("note", "The person's note", note.body.strip())

    html = note.page_section_html or ""
    if html.strip():
        limit = max(remaining, 0) * CHARS_PER_TOKEN_CEILING
        section_text, section_cut = note.page_section_text(limit=limit) if limit else ("", True)
        before = len(parts)
        take("section", "Page section (text of the captured HTML)", section_text, original_chars=len(html))
        if section_cut:
            parts[before].cut = True
    else:
        parts.append(PartReport(name="section", original_chars=0))

    related = _related_lines(note)
    report = PartReport(name="related_notes", original_chars=sum(len(line) + 1 for line in related))
    kept_lines: list[str] = []
    if related:
        wrapper = tokens.count_text(_section("Other notes on the same page", "x"))
        room = remaining - wrapper
        for line in related:
            cost = tokens.count_text(line) + 1
            if cost > room:
                report.cut = True
                break
            kept_lines.append(line)
            room -= cost
        if kept_lines:
            text = "\n".join(kept_lines)
            blocks.append(_section("Other notes on the same page", text))
            report.kept_chars = len(text)
            report.kept_tokens = tokens.count_text(text)
    parts.append(report)

    prompt = _render(template, description_line, blocks)
    input_tokens = tokens.count_messages([{"role": "system", "content": system}, {"role": "user", "content": prompt}])
    return BuiltPrompt(
        system=system, prompt=prompt, template=f"{template_name(artifact_type)}_v{TEMPLATE_VERSION}", input_tokens=input_tokens,
        budget_tokens=budget, parts=parts, limits=limits,
    )
