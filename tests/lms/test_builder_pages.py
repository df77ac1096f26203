"""Course builder pages (authors) and the learners page with its enrolment forms (managers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core import i18n
from app.core.config import Settings
from app.core.errors import InvalidInput
from app.core.forms import day_end, day_start, local_day, parse_day, parse_int
from app.lms import quiz, service
from app.lms.builder_pages import moved
from app.lms.enrol_import import parse_emails
from app.lms.models import Course, Enrollment, Lesson, Module
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user
from tests.lms.helpers import World, build_world, publish_newer_version

Login = Callable[[str, str], TestClient]
TZ = "Asia/Ho_Chi_Minh"
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def sign_in(page_login: Login, client: TestClient, user: User) -> str:
    """Sign in as ``user`` with English pages; returns a CSRF token for the forms."""
    client.cookies.clear()
    page_login(user.email, PASSWORD)
    client.cookies.set("hocso_lang", "en")
    return csrf_from(client.get("/").text)


def post(client: TestClient, url: str, token: str, **data: object) -> Response:
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)


def no_inline_code(html: str) -> None:
    assert "<script>" not in html
    assert " style=" not in html
    assert "onclick" not in html


def modules_of(db: Session, course_id: int) -> list[Module]:
    db.expire_all()
    return list(
        db.scalars(
            select(Module).where(Module.course_id == course_id).order_by(Module.position, Module.id)
        )
    )


def lessons_of(db: Session, module_id: int) -> list[Lesson]:
    return list(
        db.scalars(
            select(Lesson).where(Lesson.module_id == module_id).order_by(Lesson.position, Lesson.id)
        )
    )


# --- Authors build a course ---------------------------------------------------------------


def test_author_builds_reorders_and_publishes_a_course_through_the_forms(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    token = sign_in(page_login, client, world.author)
    page = client.get("/studio/courses")
    assert page.status_code == 200
    assert "New course" in page.text
    no_inline_code(page.text)

    created = post(
        client,
        "/studio/courses",
        token,
        title="Khoa học, công nghệ và đổi mới sáng tạo",
        description="Bồi dưỡng thường xuyên",
        levels=["primary", "lower_secondary"],
        topics="KH-CN, ĐMST",
        roles=["teacher", "school_manager"],
        due_date="2026-06-30",
        enroll_opens="01/06/2026",
        enroll_closes="2026-06-20",
        review_policy="score",
    )
    assert created.status_code == 303, created.text
    match = re.fullmatch(r"/studio/courses/(\d+)", created.headers["location"])
    assert match
    course_id = int(match.group(1))
    course = db.get(Course, course_id)
    assert course is not None
    assert course.owner_id == world.author.id
    assert course.status == "draft"
    assert course.values("level") == ["primary", "lower_secondary"]
    assert course.values("topic") == ["KH-CN", "ĐMST"]
    assert course.values("role") == ["teacher", "school_manager"]
    assert course.review_policy == "score"
    # Dates are whole days in Vietnam: the end of the due day, the start of the opening day.
    assert course.due_at == datetime(2026, 6, 30, 16, 59, 59, tzinfo=UTC)
    assert course.enroll_opens_at == datetime(2026, 5, 31, 17, 0, tzinfo=UTC)
    assert course.enroll_closes_at == datetime(2026, 6, 20, 16, 59, 59, tzinfo=UTC)

    base = f"/studio/courses/{course_id}"
    builder = client.get(base)
    assert builder.status_code == 200
    assert "Khoa học, công nghệ và đổi mới sáng tạo" in builder.text
    assert "30/06/2026" in builder.text
    no_inline_code(builder.text)

    assert post(client, f"{base}/modules", token, title="Mở đầu").status_code == 303
    assert post(client, f"{base}/modules", token, title="Thực hành").status_code == 303
    first, second = modules_of(db, course_id)
    assert [first.title, second.title] == ["Mở đầu", "Thực hành"]

    content = post(
        client,
        f"{base}/modules/{first.id}/lessons",
        token,
        title="Xem video",
        kind="content",
        content_id=str(world.item.id),
        content_version="",
        required="1",
        completion_threshold="80",
        # The quiz fields of the same form are ignored for a content lesson.
        pass_score="",
        max_attempts="",
        time_limit_minutes="",
    )
    assert content.status_code == 303, content.text
    quiz_page = post(
        client,
        f"{base}/modules/{first.id}/lessons",
        token,
        title="Kiểm tra nhanh",
        kind="quiz",
        content_id=str(world.item.id),  # ignored for a quiz
        completion_threshold="90",
        pass_score="60",
        max_attempts="2",
        time_limit_minutes="15",
        shuffle="1",
    )
    assert quiz_page.status_code == 303, quiz_page.text
    video, check = lessons_of(db, first.id)
    assert (video.kind, video.required, video.completion_threshold) == ("content", True, 80)
    assert video.content_version_id == world.video.content_version_id  # the published v1
    assert (check.kind, check.pass_score, check.max_attempts) == ("quiz", 60, 2)
    assert (check.time_limit_seconds, check.required, check.shuffle) == (900, False, True)

    question = post(
        client,
        f"{base}/lessons/{check.id}/questions",
        token,
        text="CĐS là viết tắt của?",
        kind="single",
        choice_text=["Chuyển đổi số", "Công dân số", "", "", "", ""],
        choice_correct=["1"],
        answer="",
        ignore_accents="1",
        points="2",
    )
    assert question.status_code == 303, question.text
    assert question.headers["location"].startswith(f"{base}#question-")
    short = post(
        client,
        f"{base}/lessons/{check.id}/questions",
        token,
        text="Viết tắt của khoa học công nghệ?",
        kind="short",
        choice_text=["", "", "", "", "", ""],
        answer="KH-CN|khoa hoc cong nghe",
        points="1",
    )
    assert short.status_code == 303, short.text
    questions = quiz.questions_of(db, check.id)
    assert [(q.kind, q.points) for q in questions] == [("single", 2), ("short", 1)]
    assert [(c.text, c.correct) for c in questions[0].choices] == [
        ("Chuyển đổi số", True),
        ("Công dân số", False),
    ]
    assert questions[1].answer == "KH-CN|khoa hoc cong nghe"
    assert questions[1].ignore_accents is False  # the box was not ticked

    # Reorder: the second module up, the quiz above the video.
    moved_module = post(client, f"{base}/modules/{second.id}/move", token, direction="up")
    assert moved_module.status_code == 303
    assert moved_module.headers["location"] == f"{base}#module-{second.id}"
    assert [m.id for m in modules_of(db, course_id)] == [second.id, first.id]
    assert post(client, f"{base}/lessons/{check.id}/move", token, direction="up").status_code == 303
    assert [le.id for le in lessons_of(db, first.id)] == [check.id, video.id]
    # At the top already: nothing moves, no error.
    assert post(client, f"{base}/lessons/{check.id}/move", token, direction="up").status_code == 303
    assert [le.id for le in lessons_of(db, first.id)] == [check.id, video.id]

    page = client.get(base).text
    assert page.index("Thực hành") < page.index("Mở đầu")
    assert page.index("Kiểm tra nhanh") < page.index("Xem video")
    assert "CĐS là viết tắt của?" in page
    assert "KH-CN · khoa hoc cong nghe" in page
    assert "Update available" not in page
    assert f'action="{base}/publish"' in page
    assert f'href="/courses/{course_id}/learners"' in page

    published = post(client, f"{base}/publish", token)
    assert published.status_code == 303
    db.expire_all()
    assert db.get(Course, course_id).status == "published"  # type: ignore[union-attr]
    after = client.get(base).text
    assert "is published: learners can enrol" in after  # the flash
    assert f'action="{base}/publish"' not in after

    listing = client.get("/studio/courses").text
    assert f'href="{base}"' in listing
    assert "Published" in listing


def test_form_errors_re_render_the_form_with_the_status(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    token = sign_in(page_login, client, world.author)
    blank = post(client, "/studio/courses", token, title="  ", due_date="2026-02-30")
    assert blank.status_code == 422
    assert "is not a date" in blank.text
    bad_window = post(
        client,
        "/studio/courses",
        token,
        title="Khoá học",
        enroll_opens="2026-06-10",
        enroll_closes="2026-06-01",
    )
    assert bad_window.status_code == 422
    assert "Enrolment must open before it closes." in bad_window.text
    assert 'value="Khoá học"' in bad_window.text  # what was typed is kept

    course = service.create_course(db, world.author, title="Nháp")
    module = service.add_module(db, world.author, course.id, title="Học phần")
    base = f"/studio/courses/{course.id}"
    no_item = post(
        client, f"{base}/modules/{module.id}/lessons", token, title="Bài", kind="content"
    )
    assert no_item.status_code == 422
    assert "Library item is required." in no_item.text
    assert f'id="add-lesson-{module.id}" open' in no_item.text
    bad_attempts = post(
        client,
        f"{base}/modules/{module.id}/lessons",
        token,
        title="Bài",
        kind="quiz",
        pass_score="70",
        max_attempts="0",
    )
    assert bad_attempts.status_code == 422
    assert "Attempts allowed must be a whole number from 1 to 100." in bad_attempts.text
    quiz_lesson = service.add_lesson(db, world.author, module.id, title="Kiểm tra", kind="quiz")
    one_choice = post(
        client,
        f"{base}/lessons/{quiz_lesson.id}/questions",
        token,
        text="Câu hỏi?",
        kind="single",
        choice_text=["Một", "", "", "", "", ""],
        choice_correct=["1"],
        points="1",
    )
    assert one_choice.status_code == 422
    assert "A question needs between 2 and 12 choices." in one_choice.text
    assert 'value="Một"' in one_choice.text
    true_false = post(
        client,
        f"{base}/lessons/{quiz_lesson.id}/questions",
        token,
        text="Trái đất quay quanh mặt trời?",
        kind="true_false",
        choice_text=["", "", "", "", "", ""],
        true_false="true",
        points="1",
    )
    assert true_false.status_code == 303, true_false.text
    tf = quiz.questions_of(db, quiz_lesson.id)[0]
    assert [c.correct for c in tf.choices] == [True, False]
    # Someone else's module is "not found" under this course.
    other = service.create_course(db, world.author, title="Khác")
    other_module = service.add_module(db, world.author, other.id, title="Khác")
    assert (
        post(
            client, f"{base}/modules/{other_module.id}/lessons", token, title="x", kind="quiz"
        ).status_code
        == 404
    )


def test_a_teacher_gets_403_on_the_studio_course_pages(
    client: TestClient, page_login: Login, world: World
) -> None:
    token = sign_in(page_login, client, world.teacher)
    assert client.get("/studio/courses").status_code == 403
    assert client.get(f"/studio/courses/{world.course.id}").status_code == 403
    assert post(client, "/studio/courses", token, title="Không được").status_code == 403
    assert post(client, f"/studio/courses/{world.course.id}/archive", token).status_code == 403
    assert client.get(f"/courses/{world.course.id}/learners").status_code == 403
    assert (
        post(
            client,
            f"/courses/{world.course.id}/learners/assign",
            token,
            organization_id=str(world.school.id),
        ).status_code
        == 403
    )


def test_another_author_sees_the_builder_read_only(
    client: TestClient, page_login: Login, db: Session, settings: Settings, world: World
) -> None:
    other = make_user(db, settings, role="author", organization=world.school)
    token = sign_in(page_login, client, other)
    page = client.get(f"/studio/courses/{world.course.id}")
    assert page.status_code == 200
    assert "Only the course's owner or an administrator can change" in page.text
    assert "Add a module" not in page.text
    assert f"/studio/courses/{world.course.id}" not in client.get("/studio/courses").text
    assert f"/studio/courses/{world.course.id}" in client.get("/studio/courses?all=1").text
    denied = post(client, f"/studio/courses/{world.course.id}/modules", token, title="Không")
    assert denied.status_code == 403
    assert "Only the course&#39;s owner or an administrator can do this." in denied.text


def test_publishing_an_empty_course_shows_the_409_message(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    course = service.create_course(db, world.author, title="Khoá học trống")
    token = sign_in(page_login, client, world.author)
    response = post(client, f"/studio/courses/{course.id}/publish", token)
    assert response.status_code == 409
    assert "A course needs at least one lesson before it is published." in response.text
    assert 'href="#course-status"' in response.text
    db.expire_all()
    assert db.get(Course, course.id).status == "draft"  # type: ignore[union-attr]


def test_archiving_needs_the_confirmation_box(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    token = sign_in(page_login, client, world.author)
    url = f"/studio/courses/{world.course.id}/archive"
    unconfirmed = post(client, url, token)
    assert unconfirmed.status_code == 422
    assert "Tick the box" in unconfirmed.text
    assert post(client, url, token, confirm="1").status_code == 303
    db.expire_all()
    assert db.get(Course, world.course.id).status == "archived"  # type: ignore[union-attr]
    again = post(client, f"/studio/courses/{world.course.id}/publish", token)
    assert again.status_code == 409
    assert "This course is archived." in again.text


def test_update_available_then_apply_pins_the_new_version(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    v2 = publish_newer_version(
        db, store, world.author, world.item, size=4096, filename="bai-giang-v2.mp4"
    )
    token = sign_in(page_login, client, world.author)
    base = f"/studio/courses/{world.course.id}"
    page = client.get(base).text
    assert page.count("Update available:") == 1  # the video lesson, not the handbook
    assert "the library now publishes version 2; this lesson shows version 1." in page
    assert f'action="{base}/lessons/{world.video.id}/update-content"' in page
    assert "Apply version 2" in page

    applied = post(client, f"{base}/lessons/{world.video.id}/update-content", token)
    assert applied.status_code == 303
    assert applied.headers["location"] == f"{base}#lesson-{world.video.id}"
    db.expire_all()
    assert db.get(Lesson, world.video.id).content_version_id == v2.id  # type: ignore[union-attr]
    after = client.get(base).text
    assert "Update available:" not in after
    assert "now shows version 2" in after


# --- Managers enrol learners --------------------------------------------------------------


def test_school_manager_enrols_their_teachers_and_sees_only_their_school(
    client: TestClient, page_login: Login, db: Session, settings: Settings, world: World
) -> None:
    second_teacher = make_user(db, settings, role="teacher", organization=world.school)
    service.assign(db, world.admin, world.course.id, user_ids=[world.outsider.id])
    token = sign_in(page_login, client, world.manager)
    url = f"/courses/{world.course.id}/learners"
    page = client.get(url)
    assert page.status_code == 200
    no_inline_code(page.text)
    assert f'<option value="{world.school.id}"' in page.text
    assert f'<option value="{world.other_school.id}"' not in page.text
    assert world.outsider.email not in page.text  # another school's learner
    assert "Nobody is enrolled yet." in page.text

    enrolled = post(
        client,
        f"{url}/assign",
        token,
        organization_id=str(world.school.id),
        role="teacher",
        due_date="2026-09-05",
    )
    assert enrolled.status_code == 303, enrolled.text
    assert enrolled.headers["location"] == url
    rows = db.scalars(select(Enrollment).where(Enrollment.course_id == world.course.id)).all()
    by_user = {e.user_id: e for e in rows}
    assert {world.teacher.id, second_teacher.id, world.outsider.id} == set(by_user)
    assert by_user[world.teacher.id].source == "assigned"
    assert by_user[world.teacher.id].due_at == datetime(2026, 9, 5, 16, 59, 59, tzinfo=UTC)
    assert world.student.id not in by_user

    page = client.get(url).text
    assert "Enrolled: 2. Already enrolled: 0." in page
    assert world.teacher.email in page
    assert second_teacher.email in page
    assert world.outsider.email not in page
    assert "2 learners" in page
    assert "Not started" in page
    assert "05/09/2026" in page

    again = post(
        client, f"{url}/assign", token, organization_id=str(world.school.id), role="teacher"
    )
    assert again.status_code == 303
    assert "Enrolled: 0. Already enrolled: 2." in client.get(url).text

    other = post(
        client, f"{url}/assign", token, organization_id=str(world.other_school.id), role="teacher"
    )
    assert other.status_code == 403
    assert "You can only assign courses within your own school." in other.text

    # The admin sees everyone, with every organisation to choose from.
    sign_in(page_login, client, world.admin)
    admin_page = client.get(url).text
    assert world.outsider.email in admin_page
    assert "3 learners" in admin_page
    assert f'<option value="{world.other_school.id}"' in admin_page

    # Archived, the course keeps its records in view, without the enrolment forms.
    service.archive_course(db, world.author, world.course.id)
    sign_in(page_login, client, world.manager)
    archived = client.get(url)
    assert archived.status_code == 200
    assert world.teacher.email in archived.text
    assert "Learners can be enrolled once the course is published." in archived.text


def test_enrolment_forms_explain_a_draft_course(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    course = service.create_course(db, world.author, title="Nháp")
    token = sign_in(page_login, client, world.admin)
    url = f"/courses/{course.id}/learners"
    assert "Learners can be enrolled once the course is published." in client.get(url).text
    refused = post(client, f"{url}/assign", token, organization_id=str(world.school.id))
    assert refused.status_code == 409
    assert "This course is not open for enrolment." in refused.text


def csv_upload(client: TestClient, url: str, token: str, data: bytes, **fields: str) -> Response:
    return client.post(
        url,
        data={"csrf_token": token, **fields},
        files={"file": ("danh-sach.csv", data, "text/csv")},
        follow_redirects=False,
    )


def test_csv_enrolment_is_all_or_nothing_and_counts_repeats(
    client: TestClient, page_login: Login, db: Session, settings: Settings, world: World
) -> None:
    token = sign_in(page_login, client, world.manager)
    url = f"/courses/{world.course.id}/learners"
    teacher, student = world.teacher.email, world.student.email

    wrong = (
        BOM
        + (
            f"email\r\n{teacher}\r\nnobody@truong.edu.vn\r\n\r\nnot-an-email\r\n"
            f"{world.outsider.email}\r\n"
        ).encode()
    )
    refused = csv_upload(client, f"{url}/import", token, wrong)
    assert refused.status_code == 422
    html = refused.text
    assert "has 3 problems. Nobody was enrolled" in html
    cell = '<td class="num">{}</td><td class="break">{}'
    assert cell.format(3, "No user has the email nobody@truong.edu.vn.") in html
    assert cell.format(5, "&#39;not-an-email&#39; is not a valid email address.") in html
    assert cell.format(6, f"{world.outsider.email} is not in your school.") in html
    assert db.scalars(select(Enrollment).where(Enrollment.course_id == world.course.id)).all() == []

    good = BOM + f"Email;Họ và tên\n{teacher.upper()};Giáo viên\n{student};Học sinh\n".encode()
    done = csv_upload(client, f"{url}/import", token, good, due_date="2026-12-31")
    assert done.status_code == 303, done.text
    assert "Enrolled: 2. Already enrolled: 0." in client.get(url).text
    rows = db.scalars(select(Enrollment).where(Enrollment.course_id == world.course.id)).all()
    assert {e.user_id for e in rows} == {world.teacher.id, world.student.id}
    assert {e.source for e in rows} == {"import"}
    assert {e.due_at for e in rows} == {datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC)}

    repeat = csv_upload(client, f"{url}/import", token, good)
    assert repeat.status_code == 303
    assert "Enrolled: 0. Already enrolled: 2." in client.get(url).text

    missing = client.post(f"{url}/import", data={"csrf_token": token}, follow_redirects=False)
    assert missing.status_code == 422
    assert "Choose a CSV file." in missing.text


# --- Pure helpers -------------------------------------------------------------------------


def test_parse_emails_reads_bom_semicolons_extra_columns_and_blank_lines() -> None:
    parsed = parse_emails(BOM + b"name,EMAIL\r\nAn,An@Truong.edu.vn\r\n\r\nBinh,b@x.vn\r\n")
    assert parsed.errors == []
    assert [(e.line, e.email) for e in parsed.lines] == [
        (2, "an@truong.edu.vn"),
        (4, "b@x.vn"),
    ]
    semicolons = parse_emails(b"email;ten\na@x.vn;A\nA@X.VN;A again\n")
    assert [(e.line, e.email) for e in semicolons.lines] == [(2, "a@x.vn")]  # once


@pytest.fixture
def english() -> Iterator[None]:
    i18n.set_locale("en")
    yield
    i18n.set_locale("vi")


@pytest.mark.usefixtures("english")
def test_parse_emails_reports_every_bad_line() -> None:
    parsed = parse_emails(b"email\nok@x.vn\nkhong-phai-email\n,\n\xc3\x28\n")
    assert parsed.lines == []
    assert [e.line for e in parsed.errors] == [5]  # not UTF-8: reported before anything else
    parsed = parse_emails(b"email,name\nok@x.vn\nkhong-phai-email\n,An\n")
    assert [e.line for e in parsed.errors] == [3, 4]
    assert "not a valid email address" in parsed.errors[0].message
    assert parsed.errors[1].message == "This line has no email."
    assert [e.line for e in parse_emails(b"mail\na@x.vn\n").errors] == [1]
    assert [e.line for e in parse_emails(b"").errors] == [1]
    assert [e.line for e in parse_emails(b"email\n\n").errors] == [1]


def test_dates_are_whole_days_in_vietnam() -> None:
    assert parse_day("2026-03-01", field="Due") == date(2026, 3, 1)
    assert parse_day(" 01/03/2026 ", field="Due") == date(2026, 3, 1)
    assert parse_day("", field="Due") is None
    for bad in ("2026-02-30", "tomorrow", "1900-01-01", "31/12/9999"):
        with pytest.raises(InvalidInput):
            parse_day(bad, field="Due")
    end = day_end(date(2026, 3, 1), TZ)
    assert end == datetime(2026, 3, 1, 16, 59, 59, tzinfo=UTC)
    assert day_start(date(2026, 3, 1), TZ) == datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
    assert local_day(end, TZ) == "2026-03-01"
    assert local_day(None, TZ) == ""
    assert day_end(None, TZ) is None


def test_moved_and_parse_int() -> None:
    assert moved([1, 2, 3], 2, "up") == [2, 1, 3]
    assert moved([1, 2, 3], 2, "down") == [1, 3, 2]
    assert moved([1, 2, 3], 1, "up") == [1, 2, 3]
    assert moved([1, 2, 3], 3, "down") == [1, 2, 3]
    with pytest.raises(InvalidInput):
        moved([1, 2], 1, "sideways")
    assert parse_int(" 7 ", field="N", minimum=1, maximum=10) == 7
    assert parse_int("", field="N", minimum=1, maximum=10) is None
    for bad in ("0", "11", "1.5", "x"):
        with pytest.raises(InvalidInput):
            parse_int(bad, field="N", minimum=1, maximum=10)
    with pytest.raises(InvalidInput):
        parse_int("", field="N", minimum=1, maximum=10, required=True)


def test_an_event_lesson_is_added_through_the_form(
    client: TestClient, page_login: Login, db: Session, world: World
) -> None:
    course = service.create_course(db, world.author, title="Tập huấn trực tiếp")
    module = service.add_module(db, world.author, course.id, title="Buổi tập huấn")
    token = sign_in(page_login, client, world.author)
    base = f"/studio/courses/{course.id}"
    response = post(
        client,
        f"{base}/modules/{module.id}/lessons",
        token,
        title="Hội thảo chuyển đổi số",
        kind="event",
        content_id="",
        completion_threshold="",
        pass_score="",  # ignored for an event lesson
        max_attempts="",
        time_limit_minutes="",
    )
    assert response.status_code == 303, response.text
    [lesson] = lessons_of(db, module.id)
    assert (lesson.kind, lesson.content_version_id) == ("event", None)
    page = client.get(base).text
    assert f'href="/events/by-lesson/{lesson.id}"' in page
