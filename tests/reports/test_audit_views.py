"""The audit log's reading side: the API with its filters and pagination, the CSV exports and
the admin page; only administrators get in."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry, record
from app.accounts.models import Organization, User
from app.core.config import Settings
from tests.accounts.test_auth_api import token_for
from tests.factories import PASSWORD, make_org, make_user

Login = Callable[[str, str], TestClient]


def at(day: int, hour: int = 3) -> datetime:
    """A moment of November 2026 in UTC (10:00 in Hà Nội for hour=3)."""
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def add(
    db: Session,
    when: datetime,
    *,
    actor: User | None,
    action: str = "user.created",
    label: str = "",
    org: Organization | None = None,
    target_id: int = 1,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    record(
        db,
        actor=actor,
        action=action,
        target_type="user",
        target_id=target_id,
        target_label=label,
        organization_id=org.id if org else None,
        detail=detail,
    )
    db.flush()
    row = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    row.at = when
    db.flush()
    return row


@pytest.fixture
def world(db: Session, settings: Settings) -> dict[str, Any]:
    commune = make_org(db, kind="commune", name="Xã Tân Cương")
    school_a = make_org(db, name="Trường Tiểu học Tân Cương", parent=commune)
    school_b = make_org(db, name="Trường THCS Phúc Xuân", parent=commune)
    admin = make_user(db, settings, role="admin", organization=commune, full_name="Hà Quản Trị")
    manager = make_user(
        db, settings, role="school_manager", organization=school_a, full_name="Đỗ Văn Hiệu"
    )
    teacher = make_user(db, settings, role="teacher", organization=school_a)
    entries = [
        add(db, at(1), actor=admin, label="Nguyễn Thị Ánh (anh@x.vn)", org=school_a),
        add(db, at(2), actor=manager, action="user.deactivated", label="Lò Văn Bình", org=school_a),
        add(db, at(3), actor=admin, action="organization.created", label="Xã", org=commune),
        add(db, at(4), actor=None, label="Trần Cường", org=school_b),
        add(
            db,
            at(5),
            actor=admin,
            action="user.updated",
            label='=HYPERLINK("http://x")',
            org=school_b,
            detail={"role": ["teacher", "school_manager"], "organization_id": [school_a.id, None]},
        ),
    ]
    return {
        "commune": commune,
        "a": school_a,
        "b": school_b,
        "admin": admin,
        "manager": manager,
        "teacher": teacher,
        "entries": entries,
    }


def get(client: TestClient, user: User, path: str, **params: object) -> Any:
    return client.get(path, headers=token_for(client, user.email), params=params)  # type: ignore[arg-type]


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- API -------------------------------------------------------------------------------------


def test_the_api_lists_newest_first_with_everything_an_auditor_needs(
    client: TestClient, world: dict[str, Any]
) -> None:
    e = world["entries"]
    response = get(client, world["admin"], "/api/v1/audit", lang="en")
    assert ids(response) == [x.id for x in reversed(e)]
    body = response.json()
    assert body["total"] == 5
    newest = body["items"][0]
    assert newest["action"] == "user.updated"
    assert newest["action_label"] == "User changed"
    assert newest["actor_id"] == world["admin"].id
    assert newest["actor_label"] == f"Hà Quản Trị ({world['admin'].email})"
    assert newest["organization_name"] == "Trường THCS Phúc Xuân"
    assert newest["detail"]["role"] == ["teacher", "school_manager"]
    assert (newest["via"], newest["ip"]) == ("cli", None)  # written outside a request here
    assert newest["at"].startswith("2026-11-05T03:00")


def test_the_api_filters(client: TestClient, world: dict[str, Any]) -> None:
    e, admin = world["entries"], world["admin"]

    def find(**params: object) -> list[int]:
        return ids(get(client, admin, "/api/v1/audit", **params))

    assert find(action="user.deactivated") == [e[1].id]
    assert find(actor_id=world["manager"].id) == [e[1].id]
    assert find(actor_id=admin.id) == [e[4].id, e[2].id, e[0].id]
    # A school; the commune includes its schools' entries.
    assert find(organization_id=world["a"].id) == [e[1].id, e[0].id]
    assert find(organization_id=world["commune"].id) == [x.id for x in reversed(e)]
    # Days in Hà Nội time, both ends included.
    assert find(**{"from": "2026-11-02", "to": "2026-11-03"}) == [e[2].id, e[1].id]
    assert find(**{"from": "2026-11-05"}) == [e[4].id]
    assert find(to="2026-11-01") == [e[0].id]
    # Words of names and emails, accents and case ignored.
    assert find(q="nguyen anh") == [e[0].id]
    assert find(q="LÒ VĂN") == [e[1].id]
    assert find(q="ha quan tri") == [e[4].id, e[2].id, e[0].id]  # the actor's name
    assert find(q="ha quan tri", action="organization.created") == [e[2].id]
    assert find(q="khong co ai") == []


def test_the_day_boundaries_follow_the_local_time_zone(
    client: TestClient, db: Session, world: dict[str, Any]
) -> None:
    late = add(db, at(1, 23), actor=None, label="Muộn")  # 06:00 on 2 Nov in Hà Nội
    found = ids(
        get(client, world["admin"], "/api/v1/audit", **{"from": "2026-11-02", "to": "2026-11-02"})
    )
    assert late.id in found
    assert world["entries"][0].id not in found
    assert late.id not in ids(get(client, world["admin"], "/api/v1/audit", to="2026-11-01"))


def test_the_api_paginates(client: TestClient, world: dict[str, Any]) -> None:
    e = world["entries"]
    first = get(client, world["admin"], "/api/v1/audit", limit=2)
    second = get(client, world["admin"], "/api/v1/audit", limit=2, offset=2)
    last = get(client, world["admin"], "/api/v1/audit", limit=2, offset=4)
    assert ids(first) == [e[4].id, e[3].id]
    assert ids(second) == [e[2].id, e[1].id]
    assert ids(last) == [e[0].id]
    assert {r.json()["total"] for r in (first, second, last)} == {5}
    assert get(client, world["admin"], "/api/v1/audit", limit=0).status_code == 422
    assert get(client, world["admin"], "/api/v1/audit", limit=201).status_code == 422


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2026-11-05", "to": "2026-11-01"}, 422),
        ({"from": "05/11/2026"}, 422),
        ({"to": "2026-13-01"}, 422),
        ({"action": "user.exploded"}, 422),
        ({"organization_id": 987654}, 404),
        ({"q": "x" * 201}, 422),
    ],
)
def test_bad_filters_are_clear_errors(
    client: TestClient, world: dict[str, Any], params: dict[str, object], status: int
) -> None:
    response = get(client, world["admin"], "/api/v1/audit", **params)
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"error", "detail"}
    csv_response = get(client, world["admin"], "/api/v1/audit.csv", **params)
    assert csv_response.status_code == status


def test_only_administrators_read_the_log(client: TestClient, world: dict[str, Any]) -> None:
    for who in ("manager", "teacher"):
        for path in ("/api/v1/audit", "/api/v1/audit.csv"):
            response = get(client, world[who], path)
            assert response.status_code == 403, (who, path)
            assert response.json()["error"] == "permission_denied"
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit.csv").status_code == 401


# --- CSV -------------------------------------------------------------------------------------


def parse_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_csv_export_keeps_the_filters_and_defuses_formulas(
    client: TestClient, world: dict[str, Any]
) -> None:
    rows = parse_csv(get(client, world["admin"], "/api/v1/audit.csv", lang="en"))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["When", "Who", "Action"]
    assert len(body) == 5
    newest = dict(zip(header, body[0], strict=True))
    assert newest["Target"] == '\'=HYPERLINK("http://x")'  # neutralised
    assert newest["When"] == "2026-11-05 10:00"  # local time
    assert newest["Action code"] == "user.updated"
    assert newest["Organisation"] == "Trường THCS Phúc Xuân"
    assert newest["Channel"] == "Command line"
    assert "Role: Teacher → School manager" in newest["Audit details"]
    assert f"Organisation: {world['a'].name} → —" in newest["Audit details"]
    system = dict(zip(header, body[1], strict=True))
    assert system["Who"] == "System (command line)"

    only_a = parse_csv(
        get(client, world["admin"], "/api/v1/audit.csv", organization_id=world["a"].id)
    )
    assert len(only_a) == 1 + 2
    assert {r[6] for r in only_a[1:]} == {"Nguyễn Thị Ánh (anh@x.vn)", "Lò Văn Bình"}


def test_an_empty_csv_still_has_its_header(client: TestClient, world: dict[str, Any]) -> None:
    rows = parse_csv(get(client, world["admin"], "/api/v1/audit.csv", q="khong co ai"))
    assert len(rows) == 1


# --- Page ------------------------------------------------------------------------------------


def test_the_admin_page_lists_filters_and_links_the_csv(
    page_login: Login, world: dict[str, Any]
) -> None:
    c = page_login(world["admin"].email, PASSWORD)
    page = c.get("/admin/audit")
    assert page.status_code == 200
    assert '<html lang="vi"' in page.text
    assert "Người thực hiện" in page.text  # "Who", in Vietnamese
    assert "Lò Văn Bình" in page.text
    assert "=HYPERLINK(&#34;http://x&#34;)" in page.text  # escaped, shown as typed
    assert 'href="/admin/audit.csv"' in page.text
    assert "<caption" in page.text
    assert 'scope="col"' in page.text

    filtered = c.get(
        "/admin/audit",
        params={
            "action": "user.deactivated",
            "organization_id": str(world["a"].id),
            "from": "2026-11-01",
            "to": "",
            "q": "",
        },
    )
    assert filtered.status_code == 200
    assert "Lò Văn Bình" in filtered.text
    assert "Nguyễn Thị Ánh" not in filtered.text
    csv_link = (
        f'href="/admin/audit.csv?action=user.deactivated&amp;organization_id={world["a"].id}'
        '&amp;from=2026-11-01"'
    )
    assert csv_link in filtered.text

    csv_rows = parse_csv(
        c.get(
            "/admin/audit.csv",
            params={"action": "user.deactivated", "organization_id": str(world["a"].id)},
        )
    )
    assert [r[6] for r in csv_rows[1:]] == ["Lò Văn Bình"]

    by_actor = c.get("/admin/audit", params={"actor_id": str(world["manager"].id)})
    assert "Đỗ Văn Hiệu" in by_actor.text
    assert "Nguyễn Thị Ánh" not in by_actor.text


def test_the_page_paginates_and_has_an_empty_state(
    page_login: Login, db: Session, world: dict[str, Any]
) -> None:
    for n in range(55):
        add(db, at(10), actor=world["admin"], label=f"Người {n}", target_id=100 + n)
    c = page_login(world["admin"].email, PASSWORD)
    first = c.get("/admin/audit")
    assert 'rel="next"' in first.text
    second = c.get("/admin/audit?offset=50")
    assert second.status_code == 200
    assert 'rel="prev"' in second.text
    assert "Nguyễn Thị Ánh" in second.text  # the oldest entry is on the last page
    assert "Nguyễn Thị Ánh" not in first.text
    empty = c.get("/admin/audit", params={"q": "khong co ai"})
    assert empty.status_code == 200
    assert 'class="empty"' in empty.text
    assert "/admin/audit.csv" not in empty.text


def test_a_bad_date_on_the_page_is_shown_on_the_form(
    page_login: Login, world: dict[str, Any]
) -> None:
    c = page_login(world["admin"].email, PASSWORD)
    response = c.get("/admin/audit", params={"from": "hôm qua"})
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert "hôm qua" in response.text
    reversed_range = c.get("/admin/audit", params={"from": "2026-11-05", "to": "2026-11-01"})
    assert reversed_range.status_code == 422


def test_non_administrators_get_403_on_the_page(
    page_login: Login, client: TestClient, world: dict[str, Any]
) -> None:
    anonymous = client.get("/admin/audit", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
    c = page_login(world["manager"].email, PASSWORD)
    assert c.get("/admin/audit").status_code == 403
    assert c.get("/admin/audit.csv").status_code == 403
