"""Administrative actions of the LMS leave exactly one audit entry each (and replays none)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry
from app.core.config import Settings
from app.lms import service
from tests.accounts.test_auth_api import token_for
from tests.lms.helpers import World, build_world


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store, publish=False)  # type: ignore[attr-defined]


def entries(db: Session, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_course_publishing_enrolment_and_withdrawal_are_audited(
    client: TestClient, db: Session, world: World
) -> None:
    author = token_for(client, world.author.email)
    url = f"/api/v1/courses/{world.course.id}"
    assert client.post(f"{url}/publish", headers=author).status_code == 200
    assert client.post(f"{url}/publish", headers=author).status_code == 200  # already: no entry
    [published] = entries(db, "course.published")
    assert (published.actor_id, published.target_id) == (world.author.id, str(world.course.id))
    assert (published.via, published.ip) == ("api", "testclient")

    teacher = token_for(client, world.teacher.email)
    assert client.post(f"{url}/enroll", headers=teacher).status_code == 200
    assert client.post(f"{url}/enroll", headers=teacher).status_code == 200  # a repeat
    [enrolled] = entries(db, "enrollment.self")
    assert (enrolled.actor_id, enrolled.organization_id) == (
        world.teacher.id,
        world.teacher.organization_id,
    )
    assert client.post(f"{url}/withdraw", headers=teacher).status_code == 200
    assert client.post(f"{url}/withdraw", headers=teacher).status_code == 200
    assert len(entries(db, "enrollment.withdrawn")) == 1
    assert client.post(f"{url}/enroll", headers=teacher).status_code == 200  # resumed
    assert len(entries(db, "enrollment.self")) == 2

    assert client.post(f"{url}/archive", headers=author).status_code == 200
    assert client.post(f"{url}/archive", headers=author).status_code == 200
    assert len(entries(db, "course.archived")) == 1


def test_an_assignment_is_one_entry_with_its_counts(
    client: TestClient, db: Session, world: World
) -> None:
    service.publish_course(db, world.author, world.course.id)
    manager = token_for(client, world.manager.email)
    body = {"organization_id": world.school.id, "role": "teacher"}
    r = client.post(f"/api/v1/courses/{world.course.id}/enrollments", headers=manager, json=body)
    assert r.status_code == 200, r.text
    [entry] = entries(db, "enrollment.assigned")
    assert entry.actor_id == world.manager.id
    assert entry.organization_id == world.school.id
    assert entry.detail["enrolled"] == r.json()["enrolled"] >= 1
    # Everyone is already enrolled: nothing changed, nothing logged.
    again = client.post(
        f"/api/v1/courses/{world.course.id}/enrollments", headers=manager, json=body
    )
    assert again.json()["enrolled"] == 0
    assert len(entries(db, "enrollment.assigned")) == 1


def test_a_refused_action_leaves_no_entry(client: TestClient, db: Session, world: World) -> None:
    teacher = token_for(client, world.teacher.email)
    r = client.post(f"/api/v1/courses/{world.course.id}/publish", headers=teacher)
    assert r.status_code in (403, 404)
    assert entries(db, "course.published") == []
