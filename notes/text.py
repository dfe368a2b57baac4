"""Plain text from untrusted page HTML, for showing a captured page section safely.

The HTML is never rendered: tags are dropped, the content of script/style-like elements is
dropped, block elements become paragraph breaks and ``<pre>`` keeps its whitespace. The
result is text, so templates escape it like any other string.
"""

import re
from html.parser import HTMLParser

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


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self._skip = 0
        self._pre = 0
        self._breaks = 0  # newlines owed before the next text
        self._prefix = ""

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

    def handle_starttag(self, tag: str, attrs) -> None:
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

    def handle_endtag(self, tag: str) -> None:
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

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
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


def html_to_text(html: str, limit: int | None = None) -> str:
    """Readable text of ``html``; with ``limit``, stop parsing once that many characters are
    collected (a 10 MB page section need not be parsed to show its first screens) and
    return at most ``limit`` characters."""
    parser = _TextExtractor()
    complete = True
    for start in range(0, len(html), _FEED_CHUNK):
        parser.feed(html[start : start + _FEED_CHUNK])
        if limit is not None and parser.length > limit:
            complete = False
            break
    if complete:
        parser.close()
    lines = "".join(parser.parts).split("\n")
    text = "\n".join(line.rstrip() for line in lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
    return text if limit is None else text[:limit]
