"""Attack drills, as tests: stored XSS on every page, security headers on every response, CSRF
on every unsafe page route, session fixation, sign-in throttling, open redirects through
``next=``, SSRF (the server fetches no user URL) and SQL injection through search and filter
parameters. Routes come from the app's route table, so a new route is drilled too."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.accounts import auth
from app.core.config import PROJECT_ROOT, Settings
from app.core.errors import InvalidInput
from app.core.security import csrf_token
from app.core.storage import BlobStore
from app.core.web import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE
from tests.factories import PASSWORD, make_org, make_user
from tests.security.attack_world import (
    FIELDS,
    TEMPLATE_RESULT,
    AttackWorld,
    build_attack_world,
    expand,
    is_api,
    query_params,
    routes,
    scan,
)

CSRF_SEED = "attack-drill-csrf-seed"


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> AttackWorld:
    store: BlobStore = client.app.state.blob_store  # type: ignore[attr-defined]
    return build_attack_world(db, settings, store)


def sign_in(client: TestClient, world: AttackWorld, who: str) -> TestClient:
    """Page session and API token of ``who`` (English pages, a known CSRF seed)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, world.people[who].cookie)
    client.cookies.set(CSRF_COOKIE, CSRF_SEED)
    client.cookies.set(LANG_COOKIE, "en")
    client.headers["Authorization"] = f"Bearer {world.people[who].token}"
    return client


def get_routes(app: FastAPI, *, api: bool) -> list[str]:
    return [
        path
        for method, path, _route in routes(app)
        if method == "GET" and is_api(path) == api and path not in ("/docs",)
    ]


# --- Stored XSS -----------------------------------------------------------------------------

# Downloads, exports and calendars: not HTML (their headers are checked below).
NOT_HTML = re.compile(r"\.(pdf|xlsx|csv|ics|json|\{extension\})$|/file$|/files/\{file_id\}$")


def test_stored_xss_payloads_are_escaped_on_every_page(
    client: TestClient, app: FastAPI, world: AttackWorld
) -> None:
    """Every GET page, as each kind of user, parsed: no executable markup anywhere, no
    template evaluated, and every field's marker seen (escaped) on at least one page."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    pages = [p for p in get_routes(app, api=False) if not NOT_HTML.search(p)]
    shown_to_admin: set[str] = set()
    shown = 0
    # Admins see nearly everything; learners and teachers see their own views of the same
    # pages (my entry, my attempt, my clubs); authors and managers what admins do not reach.
    for who in ("admin", "student", "teacher", "author", "manager"):
        sign_in(client, world, who)
        for path in pages:
            for url in expand(path, world.ids):
                if who in ("author", "manager") and url in shown_to_admin:
                    continue
                response = client.get(url, follow_redirects=False)
                assert response.status_code < 500, (who, url, response.text[:300])
                if not response.headers.get("content-type", "").startswith("text/html"):
                    continue
                shown += 1
                if who == "admin" and response.status_code == 200:
                    shown_to_admin.add(url)
                page = scan(response.text)
                problems += [f"{who} {url}: {p}" for p in page.problems]
                if TEMPLATE_RESULT in response.text:
                    problems.append(f"{who} {url}: a template expression was evaluated")
                text = "\n".join(page.texts)
                for marker in FIELDS:
                    if marker in text:
                        seen.setdefault(marker, f"{who} {url}")
    assert shown > 100  # the sweep really rendered pages
    assert not problems, "\n".join(problems[:40])
    missing = {m: f for m, f in FIELDS.items() if m not in seen}
    assert not missing, f"fields never shown on a page (extend the sweep): {missing}"


def test_script_urls_are_refused_where_links_are_stored(
    client: TestClient, world: AttackWorld
) -> None:
    admin = {"Authorization": f"Bearer {world.people['admin'].token}"}
    author = {"Authorization": f"Bearer {world.people['author'].token}"}
    event_id = world.ids["event_id"][0]
    partner_id = world.ids["partner_id"][0]
    for url in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "//evil.example/x",
    ):
        link = client.post(
            "/api/v1/content",
            headers=author,
            json={"title": "Liên kết", "kind": "link", "url": url},
        )
        assert link.status_code == 422, (url, link.text)
        event = client.patch(f"/api/v1/events/{event_id}", headers=admin, json={"online_url": url})
        assert event.status_code == 422, (url, event.text)
        partner = client.patch(
            f"/api/v1/partners/{partner_id}", headers=admin, json={"website": url}
        )
        assert partner.status_code == 422, (url, partner.text)


# --- Security headers -----------------------------------------------------------------------

REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}
FILE_ROUTES = re.compile(r"/(file|files/\{file_id\})$")


def csp_directives(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def header_problems(path: str, headers: Any) -> list[str]:
    problems = []
    if headers.get("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if headers.get("referrer-policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('referrer-policy')!r}")
    csp = headers.get("content-security-policy")
    if not csp:
        return [*problems, "no Content-Security-Policy"]
    directives = csp_directives(csp)
    scripts = directives.get("script-src", directives.get("default-src", ["*"]))
    if "'unsafe-inline'" in scripts or "'unsafe-eval'" in scripts or "*" in scripts:
        problems.append(f"scripts allowed inline or from anywhere: {csp}")
    ancestors = directives.get("frame-ancestors")
    if FILE_ROUTES.search(path):
        # Uploaded files are previewed in the app's own pages (PDF viewer): 'self' may frame
        # them, and anything else runs sandboxed.
        if ancestors not in (["'none'"], ["'self'"]):
            problems.append(f"file framed by others: {csp}")
    elif ancestors != ["'none'"] and headers.get("x-frame-options") != "DENY":
        problems.append(f"may be framed: {csp}")
    return problems


def test_security_headers_on_every_page_and_api_response(
    client: TestClient, app: FastAPI, world: AttackWorld
) -> None:
    sign_in(client, world, "admin")
    problems = []
    checked = 0
    for api in (False, True):
        extra = ["/docs", "/static/css/app.css", "/no-such-page"]
        for path in [*get_routes(app, api=api), *extra]:
            for url in expand(path, world.ids, every=False):
                response = client.get(url, follow_redirects=False)
                checked += 1
                problems += [
                    f"{url} ({response.status_code}): {p}"
                    for p in header_problems(path, response.headers)
                ]
    assert checked > 120
    assert not problems, "\n".join(problems)


# --- CSRF -----------------------------------------------------------------------------------

CSRF_MESSAGES = ("did not come from this site", "The page has expired", "csrf_failed")


def unsafe_page_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path, _route in routes(app)
        if method in ("POST", "PUT", "PATCH", "DELETE") and not is_api(path)
    ]


def test_every_unsafe_page_route_refuses_a_missing_or_forged_csrf_token(
    client: TestClient, app: FastAPI, settings: Settings, world: AttackWorld
) -> None:
    sign_in(client, world, "admin")
    other_browser = csrf_token(settings, "another-browser-seed")
    forged = "0" * len(other_browser)
    failures = []
    unsafe = unsafe_page_routes(app)
    assert len(unsafe) > 60
    for method, path in unsafe:
        url = expand(path, world.ids, every=False)[0]
        for token in (None, forged, other_browser):
            headers = {"X-CSRF-Token": token} if token else {}
            data = {"csrf_token": token} if token else {"title": "x"}
            response = client.request(
                method,
                url,
                params={"csrf_token": token} if token else None,
                headers=headers,
                data=data,
                follow_redirects=False,
            )
            if response.status_code != 403 or not any(m in response.text for m in CSRF_MESSAGES):
                failures.append(
                    f"{method} {url} token={token!r}: {response.status_code} "
                    + re.sub(r"\s+", " ", response.text)[-300:]
                )
    assert not failures, "\n".join(failures)


def test_the_api_ignores_session_cookies(
    client: TestClient, app: FastAPI, world: AttackWorld
) -> None:
    """The API authenticates by bearer token only, so a cross-site form cannot use a browser's
    session there (which is why the API needs no CSRF token)."""
    sign_in(client, world, "admin")
    del client.headers["Authorization"]
    open_routes = {"/api/v1/auth/token", "/api/v1/auth/activate"}
    for method, path, _route in routes(app):
        if method in ("POST", "PUT", "PATCH", "DELETE") and path.startswith("/api/"):
            if path in open_routes:
                continue
            url = expand(path, world.ids, every=False)[0]
            response = client.request(method, url, json={})
            assert response.status_code == 401, (method, url, response.status_code)


# --- Sessions, throttling, redirects -----------------------------------------------------


def login_form(client: TestClient, email: str, password: str, next_: str | None = None) -> Any:
    client.cookies.delete(CSRF_COOKIE)  # the seed the last sign-in rotated
    client.cookies.set(CSRF_COOKIE, CSRF_SEED)
    data = {
        "email": email,
        "password": password,
        "csrf_token": csrf_token(client.app.state.settings, CSRF_SEED),  # type: ignore[attr-defined]
    }
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data, follow_redirects=False)


def test_a_session_id_set_before_sign_in_is_never_the_one_after(
    client: TestClient, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    victim = make_user(db, settings, organization=school)
    attacker = make_user(db, settings, organization=school, password=None)
    # 1. An id the attacker made up.
    client.cookies.set(SESSION_COOKIE, "attacker-chosen-session-id")
    response = login_form(client, victim.email, PASSWORD)
    assert response.status_code == 303
    after = response.cookies.get(SESSION_COOKIE)
    assert after
    assert after != "attacker-chosen-session-id"
    # 2. The attacker's own valid session, planted in the victim's browser.
    planted = auth.start_web_session(db, settings, attacker)
    db.commit()
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted)
    seed_before = CSRF_SEED
    response = login_form(client, victim.email, PASSWORD)
    fresh = response.cookies.get(SESSION_COOKIE)
    assert fresh
    assert fresh != planted
    assert response.cookies.get(CSRF_COOKIE) not in (None, seed_before)  # CSRF seed rotated
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted)  # the old id no longer signs anyone in
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    client.cookies.set(SESSION_COOKIE, fresh)
    assert client.get("/", follow_redirects=False).status_code == 200


def test_sign_in_is_throttled_per_account_on_the_page_and_the_api(
    client: TestClient, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    user = make_user(db, settings, organization=school)
    limit = settings.login_max_failures_per_account
    for _ in range(limit):
        assert login_form(client, user.email, "wrong-password").status_code == 401
    locked = login_form(client, user.email, PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    api = client.post("/api/v1/auth/token", data={"username": user.email, "password": PASSWORD})
    assert api.status_code == 429
    assert int(api.headers["retry-after"]) > 0
    # Another account is not locked by these failures.
    other = make_user(db, settings, organization=school)
    assert login_form(client, other.email, PASSWORD).status_code == 303


HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "https:/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/%2f..",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/login?next=//evil.example",
]


def is_local(location: str) -> bool:
    """A redirect target that stays on this site, as a browser would read it (browsers drop
    tabs and newlines and treat a backslash as a slash)."""
    target = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    parts = urlsplit(target)
    return (
        target.startswith("/")
        and not target.startswith("//")
        and not parts.scheme
        and not parts.netloc
    )


def test_next_never_redirects_off_site(client: TestClient, db: Session, settings: Settings) -> None:
    user = make_user(db, settings, organization=make_org(db))
    # Signing in through the form (a password hash each: a few of the targets).
    for target in HOSTILE_NEXT[::4]:
        client.cookies.clear()
        response = login_form(client, user.email, PASSWORD, next_=target)
        assert response.status_code == 303, target
        assert is_local(response.headers["location"]), (target, response.headers["location"])
    session_id = auth.start_web_session(db, settings, user)
    db.commit()
    for target in HOSTILE_NEXT:
        # Already signed in: GET /login?next= redirects at once (the same check as the form).
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, session_id)
        again = client.get("/login", params={"next": target}, follow_redirects=False)
        assert again.status_code == 303, target
        assert is_local(again.headers["location"]), (target, again.headers["location"])
        # Not signed in: the form carries next= only as a local path.
        client.cookies.clear()
        form = client.get("/login", params={"next": target})
        for tag_value in re.findall(r'name="next" value="([^"]*)"', form.text):
            assert not tag_value or is_local(tag_value.replace("&amp;", "&")), target
    # A page reached while signed out sends to /login with a local next=.
    client.cookies.clear()
    response = client.get("/courses?x=//evil.example", follow_redirects=False)
    assert response.status_code == 303
    assert is_local(response.headers["location"])


def test_a_path_that_starts_with_two_slashes_links_only_to_this_site(client: TestClient) -> None:
    """http://site//evil.example/x is this site's 404 page: its links (the language switch)
    must not point to evil.example."""
    for path in ("//evil.example/x", "///evil.example", "/%2Fevil.example"):
        response = client.get(f"http://testserver{path}?a=1", follow_redirects=False)
        links = [x for x in re.findall(r'href="([^"]*)"', response.text) if x[:1] != "#"]
        assert links, path
        assert all(is_local(link.replace("&amp;", "&")) for link in links), (path, links)


# --- SSRF -----------------------------------------------------------------------------------

OUTBOUND_MODULES = {"httpx", "requests", "urllib.request", "http.client", "aiohttp", "pycurl"}


def test_the_server_has_no_url_fetcher() -> None:
    """No module of the app imports an HTTP client (boto3 talks only to the configured S3
    endpoint). Adding one needs SSRF protection: resolve the host, refuse loopback, link-local
    and private addresses, and check every redirect again, then update this test."""
    pattern = re.compile(
        r"^\s*(?:from|import)\s+(" + "|".join(re.escape(m) for m in OUTBOUND_MODULES) + r")\b",
        re.MULTILINE,
    )
    found = [
        f"{path.relative_to(PROJECT_ROOT)}: {match.group(1)}"
        for path in (PROJECT_ROOT / "app").rglob("*.py")
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    """A tiny HTTP server on a loopback port that records every request it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_stored_urls_are_never_fetched_by_the_server(
    client: TestClient,
    world: AttackWorld,
    canary: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    base, hits = canary
    connections: list[Any] = []
    real_connect: Callable[..., Any] = socket.socket.connect

    def recording_connect(sock: socket.socket, address: Any) -> Any:
        connections.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    admin = {"Authorization": f"Bearer {world.people['admin'].token}"}
    author = {"Authorization": f"Bearer {world.people['author'].token}"}
    targets = [
        f"{base}/link",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:1/",
        "http://10.0.0.1/",
        "http://localhost.localdomain/",
    ]
    event_id, partner_id = world.ids["event_id"][0], world.ids["partner_id"][0]
    thread_id = world.ids["thread_id"][0]
    for n, url in enumerate(targets):
        item = client.post(
            "/api/v1/content",
            headers=author,
            json={"title": f"Liên kết {n}", "kind": "link", "url": url},
        )
        assert item.status_code == 201, item.text
        assert client.post(
            f"/api/v1/content/{item.json()['id']}/publish", headers=author, json={}
        ).status_code in (200, 409, 422)
        event = client.patch(f"/api/v1/events/{event_id}", headers=admin, json={"online_url": url})
        assert event.status_code == 200, event.text
        partner = client.patch(
            f"/api/v1/partners/{partner_id}", headers=admin, json={"website": url}
        )
        assert partner.status_code == 200, partner.text
        post = client.post(
            f"/api/v1/threads/{thread_id}/posts",
            headers={"Authorization": f"Bearer {world.people['teacher'].token}"},
            json={"body": f"[tài liệu]({url}) ![ảnh]({url}/img.png)"},
        )
        assert post.status_code == 201, post.text
        sign_in(client, world, "admin")
        for page in (
            f"/library/{item.json()['id']}",
            f"/studio/items/{item.json()['id']}",
            f"/events/{event_id}",
            f"/partners/{partner_id}",
            f"/threads/{thread_id}",
        ):
            assert client.get(page).status_code == 200, page
        client.headers.pop("Authorization")
    assert hits == []
    outbound = [
        a
        for a in connections
        if not (settings.s3_endpoint_url and str(a[1]) in settings.s3_endpoint_url)
    ]
    assert outbound == [], outbound


# --- SQL injection through search and filter parameters ----------------------------------

INJECTIONS = [
    "' OR 1=1 --",
    "%",
    "_",
    "x' UNION SELECT password_hash FROM accounts_user --",
    "Đ%' OR 'a'='a",  # non-ASCII around the quote
]


# Every text filter at once gets these; the search box (q) gets all of INJECTIONS.
FILTER_INJECTIONS = ["' OR 1=1; DROP TABLE accounts_user --", "%_\\"]


def is_text_param(annotation: Any) -> bool:
    return "str" in str(annotation) and "Literal" not in str(annotation)


def rows(response: Any) -> Any:
    """What a list response shows: its total (JSON), the seeded fields it names (HTML), its
    number of lines (CSV)."""
    kind = response.headers.get("content-type", "")
    if "json" in kind:
        return response.json()["total"]
    if "html" in kind:
        return {m for m in FIELDS if m in response.text}
    return len(response.text.splitlines())


def test_search_and_filter_parameters_do_not_inject_sql(
    client: TestClient, app: FastAPI, world: AttackWorld
) -> None:
    """Every GET route with text query parameters, as admin: no error; on the searchable lists,
    an injection matches nothing although the plain list has rows."""
    sign_in(client, world, "admin")
    searched = 0
    for method, path, route in routes(app):
        if method != "GET":
            continue
        names = [name for name, _annotation in query_params(route)]
        params = [name for name, annotation in query_params(route) if is_text_param(annotation)]
        params = [p for p in params if p not in ("next", "code", "month", "period", "tab")]
        if not params:
            continue
        url = expand(path, world.ids, every=False)[0]
        extra = {"all": "true"} if "all" in names else {}  # the studio: everyone's items
        for injection in FILTER_INJECTIONS:
            response = client.get(
                url, params=dict.fromkeys(params, injection), follow_redirects=False
            )
            assert response.status_code < 500, (url, injection, response.text[:300])
        if "q" not in params:
            continue
        # Filters and menus show names too: an injection must find what a search that
        # matches nothing finds, and the plain list must show more than that.
        baseline = rows(client.get(url, params=extra, follow_redirects=False))
        empty = rows(client.get(url, params={**extra, "q": "zz-no-such-thing-zz"}))
        assert baseline != empty, url
        for injection in INJECTIONS:
            searched += 1
            one = client.get(url, params={**extra, "q": injection}, follow_redirects=False)
            assert one.status_code == 200, (url, injection, one.text[:300])
            assert rows(one) == empty, (url, injection)
    assert searched >= 10 * len(INJECTIONS)


def test_a_bad_scheme_is_refused_by_the_services(db: Session, world: AttackWorld) -> None:
    """The same rules hold for the services the pages call (no page-only check)."""
    from app.community.events import service as events
    from app.lcms import service as lcms

    for url in ("javascript:alert(1)", "data:text/html,x", "file:///etc/passwd"):
        with pytest.raises(InvalidInput):
            lcms.clean_url(url)
        with pytest.raises(InvalidInput):
            events.clean_online_url(url)
        with pytest.raises(InvalidInput):
            events.clean_website(url)
