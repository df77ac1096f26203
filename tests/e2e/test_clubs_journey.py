"""A school club in a real browser at 360 px: a teacher creates it, a colleague asks to join and
is approved, the colleague starts a discussion with a script and tricky links in it, the leader
sees it rendered harmlessly (as text, nothing runs) and hides it; the colleague then sees only
"hidden by a moderator"."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, make_org, make_user

pytestmark = pytest.mark.e2e

EVIL_BODY = (
    "Ý tưởng: <script>window.__pwned = 1</script> "
    '<img src=x onerror="window.__pwned = 2"> '
    "[bấm vào đây](javascript:window.__pwned=3) **quan trọng**"
)


@dataclass
class People:
    leader_email: str
    leader_name: str
    colleague_email: str
    colleague_name: str
    tag: str


@pytest.fixture
def people(live_settings: Settings, base_url: str) -> Iterator[People]:
    engine = make_engine(live_settings)
    tag = uuid.uuid4().hex[:8]
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            school = make_org(session, name=f"Trường THCS Hòa Bình {tag}", level="lower_secondary")
            leader = make_user(
                session,
                live_settings,
                organization=school,
                email=f"gv.lan.{tag}@e2e.edu.vn",
                full_name="Nguyễn Thị Lan",
            )
            colleague = make_user(
                session,
                live_settings,
                organization=school,
                email=f"gv.minh.{tag}@e2e.edu.vn",
                full_name="Trần Văn Minh",
            )
            result = People(
                leader.email, leader.full_name, colleague.email, colleague.full_name, tag
            )
        yield result
    finally:
        engine.dispose()


def fits(page: Page, name: str) -> None:
    """No sideways scrolling at 360 px (and a screenshot of the page for review)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"clubs-{name}.png"), full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (
        page.url
    )


def sign_in(page: Page, email: str, name: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page.locator("main h1")).to_contain_text(name)


def pwned(page: Page) -> object:
    return page.evaluate("() => window.__pwned")


def test_a_club_discussion_with_a_script_is_harmless_and_moderated(
    page: Page, browser: Browser, base_url: str, people: People
) -> None:
    club_name = f"CLB Robot {people.tag}"

    # The leader creates the club (a school club: their own school).
    sign_in(page, people.leader_email, people.leader_name)
    page.goto("/clubs")
    fits(page, "empty")
    page.fill("input[name=name]", club_name)
    page.fill("textarea[name=description]", "Lắp ráp và lập trình **robot**.")
    page.click("form[method=post][action='/clubs'] button[type=submit]")
    expect(page.locator("main h1")).to_have_text(club_name)
    expect(page.locator(".flash-success")).to_be_visible()
    match = re.search(r"/clubs/(\d+)$", page.url)
    assert match, page.url
    club_id = int(match.group(1))
    expect(page.locator(".club-description strong")).to_have_text("robot")
    fits(page, "created")

    # A colleague of the same school finds it and asks to join.
    other = browser.new_context(
        base_url=base_url, viewport={"width": 360, "height": 640}, locale="vi-VN"
    )
    colleague = other.new_page()
    try:
        sign_in(colleague, people.colleague_email, people.colleague_name)
        colleague.goto("/clubs")
        join = colleague.locator(f"form[action='/clubs/{club_id}/join'] button")
        expect(join).to_be_visible()
        fits(colleague, "to-join")
        join.click()
        expect(colleague.locator(".flash-success")).to_be_visible()

        # The leader approves the request from the club page.
        page.goto(f"/clubs/{club_id}")
        approve = page.locator(
            f"form[action^='/clubs/{club_id}/requests/'][action$='/approve'] button"
        )
        expect(approve).to_have_count(1)
        fits(page, "request")
        approve.click()
        expect(page.locator(".flash-success")).to_be_visible()
        expect(page.locator(".member-row")).to_have_count(2)

        # The colleague, now a member, starts a discussion with a script in it.
        colleague.goto(f"/clubs/{club_id}")
        colleague.fill("input[name=title]", "<script>window.__pwned=4</script> Ý tưởng")
        colleague.fill("textarea[name=body]", EVIL_BODY)
        colleague.click(f"form[action='/clubs/{club_id}/threads'] button[type=submit]")
        expect(colleague.locator("main h1")).to_contain_text("<script>window.__pwned=4</script>")
        thread_match = re.search(r"/threads/(\d+)", colleague.url)
        assert thread_match, colleague.url
        thread_id = int(thread_match.group(1))
        assert pwned(colleague) is None

        # The leader has news: an unread badge, then the post rendered harmlessly.
        page.goto("/clubs")
        expect(page.locator(".card-unread .badge-unread")).to_be_visible()
        page.goto(f"/clubs/{club_id}")
        page.click(f"a[href='/threads/{thread_id}']")
        body = page.locator(".post-body").first
        expect(body).to_contain_text("<script>window.__pwned = 1</script>")  # shown as text
        expect(body.locator("strong")).to_have_text("quan trọng")
        assert body.locator("script, img, iframe").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator("main script").count() == 0
        assert pwned(page) is None
        fits(page, "thread")

        # ... and hides it.
        page.click("form[action$='/hide'] button")
        expect(page.locator(".flash-success")).to_be_visible()
        expect(page.locator(".post-hidden")).to_have_count(1)
        expect(page.locator(".post-hidden .post-body")).to_contain_text("window.__pwned")
        fits(page, "hidden")

        # The member sees only that it was hidden; the unread badge is gone for the leader.
        colleague.goto(f"/threads/{thread_id}")
        expect(colleague.locator(".post-placeholder")).to_be_visible()
        expect(colleague.locator("main")).not_to_contain_text("window.__pwned = 1")
        fits(colleague, "placeholder")
        page.goto("/clubs")
        expect(page.locator(".badge-unread")).to_have_count(0)
    finally:
        other.close()
