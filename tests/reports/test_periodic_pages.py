"""Periodic report pages: a manager prepares and submits through the forms, an admin sees the
overview; CSRF, permissions, errors beside their fields, downloads."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.config import Settings
from app.core.db import utcnow
from app.reports import periodic
from app.reports.periodic import PeriodicReport
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user
from tests.lms.helpers import World, build_world
from tests.reports.test_periodic import complete, enrol, this_quarter

Login = Callable[[str, str], TestClient]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def sign_in(page_login: Login, client: TestClient, user: User) -> str:
    """Sign in as ``user`` with English pages; returns a CSRF token for the forms."""
    client.cookies.clear()
    page_login(user.email, PASSWORD)
    client.cookies.set("hocso_lang", "en")
    return csrf_from(client.get("/").text)


def post(client: TestClient, url: str, token: str | None, **data: object) -> Response:
    body = {**data, **({"csrf_token": token} if token is not None else {})}
    return client.post(url, data=body, follow_redirects=False)


def no_inline_code(html: str) -> None:
    assert "<script>" not in html
    assert " style=" not in html
    assert "onclick" not in html


def report_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(PeriodicReport)) or 0


def test_manager_prepares_and_submits_through_the_forms(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    teacher = enrol(db, world, world.teacher, on=utcnow())
    complete(db, teacher, on=utcnow())
    enrol(db, world, world.student, on=utcnow())
    token = sign_in(page_login, client, world.manager)
    period = this_quarter()

    listing = client.get("/reports/periodic")
    assert listing.status_code == 200
    assert "There are no periodic reports yet" in listing.text
    no_inline_code(listing.text)

    form = client.get("/reports/periodic/new")
    assert form.status_code == 200
    assert f'value="{period}"' in form.text
    assert world.school.name in form.text  # a manager reports for their own school
    no_inline_code(form.text)

    created = post(
        client,
        "/reports/periodic",
        token,
        period=period,
        number="05/BC-THTC",
        narrative="Tổ chức hội thảo Nghị quyết 57.\nThành lập câu lạc bộ STEM.",
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    assert re.fullmatch(r"/reports/periodic/\d+", url)
    report_id = int(url.rsplit("/", 1)[1])

    page = client.get(url)
    assert page.status_code == 200
    assert "Draft report created" in page.text
    assert "Live preview." in page.text
    assert world.course.title in page.text
    assert "Thành lập câu lạc bộ STEM." in page.text
    assert f'action="/reports/periodic/{report_id}/submit"' in page.text
    assert f'href="/reports/periodic/{report_id}/edit"' in page.text
    no_inline_code(page.text)

    edit = client.get(f"{url}/edit")
    assert edit.status_code == 200
    assert "Thành lập câu lạc bộ STEM." in edit.text
    saved = post(
        client,
        f"{url}/edit",
        token,
        number="06/BC-THTC",
        narrative="Tổ chức hội thảo Nghị quyết 57.\nThành lập câu lạc bộ STEM.\nKhen thưởng.",
    )
    assert saved.status_code == 303
    assert "Khen thưởng." in client.get(url).text

    unconfirmed = post(client, f"{url}/submit", token)
    assert unconfirmed.status_code == 422
    assert "Tick the box" in unconfirmed.text
    db.expire_all()
    assert db.get(PeriodicReport, report_id).status == "draft"  # type: ignore[union-attr]

    done = post(client, f"{url}/submit", token, confirm="1")
    assert done.status_code == 303
    page = client.get(url)
    assert "Report submitted" in page.text
    assert "Frozen at submission" in page.text
    assert "Live preview." not in page.text
    assert f'action="/reports/periodic/{report_id}/revise"' in page.text
    db.expire_all()
    stored = db.get(PeriodicReport, report_id)
    assert stored is not None
    assert stored.status == "submitted"
    assert stored.number == "06/BC-THTC"
    assert stored.figures is not None
    assert (stored.figures["totals"]["enrolled"], stored.figures["totals"]["completed"]) == (2, 1)

    # A submitted report is never edited; a replayed submit is refused.
    assert post(client, f"{url}/edit", token, narrative="x").status_code == 409
    assert post(client, f"{url}/submit", token, confirm="1").status_code == 409
    assert client.get(f"{url}/edit", follow_redirects=False).status_code == 303

    revised = post(client, f"{url}/revise", token)
    assert revised.status_code == 303
    revision_url = revised.headers["location"]
    assert revision_url.endswith("/edit")
    revision_page = client.get(revision_url.removesuffix("/edit"))
    assert "Revisions" in revision_page.text
    assert f'href="/reports/periodic/{report_id}"' in revision_page.text  # the history links back
    assert "Continue the revision" in client.get(url).text

    xlsx = client.get(f"{url}.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row >= 3
    pdf = client.get(f"{url}.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")

    listing = client.get("/reports/periodic")
    assert "2 reports" in listing.text


def test_forms_without_csrf_are_refused(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    token = sign_in(page_login, client, world.manager)
    period = this_quarter()
    assert post(client, "/reports/periodic", None, period=period).status_code == 403
    assert post(client, "/reports/periodic", "forged", period=period).status_code == 403
    assert report_count(db) == 0
    created = post(client, "/reports/periodic", token, period=period, narrative="Hội thảo")
    report_id = int(created.headers["location"].rsplit("/", 1)[1])
    for action in ("submit", "revise", "edit"):
        response = post(client, f"/reports/periodic/{report_id}/{action}", None, confirm="1")
        assert response.status_code == 403
    db.expire_all()
    assert db.get(PeriodicReport, report_id).status == "draft"  # type: ignore[union-attr]


def test_errors_are_shown_beside_their_fields(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    token = sign_in(page_login, client, world.manager)
    bad_period = post(
        client, "/reports/periodic", token, period="2026-2028-HK1", narrative="Giữ lại"
    )
    assert bad_period.status_code == 422
    assert 'id="f-period-error"' in bad_period.text
    assert "two consecutive years" in bad_period.text
    assert "Giữ lại" in bad_period.text  # what was typed is kept

    too_long = post(
        client, "/reports/periodic", token, period=this_quarter(), narrative="x" * 20_001
    )
    assert too_long.status_code == 422
    assert 'id="f-narrative-error"' in too_long.text
    assert report_count(db) == 0

    first = post(client, "/reports/periodic", token, period=this_quarter())
    assert first.status_code == 303
    second = post(client, "/reports/periodic", token, period=this_quarter())
    assert second.status_code == 409
    assert first.headers["location"] in second.text  # a link to the existing draft


def test_admin_chooses_the_school(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    token = sign_in(page_login, client, world.admin)
    form = client.get("/reports/periodic/new")
    assert world.other_school.name in form.text
    missing = post(client, "/reports/periodic", token, period=this_quarter())
    assert missing.status_code == 422
    assert 'id="f-organization_id-error"' in missing.text
    created = post(
        client,
        "/reports/periodic",
        token,
        period=this_quarter(),
        organization_id=str(world.other_school.id),
    )
    assert created.status_code == 303
    report = db.scalar(select(PeriodicReport))
    assert report is not None
    assert report.organization_id == world.other_school.id


def test_admin_overview_shows_the_school_as_submitted(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    enrol(db, world, world.teacher, on=utcnow())
    period = this_quarter()
    report = periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period=period, narrative="Hội thảo"
    )
    periodic.submit(db, world.manager, report.id)
    commune = world.school.parent
    assert commune is not None

    sign_in(page_login, client, world.admin)
    page = client.get(
        "/reports/periodic/overview", params={"period": period, "organization_id": commune.id}
    )
    assert page.status_code == 200, page.text
    no_inline_code(page.text)
    found = re.findall(
        r'<th scope="row"[^>]*>\s*(?:<a [^>]*>)?([^<]+)(?:</a>)?\s*</th>\s*'
        r'<td data-label="Status"><span class="badge [^"]*">([^<]+)</span>',
        page.text,
    )
    rows = {name.strip(): status for name, status in found}
    assert rows == {
        world.school.name: "Submitted on time",
        world.other_school.name: "Not submitted",
    }
    assert f'href="/reports/periodic/{report.id}"' in page.text
    assert "Roll-up of the submitted reports" in page.text
    # The admin's list shows every school's reports and links to the overview.
    listing = client.get("/reports/periodic")
    assert world.school.name in listing.text
    assert 'href="/reports/periodic/overview"' in listing.text
    assert client.get(f"/reports/periodic/{report.id}.pdf").content.startswith(b"%PDF")


def test_pages_are_for_managers_and_admins_of_the_school(
    client: TestClient, db: Session, settings: Settings, page_login: Login, world: World
) -> None:
    report = periodic.create_draft(
        db, world.admin, organization_id=world.school.id, period=this_quarter()
    )
    sign_in(page_login, client, world.teacher)
    assert client.get("/reports/periodic").status_code == 403
    assert client.get("/reports/periodic/new").status_code == 403

    other = make_user(db, settings, role="school_manager", organization=world.other_school)
    sign_in(page_login, client, other)
    assert client.get(f"/reports/periodic/{report.id}").status_code == 403
    assert client.get(f"/reports/periodic/{report.id}.xlsx").status_code == 403
    assert client.get("/reports/periodic/overview").status_code == 403
    assert world.school.name not in client.get("/reports/periodic").text

    client.cookies.clear()
    anonymous = client.get("/reports/periodic", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
