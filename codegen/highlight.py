"""Syntax highlighting for the file browser (Pygments), with the output sanitised before it is trusted."""

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

try:
    from pygments import highlight as _highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound
except ImportError:  # pragma: no cover - plain escaped text without Pygments
    _highlight = None

MAX_HIGHLIGHT_BYTES = 300_000


def highlighted(path: str, content: str) -> SafeString:
    """HTML for the inside of ``<pre><code>``: Pygments spans, or the escaped text."""
    if _highlight is None or len(content) > MAX_HIGHLIGHT_BYTES:
        return escape(content)
    try:
        lexer = get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False, ensurenl=False)
    html = _highlight(content, lexer, HtmlFormatter(nowrap=True))
    # Pygments escapes the code itself; the sanitiser guarantees nothing but class-only spans survives.
    return mark_safe(nh3.clean(html, tags={"span"}, attributes={"span": {"class"}}, link_rel=None))
