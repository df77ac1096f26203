"""The completion report over HTTP: JSON, CSV and XLSX agree; bad input and other schools'
reports are refused with a clear status; exported user text cannot become a formula."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.accounts import auth
from app.accounts.models import User
from app.core.config import Settings
from app.core.db import make_sessionmaker, session_scope
from app.reports import service
from tests.factories import make_user
from tests.reports.test_completion import PROVINCE, S1, Tree, build_tree, enrol

FIELDS = (
    "enrolled",
    "not_started",
    "in_progress",
    "completed",
    "overdue",
    "completion_rate",
    "average_progress",
    "average_score",
)
URL = "/api/v1/reports/completion"


@pytest.fixture
def tree(client: TestClient, db: Session, settings: Settings) -> Tree:
    return build_tree(db, settings)


def h(settings: Settings, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.issue_token(settings, user)}"}


def numbers(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[f] for f in FIELDS)


def get_json(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(URL, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- JSON ------------------------------------------------------------------------------------


def test_json_report_with_totals_and_filter_echo(
    client: TestClient, settings: Settings, tree: Tree
) -> None:
    body = get_json(client, h(settings, tree.admin), organization_id=tree.province.id)
    assert numbers(body["totals"]) == PROVINCE
    assert {r["label"] for r in body["rows"]} == {"Xã Tân Cương", "Xã Phúc Xuân"}
    assert body["group_by"] == "organization"
    assert body["scope"] == "Tỉnh Thái Nguyên"
    assert datetime.fromisoformat(body["generated_at"]).tzinfo is not None
    assert body["filter"] == {
        "group_by": "organization",
        "organization_id": tree.province.id,
        "course_id": None,
        "from": None,
        "to": None,
        "date_field": "enrolled",
        "status": None,
        "level": None,
        "role": None,
    }
    commune = next(r for r in body["rows"] if r["label"] == "Xã Tân Cương")
    assert commune["key"] == str(tree.c1.id)
    assert commune["drill"] == {"organization_id": tree.c1.id}


@pytest.mark.parametrize("group_by", ["organization", "course", "level", "role"])
def test_every_grouping_has_the_same_totals(
    client: TestClient, settings: Settings, tree: Tree, group_by: str
) -> None:
    body = get_json(
        client, h(settings, tree.admin), group_by=group_by, organization_id=tree.province.id
    )
    assert numbers(body["totals"]) == PROVINCE
    assert body["rows"]


def test_filters_through_the_query_string(
    client: TestClient, settings: Settings, tree: Tree
) -> None:
    admin = h(settings, tree.admin)
    assert get_json(client, admin, status="overdue")["totals"]["enrolled"] == 2
    assert get_json(client, admin, course_id=tree.k1.id)["totals"]["enrolled"] == 4
    assert get_json(client, admin, role="student")["totals"]["enrolled"] == 1
    body = get_json(client, admin, date_field="completed", **{"from": "2020-01-01"})
    assert body["totals"]["enrolled"] == 3
    assert body["filter"]["from"] == "2020-01-01"
    assert get_json(client, admin, to="2020-01-01")["totals"]["enrolled"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "school"},
        {"from": "2026-13-01"},
        {"from": "26/11/2026"},
        {"to": "yesterday"},
        {"from": "2026-05-02", "to": "2026-05-01"},
        {"status": "late"},
        {"date_field": "due"},
        {"organization_id": "abc"},
    ],
)
def test_bad_input_is_422(
    client: TestClient, settings: Settings, tree: Tree, params: dict[str, str]
) -> None:
    for path in (URL, f"{URL}.csv", f"{URL}.xlsx", f"{URL}/learners", f"{URL}/learners.xlsx"):
        response = client.get(path, headers=h(settings, tree.admin), params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.json()["error"] == "invalid_input"


# --- Permissions -----------------------------------------------------------------------------


def test_school_manager_gets_their_school_and_403_elsewhere(
    client: TestClient, settings: Settings, tree: Tree
) -> None:
    manager = h(settings, tree.manager)
    body = get_json(client, manager)
    assert [numbers(r) for r in body["rows"]] == [S1]
    assert numbers(body["totals"]) == S1
    for path in (URL, f"{URL}.csv", f"{URL}.xlsx", f"{URL}/learners", f"{URL}/learners.csv"):
        for other in (tree.s2.id, tree.c1.id):
            response = client.get(path, headers=manager, params={"organization_id": other})
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"] == "permission_denied"


def test_teachers_students_and_anonymous_are_refused(
    client: TestClient, settings: Settings, tree: Tree
) -> None:
    for user in (tree.teacher, tree.student, tree.author):
        for path in (URL, f"{URL}.xlsx", f"{URL}/learners", f"{URL}/learners.xlsx"):
            assert client.get(path, headers=h(settings, user)).status_code == 403
    assert client.get(URL).status_code == 401


def test_unknown_organisation_and_course_are_404(
    client: TestClient, settings: Settings, tree: Tree
) -> None:
    admin = h(settings, tree.admin)
    for params in ({"organization_id": 987654}, {"course_id": 987654}):
        for path in (URL, f"{URL}.csv", f"{URL}/learners.xlsx"):
            response = client.get(path, headers=admin, params=params)
            assert response.status_code == 404, (path, params)
            assert response.json()["error"] == "not_found"


# --- Exports ---------------------------------------------------------------------------------


def test_csv_has_a_bom_and_totals_equal_to_the_json(
    client: TestClient, settings: Settings, tree: Tree
) -> None:
    admin = h(settings, tree.admin)
    params: dict[str, str | int] = {"organization_id": tree.c1.id, "lang": "en"}
    body = get_json(client, admin, **params)
    response = client.get(f"{URL}.csv", headers=admin, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(
        r'attachment; filename="bao-cao-hoan-thanh-\d{4}-\d{2}-\d{2}\.csv"',
        response.headers["content-disposition"],
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["Organisation", "Enrolled", "Not started"]
    assert len(lines) == 1 + len(body["rows"]) + 1
    assert [line[0] for line in lines[1:-1]] == [r["label"] for r in body["rows"]]

    def parsed(cells: list[str]) -> tuple[Any, ...]:
        ints = [int(c) for c in cells[1:6]]
        floats = [float(c) if c else None for c in cells[6:9]]
        return (*ints, *floats)

    assert parsed(lines[-1]) == numbers(body["totals"])
    assert lines[-1][0] == "Total"
    school = next(r for r in body["rows"] if r["label"] == "Trường Tiểu học Tân Cương")
    assert parsed(lines[1 + body["rows"].index(school)]) == numbers(school)


def read_xlsx(content: bytes) -> list[tuple[Any, ...]]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("group_by", ["organization", "course", "level", "role"])
def test_xlsx_totals_equal_the_json_as_numbers(
    client: TestClient, settings: Settings, tree: Tree, group_by: str
) -> None:
    admin = h(settings, tree.admin)
    params: dict[str, str | int] = {"organization_id": tree.province.id, "group_by": group_by}
    body = get_json(client, admin, **params)
    response = client.get(f"{URL}.xlsx", headers=admin, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert re.fullmatch(
        r'attachment; filename="bao-cao-hoan-thanh-\d{4}-\d{2}-\d{2}\.xlsx"',
        response.headers["content-disposition"],
    )
    rows = read_xlsx(response.content)
    assert "Tỉnh Thái Nguyên" in str(rows[0][0])  # the title names the scope
    data, totals = rows[2:-1], rows[-1]
    assert [r[0] for r in data] == [r["label"] for r in body["rows"]]
    assert totals[1:] == numbers(body["totals"])
    for value in totals[1:6]:
        assert isinstance(value, int)
    for value in totals[6:8]:
        assert isinstance(value, float | int)
    for row, expected in zip(data, body["rows"], strict=True):
        assert row[1:] == numbers(expected)


def test_learners_drill_down_pages(client: TestClient, settings: Settings, tree: Tree) -> None:
    admin = h(settings, tree.admin)
    seen = []
    for offset in (0, 3, 6):
        response = client.get(
            f"{URL}/learners",
            headers=admin,
            params={"organization_id": tree.province.id, "limit": 3, "offset": offset},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == 8
        seen += [(i["user_id"], i["course_id"]) for i in page["items"]]
    assert len(set(seen)) == 8
    drill = client.get(
        f"{URL}/learners", headers=admin, params={"organization_id": tree.s1.id}
    ).json()
    assert drill["total"] == 4
    item = next(i for i in drill["items"] if i["full_name"] == "Trần Thị Bình")
    assert (item["status"], item["progress_percent"], item["organization_name"]) == (
        "overdue",
        0,
        "Trường Tiểu học Tân Cương",
    )
    assert client.get(f"{URL}/learners", headers=admin, params={"limit": 0}).status_code == 422
    manager = client.get(f"{URL}/learners", headers=h(settings, tree.manager)).json()
    assert manager["total"] == 4


def test_learner_exports_neutralise_formulas_and_stream_everyone(
    client: TestClient, db: Session, settings: Settings, tree: Tree
) -> None:
    evil = make_user(
        db,
        settings,
        organization=tree.s1,
        full_name='=HYPERLINK("http://x.invalid","bấm")',
        password=None,
    )
    enrol(db, evil, tree.k2, progress=10)
    manager = h(settings, tree.manager)
    response = client.get(f"{URL}/learners.xlsx", headers=manager, params={"lang": "en"})
    assert response.status_code == 200, response.text
    assert re.fullmatch(
        r'attachment; filename="danh-sach-hoc-vien-\d{4}-\d{2}-\d{2}\.xlsx"',
        response.headers["content-disposition"],
    )
    rows = read_xlsx(response.content)
    header = rows[1]
    assert header[:2] == ("Full name", "Email")
    data, totals = rows[2:-1], rows[-1]
    assert len(data) == 5  # the manager's school only
    names = {r[0] for r in data}
    assert '\'=HYPERLINK("http://x.invalid","bấm")' in names
    assert not any(str(n).startswith("=") for n in names)
    enrolled_at = header.index("Enrolled at")
    assert all(isinstance(r[enrolled_at], datetime) for r in data)
    progress = header.index("Progress (%)")
    assert all(isinstance(r[progress], int) for r in data)
    assert totals[0] == "Total: 5 enrolments"
    report = get_json(client, manager)
    assert totals[progress] == report["totals"]["average_progress"]

    response = client.get(f"{URL}/learners.csv", headers=manager)
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(lines) == 1 + 5 + 1
    assert any(line[0].startswith("'=HYPERLINK") for line in lines)


def test_learner_export_reads_through_its_own_session(
    live_client: TestClient,
    committed: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the app's real sessions (not the test's shared one): the request's session has
    closed before the file streams, so the export must read through a session of its own
    (with one row per fetch, a closed session's cursor would fail after the first row)."""
    monkeypatch.setattr(service, "STREAM_BATCH", 1)
    with session_scope(make_sessionmaker(committed)) as db:
        tree = build_tree(db, settings)
        manager = h(settings, tree.manager)
    response = live_client.get(f"{URL}/learners.xlsx", headers=manager)
    assert response.status_code == 200, response.text
    rows = read_xlsx(response.content)
    assert len(rows) == 2 + 4 + 1
    response = live_client.get(f"{URL}/learners.csv", headers=manager)
    assert response.status_code == 200
    assert len(list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))) == 1 + 4 + 1
