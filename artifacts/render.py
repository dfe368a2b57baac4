"""LLM output to safe HTML: Markdown rendered, then sanitised with nh3 (the model's text is untrusted).

Markdown passes raw HTML through, so the sanitiser is the guarantee: a short list of tags,
no script/style (their content dropped too), no event handlers or style attributes, links
only to http(s) and marked nofollow.

The renderer is cmark-gfm (C, through cmarkgfm): GitHub's CommonMark parser, written to be
linear on pathological input (its test suite has nested brackets, emphasis runs, quotes and
backticks). Python-Markdown, used before, took 13 s on 10 KB of ``[`` (issue 19).
Highlighting is a linear pass over the rendered fenced blocks (Pygments, blocks up to
HIGHLIGHT_MAX_CHARS; longer ones are shown plain).
"""

import html as html_lib

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from lxml import etree

try:  # code highlighting when Pygments is installed; plain <pre><code> otherwise
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    HIGHLIGHT = True
except ImportError:  # pragma: no cover
    HIGHLIGHT = False

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "b", "i", "code",
    "pre", "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "sup", "sub", "del",
    "dl", "dt", "dd",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
# Raw HTML is kept (the sanitiser decides); GFM tables, strikethrough and tag filter, as the
# Python-Markdown setup had tables (no bare-URL autolinks, as before).
CMARK_OPTIONS = Options.CMARK_OPT_UNSAFE
CMARK_EXTENSIONS = ["table", "strikethrough", "tagfilter"]
HIGHLIGHT_MAX_CHARS = 20_000  # a fenced block longer than this is not highlighted (Pygments' cost is its lexers')
# nh3's HTML parser (html5ever) costs O(depth) per element, so 8,000 nested quotes took 0.25 s
# and 200,000 took minutes: text whose HTML nests deeper than this is shown unformatted.
MAX_NESTING = 100
_OPEN, _CLOSE, _LANG = "<pre><code", "</code></pre>", ' class="language-'


def _highlighted(lang: str, escaped_code: str) -> str:
    if HIGHLIGHT and lang and len(escaped_code) <= HIGHLIGHT_MAX_CHARS:
        try:
            lexer = get_lexer_by_name(lang)
        except ClassNotFound:
            lexer = None
        if lexer is not None:
            code = highlight(html_lib.unescape(escaped_code), lexer, HtmlFormatter(nowrap=True))
            return f'<div class="highlight"><pre><code>{code}</code></pre></div>'
    return f'<div class="highlight"><pre><code>{escaped_code}</code></pre></div>'


def _highlight_blocks(html: str) -> str:
    """Fenced code blocks as Pygments-highlighted ``div.highlight`` (codehilite's shape).

    One forward scan with ``str.find``: each block is read once, and an opening without a
    closing ends the scan, so hostile output stays linear."""
    out: list[str] = []
    pos = 0
    while True:
        start = html.find(_OPEN, pos)
        if start < 0:
            break
        tag_end = html.find(">", start + len(_OPEN))
        close = html.find(_CLOSE, tag_end + 1) if tag_end >= 0 else -1
        if close < 0:
            break
        attrs = html[start + len(_OPEN) : tag_end]
        lang = ""
        if attrs.startswith(_LANG) and attrs.endswith('"'):
            lang = attrs[len(_LANG) : -1]
        elif attrs:
            out.append(html[pos : close + len(_CLOSE)])
            pos = close + len(_CLOSE)
            continue
        out.append(html[pos:start])
        out.append(_highlighted(lang, html[tag_end + 1 : close]))
        pos = close + len(_CLOSE)
    out.append(html[pos:])
    return "".join(out)


class _Depth:
    """lxml parser target measuring how deep the elements nest (libxml2 parses in linear time)."""

    def __init__(self) -> None:
        self.depth = self.deepest = 0

    def start(self, tag, attrib) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)

    def end(self, tag) -> None:
        self.depth -= 1

    def data(self, data) -> None:
        pass

    def close(self) -> int:
        return self.deepest


def nesting_depth(html: str) -> int:
    if not html.strip():
        return 0
    parser = etree.HTMLParser(target=_Depth(), recover=True, no_network=True, huge_tree=True)
    parser.feed(html)
    return parser.close() - 2  # the <html><body> libxml2 adds


def sanitize(html: str) -> str:
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow", strip_comments=True,
    )


def markdown_to_html(text: str) -> SafeString:
    html = cmarkgfm.markdown_to_html_with_extensions(text or "", options=CMARK_OPTIONS, extensions=CMARK_EXTENSIONS)
    if nesting_depth(html) > MAX_NESTING:
        return mark_safe(  # noqa: S308 (escaped text in fixed markup)
            f'<p class="muted">This text nests more than {MAX_NESTING} levels deep, so it is shown unformatted.</p>'
            f"<pre>{escape(text)}</pre>"
        )
    return mark_safe(sanitize(_highlight_blocks(html)))  # noqa: S308 (sanitised just above)
