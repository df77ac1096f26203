"""A crawler over the demo site: signed in through the sign-in page as one demo account of each
role, it walks the pages breadth-first from ``/`` following the site's own ``<a href>`` links.

What ``hocso demo`` loads (the same loaders, in the test's rolled-back transaction and the app's
blob store) is the world. Per role, at most ``MAX_PAGES`` pages and ``MAX_QUERIES_PER_PATH``
distinct query strings per path (pagination, filters and sort orders would otherwise multiply
the pages); skipped: ``/static/``, sign-out, other sites, ``mailto:``/``tel:``/``javascript:``,
fragments, and redirects leaving the site (presigned S3 addresses).

Asserted per role:

- no response is a 5xx;
- no followed link answers 404 (a broken link);
- no followed link answers 401/403 or sends to the sign-in page: a page should not offer a
  link its reader may not open (``FORBIDDEN_LINKS`` lists the legitimate ones, with a reason);
- every HTML page has ``<html lang=…>`` and a non-empty ``<title>``.

Problems already known are listed in ``KNOWN`` with their reason: the test then xfails
(strictly — an entry no longer observed fails the test, so it is removed once fixed)."""

from __future__ import annotations

import re
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app.accounts.demo import DEMO_PASSWORD
from app.accounts.models import User
from app.core.config import Settings
from tests.support.demo import load_demo

Login = Callable[[str, str], TestClient]

MAX_PAGES = 250
MAX_QUERIES_PER_PATH = 3  # distinct query strings per path
MAX_PER_SHAPE = 8  # distinct URLs per path shape, digits standing for any id: /admin/users/N
HOST = "testserver"

# One real demo account per role (app/accounts/demo.py, DEMO_USERS).
ACCOUNTS = {
    "admin": "admin@tancuong.edu.vn",
    "school_manager": "quanly.th@tancuong.edu.vn",
    "author": "tacgia@tancuong.edu.vn",
    "teacher": "gv.th@tancuong.edu.vn",
    "student": "hs.thcs1@tancuong.edu.vn",
}

SKIPPED_PATHS = ("/static/", "/logout")
# The language switcher (?lang=) is on every page: the same page in the other language. It is
# dropped from queries, so a link to the page itself in another language is not followed again.
DROPPED_PARAMS = {"lang"}
SKIPPED_SCHEMES = ("mailto", "tel", "javascript", "data", "sms")

# (role, path) of links shown to a role that answer 401/403 on purpose: reason.
FORBIDDEN_LINKS: dict[tuple[str, str], str] = {}

# Problems found and not fixed yet, as (role, kind, url): reason. kind is "5xx", "404",
# "forbidden" or "html". Observed exactly: an entry no longer seen fails the test.
KNOWN: dict[tuple[str, str, str], str] = {}


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
VOID |= {"track", "wbr"}


class _Page(HTMLParser):
    """Links, ``<html lang>`` and ``<title>`` of a page. Links inside an element with the
    ``hidden`` attribute (shown by a page script once it applies, e.g. the player's "See your
    certificate" when the course is completed) are kept apart: not offered to the reader."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.hidden_links: list[str] = []
        self.lang: str | None = None
        self.title: str | None = None
        self._in_title = False
        self._hidden: list[tuple[str, int]] = []  # (tag, depth of that tag) of hidden elements
        self._depth: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in VOID:
            self._depth[tag] = self._depth.get(tag, 0) + 1
            if "hidden" in a:
                self._hidden.append((tag, self._depth[tag]))
        if tag == "a" and a.get("href"):
            (self.hidden_links if self._hidden else self.links).append(a["href"] or "")
        elif tag == "html" and self.lang is None:
            self.lang = (a.get("lang") or "").strip()
        elif tag == "title" and self.title is None:
            self._in_title = True
            self.title = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._depth.get(tag):
            if self._hidden and self._hidden[-1] == (tag, self._depth[tag]):
                self._hidden.pop()
            self._depth[tag] -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data


@dataclass
class Crawl:
    role: str
    visited: dict[str, int] = field(default_factory=dict)  # url → status
    problems: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, url) → detail
    skipped: int = 0  # links not followed: over the query or shape limits
    truncated: bool = False


def internal(base: str, href: str) -> str | None:
    """The site-relative URL a link leads to, or None when it is not to be followed."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.scheme.lower() in SKIPPED_SCHEMES:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc != HOST:
        return None
    path = parts.path or "/"
    if path.startswith(SKIPPED_PATHS):
        return None
    params = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode(sorted((k, v) for k, v in params if k not in DROPPED_PARAMS))
    return path + (f"?{query}" if query else "")


def _origin(exc: BaseException) -> str:
    """file:line of the innermost frame of the project (app/ or templates/) in the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/app/" in f.filename or "/templates/" in f.filename]
    frame = (ours or frames)[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def crawl(client: TestClient, role: str, start: str = "/") -> Crawl:
    """Breadth-first from ``start``; each URL with the first page that linked it and whether
    that link was shown (outside ``hidden`` elements)."""
    result = Crawl(role)
    base = f"http://{HOST}"
    queue: deque[tuple[str, str, bool]] = deque([(start, "(start)", True)])
    seen = {start}
    queries: dict[str, set[str]] = {}
    shapes: dict[str, int] = {}
    while queue:
        if len(result.visited) >= MAX_PAGES:
            result.truncated = True
            break
        url, referrer, shown = queue.popleft()
        where = f"{url} (linked from {referrer}{'' if shown else ', hidden link'})"

        def add(kind: str, detail: str, url: str = url) -> None:
            result.problems.setdefault((kind, url), detail)

        try:
            response = client.get(url, follow_redirects=False)
        except Exception as exc:  # the TestClient raises what the app did not handle: a 500
            result.visited[url] = 500
            add("5xx", f"500 at {where}: {type(exc).__name__}: {exc} ({_origin(exc)})")
            continue
        status = response.status_code
        result.visited[url] = status
        path = urlsplit(url).path
        if status >= 500:
            add("5xx", f"{status} at {where}: {response.text[:300]!r}")
            continue
        if status == 404:
            if shown:
                add("404", f"404 at {where}")
            continue
        if status in (401, 403):
            if shown and (role, path) not in FORBIDDEN_LINKS:
                add("forbidden", f"{status} at {where}")
            continue
        targets: list[tuple[str, bool]] = []
        if status in (301, 302, 303, 307, 308):
            target = internal(base + url, response.headers.get("location", ""))
            if target is not None and urlsplit(target).path == "/login":
                if shown:
                    add("forbidden", f"{status} to the sign-in page at {where}")
                continue
            if target is not None:  # None: another site (a presigned S3 address)
                targets.append((target, shown))
        content_type = response.headers.get("content-type", "")
        if status == 200 and content_type.startswith("text/html"):
            page = _Page()
            page.feed(response.text)
            if not page.lang:
                add("html", f"no <html lang> at {where}")
            if not (page.title or "").strip():
                add("html", f"empty or missing <title> at {where}")
            for hrefs, visible in ((page.links, True), (page.hidden_links, False)):
                targets.extend((t, visible) for href in hrefs if (t := internal(base + url, href)))
        for target, visible in targets:
            if target in seen:
                continue
            target_path, _, query = target.partition("?")
            shape = re.sub(r"\d+", "N", target_path)
            variants = queries.setdefault(target_path, set())
            if shapes.get(shape, 0) >= MAX_PER_SHAPE or (
                query and len(variants) >= MAX_QUERIES_PER_PATH
            ):
                result.skipped += 1
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            if query:
                variants.add(query)
            seen.add(target)
            queue.append((target, url, visible))
    return result


@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_crawl_as_each_role(
    role: str,
    client: TestClient,
    db: Session,
    settings: Settings,
    page_login: Login,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.perf_counter()
    load_demo(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]
    email = ACCOUNTS[role]
    user = db.scalars(select(User).where(User.email == email)).one()
    assert user.role == role, f"{email} is a {user.role}, not a {role}"
    page_login(email, DEMO_PASSWORD)

    result = crawl(client, role)
    elapsed = time.perf_counter() - started

    with capsys.disabled():
        print(
            f"\n[crawl] {role}: {len(result.visited)} pages in {elapsed:.1f}s"
            f"{' (page limit reached)' if result.truncated else ''},"
            f" {result.skipped} links over the limits, {len(result.problems)} problem(s)"
        )
        for (kind, _url), detail in sorted(result.problems.items()):
            print(f"[crawl]   {kind}: {detail}")

    assert result.visited.get("/") == 200, "the home page did not open"
    assert len(result.visited) > 5, f"only {sorted(result.visited)} reached: links not followed?"

    observed = {(role, kind, url) for kind, url in result.problems}
    known = {key for key in KNOWN if key[0] == role}
    unexpected = sorted(observed - known)
    assert not unexpected, "\n".join(
        result.problems[(kind, url)] for _role, kind, url in unexpected
    )
    gone = sorted(known - observed)
    assert not gone, f"fixed? remove these KNOWN entries: {gone}"
    if known:
        pytest.xfail("; ".join(f"{kind} {url}: {KNOWN[(r, kind, url)]}" for r, kind, url in known))


def test_the_crawler_reports_what_it_should() -> None:
    """The crawler itself, on a small site of its own: every kind of problem is reported, and
    what is not to be followed is not."""

    def page(body: str, title: str = "A page", lang: str = ' lang="en"') -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><html{lang}><title>{title}</title><body>{body}")

    home = """<a href="/ok?page=1">1</a> <a href="/ok?page=2&lang=vi">2</a>
        <a href="/ok?page=3">3</a> <a href="/ok?page=4">4</a> <a href="/ok?page=5">5</a>
        <a href="/gone">broken</a> <a href="/secret">forbidden</a> <a href="/boom">error</a>
        <a href="/untitled">untitled</a> <a href="/nolang">no lang</a> <a href="/moved">moved</a>
        <a href="/members">sign-in</a> <a href="/report.csv">csv</a> <a href="/crash">bug</a>
        <p hidden><a href="/later">hidden until it applies</a></p>
        <a href="/logout">out</a> <a href="/static/x.css">css</a> <a href="#top">top</a>
        <a href="mailto:a@b.c">mail</a> <a href="tel:+84">tel</a> <a href="https://x.org/">x</a>
        <a href="//other.example/">other</a>"""
    routes = {
        "/": lambda r: page(home),
        "/ok": lambda r: page("fine"),
        "/secret": lambda r: Response(status_code=403),
        "/boom": lambda r: PlainTextResponse("kaput", status_code=500),
        "/untitled": lambda r: page("", title="  "),
        "/nolang": lambda r: page("", lang=""),
        "/moved": lambda r: RedirectResponse("/gone-too", status_code=307),
        "/members": lambda r: RedirectResponse("/login?next=/members", status_code=303),
        "/crash": lambda r: 1 / 0,
        "/report.csv": lambda r: PlainTextResponse("a,b\n", media_type="text/csv"),
    }

    async def endpoint(request: Request) -> Response:
        handler = routes.get(request.url.path)
        if handler is None:
            if request.url.path in ("/logout", "/static/x.css"):
                return PlainTextResponse("must not be fetched", status_code=500)
            return PlainTextResponse("not found", status_code=404)
        return handler(request)

    site = Starlette(routes=[Route("/{path:path}", endpoint)])
    with TestClient(site, base_url=f"http://{HOST}") as client:
        result = crawl(client, "student")

    assert set(result.problems) == {
        ("404", "/gone"),
        ("404", "/gone-too"),
        ("forbidden", "/secret"),
        ("forbidden", "/members"),
        ("5xx", "/boom"),
        ("5xx", "/crash"),
        ("html", "/untitled"),
        ("html", "/nolang"),
    }, result.problems
    assert "/later" in result.visited  # hidden: followed, its 404 not a broken link
    assert result.problems[("404", "/gone-too")].endswith("(linked from /moved)")
    pages = {url for url in result.visited if url.startswith("/ok")}
    assert pages == {"/ok?page=1", "/ok?page=2", "/ok?page=3"}  # lang dropped, 3 queries
    assert not any(u.startswith(("/logout", "/static")) for u in result.visited)
    assert result.visited["/report.csv"] == 200
    assert "ZeroDivisionError" in result.problems[("5xx", "/crash")]
