"""No template holds user-facing text outside gettext.

Each template is lexed by Jinja itself; everything that is Jinja (``{{ … }}``, ``{% … %}``,
comments) becomes an opaque marker and the rest is read as HTML. What a person reads — text
between tags, and the attributes browsers show or speak (``alt``, ``title``, ``placeholder``,
``aria-label``, ``aria-description``, the ``value`` of input buttons, ``label`` of tracks and
options) — must
then contain no words of its own: only markers, numbers, punctuation and the few names that are
the same in every language (the product's name, the languages' own names).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.core.web import templates

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "templates"
MARKER = "\ue000"  # a private-use character: never in real template text
SPOKEN_ATTRIBUTES = {
    "alt",
    "title",
    "placeholder",
    "aria-label",
    "aria-description",
    "aria-roledescription",
    "aria-valuetext",
    "label",
}
BUTTON_INPUT_TYPES = {"submit", "button", "reset"}
# Code and sample file contents (a CSV example's e-mail addresses and names) are data, not prose.
CODE_TAGS = {"script", "style", "pre", "code", "kbd", "samp"}
# Names that are not translated: the product, and each language's name in that language
# (the language switcher shows "Tiếng Việt" and "English" whatever the page's language).
PROPER_NAMES = ("HọcSố", "Tiếng Việt", "English")
WORD = re.compile(r"[^\W\d_]{2,}")  # two letters or more in a row: a word someone reads


def template_names() -> list[str]:
    return sorted(str(p.relative_to(TEMPLATE_DIR)) for p in TEMPLATE_DIR.rglob("*.html"))


def html_without_jinja(source: str, name: str | None = None) -> str:
    """The HTML of a template with every Jinja construct replaced by one marker character (and
    the line breaks it spanned, so the parser's line numbers are the template's)."""
    out: list[str] = []
    inside = False
    line = 1
    for lineno, kind, value in templates.lex(source, name):
        if kind == "data" and not inside:
            out.append("\n" * (lineno - line) + value)
            line = lineno + value.count("\n")
        elif kind.endswith("_begin"):
            inside = True
            out.append(MARKER)
        elif kind.endswith("_end"):
            inside = False
    return "".join(out)


def words_in(text: str) -> list[str]:
    for proper in PROPER_NAMES:
        text = text.replace(proper, " ")
    return WORD.findall(text.replace(MARKER, " "))


class TextFinder(HTMLParser):
    """Collects (line, what) for every piece of readable text that is not a marker."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip = 0  # inside code (scripts, sample file lines), text is not prose

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE_TAGS:
            self._skip += 1
        values = dict(attrs)
        for attr, value in attrs:
            # A button's value is sent, not shown; an input button shows its value.
            spoken = attr in SPOKEN_ATTRIBUTES or (
                attr == "value" and tag == "input" and values.get("type") in BUTTON_INPUT_TYPES
            )
            if spoken and value and words_in(value):
                self.found.append((self.getpos()[0], f'<{tag} {attr}="{value}">'))

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE_TAGS and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and words_in(data):
            self.found.append((self.getpos()[0], data.replace(MARKER, "…").strip()[:60]))


def untranslated(name: str) -> list[tuple[int, str]]:
    finder = TextFinder()
    finder.feed(html_without_jinja((TEMPLATE_DIR / name).read_text(encoding="utf-8"), name))
    finder.close()
    return finder.found


@pytest.mark.parametrize("name", template_names())
def test_template_text_goes_through_gettext(name: str) -> None:
    found = untranslated(name)
    assert not found, f"{name}: text outside gettext (wrap it in {{{{ _('…') }}}}): {found[:5]}"


def test_the_check_finds_text_outside_gettext() -> None:
    """The checker itself: plain words and spoken attributes are caught, Jinja is not."""
    bad = TextFinder()
    bad.feed(html_without_jinja('<p>Xin chào {{ name }}</p><img alt="Ảnh bìa" src="{{ u }}">'))
    assert [what for _line, what in bad.found] == ["Xin chào …", '<img alt="Ảnh bìa">']
    good = TextFinder()
    good.feed(
        html_without_jinja(
            '<p>{{ _("Hello") }} · 1/2 — HọcSố</p><input type="submit" value="{{ _("Save") }}">'
            '<a class="btn" href="/x">{% if a %}{{ _("A") }}{% endif %}</a>'
        )
    )
    assert good.found == []
