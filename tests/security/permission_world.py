"""The world the permission matrix runs in: one commune, two primary schools (A and B), a user
of every role, and one of every kind of object, built through the services the app uses.

Objects come in two scopes. ``other``: the objects of school B or of another user (a course and
a library item of another author, school B's report, event, club, contest, award, a school-B
learner's attempt and certificate). ``own``: the same kinds of object in school A, for the school
manager of A acting on their own school. The acting users are never members, owners, learners or
organisers of the objects they are tested on, except where a rule gives them a role by their
school (the manager of A and school A's objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import auth
from app.accounts.models import Organization, User
from app.community.clubs import service as clubs
from app.community.contests import awards as awards_service
from app.community.contests import service as contests
from app.community.contests.service import CriterionSpec, PrizeSpec
from app.community.events import service as events
from app.core.config import Settings
from app.core.security import csrf_token
from app.core.storage import BlobStore
from app.lcms import service as lcms
from app.lcms import tracks
from app.lcms.models import ContentVersion
from app.lms import progress, quiz
from app.lms import service as lms
from app.lms.models import Enrollment
from app.reports import periodic
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples
from tests.lms.helpers import published_item, store_bytes

# The columns of the matrix: (role, acting user, scope of the objects it is tested on).
ROLES: tuple[str, ...] = (
    "anonymous",
    "student",
    "teacher",
    "author",
    "manager_other",  # the school manager of A acting on an object of school B
    "manager_own",  # the school manager of A acting on an object of school A
    "admin",
)
ACTORS: dict[str, str | None] = {
    "anonymous": None,
    "student": "student_a",
    "teacher": "teacher_a",
    "author": "author",
    "manager_other": "manager_a",
    "manager_own": "manager_a",
    "admin": "admin",
}
SCOPES: dict[str, str] = {role: "own" if role == "manager_own" else "other" for role in ROLES}

# In the name of every person and private object of school B: no answer to anyone but an
# administrator may contain it (see CAPABILITY_ROUTES in the matrix for the exceptions).
SECRET = "SECRET-B"
# In the note of the library item's unpublished version and the titles of another author's
# draft item and draft course: for authors and administrators only.
DRAFT = "DRAFT-V2"
CSRF_SEED = "permission-matrix-csrf-seed"
PERIOD = "2025"  # a past year: both schools have a report for it


@dataclass
class Actor:
    id: int
    email: str
    token: str  # bearer token for the API
    cookie: str  # signed-in page session


@dataclass
class MatrixWorld:
    actors: dict[str, Actor]
    ids: dict[str, dict[str, Any]]  # scope -> key -> value (path parameters, body values)
    csrf: str

    def scope(self, role: str) -> dict[str, Any]:
        return self.ids[SCOPES[role]]


def _user(
    db: Session, settings: Settings, role: str, org: Organization, name: str, mark: str
) -> User:
    return make_user(
        db,
        settings,
        role=role,
        organization=org,
        email=f"{name.replace('_', '.')}@matrix.edu.vn",
        full_name=f"Matrix {name} {mark}".strip(),
    )


def _school_objects(
    db: Session,
    settings: Settings,
    store: BlobStore,
    *,
    school: Organization,
    mark: str,  # SECRET in school B's objects
    manager: User,
    leader: User,  # teacher: leads the club, judges the contest
    learner: User,  # student: learner, club member, attendee, contestant
    learner2: User,  # student: pending club request
    organiser: User,  # creates the event
    contest_creator: User,
    admin: User,
    quiz_lesson_id: int,
    course_id: int,
    event_lesson_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """A school's private objects: a report, an event, a club, a contest, an award, a
    learner's attempt and certificate, a calendar feed."""
    ids: dict[str, Any] = {"organization_id": school.id}
    # Learning: the learner has an open quiz attempt, the leader a certificate.
    lms.assign(db, admin, course_id, user_ids=[learner.id, leader.id])
    ids["attempt_id"] = quiz.start_attempt(db, learner, quiz_lesson_id).attempt.id
    enrollment = lms.get_enrollment(db, leader.id, course_id)
    assert isinstance(enrollment, Enrollment)
    progress.complete_course(db, enrollment)
    ids["code"] = progress.my_certificates(db, leader)[0].code
    # Event, running now; the learner is registered.
    event = events.create_event(
        db,
        organiser,
        title=f"Hội thảo {school.name} {mark}",
        kind="seminar",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        organization_id=school.id,
        lesson_id=event_lesson_id,
        capacity=50,
    )
    events.register(db, learner, event.id)
    events.new_checkin_code(db, settings, organiser, event.id)
    ids["event_id"] = event.id
    ids["attendee_id"] = learner.id
    feed = events.new_feed(db, settings, leader)
    ids["token"] = events.feed_token(settings, feed)
    # Periodic report.
    report = periodic.create_draft(
        db, manager, organization_id=school.id, period=PERIOD, narrative=f"Hoạt động {mark}"
    )
    ids["report_id"] = report.id
    # Club: led by the teacher, the learner a member, learner2 waiting for an answer.
    club = clubs.create_club(
        db, leader, name=f"CLB {school.name} {mark}", organization_id=school.id
    )
    join = clubs.request_join(db, learner, club.id)
    clubs.decide_request(db, leader, club.id, join.id, approve=True)
    ids["request_id"] = clubs.request_join(db, learner2, club.id).id
    thread = clubs.create_thread(
        db, leader, club.id, title=f"Chào mừng {mark}", body=f"Xin chào {mark}"
    )
    post = clubs.add_post(db, learner, thread.id, body=f"Em chào thầy {mark}")
    ids.update(club_id=club.id, thread_id=thread.id, post_id=post.id, member_id=learner.id)
    # Contest, open: the learner's entry with a file, the leader on the panel. The contest
    # itself is an announcement every signed-in user reads (no mark); its entries are not.
    contest = contests.create_contest(
        db,
        contest_creator,
        title=f"Ý tưởng STEM {school.name}",
        kind="stem",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=7),
        levels=["primary"],
        criteria=[CriterionSpec(name="Sáng tạo", weight=1, max_score=10)],
        organization_id=school.id,
        prizes=[PrizeSpec(rank=1, name="Giải Nhất")],
    )
    contests.add_judge(db, contest_creator, contest.id, leader.id)
    entry = contests.create_entry(
        db, learner, contest.id, title=f"Máy lọc nước {mark}", summary=f"Tóm tắt {mark}"
    )
    data = samples.pdf()
    sha = store_bytes(store, data)
    entry_file = contests.add_entry_file(
        db,
        learner,
        entry.id,
        sha256=sha,
        size=len(data),
        media_type="application/pdf",
        filename="bai-du-thi.pdf",
    )
    ids.update(
        contest_id=contest.id,
        entry_id=entry.id,
        file_id=entry_file.id,
        judge_id=leader.id,
        criterion_id=contest.criteria[0].id,
    )
    award = awards_service.create_award(
        db,
        admin,
        title=f"Giáo viên giỏi {mark}",
        user_id=leader.id,
        reason=f"Thành tích xuất sắc {mark}",
        awarded_at=now - timedelta(days=3),
    )
    ids["award_id"] = award.id
    ids.update(
        user_id=leader.id,
        user_email=leader.email,
        attendee_email=learner.email,
        staff_id=manager.id,
        staff_email=manager.email,
    )
    return ids


def build_matrix_world(db: Session, settings: Settings, store: BlobStore) -> MatrixWorld:
    now = datetime.now(UTC)
    province = make_org(db, kind="province", level=None, name="Tỉnh Ma Trận")
    commune = make_org(db, kind="commune", level=None, parent=province, name="Xã Ma Trận")
    school_a = make_org(db, parent=commune, name="Trường Tiểu học A")
    school_b = make_org(db, parent=commune, name="Trường Tiểu học B")
    people = {
        "admin": ("admin", commune),
        "author": ("author", commune),
        "author_b": ("author", commune),  # owns the course and the library item
        "manager_a": ("school_manager", school_a),
        "teacher_a": ("teacher", school_a),
        "student_a": ("student", school_a),
        "teacher_a2": ("teacher", school_a),
        "student_a2": ("student", school_a),
        "student_a3": ("student", school_a),
        "manager_b": ("school_manager", school_b),
        "teacher_b": ("teacher", school_b),
        "student_b": ("student", school_b),
        "student_b2": ("student", school_b),
    }
    users = {
        name: _user(db, settings, role, org, name, SECRET if org is school_b else "")
        for name, (role, org) in people.items()
    }
    newcomer = make_user(
        db,
        settings,
        role="teacher",
        organization=school_b,
        email="newcomer@matrix.edu.vn",
        full_name=f"Matrix newcomer {SECRET}",
        password=None,
    )
    author_b = users["author_b"]
    # The library item: version 1 published, version 2 a draft.
    item = published_item(db, store, author_b, title="Video Ma Trận")
    # Vietnamese captions on version 1; version 2 starts with a copy of them (a draft's track).
    vtt = tracks.prepare_track(
        b"WEBVTT\n\n00:00.000 --> 00:01.000\nXin chao\n",
        "vi.vtt",
        kind="captions",
        language="vi",
        label=None,
    )
    published_track = tracks.add_track(
        db, author_b, item.id, 1, prepared=vtt, sha256=tracks.store_bytes(store, vtt.data)
    )
    data = samples.mp4(4096)
    lcms.add_version(
        db,
        author_b,
        item.id,
        sha256=store_bytes(store, data),
        size=len(data),
        media_type="video/mp4",
        filename="ban-moi.mp4",
        note=f"Bản nháp {DRAFT}",
    )
    draft_version = db.scalars(
        select(ContentVersion).where(ContentVersion.item_id == item.id, ContentVersion.number == 2)
    ).one()
    (draft_track,) = tracks.tracks_of_version(db, draft_version.id)
    course = lms.create_course(
        db, author_b, title="Khoá học Ma Trận", levels=["primary"], roles=["teacher", "student"]
    )
    module = lms.add_module(db, author_b, course.id, title="Học phần 1")
    video = lms.add_lesson(
        db, author_b, module.id, title="Xem video", kind="content", content_id=item.id
    )
    quiz_lesson = lms.add_lesson(
        db, author_b, module.id, title="Kiểm tra", kind="quiz", pass_score=50, max_attempts=3
    )
    question = quiz.add_question(
        db,
        author_b,
        quiz_lesson.id,
        text="Nghị quyết 57 nói về gì?",
        kind="single",
        choices=[("Khoa học, công nghệ", True), ("Nông nghiệp", False)],
    )
    event_lesson = lms.add_lesson(db, author_b, module.id, title="Dự hội thảo", kind="event")
    lms.publish_course(db, author_b, course.id)
    # Drafts of another author, in no list of anyone but authors and administrators.
    lcms.create_item(db, author_b, title=f"Tài liệu nháp {DRAFT}", kind="document")
    lms.create_course(db, author_b, title=f"Khoá nháp {DRAFT}", levels=["primary"])
    partner = events.create_partner(db, users["admin"], name="Viện Ma Trận", kind="institute")
    shared = {
        "item_id": item.id,
        "number": 2,
        "track_id": draft_track.id,
        "published_track_id": published_track.id,
        "course_id": course.id,
        "module_id": module.id,
        "lesson_id": video.id,
        "quiz_lesson_id": quiz_lesson.id,
        "event_lesson_id": event_lesson.id,
        "question_id": question.id,
        "choice_id": question.choices[0].id,
        "partner_id": partner.id,
        "activation_code": auth.issue_activation_code(db, settings, newcomer),
        "extension": "csv",
        "commune_id": commune.id,
        "period": PERIOD,
        # A valid sign-in (of a school B student) for the sign-in forms.
        "login_email": users["student_b"].email,
        "login_password": PASSWORD,
    }
    other = _school_objects(
        db,
        settings,
        store,
        school=school_b,
        mark=SECRET,
        manager=users["manager_b"],
        leader=users["teacher_b"],
        learner=users["student_b"],
        learner2=users["student_b2"],
        organiser=author_b,  # owns the course, so may link its event lesson
        contest_creator=users["manager_b"],
        admin=users["admin"],
        quiz_lesson_id=quiz_lesson.id,
        course_id=course.id,
        event_lesson_id=event_lesson.id,
        now=now,
    )
    periodic.submit(db, users["manager_b"], other["report_id"])
    # A commune event for school B's audience only: in no list of anyone outside school B.
    events.create_event(
        db,
        author_b,
        title=f"Tập huấn {SECRET}",
        kind="training",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=2),
        organization_id=commune.id,
        audience_ids=[school_b.id],
    )
    own = _school_objects(
        db,
        settings,
        store,
        school=school_a,
        mark="",
        manager=users["manager_a"],
        leader=users["teacher_a2"],
        learner=users["student_a2"],
        learner2=users["student_a3"],
        organiser=users["admin"],  # the manager of A organises it through their school
        contest_creator=users["admin"],
        admin=users["admin"],
        quiz_lesson_id=quiz_lesson.id,
        course_id=course.id,
        event_lesson_id=None,
        now=now,
    )
    actors = {}
    for name in {a for a in ACTORS.values() if a is not None}:
        user = users[name]
        actors[name] = Actor(
            id=user.id,
            email=user.email,
            token=auth.issue_token(settings, user),
            cookie=auth.start_web_session(db, settings, user),
        )
    db.flush()
    return MatrixWorld(
        actors=actors,
        ids={"other": {**shared, **other}, "own": {**shared, **own}},
        csrf=csrf_token(settings, CSRF_SEED),
    )
