"""Weak links, in a real browser at 360 px (static/js/net.js): a form sent with the network cut
keeps what was typed and is created once when sent again; a reload brings the typed text back;
the banner says when the connection is lost and back; uploads show their progress and a failed
one is retried once; an export cut by the network can be retried; the lesson player's queued
progress is announced when it has been sent, and the server has it.

Messages are compared with the banner's data-msg-* attributes (rendered in the page's language),
so the tests hold whatever the translation says."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import Organization, User
from app.accounts.service import create_user
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from app.core.storage import make_blob_store
from app.lcms import service as lcms
from app.lms import service as lms
from app.lms.models import LessonProgress
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples
from tests.lms.helpers import store_bytes

pytestmark = pytest.mark.e2e

BANNER = "#net-banner"
# Every value a MutationObserver sees on a <progress> (set before any page script runs).
RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver(function (changes) {
  changes.forEach(function (c) {
    if (c.target.nodeName === 'PROGRESS') { window.__progress.push(c.target.value); }
  });
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['value'] });
"""
DRAFT_KEYS = "Object.keys(sessionStorage).filter(k => k.startsWith('hocso-draft:'))"


Sessions = sessionmaker[Session]


@pytest.fixture
def db(live_settings: Settings) -> Iterator[Sessions]:
    """Sessions on the live server's database (its commits are real)."""
    engine = make_engine(live_settings)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def users_with(factory: Sessions, email: str) -> int:
    with session_scope(factory) as session:
        return int(session.scalar(select(func.count()).where(User.email == email)) or 0)


def message(page: Page, name: str) -> str:
    text = page.locator(BANNER).get_attribute(f"data-msg-{name}")
    assert text, name
    return text


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form.form button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def fill_new_user(page: Page, email: str, name: str) -> None:
    page.goto("/admin/users/new")
    page.fill("#f-email", email)
    page.fill("#f-full_name", name)
    page.select_option("#f-role", "teacher")
    commune = page.locator("#f-organization_id option", has_text="Xã Tân Cương").first
    page.select_option("#f-organization_id", commune.get_attribute("value"))


NEW_USER_FORM = "form[action='/admin/users']"


def test_a_form_sent_offline_keeps_its_text_and_is_created_once_back_online(
    page: Page, db: Sessions
) -> None:
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    email = f"gv.mang.yeu.{uuid.uuid4().hex[:8]}@e2e.edu.vn"
    fill_new_user(page, email, "Nguyễn Văn Mạng Yếu")
    organisation = page.input_value("#f-organization_id")

    page.context.set_offline(True)
    page.click(f"{NEW_USER_FORM} button[type=submit]")
    error = page.locator(f"{NEW_USER_FORM} .net-error[role=alert]")
    expect(error).to_have_text(message(page, "failed"))
    # Still the same page, with every value typed, and the button usable again.
    expect(page).to_have_url(re.compile(r"/admin/users/new$"))
    expect(page.locator("#f-email")).to_have_value(email)
    expect(page.locator("#f-full_name")).to_have_value("Nguyễn Văn Mạng Yếu")
    expect(page.locator("#f-role")).to_have_value("teacher")
    expect(page.locator("#f-organization_id")).to_have_value(organisation)
    expect(page.locator(f"{NEW_USER_FORM} button[type=submit]")).to_be_enabled()
    expect(page.locator(BANNER)).to_have_attribute("data-state", "offline")
    assert users_with(db, email) == 0

    page.context.set_offline(False)
    expect(page.locator(BANNER)).to_have_text(message(page, "online"))
    page.click(f"{NEW_USER_FORM} button[type=submit]")
    expect(page.locator("main")).to_contain_text(email)  # the "user created" page
    expect(error).to_have_count(0)
    assert users_with(db, email) == 1
    assert page.evaluate(DRAFT_KEYS) == []  # sent: the draft is gone


def test_a_reload_after_a_failed_submit_brings_the_typed_text_back(
    page: Page, db: Sessions
) -> None:
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    email = f"gv.tai.lai.{uuid.uuid4().hex[:8]}@e2e.edu.vn"
    fill_new_user(page, email, "Trần Thị Tải Lại")
    page.context.set_offline(True)
    page.click(f"{NEW_USER_FORM} button[type=submit]")
    expect(page.locator(f"{NEW_USER_FORM} .net-error")).to_be_visible()
    page.context.set_offline(False)

    # The email and name fields say autocomplete=off: Chromium does not restore them itself.
    page.reload()
    expect(page.locator("#f-email")).to_have_value(email)
    expect(page.locator("#f-full_name")).to_have_value("Trần Thị Tải Lại")
    expect(page.locator("#f-role")).to_have_value("teacher")
    expect(page.locator(f"{NEW_USER_FORM} .net-note")).to_have_text(message(page, "restored"))
    # A fresh visit of the page too (a new navigation, nothing kept by the browser).
    page.goto("/")
    page.goto("/admin/users/new")
    expect(page.locator("#f-full_name")).to_have_value("Trần Thị Tải Lại")

    page.click(f"{NEW_USER_FORM} button[type=submit]")
    expect(page.locator("main")).to_contain_text(email)
    assert users_with(db, email) == 1
    page.goto("/admin/users/new")
    expect(page.locator("#f-full_name")).to_have_value("")  # sent: not restored again


def test_a_draft_never_holds_a_password(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 360, "height": 640})
    page = context.new_page()
    try:
        page.goto("/login")
        page.fill("input[name=email]", "co.giao@e2e.edu.vn")
        page.fill("input[name=password]", "Bi-mat-tuyet-doi-2026")
        context.set_offline(True)
        page.click("form.form button[type=submit]")
        expect(page.locator(".net-error")).to_have_text(message(page, "failed"))
        expect(page.locator("input[name=password]")).to_have_value("Bi-mat-tuyet-doi-2026")
        stored = page.evaluate(
            "Object.keys(sessionStorage).map(k => sessionStorage.getItem(k)).join(' ')"
        )
        assert "co.giao@e2e.edu.vn" in stored
        assert "Bi-mat-tuyet-doi-2026" not in stored
        assert "csrf" not in stored
    finally:
        context.close()


def test_the_banner_says_when_the_connection_is_lost_and_when_it_is_back(page: Page) -> None:
    page.goto("/login")
    banner = page.locator(BANNER)
    expect(banner).to_have_attribute("role", "status")
    expect(banner).to_have_attribute("aria-live", "polite")
    expect(banner).to_have_text("")
    assert banner.bounding_box() is None or banner.bounding_box()["height"] == 0  # type: ignore[index]

    page.context.set_offline(True)
    expect(banner).to_have_text(message(page, "offline"))
    expect(banner).to_have_attribute("data-state", "offline")
    assert banner.is_visible()

    page.context.set_offline(False)
    expect(banner).to_have_text(message(page, "online"))
    expect(banner).to_have_attribute("data-state", "online")
    expect(banner).to_have_text("", timeout=15_000)  # then it steps aside


def test_an_upload_shows_its_progress_and_a_failed_one_is_retried_once(
    page: Page, db: Sessions, tmp_path: Path
) -> None:
    with session_scope(db) as session:
        commune = session.scalars(
            select(Organization).where(Organization.name == "Xã Tân Cương")
        ).one()
        school = make_org(
            session,
            name=f"Trường THCS Tải Lên {uuid.uuid4().hex[:6]}",
            level="lower_secondary",
            parent=commune,
        )
        school_id = school.id
    tag = uuid.uuid4().hex[:8]
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)

    first = [f"hs.mot.{tag}@e2e.edu.vn", f"hs.hai.{tag}@e2e.edu.vn"]
    csv_file = tmp_path / "hoc-sinh.csv"
    csv_file.write_text(
        "email,full_name,role,organization_id\n"
        + "".join(f"{e},Học Sinh {i},student,{school_id}\n" for i, e in enumerate(first)),
        encoding="utf-8",
    )
    page.goto("/admin/users/import")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form[action='/admin/users/import'] button[type=submit]")
    for email in first:
        expect(page.locator("main")).to_contain_text(email)
    seen = page.evaluate("window.__progress")
    assert seen, "a progress bar was shown"
    assert max(seen) == 100
    assert all(users_with(db, e) == 1 for e in first)

    # The next upload is cut by the network once; Retry sends the same file again.
    second = [f"gv.ba.{tag}@e2e.edu.vn"]
    csv_file.write_text(
        f"email,full_name,role,organization_id\n{second[0]},Giáo Viên Ba,teacher,{school_id}\n",
        encoding="utf-8",
    )
    calls = {"aborted": 0, "passed": 0}

    def cut_once(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
        elif calls["aborted"] == 0:
            calls["aborted"] += 1
            route.abort("connectionreset")
        else:
            calls["passed"] += 1
            route.continue_()

    page.route("**/admin/users/import", cut_once)
    page.goto("/admin/users/import")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form[action='/admin/users/import'] button[type=submit]")
    error = page.locator(".net-error[role=alert]")
    expect(error).to_have_text(message(page, "upload-failed"))
    retry = page.locator("button.net-retry")
    expect(retry).to_be_visible()
    expect(retry).to_be_focused()
    # navigator.onLine still says online: the failed request alone puts the banner up.
    assert page.evaluate("navigator.onLine") is True
    expect(page.locator(BANNER)).to_have_attribute("data-state", "offline")
    progress = page.locator(".net-upload progress")
    expect(progress).to_have_attribute("aria-valuetext", re.compile(r"^\d+%$"))
    expect(page.locator(".net-upload label")).to_have_text(message(page, "upload-label"))
    assert users_with(db, second[0]) == 0

    retry.click()
    expect(page.locator("main")).to_contain_text(second[0])
    expect(page.locator(BANNER)).to_have_attribute("data-state", "online")
    assert calls == {"aborted": 1, "passed": 1}
    assert users_with(db, second[0]) == 1


def test_an_export_cut_by_the_network_can_be_retried(
    page: Page, db: Sessions, live_settings: Settings
) -> None:
    with session_scope(db) as session:
        admin = session.scalars(select(User).where(User.email == ADMIN_EMAIL)).one()
        create_user(
            session,
            live_settings,
            admin,
            email=f"nhat.ky.{uuid.uuid4().hex[:8]}@e2e.edu.vn",
            full_name="Người Có Nhật Ký",
            role="teacher",
            organization_id=admin.organization_id,
        )
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto("/admin/audit")
    link = page.locator("a[data-net-export]")
    expect(link).to_have_count(1)

    page.context.set_offline(True)
    link.click()
    status = page.locator(".net-export-status")
    expect(status).to_have_text(message(page, "export-failed"))
    retry = page.locator("button.net-retry")
    expect(retry).to_be_visible()

    page.context.set_offline(False)
    with page.expect_download() as info:
        retry.click()
    download = info.value
    assert download.suggested_filename.startswith("nhat-ky-quan-tri-")
    assert download.suggested_filename.endswith(".csv")
    saved = download.path()
    assert saved is not None
    assert "Người Có Nhật Ký" in Path(saved).read_text(encoding="utf-8-sig")
    expect(status).to_have_text(message(page, "ready"))
    expect(retry).to_be_hidden()


@dataclass
class Lesson:
    id: int
    user_id: int
    email: str


@pytest.fixture
def lesson(db: Sessions, live_settings: Settings) -> Lesson:
    """A learner enrolled in a published course whose lesson is an image (marked as done)."""
    tag = uuid.uuid4().hex[:8]
    store = make_blob_store(live_settings)
    with session_scope(db) as session:
        school = make_org(session, name=f"Trường Tiểu học Ngoại Tuyến {tag}")
        author = make_user(session, live_settings, role="author", organization=school)
        learner = make_user(
            session,
            live_settings,
            role="teacher",
            organization=school,
            email=f"gv.ngoai.tuyen.{tag}@e2e.edu.vn",
        )
        data = samples.png(64, 40)
        item = lcms.create_item(session, author, title="Sơ đồ Nghị quyết 57", kind="image")
        lcms.add_version(
            session,
            author,
            item.id,
            sha256=store_bytes(store, data),
            size=len(data),
            media_type="image/png",
            filename="so-do.png",
        )
        lcms.publish(session, author, item.id, version=1)
        course = lms.create_course(
            session, author, title=f"Học khi mất mạng {tag}", description="", levels=["primary"]
        )
        module = lms.add_module(session, author, course.id, title="Học phần 1")
        first = lms.add_lesson(
            session, author, module.id, title="Xem sơ đồ", kind="content", content_id=item.id
        )
        lms.add_lesson(
            session, author, module.id, title="Xem lại", kind="content", content_id=item.id
        )
        lms.publish_course(session, author, course.id)
        lms.enroll_self(session, learner, course.id)
        return Lesson(id=first.id, user_id=learner.id, email=learner.email)


def test_queued_progress_is_announced_when_sent_and_the_server_has_it(
    page: Page, lesson: Lesson, db: Sessions
) -> None:
    sign_in(page, lesson.email, PASSWORD)
    page.goto(f"/lessons/{lesson.id}")
    banner = page.locator(BANNER)

    page.context.set_offline(True)
    page.click("#mark-done")
    expect(banner).to_contain_text(message(page, "queued-one").replace("{n}", "1"))
    expect(banner).to_have_attribute("data-state", "offline")
    with session_scope(db) as session:
        assert (
            session.scalars(
                select(LessonProgress).where(
                    LessonProgress.user_id == lesson.user_id, LessonProgress.lesson_id == lesson.id
                )
            ).first()
            is None
        )

    page.context.set_offline(False)
    expect(banner).to_contain_text(message(page, "sent-one").replace("{n}", "1"))
    expect(banner).not_to_contain_text(message(page, "queued-one").replace("{n}", "1"))
    with session_scope(db) as session:
        record = session.scalars(
            select(LessonProgress).where(
                LessonProgress.user_id == lesson.user_id, LessonProgress.lesson_id == lesson.id
            )
        ).one()
        assert record.status == "completed"


def test_answers_are_shown_as_the_browser_would_show_them(page: Page) -> None:
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    name = f"Trường Mầm non Hoa Sen {uuid.uuid4().hex[:6]}"
    form = "form[action='/admin/organizations']"

    def add_school() -> None:
        page.fill(f"{form} input[name=name]", name)
        page.select_option(f"{form} select[name=kind]", "school")
        page.select_option(f"{form} select[name=level]", "preschool")
        commune = page.locator(f"{form} select[name=parent_id] option", has_text="Xã Tân Cương")
        page.select_option(f"{form} select[name=parent_id]", commune.first.get_attribute("value"))
        page.click(f"{form} button[type=submit]")

    page.goto("/admin/organizations")
    add_school()
    # Redirected to the page it was sent from: that answer (with its flash) is shown.
    expect(page.locator(".flashes .flash-success")).to_contain_text(name)
    expect(page).to_have_url(re.compile(r"/admin/organizations$"))

    # Redirected elsewhere: the browser goes there, and the flash message the followed request
    # consumed is shown all the same.
    page.locator(".tree-node", has_text=name).locator("a.action").click()
    expect(page).to_have_url(re.compile(r"/admin/organizations/\d+$"))
    name = name + " (đổi tên)"
    page.fill("form.form input[name=name]", name)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/organizations$"))
    expect(page.locator(".flashes .flash-success")).to_contain_text(name)
    assert page.evaluate("sessionStorage.getItem('hocso-flash')") is None

    # The same name again: refused (409); the page with the error replaces this one.
    add_school()
    expect(page.locator("main .alert-error[role=alert]")).to_be_visible()
    expect(page.locator(f"{form} input[name=name]")).to_have_value(name)
    expect(page.locator(".flashes .flash-success")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/admin/organizations$"))
    # Back shows the page as it was before that answer (reloaded, without the error).
    page.go_back()
    expect(page.locator("main .alert-error")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/admin/organizations$"))
