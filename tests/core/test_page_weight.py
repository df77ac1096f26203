"""Page weight budgets for a first visit on a phone: the HTML plus every stylesheet, script,
font and image it makes the browser download (media and content files excluded), counted as
the bytes actually transferred with gzip. Learner pages ≤ 100 KB, sign-in ≤ 50 KB.

The pages are those of the demo data (``hocso demo``), signed in as the role that reads them;
the CSS is followed for ``url()`` references (fonts, images) as a browser would."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.demo import DEMO_PASSWORD
from app.accounts.models import User
from app.core.assets import IMMUTABLE, STATIC_ROOT
from app.core.config import PROJECT_ROOT, Settings
from app.lms.models import Certificate, Course, Lesson, Module
from tests.conftest import csrf_from
from tests.support.demo import load_demo

KB = 1024
LEARNER_BUDGET = 100 * KB
SIGN_IN_BUDGET = 50 * KB
FONT_EXTENSIONS = (".woff", ".woff2", ".ttf", ".otf", ".eot")
# Content the learner chose to open, not what the page costs: lesson and library files,
# contest entry files, downloads.
MEDIA_PATHS = re.compile(
    r"^/(lessons/\d+/file|library/\d+/versions/\d+/file|entries/\d+/files/\d+)"
    r"|[?&]download=1"
    r"|\.(mp4|webm|mp3|m4a|ogg|wav|pdf|zip|xlsx|docx|pptx)$",
    re.I,
)
GZIP = {"Accept-Encoding": "gzip"}

Login = Callable[[str, str], TestClient]


class _Assets(HTMLParser):
    """What a browser fetches for the page itself: stylesheets, icons, scripts, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.media: list[tuple[str, dict[str, str]]] = []  # img, video, audio and attributes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("img", "video", "audio"):
            self.media.append((tag, a))
        if tag == "link" and {"stylesheet", "icon", "preload", "modulepreload"} & set(
            a.get("rel", "").lower().split()
        ):
            self.urls.append(a.get("href", ""))
        elif tag in ("script", "img", "source") and a.get("src"):
            self.urls.append(a["src"])


@dataclass
class Weight:
    page: str
    html: int
    assets: dict[str, int] = field(default_factory=dict)
    media: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.html + sum(self.assets.values())


def transferred(client: TestClient, url: str) -> tuple[int, str, dict[str, str]]:
    """The body's size on the wire (gzip when the server compresses), its text, its headers."""
    with client.stream("GET", url, headers=GZIP) as response:
        assert response.status_code == 200, (url, response.status_code)
        raw = b"".join(response.iter_raw())
        headers = dict(response.headers)
    # The decoded text, to follow links in it.
    text = client.get(url, headers=GZIP).text
    return len(raw), text, headers


def weigh(client: TestClient, page: str) -> Weight:
    size, html, headers = transferred(client, page)
    assert headers.get("content-type", "").startswith("text/html"), page
    weight = Weight(page, size)
    parser = _Assets()
    parser.feed(html)
    weight.media = parser.media
    pending = [urljoin(page, u) for u in parser.urls if u]
    while pending:
        url = pending.pop()
        parts = urlsplit(url)
        assert parts.netloc in ("", "testserver"), f"{page} loads {url} from another site"
        local = parts.path + (f"?{parts.query}" if parts.query else "")
        if local in weight.assets or MEDIA_PATHS.search(local) or local.startswith("data:"):
            continue
        size, text, headers = transferred(client, local)
        weight.assets[local] = size
        if headers.get("content-type", "").startswith("text/css"):
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
                if not ref.startswith("data:"):
                    pending.append(urljoin(local, ref))
    return weight


def sign_in(client: TestClient, page_login: Login, email: str) -> None:
    client.cookies.clear()
    page_login(email, DEMO_PASSWORD)


@pytest.fixture
def demo(client: TestClient, db: Session, settings: Settings) -> Session:
    load_demo(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]
    return db


def lessons_of(db: Session, course_id: int) -> list[Lesson]:
    return list(
        db.scalars(
            select(Lesson)
            .join(Module, Lesson.module_id == Module.id)
            .where(Module.course_id == course_id)
            .order_by(Module.position, Lesson.position)
        )
    )


def test_learner_pages_and_sign_in_stay_within_their_budgets(
    client: TestClient, demo: Session, page_login: Login, capsys: pytest.CaptureFixture[str]
) -> None:
    db = demo
    course = db.scalars(select(Course).order_by(Course.id)).first()
    assert course is not None
    lessons = lessons_of(db, course.id)
    content = next(x for x in lessons if x.kind == "content")
    quiz = next(x for x in lessons if x.kind == "quiz")
    certificate = db.scalars(select(Certificate).order_by(Certificate.id)).first()
    assert certificate is not None, "the demo has certificates"

    weights: list[tuple[Weight, int]] = []
    client.cookies.clear()
    weights.append((weigh(client, "/login"), SIGN_IN_BUDGET))
    weights.append((weigh(client, f"/verify/{certificate.code}"), LEARNER_BUDGET))

    # A teacher of the commune the course is assigned to, who has not started it yet.
    sign_in(client, page_login, "gv.thcs@tancuong.edu.vn")
    course_page = client.get(f"/courses/{course.id}").text
    if f'action="/courses/{course.id}/enroll"' in course_page:
        client.post(
            f"/courses/{course.id}/enroll",
            data={"csrf_token": csrf_from(course_page)},
            follow_redirects=False,
        )
    for page in (
        "/",
        "/courses",
        f"/courses/{course.id}",
        f"/lessons/{content.id}",
        "/my",
        "/library",
        "/events",
        "/clubs",
        "/contests",
    ):
        weights.append((weigh(client, page), LEARNER_BUDGET))
    start = client.post(
        f"/lessons/{quiz.id}/quiz",
        data={"csrf_token": csrf_from(client.get(f"/lessons/{quiz.id}").text)},
        follow_redirects=False,
    )
    assert start.status_code in (200, 303), start.text
    weights.append((weigh(client, f"/lessons/{quiz.id}/quiz"), LEARNER_BUDGET))

    holder = db.get(User, certificate.user_id)
    assert holder is not None
    sign_in(client, page_login, holder.email)
    weights.append((weigh(client, "/my/certificates"), LEARNER_BUDGET))
    weights.append((weigh(client, f"/certificates/{certificate.code}"), LEARNER_BUDGET))

    imgs = [a for w, _b in weights for tag, a in w.media if tag == "img"]
    assert imgs, "the demo lesson shows its infographic"

    with capsys.disabled():
        print("\npage weight (transferred, gzip):")
        for weight, budget in weights:
            print(
                f"  {weight.page:<40} html {weight.html / KB:5.1f} KB + "
                f"{len(weight.assets)} assets {sum(weight.assets.values()) / KB:5.1f} KB = "
                f"{weight.total / KB:5.1f} KB (budget {budget // KB} KB)"
            )
    over = [
        f"{w.page}: {w.total / KB:.1f} KB > {budget // KB} KB {w.assets}"
        for w, budget in weights
        if w.total > budget
    ]
    assert not over, over
    for weight, _budget in weights:
        fonts = [u for u in weight.assets if u.lower().endswith(FONT_EXTENSIONS)]
        assert not fonts, f"{weight.page} downloads web fonts {fonts}"
        # Images wait until they are needed and keep their place; players fetch metadata only.
        for tag, attrs in weight.media:
            if tag == "img":
                assert attrs.get("loading") == "lazy", (weight.page, attrs)
                assert attrs.get("width", "").isdigit(), (weight.page, attrs)
                assert attrs.get("height", "").isdigit(), (weight.page, attrs)
            else:
                assert attrs.get("preload") == "metadata", (weight.page, attrs)
        # Every page has its stylesheet, and it is the hashed, cacheable one.
        assert any(re.match(r"/static/css/app\.[0-9a-f]{10}\.css$", u) for u in weight.assets)


def test_the_pages_are_compressed(client: TestClient, demo: Session, page_login: Login) -> None:
    sign_in(client, page_login, "gv.thcs@tancuong.edu.vn")
    page = client.get("/courses", headers=GZIP)
    assert page.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in page.headers["vary"].lower()
    course = demo.scalars(select(Course).order_by(Course.id)).first()
    assert course is not None
    lesson = next(x for x in lessons_of(demo, course.id) if x.kind == "content")
    css = re.search(r'href="(/static/css/[^"]+)"', page.text)
    script = re.search(r'src="(/static/js/[^"]+)"', client.get(f"/lessons/{lesson.id}").text)
    assert css is not None
    assert script is not None
    urls = [css.group(1), script.group(1)]
    for url in urls:
        asset = client.get(url, headers=GZIP)
        assert asset.headers["content-encoding"] == "gzip", url
    api = client.get("/openapi.json", headers=GZIP)
    assert api.headers["content-type"].startswith("application/json")
    assert api.headers["content-encoding"] == "gzip"
    # Without Accept-Encoding the same page comes as it is.
    plain = client.get("/courses", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_hashed_static_urls_are_cached_for_a_year_and_plain_ones_briefly(
    client: TestClient,
) -> None:
    html = client.get("/login").text
    hashed = re.findall(r'(?:href|src)="(/static/[^"]+\.[0-9a-f]{10}\.[a-z]+)"', html)
    assert any(u.startswith("/static/css/app.") for u in hashed)
    assert "/static/css/app.css" not in html
    for url in hashed:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == IMMUTABLE
    plain = client.get("/static/css/app.css")
    assert plain.status_code == 200
    assert "immutable" not in plain.headers["cache-control"]
    assert "max-age=" in plain.headers["cache-control"]
    # A hash that is not the file's current one still gets the file, but not for a year.
    stale = client.get("/static/css/app.0000000000.css")
    assert stale.status_code == 200
    assert stale.content == plain.content
    assert "immutable" not in stale.headers["cache-control"]
    # Revalidation works on the compressed (weak ETag) representation.
    first = client.get(hashed[0], headers=GZIP)
    again = client.get(hashed[0], headers={**GZIP, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/css/app.0123456789.missing").status_code == 404


def test_every_template_uses_hashed_static_urls_and_no_web_fonts() -> None:
    templates = list((PROJECT_ROOT / "templates").rglob("*.html"))
    assert templates
    for path in templates:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r'(?:href|src)="/static/', text), f"{path}: use static_url()"
    css = "\n".join(p.read_text(encoding="utf-8") for p in STATIC_ROOT.rglob("*.css"))
    # The PDF fonts (app/reports/fonts) are not web fonts; pages use the system font stack.
    assert "@font-face" not in css
    fonts = [p for p in STATIC_ROOT.rglob("*") if p.suffix.lower() in FONT_EXTENSIONS]
    assert not fonts, fonts
    assert not Path(STATIC_ROOT / "fonts").exists()
