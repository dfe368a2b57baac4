"""Plain text from untrusted page HTML, for showing a captured page section safely.

The HTML is never rendered: tags are dropped, the content of script/style-like elements is
dropped, block elements become paragraph breaks and ``<pre>`` keeps its whitespace. The
result is text, so templates escape it like any other string.

Captured HTML is hostile input. The standard library's ``html.parser`` is quadratic on
malformed markup (``"<a " * n``: 40 KB took 13 s, 100 KB 95 s; issue 19), so the events come
from libxml2's HTML push parser through lxml's parser-target interface instead: it is linear
(C, one pass, no tree is built, so deep nesting costs nothing) and recovers from any markup.
At most ``max_html`` characters are parsed (``NOTES_SECTION_PARSE_MAX_CHARS``, 2 MB by
default); a longer section is cut there and the caller is told, so the page can say so.
"""

import re

from lxml import etree

# Elements whose content is not readable text.
SKIP_CONTENT = frozenset({"script", "style", "template", "noscript", "head", "title"})
BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tr", "ul",
    }
)  # fmt: skip
CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")
_FEED_CHUNK = 64 * 1024
DEFAULT_MAX_HTML = 2_000_000  # characters of HTML parsed at most; see NOTES_SECTION_PARSE_MAX_CHARS


class _TextExtractor:
    """An lxml parser target: libxml2 calls start/end/data as it reads (text arrives in pieces,
    entities already decoded)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self._skip = 0
        self._pre = 0
        self._breaks = 0  # newlines owed before the next text
        self._prefix = ""
        self._pending: list[str] = []  # text pieces not yet processed (see data)

    def _owe(self, newlines: int) -> None:
        self._breaks = max(self._breaks, newlines)

    def _at_line_start(self) -> bool:
        return not self.parts or self._breaks > 0 or self.parts[-1].endswith("\n")

    def _emit(self, text: str) -> None:
        if self.parts and self._breaks:
            text = "\n" * self._breaks + self._prefix + text
        else:
            text = self._prefix + text
        self._breaks = 0
        self._prefix = ""
        self.parts.append(text)
        self.length += len(text)

    def start(self, tag: str, attrib) -> None:
        self.flush()
        if tag in SKIP_CONTENT:
            self._skip += 1
        elif self._skip:
            return
        elif tag == "br":
            self._emit("\n")
        elif tag == "li":
            self._owe(1)
            self._prefix = "- "
        elif tag in BLOCKS:
            self._owe(2)
            if tag == "pre":
                self._pre += 1

    def end(self, tag: str) -> None:
        self.flush()
        if tag in SKIP_CONTENT:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag == "li":
            self._owe(1)
        elif tag in BLOCKS:
            self._owe(2)
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag in CELLS and not self._at_line_start():
            self._emit(" ")

    def data(self, data: str) -> None:
        # libxml2 hands over text in pieces, down to one piece per character for "<<<<": keep
        # them and process the run once, at the next tag (the result is the same).
        if not self._skip and data:
            self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = "".join(self._pending)
        self._pending.clear()
        if self._pre:
            self._emit(data)
            return
        text = _SPACES.sub(" ", data)
        if self._at_line_start():
            text = text.lstrip()
        elif self.parts[-1].endswith(" "):
            text = text.lstrip()
        if text:
            self._emit(text)

    def comment(self, text: str) -> None:
        pass

    def close(self) -> None:
        self.flush()


def _parser(target: _TextExtractor) -> etree.HTMLParser:
    # no_network: libxml2 never fetches a DTD; huge_tree: no depth/size limit that would make
    # it give up on (and silently drop the rest of) a deeply nested section.
    return etree.HTMLParser(target=target, recover=True, no_network=True, huge_tree=True,
                            remove_comments=True, remove_pis=True)


def extract_text(html: str, limit: int | None = None, max_html: int | None = DEFAULT_MAX_HTML) -> tuple[str, bool]:
    """Readable text of ``html`` and whether it was cut.

    With ``limit``, parsing stops once that many characters are collected (a 10 MB page
    section need not be parsed to show its first screens) and at most ``limit`` characters
    are returned. At most ``max_html`` characters of HTML are parsed (None: all of it).
    ``cut`` is true when either bound left something out.
    """
    html = html or ""
    cut = max_html is not None and len(html) > max_html
    if cut:
        html = html[:max_html]
    target = _TextExtractor()
    parser = _parser(target)
    complete = True
    for start in range(0, len(html), _FEED_CHUNK):
        parser.feed(html[start : start + _FEED_CHUNK])
        target.flush()
        if limit is not None and target.length > limit:
            complete = False
            break
    if html and complete:
        try:
            parser.close()
        except etree.XMLSyntaxError:  # pragma: no cover - recover=True reports nothing, kept as a guard
            pass
    target.flush()
    lines = "".join(target.parts).split("\n")
    text = "\n".join(line.rstrip() for line in lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    if limit is not None and len(text) > limit:
        return text[:limit], True
    return text, cut or not complete


def html_to_text(html: str, limit: int | None = None, max_html: int | None = DEFAULT_MAX_HTML) -> str:
    """Readable text of ``html``; with ``limit``, stop parsing once that many characters are
    collected and return at most ``limit`` characters (see ``extract_text``)."""
    return extract_text(html, limit=limit, max_html=max_html)[0]
