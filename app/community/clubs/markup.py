"""Markdown of discussion posts, rendered to HTML that is safe to put in a page.

Two layers, so that a gap in one is closed by the other:

1. markdown-it-py in CommonMark mode with raw HTML **disabled**: ``<script>`` or ``<img
   onerror=...>`` typed in a post is escaped as text, never passed through. Images are
   switched off (no tracking pixels, no ``data:`` payloads); headings are shifted down to
   h3/h4 so a post cannot out-shout the page's own headings.
2. nh3 (ammonia) cleans the result against a small allow-list: paragraphs, line breaks,
   emphasis, code, quotes, lists, h3/h4, rules and links whose ``href`` is http, https or
   mailto (anything else, relative or ``javascript:``/``data:``, loses its ``href``); every
   link gets ``rel="nofollow noopener"``.

The stored text is always the raw Markdown; this module is called when a post is shown.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "strong",
        "em",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "h3",
        "h4",
        "hr",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.disable("image")
    return parser


def render_markdown(source: str) -> str:
    """Sanitised HTML for ``source`` (Markdown). Never raises on odd input."""
    parser = _parser()
    tokens = parser.parse(source or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = "h3" if token.tag in ("h1", "h2", "h3") else "h4"
    html = parser.renderer.render(tokens, parser.options, {})
    return clean_html(html)


def clean_html(html: str) -> str:
    """The allow-list cleaning alone (also the guard for anything not from ``render_markdown``)."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        url_relative="deny",
        strip_comments=True,
    )
