"""LLM output to safe HTML: Markdown rendered, then sanitised with nh3 (the model's text is untrusted).

Markdown passes raw HTML through, so the sanitiser is the guarantee: a short list of tags,
no script/style (their content dropped too), no event handlers or style attributes, links
only to http(s) and marked nofollow.
"""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

try:  # code highlighting when Pygments is installed; plain <pre><code> otherwise
    import pygments  # noqa: F401

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


def _extensions() -> tuple[list, dict]:
    extensions = ["fenced_code", "tables", "sane_lists"]
    configs = {}
    if HIGHLIGHT:
        extensions.append("codehilite")
        configs["codehilite"] = {"css_class": "highlight", "guess_lang": False}
    return extensions, configs


def sanitize(html: str) -> str:
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow", strip_comments=True,
    )


def markdown_to_html(text: str) -> SafeString:
    extensions, configs = _extensions()
    html = markdown.markdown(text or "", extensions=extensions, extension_configs=configs, output_format="html")
    return mark_safe(sanitize(html))  # noqa: S308 (sanitised just above)
