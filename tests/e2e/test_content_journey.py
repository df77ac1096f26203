"""The content journey, in a real browser: an author creates a document in the studio, uploads
a PDF while the progress bar fills, publishes it, uploads and publishes a second version, then
rolls back to the first; a teacher finds the item in the library by typing without accents and
gets the bytes of the published version only."""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from pathlib import Path

import pytest
from babel.numbers import format_decimal
from playwright.sync_api import Browser, Page, expect

from app.accounts.models import Organization
from app.accounts.service import create_user
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from app.core.i18n import translations
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

TITLE = "Hướng dẫn Chuyển đổi số cho giáo viên"
PASSWORD = "E2e-Content-2026"
MB = 1024 * 1024
UPLOAD_SPEED = 2 * MB  # bytes per second while uploading: a 3 MB file takes 1.5 s
VI = translations("vi")

# Records what the upload progress bar shows, from outside the page: studio.js navigates to
# the item page as soon as the upload is done, which would wipe any state kept in the page.
RECORD_PROGRESS = """
() => {
  const bar = document.getElementById("upload-progress");
  const box = document.getElementById("upload-progress-box");
  const report = () => window.recordUploadProgress(
    Number(bar.value), !box.hidden && bar.getClientRects().length > 0
  );
  new MutationObserver(report).observe(box, {attributes: true, subtree: true});
}
"""


def padded_pdf(lines: list[str], padding: int, seed: int) -> bytes:
    """A valid one-page PDF showing ``lines`` (ASCII), made ``padding`` bytes bigger by an
    unreferenced binary stream object, so the upload is large enough to report progress."""
    text = "BT /F1 16 Tf 56 780 Td 22 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    filler = random.Random(seed).randbytes(padding)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream".encode(),
        f"<< /Length {len(filler)} >>\nstream\n".encode() + filler + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    for number, offset in enumerate(offsets, start=1):  # the xref really points at each object
        assert out[offset:].startswith(f"{number} 0 obj\n".encode())
    return bytes(out)


def make_user(settings: Settings, role: str, full_name: str) -> str:
    """A user of ``role`` in the commune (unique email: other journeys share the database)."""
    email = f"{role}.{uuid.uuid4().hex[:10]}@e2e.edu.vn"
    engine = make_engine(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            commune = session.query(Organization).filter_by(name="Xã Tân Cương").one()
            create_user(
                session,
                settings,
                None,
                email=email,
                full_name=full_name,
                role=role,
                organization_id=commune.id,
                password=PASSWORD,
            )
    finally:
        engine.dispose()
    return email


def sign_in(page: Page, email: str, full_name: str) -> None:
    page.goto("/login")
    page.fill("form[action='/login'] input[name=email]", email)
    page.fill("form[action='/login'] input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page.locator("main h1")).to_contain_text(full_name)
    assert_no_sideways_scroll(page)


def assert_no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def click(page: Page, selector: str) -> None:
    """Scroll first: below a loaded PDF viewer a plain click sometimes lands nowhere."""
    button = page.locator(selector)
    button.scroll_into_view_if_needed()
    button.click()


class ProgressLog:
    """Uploads through the studio form and records every state of its progress bar.

    The states are reported to Python as they change: studio.js navigates to the item page as
    soon as the upload is done, which would wipe anything kept in the page. On loopback the
    upload is over in one progress event, so it is throttled (DevTools network emulation) to
    make the bar move through intermediate values the way it does on a school's connection."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.states: list[tuple[int, bool]] = []
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        page.expose_function("recordUploadProgress", self._record)

    def _record(self, value: int, shown: bool) -> None:
        self.states.append((int(value), bool(shown)))

    def _throttle(self, upload_bytes_per_second: int) -> None:
        self.cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": upload_bytes_per_second,
            },
        )

    def upload(self, item_id: int, path: Path, note: str) -> list[tuple[int, bool]]:
        """Upload ``path``; return the progress bar's states (value, visible), in order."""
        page = self.page
        self.states = []
        page.evaluate(RECORD_PROGRESS)
        page.set_input_files("#upload-form input[name=file]", str(path))
        page.fill("#upload-form input[name=note]", note)
        self._throttle(UPLOAD_SPEED)
        try:
            with page.expect_navigation(url=re.compile(rf"/studio/items/{item_id}$")):
                click(page, "#upload-submit")
                expect(page.locator("#upload-progress")).to_be_visible()
                expect(page.locator("#upload-submit")).to_be_disabled()
        finally:
            self._throttle(-1)
        return list(self.states)


def assert_progress_filled(states: list[tuple[int, bool]]) -> None:
    values = [value for value, _shown in states]
    assert states, "the progress bar never changed"
    assert all(shown for _value, shown in states), states
    assert values[-1] == 100, states
    assert values == sorted(values), states  # never goes back
    assert any(0 < value < 100 for value in values), states  # it moved, not just 0 then 100


def vnum(n: int) -> str:
    return VI.gettext("v%(n)s") % {"n": n}


def size_text(size: int) -> str:
    """The file size as the pages show it in Vietnamese (``lc.file_size``), for sizes in MB."""
    assert MB <= size < 1024 * MB
    return VI.gettext("%(n)s MB") % {"n": format_decimal(round(size / MB, 1), locale="vi_VN")}


def test_author_publishes_and_rolls_back_and_teacher_reads_the_published_version(
    page: Page, browser: Browser, base_url: str, live_settings: Settings, tmp_path: Path
) -> None:
    author_email = make_user(live_settings, "author", "Tác Giả Nội Dung")
    teacher_email = make_user(live_settings, "teacher", "Giáo Viên Đọc")
    first = padded_pdf(["Huong dan Chuyen doi so", "Phien ban 1"], 3 * MB, seed=1)
    second = padded_pdf(["Huong dan Chuyen doi so", "Phien ban 2"], 2 * MB, seed=2)
    first_file = tmp_path / "huong-dan-chuyen-doi-so-v1.pdf"
    second_file = tmp_path / "huong-dan-chuyen-doi-so-v2.pdf"
    first_file.write_bytes(first)
    second_file.write_bytes(second)

    # 1. The author creates a document item in the studio.
    sign_in(page, author_email, "Tác Giả Nội Dung")
    page.goto("/studio")
    assert_no_sideways_scroll(page)
    page.fill("form[action='/studio/items'] input[name=title]", TITLE)
    page.select_option("form[action='/studio/items'] select[name=kind]", "document")
    with page.expect_navigation(url=re.compile(r"/studio/items/\d+$")):
        click(page, "form[action='/studio/items'] button[type=submit]")
    item_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("main h1")).to_have_text(TITLE)
    expect(page.locator("#upload-form")).to_be_visible()
    assert_no_sideways_scroll(page)

    # ... uploads version 1 and watches the progress bar fill up.
    progress = ProgressLog(page)
    states = progress.upload(item_id, first_file, "Bản đầu tiên")
    assert_progress_filled(states)
    versions = page.locator("section[aria-labelledby=versions-title] tbody tr")
    expect(versions).to_have_count(1)
    expect(versions.nth(0).locator("th")).to_contain_text(vnum(1))
    expect(versions.nth(0)).to_contain_text(first_file.name)
    expect(versions.nth(0)).to_contain_text(size_text(len(first)))
    expect(
        page.locator("section[aria-labelledby=preview-title] iframe.pdf-frame")
    ).to_have_attribute("src", f"/library/{item_id}/versions/1/file")
    assert_no_sideways_scroll(page)
    expect(page.locator(".flashes")).to_contain_text(
        VI.gettext("Version {n} uploaded.").format(n=1)
    )

    # 2. Publish version 1, upload and publish version 2, roll back to version 1.
    publish = f"form[action='/studio/items/{item_id}/publish']"
    click(page, f"{publish}:has(input[name=version][value='1']) button[type=submit]")
    expect(page.locator(".flashes")).to_contain_text(
        VI.gettext("Version {n} published.").format(n=1)
    )
    expect(page.locator(f"{publish}:has(input[name=version][value='1'])")).to_have_count(0)

    assert_progress_filled(progress.upload(item_id, second_file, "Bản thứ hai"))
    expect(versions).to_have_count(2)
    expect(versions.nth(0).locator("th")).to_contain_text(vnum(2))  # newest first
    expect(versions.nth(0)).to_contain_text(second_file.name)
    click(page, f"{publish}:has(input[name=version][value='2']) button[type=submit]")
    expect(page.locator(".flashes")).to_contain_text(
        VI.gettext("Version {n} published.").format(n=2)
    )

    roll_back = page.locator(f"{publish}:has(input[name=version][value='1']) button[type=submit]")
    expect(roll_back).to_contain_text(VI.gettext("Roll back to this version"))
    roll_back.scroll_into_view_if_needed()
    roll_back.click()
    expect(page.locator(".flashes")).to_contain_text(
        VI.gettext("Rolled back to version {n}.").format(n=1)
    )
    v2_row, v1_row = versions.nth(0), versions.nth(1)
    expect(v1_row.locator("th")).to_contain_text(vnum(1))
    expect(v1_row.locator("th .badge-ok")).to_have_text(VI.gettext("Published"))
    expect(v2_row.locator("th .badge-ok")).to_have_count(0)
    expect(page.locator(f"{publish}:has(input[name=version][value='1'])")).to_have_count(0)
    expect(page.locator(f"{publish}:has(input[name=version][value='2'])")).to_be_visible()
    log = page.locator("section[aria-labelledby=log-title] tbody tr")
    expect(log).to_have_count(3)
    # Newest first: (action, from → to).
    expected_log = [
        (VI.gettext("Rolled back"), f"{vnum(2)} → {vnum(1)}"),
        (VI.gettext("Published"), f"{vnum(1)} → {vnum(2)}"),
        (VI.gettext("Published"), f"— → {vnum(1)}"),
    ]
    for row, (action, versions_text) in enumerate(expected_log):
        expect(log.nth(row).locator("td").nth(1)).to_have_text(action)
        expect(log.nth(row).locator("td").nth(2)).to_have_text(versions_text)
    assert_no_sideways_scroll(page)

    # 3. A teacher, on another phone, finds the item without typing accents.
    teacher_context = browser.new_context(
        base_url=base_url, viewport={"width": 360, "height": 640}, locale="vi-VN"
    )
    teacher = teacher_context.new_page()
    try:
        read_as_teacher(teacher, base_url, teacher_email, item_id, first, second)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        teacher.screenshot(path=str(ARTIFACTS / "test_content_journey_teacher.png"), full_page=True)
        teacher_context.close()


def read_as_teacher(
    page: Page, base_url: str, email: str, item_id: int, first: bytes, second: bytes
) -> None:
    sign_in(page, email, "Giáo Viên Đọc")
    page.goto("/library")
    assert_no_sideways_scroll(page)
    search = "form[action='/library']"
    page.fill(f"{search} input[name=q]", "huong dan chuyen doi so")
    with page.expect_navigation(url=re.compile(r"/library\?.*q=huong")):
        click(page, f"{search} button[type=submit]")
    expect(page.locator(f"{search} input[name=q]")).to_have_value("huong dan chuyen doi so")
    card = page.locator(f".card-title a[href='/library/{item_id}']")
    expect(card).to_have_text(TITLE)
    assert_no_sideways_scroll(page)
    click(page, f".card-title a[href='/library/{item_id}']")
    page.wait_for_url(f"**/library/{item_id}")

    # The published version is version 1 (rolled back), not the newest.
    file_url = f"/library/{item_id}/versions/1/file"
    expect(page.locator("main h1")).to_have_text(TITLE)
    expect(page.locator(".preview iframe.pdf-frame")).to_have_attribute("src", file_url)
    expect(page.locator(".file-info a[download]")).to_have_attribute(
        "href", f"{file_url}?download=1"
    )
    expect(page.locator(".file-info .file-name")).to_have_text("huong-dan-chuyen-doi-so-v1.pdf")
    expect(page.locator(".file-info .file-size")).to_have_text(size_text(len(first)))
    expect(page.locator(f"a[href*='/library/{item_id}/versions/2/']")).to_have_count(0)
    assert_no_sideways_scroll(page)

    response = page.request.get(base_url + file_url)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(response.body()).hexdigest() == hashlib.sha256(first).hexdigest()
    # Version 2 exists but is not published: to a teacher it does not exist.
    hidden = page.request.get(f"{base_url}/library/{item_id}/versions/2/file")
    assert hidden.status == 404
    assert "application/pdf" not in hidden.headers.get("content-type", "")
