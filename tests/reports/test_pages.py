"""The report pages over a cookie session: the dashboard's figures are the service's, every
view keeps its filters, drills down and downloads the same figures; other schools, other roles
and bad input are refused with a clear page.

The data is the hand-built tree of tests/reports/test_completion.py (province > Xã Tân Cương
with schools S1, S2, S3 and Xã Phúc Xuân with S4); the commune admin and S1's manager sign in.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core import i18n
from app.core.config import Settings
from app.core.security import hash_password
from app.reports import pages, service
from app.reports.service import GroupBy, ReportFilter, ReportRow, StatusFilter
from tests.factories import PASSWORD, make_org, make_user
from tests.reports.test_completion import Tree, build_tree, figures
from tests.reports.test_periodic_pages import no_inline_code, sign_in

Login = Callable[[str, str], TestClient]

FIGURES = ("enrolled", "completed", "completion_rate", "in_progress", "overdue", "average_score")


@pytest.fixture
def tree(client: TestClient, db: Session, settings: Settings) -> Tree:
    built = build_tree(db, settings)
    for user in (built.admin, built.manager, built.other_manager, built.teacher):
        user.password_hash = hash_password(settings, PASSWORD)
    db.flush()
    return built


def login(page_login: Login, client: TestClient, user: User) -> None:
    sign_in(page_login, client, user)  # English pages


def number(text: str) -> float | None:
    """A figure as the English page shows it ("1,234", "28.6%", "–")."""
    text = html.unescape(text).strip().rstrip("%").replace(",", "")
    return None if text in ("–", "") else float(text)


def headline(page: str) -> dict[str, float | None]:
    found = dict(
        re.findall(r'data-figure="(\w+)"[^>]*><span class="stat-value">([^<]*)</span>', page)
    )
    assert set(found) == set(FIGURES), found
    return {key: number(value) for key, value in found.items()}


def expected_headline(row: ReportRow) -> dict[str, float | None]:
    return {
        key: (None if getattr(row, key) is None else float(getattr(row, key))) for key in FIGURES
    }


def ok(response: Response) -> str:
    assert response.status_code == 200, response.text[:2000]
    no_inline_code(response.text)
    return response.text


def read_xlsx(content: bytes) -> list[tuple[Any, ...]]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


def hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


# --- The dashboard -----------------------------------------------------------------------------


def test_admin_dashboard_shows_the_commune_with_the_service_figures(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    page = ok(client.get("/reports"))
    expected = service.completion_report(db, tree.admin, ReportFilter(organization_id=tree.c1.id))
    assert expected.totals.enrolled == 7  # the fixture is what this test thinks it is
    assert headline(page) == expected_headline(expected.totals)

    # Charts drawn on the server, each with its data table (caption, header scopes).
    assert page.count('role="img"') == 3
    # No chart script: the only script is the site-wide net.js, as a file.
    assert page.count("<script") == page.count('<script src="/static/js/net.') == 1
    assert page.count("<caption") >= 4
    assert 'scope="col"' in page
    assert 'scope="row"' in page
    assert "Completion by school" not in page  # the commune also has its own members' row
    assert "Completion by organisation" in page
    for school in (
        "Trường Tiểu học Tân Cương",
        "Trường THCS Tân Cương",
        "Trường Mầm non Tân Cương",
    ):
        assert school in page
    assert "Xã Phúc Xuân" not in page.split('id="org-title"')[1]  # another commune's school
    assert f"/reports?organization_id={tree.s1.id}" in hrefs(page)  # a school's own dashboard
    assert "Chuyển đổi số" in page
    assert "An toàn mạng" in page
    # The overdue learners (t2 on K1, t3 on K1) with a link to the full list.
    overdue = page.split('id="overdue-title"')[1]
    assert "Trần Thị Bình" in overdue
    assert "Phạm Văn Dũng" in overdue
    assert "/reports/completion/learners?status=overdue" in overdue
    # Quick links to the periodic reports, the overview for admins.
    assert 'href="/reports/periodic"' in page
    assert 'href="/reports/periodic/overview"' in page
    # The navigation has the reports.
    assert 'href="/reports" aria-current="page"' in page


def test_admin_can_choose_the_whole_tree_and_drill_into_a_commune(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    page = ok(client.get("/reports", params={"organization_id": "all"}))
    expected = service.completion_report(db, tree.admin, ReportFilter())
    assert headline(page) == expected_headline(expected.totals)
    assert expected.totals.enrolled == 8
    # Commune rows open the dashboard scoped to them.
    assert f"/reports?organization_id={tree.c2.id}" in hrefs(page)

    scoped = ok(client.get("/reports", params={"organization_id": tree.c2.id}))
    c2 = service.completion_report(db, tree.admin, ReportFilter(organization_id=tree.c2.id))
    assert headline(scoped) == expected_headline(c2.totals)
    assert "Completion by school" in scoped  # every row is a school
    assert f"/reports?organization_id={tree.province.id}" in hrefs(scoped)  # up a level


def test_manager_dashboard_is_their_school_course_chart_first(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.manager)
    page = ok(client.get("/reports"))
    expected = service.completion_report(db, tree.manager, ReportFilter())
    assert expected.scope_label == "Trường Tiểu học Tân Cương"
    assert headline(page) == expected_headline(expected.totals)
    assert page.index('id="course-title"') < page.index('id="org-title"')
    assert "Trường THCS Tân Cương" not in page
    assert 'name="organization_id"' not in page  # their school is fixed
    # Their own school by id is the same page.
    same = ok(client.get("/reports", params={"organization_id": tree.s1.id}))
    assert headline(same) == headline(page)
    assert 'href="/reports/periodic/overview"' not in page


@pytest.mark.parametrize(
    "path",
    [
        "/reports",
        "/reports/completion",
        "/reports/completion/learners",
        "/reports/completion.xlsx",
        "/reports/completion.csv",
        "/reports/completion/learners.xlsx",
        "/reports/completion/months.csv",
    ],
)
def test_another_school_is_403_for_a_manager_never_an_empty_page(
    client: TestClient, page_login: Login, tree: Tree, path: str
) -> None:
    login(page_login, client, tree.manager)
    response = client.get(path, params={"organization_id": tree.s2.id})
    assert response.status_code == 403
    assert "your own school" in response.text
    response = client.get(path, params={"organization_id": "all"})  # means their school
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/reports", "/reports/completion", "/reports/completion/learners", "/reports/completion.xlsx"],
)
def test_teachers_are_refused_and_visitors_sent_to_sign_in(
    client: TestClient, page_login: Login, tree: Tree, path: str
) -> None:
    anonymous = client.get(path, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    login(page_login, client, tree.teacher)
    refused = client.get(path)
    assert refused.status_code == 403
    assert "Only administrators and school managers" in refused.text
    assert 'href="/reports"' not in client.get("/").text  # no menu entry either


def test_filters_keep_their_values_in_the_form_and_the_links(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    params = {
        "organization_id": str(tree.c1.id),
        "course_id": str(tree.k1.id),
        "from": "2020-01-01",
        "to": "2030-12-31",
        "date_field": "completed",
    }
    page = ok(client.get("/reports", params=params))
    assert f'<option value="{tree.k1.id}" selected>' in page
    assert f'<option value="{tree.c1.id}" selected>' in page
    assert 'value="2020-01-01"' in page
    assert 'value="2030-12-31"' in page
    assert '<option value="completed" selected>' in page
    links = [h for h in hrefs(page) if h.startswith("/reports/completion")]
    assert links
    for link in links:
        for key, value in params.items():
            assert f"{key}={value}" in link, link
    expected = service.completion_report(
        db,
        tree.admin,
        pages.PageQuery(
            organization_id=str(tree.c1.id),
            course_id=str(tree.k1.id),
            date_from="2020-01-01",
            date_to="2030-12-31",
            date_field="completed",
        ).to_filter(tree.admin),
    )
    assert expected.totals.enrolled == 1  # only t1's completed K1
    assert headline(page) == expected_headline(expected.totals)


def test_empty_scope_says_so(
    client: TestClient, db: Session, settings: Settings, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    page = ok(client.get("/reports", params={"organization_id": tree.s3.id}))
    assert "No data yet" in page
    assert headline(page)["enrolled"] == 0
    assert 'id="org-title"' not in page  # no empty charts
    page = ok(client.get("/reports/completion/learners", params={"organization_id": tree.s3.id}))
    assert "No data yet" in page
    vi = client.get("/reports", params={"organization_id": tree.s3.id, "lang": "vi"})
    assert vi.status_code == 200
    assert 'lang="vi"' in vi.text


def test_vietnamese_numbers(client: TestClient, page_login: Login, tree: Tree) -> None:
    login(page_login, client, tree.admin)
    page = client.get("/reports", params={"lang": "vi"}).text
    # 2 of 7 completed: 28,6 % with a decimal comma.
    assert re.search(r'data-figure="completion_rate"[^>]*><span class="stat-value">28,6%', page)


# --- The completion report ---------------------------------------------------------------------


def test_completion_page_tabs_totals_and_drill_links(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    page = ok(client.get("/reports/completion", params={"organization_id": tree.province.id}))
    for key in ("organization", "course", "level", "role"):
        assert f"group_by={key}" in page
    assert re.search(r'group_by=organization"\s+aria-current="page"', page)
    province = service.completion_report(
        db, tree.admin, ReportFilter(organization_id=tree.province.id)
    )
    footer = page.split("<tfoot>")[1]
    cells = re.findall(r'<td class="num">([^<]*)</td>', footer)
    assert tuple(number(c) for c in cells) == tuple(
        None if v is None else float(v) for v in figures(province.totals)
    )
    links = hrefs(page)
    # Communes (organisations below them) open the same page scoped to them ...
    assert f"/reports/completion?organization_id={tree.c1.id}" in links
    # ... and every row opens its learners.
    assert f"/reports/completion/learners?organization_id={tree.c2.id}" in links

    by_course = ok(
        client.get(
            "/reports/completion", params={"organization_id": tree.c1.id, "group_by": "course"}
        )
    )
    assert re.search(r'group_by=course"\s+aria-current="page"', by_course)
    assert (
        f"/reports/completion/learners?organization_id={tree.c1.id}&course_id={tree.k1.id}"
        in hrefs(by_course)
    )
    by_role = ok(client.get("/reports/completion", params={"group_by": "role"}))
    assert "/reports/completion/learners?role=teacher" in hrefs(by_role)
    by_level = ok(client.get("/reports/completion", params={"group_by": "level"}))
    assert "/reports/completion/learners?level=primary" in hrefs(by_level)
    assert "counts in each of them" in by_level

    # The drill-down shows exactly the row's learners.
    drilled = ok(client.get("/reports/completion/learners", params={"role": "student"}))
    assert "Lê Minh Châu" in drilled
    assert "Nguyễn Văn An" not in drilled
    assert "Only this part of the report" in drilled


def test_status_filter_on_the_report(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    page = ok(client.get("/reports/completion", params={"status": "overdue"}))
    assert '<option value="overdue" selected>' in page
    expected = service.completion_report(
        db, tree.admin, ReportFilter(organization_id=tree.c1.id, status=StatusFilter.overdue)
    )
    assert expected.totals.enrolled == 2
    footer = page.split("<tfoot>")[1]
    assert number(re.findall(r'<td class="num">([^<]*)</td>', footer)[0]) == 2


# --- Learners ----------------------------------------------------------------------------------


def test_learners_page_paginates_and_keeps_filters(
    client: TestClient, page_login: Login, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "LEARNERS_PAGE_SIZE", 2)
    login(page_login, client, tree.admin)
    params = {"organization_id": str(tree.s1.id), "course_id": str(tree.k1.id)}
    first = ok(client.get("/reports/completion/learners", params=params))
    assert "3 enrolments" in first
    assert first.count('<tr>\n      <th scope="row"') == 2
    assert "Page 1 of 2" in first
    next_link = next(h for h in hrefs(first) if "offset=2" in h)
    assert f"course_id={tree.k1.id}" in next_link
    assert f"organization_id={tree.s1.id}" in next_link
    second = ok(client.get(next_link))
    assert second.count('<tr>\n      <th scope="row"') == 1
    assert "Page 2 of 2" in second
    names = re.findall(r'<th scope="row" data-label="Name" class="break">([^<]+)<', first + second)
    assert sorted(names) == ["Lê Minh Châu", "Nguyễn Văn An", "Trần Thị Bình"]
    # Columns a reader needs: school, course, progress, status, last activity, completion, score.
    for text in ("Trường Tiểu học Tân Cương", "Chuyển đổi số", "Completed", "Overdue", "90%"):
        assert text in first + second


# --- Downloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("group_by", ["organization", "course"])
def test_page_xlsx_download_totals_equal_the_service(
    client: TestClient, db: Session, page_login: Login, tree: Tree, group_by: str
) -> None:
    login(page_login, client, tree.admin)
    response = client.get(
        "/reports/completion.xlsx", params={"group_by": group_by, "course_id": tree.k2.id}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = read_xlsx(response.content)
    before = i18n.get_locale()
    i18n.set_locale("en")  # labels as the English pages of this test show them
    try:
        expected = service.completion_report(
            db,
            tree.admin,
            ReportFilter(
                group_by=GroupBy(group_by), organization_id=tree.c1.id, course_id=tree.k2.id
            ),
        )
    finally:
        i18n.set_locale(before)
    assert rows[-1][0] == "Total"
    assert rows[-1][1:] == figures(expected.totals)
    assert [r[0] for r in rows[2:-1]] == [r.label for r in expected.rows]


def test_page_csv_and_learner_and_month_downloads(
    client: TestClient, db: Session, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.manager)
    report = client.get("/reports/completion.csv")
    assert report.status_code == 200
    assert report.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    expected = service.completion_report(db, tree.manager, ReportFilter())
    assert lines[-1][0] == "Total"
    assert int(lines[-1][1]) == expected.totals.enrolled == 4

    learners = client.get("/reports/completion/learners.xlsx", params={"status": "overdue"})
    assert learners.status_code == 200
    rows = read_xlsx(learners.content)
    assert [r[0] for r in rows[2:-1]] == ["Trần Thị Bình"]

    months = client.get("/reports/completion/months.xlsx")
    assert months.status_code == 200
    rows = read_xlsx(months.content)
    trend = service.completions_by_month(db, tree.manager, ReportFilter())
    assert [(r[0], r[1]) for r in rows[2:-1]] == trend
    assert rows[-1][1] == sum(n for _m, n in trend) == 1
    assert client.get("/reports/completion.pdf").status_code == 404


# --- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/reports", {"from": "2026-02-01", "to": "2026-01-01"}, "must not be after"),
        ("/reports", {"from": "31/02/2026"}, "is not a date"),
        ("/reports", {"to": "hôm qua"}, "is not a date"),
        ("/reports", {"course_id": "abc"}, "is not a valid id"),
        ("/reports", {"date_field": "started"}, "is not one of the choices"),
        ("/reports/completion", {"group_by": "province"}, "is not one of the choices"),
        ("/reports/completion", {"status": "late"}, "is not one of the choices"),
        ("/reports/completion/learners", {"level": "university"}, "is not one of the choices"),
    ],
)
def test_bad_filters_are_422_with_the_message_above_the_form(
    client: TestClient,
    page_login: Login,
    tree: Tree,
    path: str,
    params: dict[str, str],
    message: str,
) -> None:
    login(page_login, client, tree.admin)
    response = client.get(path, params=params)
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert 'role="alert"' in response.text
    assert 'role="search"' in response.text  # the form is there to correct it
    for value in params.values():
        if value.startswith("2026"):
            assert f'value="{value}"' in response.text  # what was typed is kept
    # The downloads with the same input: the 422 error page, not a broken file.
    download = client.get("/reports/completion.xlsx", params=params)
    assert download.status_code == 422
    assert download.headers["content-type"].startswith("text/html")


def test_unknown_organisation_and_course_are_404(
    client: TestClient, page_login: Login, tree: Tree
) -> None:
    login(page_login, client, tree.admin)
    assert client.get("/reports", params={"organization_id": 999_999}).status_code == 404
    assert client.get("/reports/completion", params={"course_id": 999_999}).status_code == 404
    draft = client.get("/reports", params={"course_id": tree.k3.id})
    assert draft.status_code == 200  # a draft counts nothing, but an admin may ask
    courses = draft.text.split('name="course_id"')[1].split("</select>")[0]
    assert f'<option value="{tree.k1.id}"' in courses
    assert f'<option value="{tree.k3.id}"' not in courses  # and it is not offered


def test_a_school_with_no_enrolment_in_a_new_commune(
    client: TestClient, db: Session, settings: Settings, page_login: Login, tree: Tree
) -> None:
    commune = make_org(db, kind="commune", parent=tree.province, name="Xã Mới")
    make_org(db, parent=commune, name="Trường Mới")
    make_user(db, settings, role="teacher", organization=commune, password=None)
    login(page_login, client, tree.admin)
    page = ok(client.get("/reports", params={"organization_id": commune.id}))
    assert "No data yet" in page
    assert "Xã Mới" in page


# --- Demo data -----------------------------------------------------------------------------------


def test_demo_data_makes_a_living_dashboard(
    client: TestClient, db: Session, settings: Settings, page_login: Login
) -> None:
    from sqlalchemy import func, select

    from app.accounts.demo import DEMO_PASSWORD
    from app.accounts.demo import load_demo as load_accounts
    from app.lcms.demo import load_demo as load_content
    from app.lms.demo import load_demo as load_course
    from app.lms.models import Certificate
    from app.reports import demo
    from app.reports.periodic import PeriodicReport

    load_accounts(db, settings)
    admin = db.scalar(select(User).where(User.email == demo.ADMIN_EMAIL))
    author = db.scalar(select(User).where(User.email == "tacgia@tancuong.edu.vn"))
    assert admin is not None
    assert author is not None
    load_content(db, client.app.state.blob_store, author)  # type: ignore[attr-defined]
    load_course(db, author, admin, admin.organization)
    assert demo.load_demo(db, settings) > 0
    counts = (
        db.scalar(select(func.count()).select_from(User)),
        db.scalar(select(func.count()).select_from(Certificate)),
        db.scalar(select(func.count()).select_from(PeriodicReport)),
    )
    assert demo.load_demo(db, settings) == 0  # run again: nothing new
    assert counts == (
        db.scalar(select(func.count()).select_from(User)),
        db.scalar(select(func.count()).select_from(Certificate)),
        db.scalar(select(func.count()).select_from(PeriodicReport)),
    )

    commune = ReportFilter(organization_id=admin.organization_id)
    report = service.completion_report(db, admin, commune)
    assert report.scope_label == "Xã Tân Cương"
    assert len([r for r in report.rows if r.completed]) >= 2  # schools with completions
    assert report.totals.completed == counts[1]  # a certificate for every completion
    assert 0 < report.totals.completed < report.totals.enrolled
    assert report.totals.in_progress > 0
    assert report.totals.overdue > 0
    assert report.totals.average_score is not None
    months = service.completions_by_month(db, admin, commune)
    assert len([m for m in months if m[1]]) >= 4  # a trend over several months
    submitted = db.scalars(select(PeriodicReport)).one()
    assert submitted.status == "submitted"
    assert submitted.figures is not None

    page_login(admin.email, DEMO_PASSWORD)
    page = ok(client.get("/reports", params={"lang": "en"}))
    assert headline(page)["enrolled"] == report.totals.enrolled
    assert "Completion by school" in page
