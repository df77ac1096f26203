"""What the whole-API fuzzer (tests/security/test_fuzz.py) found, pinned as plain tests: each
of these answered 500 or broke the schema before its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from tests.accounts.test_auth_api import token_for
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.lms.helpers import build_world


def test_saving_a_course_with_its_labels_unchanged(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Replacing a course's labels by the same values inserted the new rows before deleting
    the old ones: a unique-constraint error, 500."""
    world = build_world(db, settings, client.app.state.blob_store, publish=False)  # type: ignore[attr-defined]
    a = token_for(client, world.author.email)
    url = f"/api/v1/courses/{world.course.id}"
    body = {"roles": ["student", "teacher"], "levels": ["primary"], "topics": ["CĐS", "STEM"]}
    first = client.patch(url, headers=a, json=body)
    assert first.status_code == 200, first.text
    again = client.patch(url, headers=a, json={**body, "roles": ["teacher", "student"]})
    assert again.status_code == 200, again.text
    assert sorted(again.json()["roles"]) == ["student", "teacher"]
    assert again.json()["topics"] == ["CĐS", "STEM"]


def test_saving_a_library_item_or_an_event_with_its_labels_unchanged(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The same defect in the content library's tags, levels and topics, and in an event's
    levels and roles: a PATCH repeating a label was a 500."""
    world = build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]
    a = token_for(client, world.author.email)
    item = f"/api/v1/content/{world.item.id}"
    labels = {"tags": ["video"], "levels": ["primary"], "topics": ["CĐS"]}
    for _ in range(2):
        response = client.patch(item, headers=a, json=labels)
        assert response.status_code == 200, response.text
    assert response.json()["topics"] == ["CĐS"]

    m = token_for(client, world.manager.email)
    now = datetime.now(UTC)
    event = client.post(
        "/api/v1/events",
        headers=m,
        json={
            "title": "Hội thảo",
            "kind": "seminar",
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=1, hours=2)).isoformat(),
            "organization_id": world.school.id,
            "levels": ["primary"],
            "roles": ["teacher"],
        },
    )
    assert event.status_code == 201, event.text
    url = f"/api/v1/events/{event.json()['id']}"
    partner = client.post(
        "/api/v1/partners",
        headers=token_for(client, world.admin.email),
        json={"name": "Sở GD&ĐT", "kind": "agency"},
    )
    assert partner.status_code == 201, partner.text
    same = {
        "levels": ["primary"],
        "roles": ["teacher"],
        "materials": [world.item.id],
        "partner_ids": [partner.json()["id"]],
        "audience_organization_ids": [world.school.id],
    }
    for _ in range(2):
        response = client.patch(url, headers=m, json=same)
        assert response.status_code == 200, response.text
    assert response.json()["levels"] == ["primary"]


def test_an_attendance_import_with_wrong_lines_answers_the_api_error_shape(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The per-line report came back as a 422 without ``error`` and ``detail``, unlike every
    other error (and unlike the schema)."""
    world = build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]
    m = token_for(client, world.manager.email)
    now = datetime.now(UTC)
    event = client.post(
        "/api/v1/events",
        headers=m,
        json={
            "title": "Hội thảo",
            "kind": "seminar",
            "starts_at": (now - timedelta(minutes=10)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "organization_id": world.school.id,
        },
    )
    assert event.status_code == 201, event.text
    response = client.post(
        f"/api/v1/events/{event.json()['id']}/attendance/import",
        headers=m,
        files={"file": ("a.csv", b"email\nkhong.co@truong.edu.vn\n", "text/csv")},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["detail"]
    assert body["marked"] == 0
    assert [e["line"] for e in body["errors"]] == [2]


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_times_beyond_the_calendar_in_utc_are_422(
    client: TestClient, db: Session, settings: Settings, when: str
) -> None:
    """A time whose UTC equivalent falls outside the years 1-9999 failed in the UTC column
    type (OverflowError wrapped in a StatementError): 500."""
    world = build_world(db, settings, client.app.state.blob_store, publish=False)  # type: ignore[attr-defined]
    a = token_for(client, world.author.email)
    patch = client.patch(f"/api/v1/courses/{world.course.id}", headers=a, json={"due_at": when})
    assert patch.status_code == 422, patch.text
    assert patch.json()["error"] == "invalid_input"
    listing = client.get("/api/v1/events", headers=a, params={"from": when, "to": when})
    assert listing.status_code == 422, listing.text


def test_the_schema_documents_the_error_body_and_file_downloads(client: TestClient) -> None:
    """Every API operation answered ``{"error", "detail"}`` with statuses the schema did not
    list (404, 403, 401...) and a 422 body the schema described as FastAPI's
    ``HTTPValidationError``; file downloads were documented as JSON."""
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    operations = [
        (path, op)
        for path, ops in schema["paths"].items()
        if path.startswith("/api/")
        for op in ops.values()
    ]
    assert len(operations) > 100
    for path, op in operations:
        for status in ("401", "403", "404", "409", "422", "429"):
            content = op["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, status)
    files = schema["paths"]["/api/v1/content/{item_id}/versions/{number}/file"]["get"]
    assert list(files["responses"]["200"]["content"]) == ["*/*"]
    csv = schema["paths"]["/api/v1/audit.csv"]["get"]
    assert list(csv["responses"]["200"]["content"]) == ["text/csv"]


def test_nul_characters_are_refused_alike_on_every_database(
    client: TestClient, db: Session, settings: Settings, page_login: Any
) -> None:
    """PostgreSQL cannot store U+0000 in text: there the fuzzer's NUL strings were answered
    "A number is out of range" (the DataError handler), while SQLite stored them. Now both
    refuse them before the statement is sent, in bodies, queries and forms."""
    world = build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]
    a = token_for(client, world.author.email)
    attempts = [
        client.post("/api/v1/courses", headers=a, json={"title": "Bài\x00học"}),
        client.get("/api/v1/courses", headers=a, params={"q": "a\x00b"}),
        client.post(
            "/api/v1/clubs",
            headers=token_for(client, world.teacher.email),
            json={"name": "CLB\x00", "organization_id": world.school.id},
        ),
    ]
    for response in attempts:
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_input"
        assert "NUL" in response.json()["detail"]
    assert client.get("/api/v1/courses", headers=a, params={"q": "Chuyển"}).status_code == 200

    page = page_login(world.teacher.email, PASSWORD)
    form = page.get("/clubs")
    assert form.status_code == 200
    refused = page.post(
        "/clubs",
        data={
            "name": "CLB\x00Robot",
            "organization_id": str(world.school.id),
            "csrf_token": csrf_from(form.text),
        },
        follow_redirects=False,
    )
    assert refused.status_code == 422, refused.text
    assert "NUL" in refused.text


def test_an_export_refused_by_the_database_is_an_error_answer_not_a_cut_off_file(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """GET /api/v1/audit.csv ran its query only once the 200 had started streaming: a filter
    the database refuses (here a NUL character) broke the answer half-way."""
    world = build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]
    admin = token_for(client, world.admin.email)
    refused = client.get("/api/v1/audit.csv", headers=admin, params={"q": "a\x00b"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_input"
    fine = client.get("/api/v1/audit.csv", headers=admin, params={"q": "khóa học"})
    assert fine.status_code == 200
    assert fine.headers["content-type"].startswith("text/csv")
