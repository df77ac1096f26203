"""The world of the attack drills: every user-editable text that pages show holds a stored-XSS
payload tagged with its own marker, so a page sweep can tell which field it is looking at.

Built through the services the app uses (and the CSV importer for imported names); the people
who act get page sessions and API tokens directly (no password hashing)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.routing import Route

from app.accounts import auth, importer
from app.accounts import service as accounts
from app.accounts.models import User
from app.community.clubs import service as clubs
from app.community.contests import awards
from app.community.contests import service as contests
from app.community.contests.service import CriterionSpec, PrizeSpec
from app.community.events import service as events
from app.core.config import Settings
from app.core.storage import BlobStore
from app.lcms import service as lcms
from app.lcms import tracks
from app.lms import progress, quiz
from app.lms import service as lms
from app.lms.models import Enrollment
from app.reports import periodic
from tests.factories import make_org, make_user
from tests.lcms import samples
from tests.lms.helpers import store_bytes

# --- Payloads -----------------------------------------------------------------------------

TEMPLATE_RESULT = "215151"  # 71717 * 3: seen only if a template engine evaluated the text
PAYLOAD = (
    "<script>alert(1)</script>\"><img src=x onerror=alert(1)>'><svg onload=alert(1)>"
    '{{71717*3}}<a href="javascript:alert(1)">j</a><<script>script>\u202e\u200b＜script＞'
)
SHORT_PAYLOAD = '"><img src=x onerror=alert(1)>'  # for fields of at most 50 characters


def xss(marker: str, *, short: bool = False) -> str:
    """The payload of one field: its marker first (charts and lists may shorten the rest)."""
    return f"{marker}{SHORT_PAYLOAD if short else ' ' + PAYLOAD}"


# Marker -> the field that holds it. Every one must show up (escaped) on some page.
FIELDS: dict[str, str] = {
    "XSSA01": "user full name (student)",
    "XSSA02": "user full name (teacher)",
    "XSSA03": "organisation name (school)",
    "XSSA04": "organisation name (commune)",
    "XSSA05": "CSV-imported user name",
    "XSSB01": "content title",
    "XSSB02": "content description",
    "XSSB03": "content tag",
    "XSSB04": "content topic",
    "XSSB05": "version note",
    "XSSB06": "version filename",
    "XSSB07": "video title",
    "XSSB09": "transcript text",
    "XSSB10": "caption and transcript label",
    "XSSC01": "course title",
    "XSSC02": "course description",
    "XSSC03": "module title",
    "XSSC04": "content lesson title",
    "XSSC05": "quiz lesson title",
    "XSSC06": "quiz question text",
    "XSSC07": "quiz choice text",
    "XSSD01": "periodic report narrative",
    "XSSD02": "periodic report number",
    "XSSE01": "event title",
    "XSSE02": "event description",
    "XSSE03": "event location",
    "XSSE04": "partner name",
    "XSSE05": "partner contact",
    "XSSE06": "partner description",
    "XSSF01": "club name",
    "XSSF02": "club description",
    "XSSF03": "thread title",
    "XSSF04": "post (Markdown)",
    "XSSF05": "join request message",
    "XSSG01": "contest title",
    "XSSG02": "contest rules",
    "XSSG03": "criterion name",
    "XSSG04": "prize name",
    "XSSG05": "entry title",
    "XSSG06": "entry summary",
    "XSSG07": "entry file name",
    "XSSG08": "judge's comment",
    "XSSG09": "entry title (open for editing)",
    "XSSH01": "award title",
    "XSSH02": "award reason",
    "XSSH03": "award decision number",
}
# Labels and numbers are short; file names lose everything up to the last slash.
SHORT_FIELDS = {"XSSB03", "XSSB04", "XSSD02", "XSSB06", "XSSG07", "XSSB10"}
MARKDOWN_POST = (
    "XSSF04 <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
    "[link](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) "
    '[vb](vbscript:msgbox(1)) ![img](x" onerror="alert(1))\n\n'
    '<a href="javascript:alert(1)">raw</a> {{71717*3}} `<b>code</b>`'
)


def text_of(marker: str) -> str:
    return xss(marker, short=marker in SHORT_FIELDS)


# --- The world ----------------------------------------------------------------------------


@dataclass
class Person:
    user: User
    cookie: str  # page session id
    token: str  # API bearer token


@dataclass
class AttackWorld:
    people: dict[str, Person]
    ids: dict[str, list[Any]]  # path parameter -> candidate values (the first is the main one)
    titles: dict[str, str] = field(default_factory=dict)


def build_attack_world(db: Session, settings: Settings, store: BlobStore) -> AttackWorld:
    now = datetime.now(UTC)
    province = make_org(db, kind="province", level=None)
    commune = make_org(db, kind="commune", level=None, parent=province, name=text_of("XSSA04"))
    school = make_org(db, parent=commune, level="lower_secondary", name=text_of("XSSA03"))

    def person(role: str, org: Any, name: str | None = None) -> User:
        return make_user(db, settings, role=role, organization=org, full_name=name, password=None)

    admin = person("admin", commune)
    author = person("author", commune)
    manager = person("school_manager", school)
    teacher = person("teacher", school, text_of("XSSA02"))
    student = person("student", school, text_of("XSSA01"))
    student2 = person("student", school)
    imported = importer.import_users(
        db,
        settings,
        admin,
        (
            "email,full_name,role,organization_id\n"
            f'nhap.khau@attack.edu.vn,"{text_of("XSSA05").replace(chr(34), chr(34) * 2)}",'
            f"teacher,{school.id}\n"
        ).encode(),
    )
    assert not imported.errors, imported.errors
    imported_user = accounts.find_user_by_email(db, "nhap.khau@attack.edu.vn")
    assert imported_user is not None

    # Library: an item with labels, a version with a note and a hostile filename.
    item = lcms.create_item(
        db,
        author,
        title=text_of("XSSB01"),
        kind="document",
        description=text_of("XSSB02"),
        tags=[text_of("XSSB03")],
        topics=[text_of("XSSB04")],
        levels=["lower_secondary"],
    )
    data = samples.pdf("attack")
    lcms.add_version(
        db,
        author,
        item.id,
        sha256=store_bytes(store, data),
        size=len(data),
        media_type="application/pdf",
        filename=lcms.clean_filename(text_of("XSSB06") + ".pdf", extension="pdf"),
        note=text_of("XSSB05"),
    )
    lcms.publish(db, author, item.id, version=1)
    # A video with captions and a transcript whose label and words are hostile (the cue text,
    # XSSB08, is only ever in the .vtt file, never in a page).
    video = samples.mp4(4096)
    video_item = lcms.create_item(db, author, title=text_of("XSSB07"), kind="video")
    lcms.add_version(
        db,
        author,
        video_item.id,
        sha256=store_bytes(store, video),
        size=len(video),
        media_type="video/mp4",
        filename="video.mp4",
    )
    track_ids = []
    for kind, body in (
        ("captions", f"WEBVTT\n\n00:00.000 --> 00:01.000\n{text_of('XSSB08')}\n"),
        ("transcript", text_of("XSSB09")),
    ):
        prepared = tracks.prepare_track(
            body.encode(), f"{kind}.txt", kind=kind, language="vi", label=text_of("XSSB10")
        )
        track = tracks.add_track(
            db,
            author,
            video_item.id,
            1,
            prepared=prepared,
            sha256=tracks.store_bytes(store, prepared.data),
        )
        track_ids.append(track.id)
    lcms.publish(db, author, video_item.id, version=1)

    # A course with a content lesson and a quiz; the student has a graded attempt, an open
    # one and a certificate; the teacher is enrolled (the learners page lists both).
    course = lms.create_course(
        db,
        author,
        title=text_of("XSSC01"),
        description=text_of("XSSC02"),
        levels=["lower_secondary"],
        roles=["teacher", "student"],
    )
    module = lms.add_module(db, author, course.id, title=text_of("XSSC03"))
    lesson = lms.add_lesson(
        db, author, module.id, title=text_of("XSSC04"), kind="content", content_id=item.id
    )
    quiz_lesson = lms.add_lesson(
        db, author, module.id, title=text_of("XSSC05"), kind="quiz", pass_score=50, max_attempts=5
    )
    question = quiz.add_question(
        db,
        author,
        quiz_lesson.id,
        text=text_of("XSSC06"),
        kind="single",
        choices=[(text_of("XSSC07"), True), ("Không", False)],
    )
    event_lesson = lms.add_lesson(db, author, module.id, title="Dự hội thảo", kind="event")
    lms.publish_course(db, author, course.id)
    lms.assign(db, admin, course.id, user_ids=[student.id, teacher.id, student2.id])
    graded = quiz.start_attempt(db, student, quiz_lesson.id).attempt.id
    quiz.submit_attempt(db, student, graded, {str(question.id): [question.choices[0].id]})
    open_attempt = quiz.start_attempt(db, student, quiz_lesson.id).attempt.id
    enrollment = lms.get_enrollment(db, student.id, course.id)
    assert isinstance(enrollment, Enrollment)
    progress.complete_course(db, enrollment)
    certificate = progress.my_certificates(db, student)[0].code

    # Periodic reports of the school: one submitted, one draft.
    submitted = periodic.create_draft(
        db,
        manager,
        organization_id=school.id,
        period="2025",
        narrative=text_of("XSSD01"),
        number=text_of("XSSD02"),
    )
    periodic.submit(db, manager, submitted.id)
    draft = periodic.create_draft(
        db,
        manager,
        organization_id=school.id,
        period="2025-Q4",
        narrative=text_of("XSSD01"),
        number=text_of("XSSD02"),
    )

    # Events and partners.
    partner = events.create_partner(
        db,
        admin,
        name=text_of("XSSE04"),
        kind="institute",
        contact=text_of("XSSE05"),
        description=text_of("XSSE06"),
    )
    event = events.create_event(
        db,
        admin,
        title=text_of("XSSE01"),
        kind="seminar",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        organization_id=commune.id,
        location=text_of("XSSE03"),
        description=text_of("XSSE02"),
        capacity=50,
        partner_ids=[partner.id],
        material_ids=[item.id],
    )
    events.register(db, student, event.id)
    events.new_checkin_code(db, settings, admin, event.id)

    # A club led by the teacher; the student a member and poster, student2 waiting.
    club = clubs.create_club(
        db,
        teacher,
        name=text_of("XSSF01"),
        organization_id=school.id,
        description=text_of("XSSF02"),
    )
    join = clubs.request_join(db, student, club.id, message="Em xin tham gia")
    clubs.decide_request(db, teacher, club.id, join.id, approve=True)
    pending = clubs.request_join(db, student2, club.id, message=text_of("XSSF05"))
    thread = clubs.create_thread(db, teacher, club.id, title=text_of("XSSF03"), body="Chào các em")
    post = clubs.add_post(db, student, thread.id, body=MARKDOWN_POST)

    # A contest judged and published (the scores and awards "after" the deadline), and an
    # open one whose entry can still be edited.
    opens, closes = now - timedelta(days=1), now + timedelta(days=7)
    contest = contests.create_contest(
        db,
        admin,
        title=text_of("XSSG01"),
        kind="stem",
        rules=text_of("XSSG02"),
        opens_at=opens,
        closes_at=closes,
        criteria=[CriterionSpec(name=text_of("XSSG03"), weight=1, max_score=10)],
        organization_id=commune.id,
        prizes=[PrizeSpec(rank=1, name=text_of("XSSG04"))],
    )
    contests.add_judge(db, admin, contest.id, teacher.id)
    entry = contests.create_entry(
        db, student, contest.id, title=text_of("XSSG05"), summary=text_of("XSSG06")
    )
    pdf = samples.pdf("entry")
    entry_file = contests.add_entry_file(
        db,
        student,
        entry.id,
        sha256=store_bytes(store, pdf),
        size=len(pdf),
        media_type="application/pdf",
        filename=lcms.clean_filename(text_of("XSSG07") + ".pdf", extension="pdf"),
    )
    later = closes + timedelta(minutes=1)
    contests.score_entry(
        db,
        teacher,
        entry.id,
        scores={contest.criteria[0].id: 9},
        comment=text_of("XSSG08"),
        now=later,
    )
    contests.publish_results(db, admin, contest.id, decision_number="12/QĐ", now=later)
    open_contest = contests.create_contest(
        db,
        admin,
        title="Cuộc thi đang mở",
        kind="idea",
        opens_at=opens,
        closes_at=closes,
        criteria=[CriterionSpec(name="Ý tưởng", weight=1, max_score=10)],
        organization_id=commune.id,
    )
    open_entry = contests.create_entry(
        db, student, open_contest.id, title=text_of("XSSG09"), summary="Tóm tắt"
    )
    award = awards.create_award(
        db,
        admin,
        title=text_of("XSSH01"),
        user_id=student.id,
        reason=text_of("XSSH02"),
        decision_number=text_of("XSSH03")[:100],
        awarded_at=now - timedelta(days=1),
    )
    feed = events.new_feed(db, settings, student)

    people = {
        name: Person(
            user=user,
            cookie=auth.start_web_session(db, settings, user),
            token=auth.issue_token(settings, user),
        )
        for name, user in {
            "admin": admin,
            "author": author,
            "manager": manager,
            "teacher": teacher,
            "student": student,
        }.items()
    }
    activation = auth.issue_activation_code(db, settings, imported_user)
    db.flush()
    ids: dict[str, list[Any]] = {
        "organization_id": [school.id, commune.id],
        "user_id": [student.id, teacher.id, imported_user.id],
        "item_id": [item.id, video_item.id],
        "number": [1],
        "track_id": track_ids,
        "course_id": [course.id],
        "module_id": [module.id],
        "lesson_id": [lesson.id, quiz_lesson.id, event_lesson.id],
        "attempt_id": [graded, open_attempt],
        "code": [certificate, activation],
        "event_id": [event.id],
        "partner_id": [partner.id],
        "report_id": [submitted.id, draft.id],
        "extension": ["csv"],
        "club_id": [club.id],
        "request_id": [pending.id],
        "member_id": [student2.id],
        "decision": ["approve"],
        "thread_id": [thread.id],
        "post_id": [post.id],
        "action": ["hide", "lock"],
        "contest_id": [contest.id, open_contest.id],
        "entry_id": [entry.id, open_entry.id],
        "file_id": [entry_file.id],
        "award_id": [award.id],
        "token": [events.feed_token(settings, feed)],
    }
    return AttackWorld(people=people, ids=ids)


# --- The route table ----------------------------------------------------------------------

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def routes(app: FastAPI) -> list[tuple[str, str, Route]]:
    """(method, path, route) of every HTTP route of the app, included routers expanded."""

    def walk(items: list[Any]) -> Iterator[Any]:
        for item in items:
            inner = getattr(item, "original_router", None)  # an included router
            if inner is not None:
                yield from walk(inner.routes)
            else:
                yield item

    found = []
    for route in walk(list(app.routes)):
        if isinstance(route, APIRoute | Route) and route.methods:
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path, route))
    return found


def is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/healthz" or path == "/openapi.json"


def expand(path: str, ids: dict[str, list[Any]], *, every: bool = True) -> list[str]:
    """The path with its parameters filled from ``ids`` (every combination, or the first
    candidates only). A parameter without candidates is a new route: it must be added."""
    names = PARAM.findall(path)
    urls = [path]
    for name in names:
        assert name in ids, f"no value for the path parameter {name!r} of {path}: add it"
        values = ids[name] if every else ids[name][:1]
        urls = [
            re.sub(r"\{" + name + r"(?::\w+)?\}", str(value), url, count=1)
            for url in urls
            for value in values
        ]
    return urls


def query_params(route: Any) -> list[tuple[str, Any]]:
    """(name, annotation) of the query parameters of an APIRoute, dependencies included."""
    dependant = getattr(route, "dependant", None)
    found: list[tuple[str, Any]] = []

    def collect(d: Any) -> None:
        for param in d.query_params:
            found.append((param.alias or param.name, param.field_info.annotation))
        for sub in d.dependencies:
            collect(sub)

    if dependant is not None:
        collect(dependant)
    return found


# --- Parsing a page for executable markup -------------------------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "cite"}
_STRIPPED = re.compile(r"[\x00-\x20]+")


def dangerous_url(value: str) -> bool:
    # Browsers drop ASCII whitespace and control characters before reading the scheme.
    scheme = _STRIPPED.sub("", value).lower()
    return scheme.startswith(("javascript:", "vbscript:", "data:text/html", "data:image/svg"))


class PageScan(HTMLParser):
    """Executable markup in a page: inline or foreign scripts, event-handler attributes,
    script URLs, srcdoc frames, meta refreshes. Also the page's text and attribute values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.texts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self._in_script = True
            src = values.get("src") or ""
            if not src.startswith("/static/"):
                self.problems.append(f"<script> not from /static: {attrs}")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.problems.append(f"meta refresh: {attrs}")
        if tag in ("iframe", "frame", "object", "embed", "base"):
            target = values.get("src") or values.get("data") or values.get("href") or ""
            if not target.startswith("/") or target.startswith("//"):
                self.problems.append(f"<{tag}> with a foreign target: {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>: {value!r}")
            if name == "srcdoc":
                self.problems.append(f"srcdoc on <{tag}>")
            if name in URL_ATTRIBUTES and value and dangerous_url(value):
                self.problems.append(f"{name}={value!r} on <{tag}>")
            if value:
                self.texts.append(value)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data[:80]!r}")
        self.texts.append(data)


def scan(html: str) -> PageScan:
    parser = PageScan()
    parser.feed(html)
    parser.close()
    return parser
