"""The post sanitiser: Markdown in, HTML with nothing executable out (both layers)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.community.clubs.markup import clean_html, render_markdown

ALLOWED = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3"}
ALLOWED |= {"h4", "hr"}


class Tags(HTMLParser):
    """The real elements and attributes of a fragment (text that looks like a tag is text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_harmless(html: str) -> None:
    for tag, attrs in elements(html):
        assert tag in ALLOWED, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), name
            assert name in ("href", "rel", "start"), name
            if name == "href":
                scheme = (value or "").split(":", 1)[0].strip().lower()
                assert scheme in ("http", "https", "mailto"), value


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert('x')</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        '<img src=x onerror="alert(1)">',
        '<p onclick="alert(1)">hi</p>',
        "[bấm vào đây](javascript:alert(1))",
        "[bấm](JaVaScRiPt:alert(1))",
        "[bấm](java&#x09;script:alert(1))",
        "<javascript:alert(1)>",
        "[ref][1]\n\n[1]: javascript:alert(1)",
        "[dữ liệu](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![ảnh](data:image/svg+xml;base64,PHN2Zz4=)",
        "![ảnh](https://example.com/track.png)",
        '<div><p><b onclick="x"><a href="javascript:1">lồng nhau</a></b></p></div>',
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
        "[x](vbscript:msgbox(1))",
        '<a href="https://ok.example" onmouseover="alert(1)">raw</a>',
    ],
)
def test_dangerous_input_is_neutralised(source: str) -> None:
    html = render_markdown(source)
    assert_harmless(html)


def test_raw_html_is_shown_as_text_not_dropped() -> None:
    html = render_markdown("Thử <script>alert(1)</script> và <b>đậm</b>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;đậm&lt;/b&gt;" in html


def test_javascript_links_keep_their_text_but_lose_the_link() -> None:
    html = render_markdown("[bấm](java&#x09;script:alert(1))")
    assert "bấm" in html
    assert "href" not in html


def test_markdown_basics_survive_with_safe_links() -> None:
    html = render_markdown(
        "# Tiêu đề\n\n"
        "**đậm** *nghiêng* `mã`\n\n"
        "- một\n- hai\n\n"
        "1. a\n2. b\n\n"
        "> trích dẫn\n\n"
        "```\ncode <b>\n```\n\n"
        "[Bộ GD](https://moet.gov.vn) <mailto:gv@truong.edu.vn>"
    )
    assert "<h3>Tiêu đề</h3>" in html  # headings are shifted below the page's own
    assert "<strong>đậm</strong>" in html
    assert "<em>nghiêng</em>" in html
    assert "<code>mã</code>" in html
    assert "<ul>" in html
    assert "<ol>" in html
    assert "<blockquote>" in html
    assert "<pre><code>code &lt;b&gt;\n</code></pre>" in html
    assert '<a href="https://moet.gov.vn" rel="nofollow noopener">Bộ GD</a>' in html
    assert 'href="mailto:gv@truong.edu.vn"' in html
    assert_harmless(html)


def test_relative_links_are_not_links() -> None:
    # Only http, https and mailto: "//evil.example" or "/logout" lose their href.
    for source in ("[a](//evil.example)", "[a](/logout)"):
        assert "href" not in render_markdown(source)


def test_the_second_layer_cleans_html_on_its_own() -> None:
    dirty = (
        '<p onclick="x">a<script>alert(1)</script></p>'
        '<a href="javascript:alert(1)">b</a><a href="data:text/html,x">c</a>'
        '<img src=x onerror=alert(1)><h1>big</h1><a href="https://ok.example" target="_blank">d</a>'
    )
    html = clean_html(dirty)
    assert_harmless(html)
    assert "alert(1)" not in html  # script content is dropped, not kept as text
    assert '<a href="https://ok.example" rel="nofollow noopener">d</a>' in html
    assert "<h1>" not in html


def test_the_checker_itself_catches_dangerous_markup() -> None:
    for bad in ("<script>x</script>", '<p onclick="x">a</p>', '<a href="javascript:x">a</a>'):
        with pytest.raises(AssertionError):
            assert_harmless(bad)


def test_odd_input_never_fails() -> None:
    assert render_markdown("") == ""
    assert_harmless(render_markdown("<" * 1000 + "[" * 1000 + "*" * 1000))
    assert_harmless(render_markdown("\x00\ufeff<scr\x00ipt>"))
