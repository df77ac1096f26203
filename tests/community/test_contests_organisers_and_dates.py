"""Who may not enter a contest (its organisers, administrators included, alone or in a team)
and when a contest may not be created (already closed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.community.contests import service
from app.community.contests.models import Contest, Entry, EntryMember
from app.core.config import Settings
from app.core.errors import InvalidInput
from tests.accounts.test_auth_api import token_for
from tests.community.test_contests_api import (
    ContestWorld,
    contest_body,
    create_contest,
    enter,
    make_contest_world,
)
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user

Login = Callable[[str, str], TestClient]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> ContestWorld:
    return make_contest_world(client, db, settings)


def count(db: Session, model: type[Entry] | type[EntryMember] | type[Contest]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def manager_contest(client: TestClient, world: ContestWorld, **extra: object) -> dict[str, object]:
    """A contest the THCS manager organises for their own school (all levels)."""
    response = client.post(
        "/api/v1/contests",
        headers=world.tokens["manager"],
        json=contest_body(world, organization_id=world.thcs.id, levels=[], **extra),
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# --- The organiser does not enter ---------------------------------------------------------


def test_the_creator_cannot_enter_their_own_contest(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = manager_contest(client, world)
    assert contest["is_organizer"] is True
    assert contest["can_enter"] is False
    shown = client.get(f"/api/v1/contests/{contest['id']}", headers=world.tokens["manager"])
    assert shown.json()["can_enter"] is False
    refused = client.post(
        f"/api/v1/contests/{contest['id']}/entries",
        headers=world.tokens["manager"],
        json={"title": "Bài dự thi của người tổ chức"},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == "You organise this contest and cannot enter it."
    assert count(db, Entry) == 0
    # A student of the school still can.
    student = client.get(f"/api/v1/contests/{contest['id']}", headers=world.tokens["student1"])
    assert student.json()["can_enter"] is True
    enter(client, world, int(str(contest["id"])), "student1", "Bài của học sinh")


def test_an_administrator_who_did_not_create_the_contest_cannot_enter_it_either(
    client: TestClient, db: Session, settings: Settings, world: ContestWorld
) -> None:
    # Administrators organise every contest (they see all entries and may publish the
    # results), so another administrator of the commune is barred like the creator.
    other_admin = make_user(db, settings, role="admin", organization=world.commune)
    contest = create_contest(client, world, levels=[])  # created by world.admin
    headers = token_for(client, other_admin.email)
    shown = client.get(f"/api/v1/contests/{contest['id']}", headers=headers).json()
    assert shown["is_organizer"] is True
    assert shown["can_enter"] is False
    refused = client.post(
        f"/api/v1/contests/{contest['id']}/entries",
        headers=headers,
        json={"title": "Bài của quản trị viên"},
    )
    assert refused.status_code == 409, refused.text
    assert "organise this contest" in refused.json()["detail"]
    assert count(db, Entry) == 0


def test_the_organiser_cannot_be_put_in_a_team(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = manager_contest(client, world, entry_mode="team")
    cid = contest["id"]
    refused = client.post(
        f"/api/v1/contests/{cid}/entries",
        headers=world.tokens["student1"],
        json={"title": "Robot nhặt rác", "member_ids": [world.manager.id]},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        f"{world.manager.full_name} organises this contest and cannot be in an entry."
    )
    assert count(db, Entry) == 0
    # Nor added to an existing team afterwards.
    team = enter(client, world, int(str(cid)), "student1", "Robot nhặt rác")
    added = client.patch(
        f"/api/v1/entries/{team['id']}",
        headers=world.tokens["student1"],
        json={"member_ids": [world.manager.id]},
    )
    assert added.status_code == 409, added.text
    assert count(db, EntryMember) == 1


def test_the_contest_page_shows_the_organiser_no_entry_form(
    client: TestClient, world: ContestWorld, page_login: Login
) -> None:
    contest = manager_contest(client, world)
    page_login(world.manager.email, PASSWORD)
    page = client.get(f"/contests/{contest['id']}")
    assert page.status_code == 200
    assert f'action="/contests/{contest["id"]}/entries"' not in page.text
    assert "You organise this contest, so you cannot enter it." in page.text


# --- A contest is not created already closed ----------------------------------------------

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def make(db: Session, world: ContestWorld, opens_at: datetime, closes_at: datetime) -> Contest:
    return service.create_contest(
        db,
        world.admin,
        title="Ý tưởng sáng tạo",
        kind="stem",
        opens_at=opens_at,
        closes_at=closes_at,
        criteria=[service.CriterionSpec("Tính sáng tạo", 1, 10)],
        now=NOW,
    )


@pytest.mark.parametrize(
    ("opens_at", "closes_at"),
    [
        (NOW - timedelta(days=365), NOW - timedelta(days=358)),  # a mistyped year
        (NOW - timedelta(days=7), NOW),  # closing this very moment
    ],
)
def test_a_contest_closing_in_the_past_is_refused(
    db: Session, world: ContestWorld, opens_at: datetime, closes_at: datetime
) -> None:
    with pytest.raises(InvalidInput) as refused:
        make(db, world, opens_at, closes_at)
    assert refused.value.status_code == 422
    assert "has already passed" in refused.value.detail
    assert count(db, Contest) == 0


def test_a_contest_that_opened_in_the_past_and_closes_later_is_accepted(
    db: Session, world: ContestWorld
) -> None:
    contest = make(db, world, NOW - timedelta(days=3), NOW + timedelta(minutes=1))
    assert service.state(contest, NOW) == "open"


def test_the_api_and_the_form_refuse_a_contest_already_closed(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    now = datetime.now(UTC)
    body = contest_body(
        world,
        opens_at=(now - timedelta(days=30)).isoformat(),
        closes_at=(now - timedelta(days=23)).isoformat(),
    )
    response = client.post("/api/v1/contests", headers=world.tokens["admin"], json=body)
    assert response.status_code == 422, response.text
    assert "has already passed" in response.json()["detail"]
    page_login(world.admin.email, PASSWORD)
    last_year = now.year - 1
    form = client.post(
        "/contests",
        data={
            "csrf_token": csrf_from(client.get("/contests").text),
            "title": "Cuộc thi gõ nhầm năm",
            "kind": "stem",
            "opens_at": f"{last_year}-12-01T07:30",
            "closes_at": f"{last_year}-12-20T17:00",
            "crit_name": ["Tính mới"],
            "crit_weight": ["1"],
            "crit_max": ["10"],
        },
    )
    assert form.status_code == 422
    assert "has already passed" in form.text
    assert "Cuộc thi gõ nhầm năm" in form.text  # the form keeps what was typed
    assert count(db, Contest) == 0
