"""The one Content-Security-Policy allowance: pages that draw Mermaid diagrams.

Mermaid (through D3) sets ``style="…"`` attributes on the SVG it draws and puts the diagram's
theme in a ``<style>`` element inside it, both of which the site-wide ``style-src 'self'``
blocks (the diagram then renders unstyled, with a console error each). Those pages, and only
those, get ``style-src-attr 'unsafe-inline'`` and ``style-src-elem 'self' 'unsafe-inline'``.
Scripts stay 'self' only; the sanitised Markdown never carries a style attribute or element
(nh3 drops them) and captured HTML is never rendered. Inline CSS cannot load anything from
elsewhere either: img-src, font-src and default-src stay 'self'.
"""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update

allow_diagram_styles = csp_update({"style-src-attr": [UNSAFE_INLINE], "style-src-elem": [SELF, UNSAFE_INLINE]})
