"""A form whose answer is lost after the server acted is done once when sent again from the page
(static/js/net.js and studio.js send an Idempotency-Key; decision 12), in a real browser: the
first POST reaches the server and its answer is cut (``route.fetch()`` then ``route.abort()``),
the page keeps the form, and sending it again shows the first result with "This was already
sent; it was done once." Editing the form in between makes it a new submission.

Pages are shown in English (``?lang=en``) so the flash is compared with its msgid, whatever the
Vietnamese catalog says."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import FilePayload, Page, Route, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import User
from app.community.clubs import service as clubs
from app.community.clubs.models import Thread
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from app.lcms import service as lcms
from app.lcms.models import ContentVersion
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.e2e

ALREADY = "This was already sent; it was done once."
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

Sessions = sessionmaker[Session]


@pytest.fixture
def db(live_settings: Settings) -> Iterator[Sessions]:
    """Sessions on the live server's database (its commits are real)."""
    engine = make_engine(live_settings)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def admin(session: Session) -> User:
    user = session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    assert user is not None
    return user


def sign_in(page: Page) -> None:
    page.goto("/login?lang=en")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def threads_titled(db: Sessions, title: str) -> int:
    with session_scope(db) as session:
        return int(session.scalar(select(func.count()).where(Thread.title == title)) or 0)


def losing_the_first_answer(keys: list[str | None]) -> Callable[[Route], None]:
    """A route handler: every POST's Idempotency-Key is noted; the first reaches the server,
    whose answer is then lost on the way back; later ones go through."""

    def handle(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.header_value("idempotency-key"))
        if len(keys) == 1:
            route.fetch(max_redirects=0)  # the server acts...
            route.abort("connectionreset")  # ...and its answer never arrives
        else:
            route.continue_()

    return handle


@pytest.fixture
def club_id(db: Sessions) -> int:
    with session_scope(db) as session:
        leader = admin(session)
        club = clubs.create_club(
            session,
            leader,
            name=f"CLB Mạng yếu {uuid.uuid4().hex[:6]}",
            organization_id=leader.organization_id,
        )
        return club.id


def test_a_thread_whose_answer_was_lost_is_started_once_when_sent_again(
    page: Page, db: Sessions, club_id: int
) -> None:
    sign_in(page)
    page.goto(f"/clubs/{club_id}?lang=en")
    title = f"Lịch họp {uuid.uuid4().hex[:8]}"
    form = f"form[action='/clubs/{club_id}/threads']"
    page.fill(f"{form} input[name=title]", title)
    page.fill(f"{form} textarea[name=body]", "Thứ Hai, 8 giờ, phòng Tin học.")
    keys: list[str | None] = []
    page.route(f"**/clubs/{club_id}/threads", losing_the_first_answer(keys))

    page.click(f"{form} button[type=submit]")
    expect(page.locator(f"{form} .net-error[role=alert]")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/clubs/{club_id}\?lang=en$"))  # the form is kept
    # route.fetch() returned before the abort, and the server commits before it answers.
    assert threads_titled(db, title) == 1  # the server did it

    page.click(f"{form} button[type=submit]")  # the person sends it again
    expect(page).to_have_url(re.compile(r"/threads/\d+$"))
    expect(page.locator(".flashes")).to_contain_text(ALREADY)
    expect(page.locator("main h1")).to_contain_text(title)
    assert threads_titled(db, title) == 1
    assert len(keys) == 2
    assert keys[0]
    assert keys[0] == keys[1]


def test_a_form_edited_after_the_failure_is_a_new_submission(
    page: Page, db: Sessions, club_id: int
) -> None:
    sign_in(page)
    page.goto(f"/clubs/{club_id}?lang=en")
    title = f"Họp tổ {uuid.uuid4().hex[:8]}"
    form = f"form[action='/clubs/{club_id}/threads']"
    page.fill(f"{form} input[name=title]", title)
    page.fill(f"{form} textarea[name=body]", "Nội dung.")
    keys: list[str | None] = []
    page.route(f"**/clubs/{club_id}/threads", losing_the_first_answer(keys))

    page.click(f"{form} button[type=submit]")
    expect(page.locator(f"{form} .net-error[role=alert]")).to_be_visible()
    page.fill(f"{form} input[name=title]", title + " (sửa)")
    page.click(f"{form} button[type=submit]")
    expect(page).to_have_url(re.compile(r"/threads/\d+$"))
    expect(page.locator(".flashes")).not_to_contain_text(ALREADY)
    assert threads_titled(db, title) == 1
    assert threads_titled(db, title + " (sửa)") == 1
    assert len(keys) == 2
    assert keys[0] != keys[1]


def test_a_studio_upload_whose_answer_was_lost_is_stored_once_on_retry(
    page: Page, db: Sessions
) -> None:
    with session_scope(db) as session:
        item = lcms.create_item(session, admin(session), title="Sổ tay mạng yếu", kind="document")
        item_id = item.id
    sign_in(page)
    page.goto(f"/studio/items/{item_id}?lang=en")
    page.set_input_files(
        "#upload-form input[type=file]",
        files=FilePayload(name="so-tay.pdf", mimeType="application/pdf", buffer=PDF),
    )
    keys: list[str | None] = []
    page.route(f"**/studio/items/{item_id}/versions*", losing_the_first_answer(keys))

    page.click("#upload-submit")
    retry = page.locator("#upload-retry")
    expect(retry).to_be_visible()
    assert versions_of(db, item_id) == 1  # stored, though the page never heard

    retry.click()
    expect(page).to_have_url(re.compile(rf"/studio/items/{item_id}$"))
    expect(page.locator(".flashes")).to_contain_text(ALREADY)
    assert versions_of(db, item_id) == 1
    assert len(keys) == 2
    assert keys[0]
    assert keys[0] == keys[1]


def versions_of(db: Sessions, item_id: int) -> int:
    with session_scope(db) as session:
        return int(
            session.scalar(select(func.count()).where(ContentVersion.item_id == item_id)) or 0
        )
