"""The contests API: a contest with a rubric, a panel, entries with files, independent scoring,
published results with ranks, ties and prizes, and every bad input of issue #6 (each answered
with a clear error and nothing changed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry
from app.accounts.models import Organization, User
from app.community.contests import api as contests_api
from app.community.contests.models import (
    Award,
    Contest,
    Entry,
    EntryFile,
    EntryMember,
    Review,
    ReviewScore,
)
from app.core.config import Settings
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user
from tests.lcms import samples

H = dict[str, str]


@dataclass
class ContestWorld:
    commune: Organization
    thcs: Organization  # lower secondary school of the commune
    th: Organization  # primary school of the commune
    elsewhere: Organization  # a lower secondary school of another commune
    admin: User
    manager: User  # manager of the THCS
    judge_thcs: User  # teacher of the THCS
    judge_th: User  # teacher of the TH
    judge_other: User  # teacher of the other commune's school
    student1: User  # THCS
    student2: User  # THCS
    student3: User  # THCS
    pupil: User  # TH (primary): not eligible for a lower-secondary contest
    outsider: User  # student of the other commune
    tokens: dict[str, H]


def make_contest_world(client: TestClient, db: Session, settings: Settings) -> ContestWorld:
    province = make_org(db, kind="province", level=None, name="Tỉnh Thái Nguyên")
    commune = make_org(db, kind="commune", level=None, parent=province, name="Xã Tân Cương")
    other_commune = make_org(db, kind="commune", level=None, parent=province)
    thcs = make_org(db, level="lower_secondary", parent=commune, name="Trường THCS Tân Cương")
    th = make_org(db, level="primary", parent=commune, name="Trường Tiểu học Tân Cương")
    elsewhere = make_org(db, level="lower_secondary", parent=other_commune)
    people = {
        "admin": make_user(db, settings, role="admin", organization=commune),
        "manager": make_user(db, settings, role="school_manager", organization=thcs),
        "judge_thcs": make_user(db, settings, role="teacher", organization=thcs),
        "judge_th": make_user(db, settings, role="teacher", organization=th),
        "judge_other": make_user(db, settings, role="teacher", organization=elsewhere),
        "student1": make_user(
            db, settings, role="student", organization=thcs, full_name="Nguyễn Văn An"
        ),
        "student2": make_user(
            db, settings, role="student", organization=thcs, full_name="Trần Thị Bình"
        ),
        "student3": make_user(
            db, settings, role="student", organization=thcs, full_name="Lê Minh Châu"
        ),
        "pupil": make_user(db, settings, role="student", organization=th),
        "outsider": make_user(db, settings, role="student", organization=elsewhere),
    }
    tokens = {name: token_for(client, user.email) for name, user in people.items()}
    return ContestWorld(
        commune=commune,
        thcs=thcs,
        th=th,
        elsewhere=elsewhere,
        tokens=tokens,
        **people,
    )


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> ContestWorld:
    return make_contest_world(client, db, settings)


def contest_body(world: ContestWorld, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "title": "Ý tưởng sáng tạo STEM 2026",
        "kind": "stem",
        "rules": "Mỗi học sinh gửi một bài dự thi.",
        "opens_at": (now - timedelta(days=1)).isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "levels": ["lower_secondary"],
        "criteria": [
            {"name": "Tính sáng tạo", "weight": 3, "max_score": 10},
            {"name": "Tính khả thi", "weight": 1, "max_score": 5},
        ],
        "organization_id": world.commune.id,
        "prizes": [
            {"rank": 1, "name": "Giải Nhất"},
            {"rank": 2, "name": "Giải Nhì"},
            {"rank": 3, "name": "Giải Ba"},
        ],
    }
    body.update(extra)
    return body


def create_contest(client: TestClient, world: ContestWorld, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/contests", headers=world.tokens["admin"], json=contest_body(world, **extra)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def add_judges(client: TestClient, world: ContestWorld, contest_id: int, *names: str) -> None:
    for name in names:
        user: User = getattr(world, name)
        response = client.post(
            f"/api/v1/contests/{contest_id}/judges",
            headers=world.tokens["admin"],
            json={"user_id": user.id},
        )
        assert response.status_code == 201, response.text


def enter(
    client: TestClient, world: ContestWorld, contest_id: int, who: str, title: str, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/contests/{contest_id}/entries",
        headers=world.tokens[who],
        json={"title": title, "summary": f"Tóm tắt: {title}", **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def close(db: Session, contest_id: int) -> None:
    """Move the deadline into the past (what a week of waiting would do)."""
    now = datetime.now(UTC)
    db.execute(
        update(Contest)
        .where(Contest.id == contest_id)
        .values(opens_at=now - timedelta(days=10), closes_at=now - timedelta(minutes=1))
    )
    db.commit()


def upload(client: TestClient, h: H, entry_id: int, data: bytes, filename: str) -> Any:
    return client.post(
        f"/api/v1/entries/{entry_id}/files",
        headers=h,
        files={"file": (filename, data, "application/octet-stream")},
    )


def score(
    client: TestClient, h: H, entry: dict[str, Any], values: list[float], comment: str = ""
) -> Any:
    return client.post(
        f"/api/v1/entries/{entry['id']}/scores",
        headers=h,
        json={"scores": dict(zip(entry["criteria"], values, strict=True)), "comment": comment},
    )


def with_criteria(entry: dict[str, Any], contest: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "criteria": [c["id"] for c in contest["criteria"]]}


def count(db: Session, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- The whole flow -----------------------------------------------------------------------


def test_contest_flow_from_creation_to_published_ranks_with_a_tie_and_awards(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    assert [c["name"] for c in contest["criteria"]] == ["Tính sáng tạo", "Tính khả thi"]
    assert all(isinstance(c["id"], int) for c in contest["criteria"])
    assert contest["state"] == "open"
    add_judges(client, world, cid, "judge_thcs", "judge_th")

    # Three students enter; the first adds a PDF to the entry.
    e1 = with_criteria(enter(client, world, cid, "student1", "Máy tưới cây tự động"), contest)
    e2 = with_criteria(enter(client, world, cid, "student2", "Thùng rác thông minh"), contest)
    e3 = with_criteria(enter(client, world, cid, "student3", "Đèn học tiết kiệm"), contest)
    pdf = samples.pdf("Bản thuyết minh")
    up = upload(client, world.tokens["student1"], e1["id"], pdf, "Thuyết minh dự án.pdf")
    assert up.status_code == 201, up.text
    assert (up.json()["filename"], up.json()["media_type"]) == (
        "Thuyết minh dự án.pdf",
        "application/pdf",
    )
    file_url = up.json()["url"]
    got = samples.fetch(client, file_url, world.tokens["student1"])
    assert got.status_code == 200
    assert got.content == pdf
    # A judge reads the entry and its file; another student does not even see it exists.
    assert samples.fetch(client, file_url, world.tokens["judge_th"]).content == pdf
    assert client.get(file_url, headers=world.tokens["student2"]).status_code == 404
    assert (
        client.get(f"/api/v1/entries/{e1['id']}", headers=world.tokens["student2"]).status_code
        == 404
    )

    # Before the deadline nobody scores; results are not there.
    early = score(client, world.tokens["judge_th"], e1, [8, 4])
    assert early.status_code == 409, early.text
    assert (
        client.get(f"/api/v1/contests/{cid}/results", headers=world.tokens["student1"]).status_code
        == 409
    )

    close(db, cid)
    # Judge TH: e1 = (3*8/10 + 1*4/5)/4 = 80; e2 = (3*10/10 + 1*1/5)/4 = 80; e3 = (3*5/10+0)/4
    # Judge THCS: e1 = 80, e2 = 80, e3 = (3*6/10 + 1*2/5)/4 = 55
    for judge in ("judge_th", "judge_thcs"):
        h = world.tokens[judge]
        assert score(client, h, e1, [8, 4], "Rất thực tế").status_code == 200
        assert score(client, h, e2, [10, 1]).status_code == 200
    assert score(client, world.tokens["judge_th"], e3, [5, 0]).status_code == 200
    rescored = score(client, world.tokens["judge_thcs"], e3, [1, 1])
    assert rescored.status_code == 200
    assert rescored.json()["percent"] == 12.5
    replaced = score(client, world.tokens["judge_thcs"], e3, [6, 2])  # replaces their own
    assert replaced.status_code == 200
    assert replaced.json()["percent"] == 55.0
    assert count(db, Review) == 6
    assert count(db, ReviewScore) == 12

    published = client.post(
        f"/api/v1/contests/{cid}/publish-results",
        headers=world.tokens["admin"],
        json={"decision_number": "15/QĐ-UBND", "awarded_at": "2026-12-01T09:00:00+07:00"},
    )
    assert published.status_code == 200, published.text
    ranks = [(r["title"], r["rank"], r["score"], r["prize"]) for r in published.json()["items"]]
    assert ranks == [
        ("Máy tưới cây tự động", 1, 80.0, "Giải Nhất"),
        ("Thùng rác thông minh", 1, 80.0, "Giải Nhất"),
        ("Đèn học tiết kiệm", 3, 46.25, "Giải Ba"),  # (37.5 + 55) / 2; rank 2 is skipped
    ]
    results = client.get(f"/api/v1/contests/{cid}/results", headers=world.tokens["pupil"])
    assert results.status_code == 200
    assert [r["rank"] for r in results.json()["items"]] == [1, 1, 3]

    # Every winner has an award, from the contest's organisation, with the decision number.
    mine = client.get("/api/v1/awards", headers=world.tokens["student1"]).json()
    assert mine["total"] == 1
    [award] = mine["items"]
    assert (award["title"], award["decision_number"], award["entry_id"]) == (
        "Giải Nhất",
        "15/QĐ-UBND",
        e1["id"],
    )
    assert award["issuer_organization_id"] == world.commune.id
    assert "Máy tưới cây tự động" in award["reason"]
    assert award["awarded_at"].startswith("2026-12-01T02:00:00")
    third = client.get("/api/v1/awards", headers=world.tokens["student3"]).json()
    assert [a["title"] for a in third["items"]] == ["Giải Ba"]
    school = client.get("/api/v1/awards", headers=world.tokens["manager"]).json()
    assert school["total"] == 3
    assert client.get("/api/v1/awards", headers=world.tokens["pupil"]).json()["total"] == 0
    actions = db.scalars(
        select(AuditEntry.action).where(AuditEntry.target_type.in_(["contest", "award"]))
    )
    assert sorted(actions) == ["award.created"] * 3 + ["contest.results_published"]

    # After the results: scores are final, the entry shows its rank, the organiser reads all.
    again = score(client, world.tokens["judge_th"], e1, [1, 1])
    assert again.status_code == 409
    entry = client.get(f"/api/v1/entries/{e3['id']}", headers=world.tokens["student1"]).json()
    assert (entry["rank"], entry["score"], entry["prize"]) == (3, 46.25, "Giải Ba")
    all_scores = client.get(f"/api/v1/entries/{e1['id']}/scores", headers=world.tokens["admin"])
    assert all_scores.json()["total"] == 2

    # Publishing twice is 409, and nothing changes.
    twice = client.post(f"/api/v1/contests/{cid}/publish-results", headers=world.tokens["admin"])
    assert twice.status_code == 409, twice.text
    assert "already published" in twice.json()["detail"]
    assert count(db, Award) == 3


def test_team_entries_and_one_entry_per_person(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world, entry_mode="team")
    cid = contest["id"]
    team = enter(client, world, cid, "student1", "Robot nhặt rác", member_ids=[world.student2.id])
    assert [m["full_name"] for m in team["members"]] == ["Nguyễn Văn An", "Trần Thị Bình"]
    # A team member cannot enter again, nor be put in another team.
    again = client.post(
        f"/api/v1/contests/{cid}/entries",
        headers=world.tokens["student2"],
        json={"title": "Bài khác"},
    )
    assert again.status_code == 409, again.text
    other = client.post(
        f"/api/v1/contests/{cid}/entries",
        headers=world.tokens["student3"],
        json={"title": "Bài khác", "member_ids": [world.student1.id]},
    )
    assert other.status_code == 409
    assert "Nguyễn Văn An" in other.json()["detail"]
    # An ineligible team member (a primary pupil) is refused with the reason.
    wrong = client.post(
        f"/api/v1/contests/{cid}/entries",
        headers=world.tokens["student3"],
        json={"title": "Bài khác", "member_ids": [world.pupil.id]},
    )
    assert wrong.status_code == 403
    assert count(db, Entry) == 1
    assert count(db, EntryMember) == 2
    # The second member edits the shared entry.
    edited = client.patch(
        f"/api/v1/entries/{team['id']}",
        headers=world.tokens["student2"],
        json={"title": "Robot nhặt rác v2"},
    )
    assert edited.status_code == 200
    assert edited.json()["title"] == "Robot nhặt rác v2"

    # Individual contests take no team members.
    solo = create_contest(client, world)
    refused = client.post(
        f"/api/v1/contests/{solo['id']}/entries",
        headers=world.tokens["student1"],
        json={"title": "Một mình", "member_ids": [world.student2.id]},
    )
    assert refused.status_code == 422


# --- Bad input ----------------------------------------------------------------------------


def test_eligibility_by_level_and_organisation_subtree(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    cid = create_contest(client, world)["id"]
    level = client.post(
        f"/api/v1/contests/{cid}/entries", headers=world.tokens["pupil"], json={"title": "Ý tưởng"}
    )
    assert level.status_code == 403
    assert "school levels" in level.json()["detail"] or "cấp học" in level.json()["detail"]
    subtree = client.post(
        f"/api/v1/contests/{cid}/entries",
        headers=world.tokens["outsider"],
        json={"title": "Ý tưởng"},
    )
    assert subtree.status_code == 403
    assert "Xã Tân Cương" in subtree.json()["detail"]
    got = client.get(f"/api/v1/contests/{cid}", headers=world.tokens["pupil"]).json()
    assert got["can_enter"] is False
    assert client.get(f"/api/v1/contests/{cid}", headers=world.tokens["student1"]).json()[
        "can_enter"
    ]
    assert count(db, Entry) == 0


def test_entry_edit_and_upload_after_the_deadline_are_403(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    entry = enter(client, world, cid, "student1", "Máy lọc nước")
    assert (
        upload(client, world.tokens["student1"], entry["id"], samples.png(), "a.png").status_code
        == 201
    )
    close(db, cid)
    h = world.tokens["student1"]
    late = client.post(
        f"/api/v1/contests/{cid}/entries", headers=world.tokens["student2"], json={"title": "Muộn"}
    )
    assert late.status_code == 403, late.text
    edit = client.patch(f"/api/v1/entries/{entry['id']}", headers=h, json={"title": "Đổi tên"})
    assert edit.status_code == 403
    assert "deadline" in edit.json()["detail"] or "hạn" in edit.json()["detail"]
    up = upload(client, h, entry["id"], samples.pdf(), "muon.pdf")
    assert up.status_code == 403
    file_id = client.get(f"/api/v1/entries/{entry['id']}", headers=h).json()["files"][0]["id"]
    assert (
        client.delete(f"/api/v1/entries/{entry['id']}/files/{file_id}", headers=h).status_code
        == 403
    )
    after = client.get(f"/api/v1/entries/{entry['id']}", headers=h).json()
    assert after["title"] == "Máy lọc nước"
    assert len(after["files"]) == 1
    assert after["editable"] is False
    assert count(db, Entry) == 1
    assert count(db, EntryFile) == 1


def test_entries_before_the_contest_opens_are_403(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    now = datetime.now(UTC)
    cid = create_contest(
        client,
        world,
        opens_at=(now + timedelta(days=2)).isoformat(),
        closes_at=(now + timedelta(days=9)).isoformat(),
    )["id"]
    early = client.post(
        f"/api/v1/contests/{cid}/entries", headers=world.tokens["student1"], json={"title": "Sớm"}
    )
    assert early.status_code == 403
    assert count(db, Entry) == 0


def test_upload_checks_type_and_size_and_leaves_nothing_on_failure(
    client: TestClient, db: Session, world: ContestWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = create_contest(client, world)["id"]
    entry = enter(client, world, cid, "student1", "Máy tưới cây")
    h = world.tokens["student1"]
    exe = upload(client, h, entry["id"], samples.EXE, "virus.pdf")
    assert exe.status_code == 415, exe.text
    html = upload(client, h, entry["id"], b"<html><script>alert(1)</script></html>", "a.pdf")
    assert html.status_code == 415
    monkeypatch.setattr(contests_api, "MAX_ENTRY_FILE_MB", 1)
    big = upload(client, h, entry["id"], samples.pdf("x" * (1024 * 1024 + 10)), "lon.pdf")
    assert big.status_code == 413, big.text
    empty = upload(client, h, entry["id"], b"", "trong.pdf")
    assert empty.status_code == 422
    other = upload(client, world.tokens["student2"], entry["id"], samples.pdf(), "b.pdf")
    assert other.status_code == 404  # not theirs: not even visible
    assert count(db, EntryFile) == 0
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    assert list(store.temp_dir().glob("upload-*")) == []


def test_score_range_every_criterion_and_who_may_score(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    add_judges(client, world, cid, "judge_th")
    entry = with_criteria(enter(client, world, cid, "student1", "Máy tưới cây"), contest)
    close(db, cid)
    h = world.tokens["judge_th"]
    too_high = score(client, h, entry, [11, 3])
    assert too_high.status_code == 422, too_high.text
    assert "Tính sáng tạo" in too_high.json()["detail"]
    negative = score(client, h, entry, [5, -1])
    assert negative.status_code == 422
    missing = client.post(
        f"/api/v1/entries/{entry['id']}/scores",
        headers=h,
        json={"scores": {str(entry["criteria"][0]): 5}},
    )
    assert missing.status_code == 422
    assert "Tính khả thi" in missing.json()["detail"]
    foreign = client.post(
        f"/api/v1/entries/{entry['id']}/scores",
        headers=h,
        json={"scores": {str(entry["criteria"][0]): 5, str(entry["criteria"][1]): 1, "999999": 1}},
    )
    assert foreign.status_code == 422
    # Not on the panel: 403, whoever it is (the organiser included).
    for name in ("judge_thcs", "admin", "student2"):
        assert score(client, world.tokens[name], entry, [5, 3]).status_code == 403, name
    assert count(db, Review) == 0
    assert count(db, ReviewScore) == 0


def test_judges_skip_their_own_school_when_the_rule_is_on(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world, judges_skip_own_school=True)
    cid = contest["id"]
    add_judges(client, world, cid, "judge_thcs", "judge_th")
    entry = with_criteria(enter(client, world, cid, "student1", "Máy tưới cây"), contest)
    close(db, cid)
    own = score(client, world.tokens["judge_thcs"], entry, [5, 3])
    assert own.status_code == 403, own.text
    assert "own school" in own.json()["detail"] or "trường mình" in own.json()["detail"]
    assert count(db, Review) == 0
    assert score(client, world.tokens["judge_th"], entry, [5, 3]).status_code == 200
    # Without the rule the same judge may score.
    plain = create_contest(client, world)
    add_judges(client, world, plain["id"], "judge_thcs")
    other = with_criteria(enter(client, world, plain["id"], "student1", "Khác"), plain)
    close(db, plain["id"])
    assert score(client, world.tokens["judge_thcs"], other, [5, 3]).status_code == 200


def test_judges_cannot_see_each_others_scores_before_the_results(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    add_judges(client, world, cid, "judge_thcs", "judge_th")
    entry = with_criteria(enter(client, world, cid, "student1", "Máy tưới cây"), contest)
    close(db, cid)
    secret = "Nhận xét riêng của giám khảo A"
    assert score(client, world.tokens["judge_thcs"], entry, [7.5, 3], secret).status_code == 200
    b = world.tokens["judge_th"]
    mine = client.get(f"/api/v1/entries/{entry['id']}/scores", headers=b).json()
    assert mine == {"items": [], "total": 0}
    a = client.get(f"/api/v1/entries/{entry['id']}/scores", headers=world.tokens["judge_thcs"])
    assert a.json()["total"] == 1
    assert a.json()["items"][0]["comment"] == secret
    # Nothing the other judge (or the organiser, or the entrant) can read carries them.
    for name in ("judge_th", "admin", "student1"):
        h = world.tokens[name]
        for url in (
            f"/api/v1/entries/{entry['id']}",
            f"/api/v1/entries/{entry['id']}/scores",
            f"/api/v1/contests/{cid}",
            f"/api/v1/contests/{cid}/entries",
            f"/api/v1/contests/{cid}/results",
        ):
            body = client.get(url, headers=h).text
            assert secret not in body, (name, url)
            # The score as a number, not inside a timestamp such as "…:27.581204Z".
            assert not re.search(r"(?<![\d.])7\.5(?!\d)", body), (name, url)
    organiser = client.get(f"/api/v1/entries/{entry['id']}/scores", headers=world.tokens["admin"])
    assert organiser.json()["total"] == 0


def test_publishing_needs_the_organiser_the_deadline_and_every_entry_scored(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    add_judges(client, world, cid, "judge_th")
    e1 = with_criteria(enter(client, world, cid, "student1", "Một"), contest)
    enter(client, world, cid, "student2", "Hai")
    url = f"/api/v1/contests/{cid}/publish-results"
    assert client.post(url, headers=world.tokens["admin"]).status_code == 409  # still open
    close(db, cid)
    assert client.post(url, headers=world.tokens["judge_th"]).status_code == 403
    assert client.post(url, headers=world.tokens["manager"]).status_code == 403
    assert score(client, world.tokens["judge_th"], e1, [5, 5]).status_code == 200
    unscored = client.post(url, headers=world.tokens["admin"])
    assert unscored.status_code == 409
    assert "Hai" in unscored.json()["detail"]
    assert db.scalar(select(Contest.results_published_at).where(Contest.id == cid)) is None
    assert count(db, Award) == 0


def test_only_organisers_create_contests_and_manage_the_panel(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    body = contest_body(world)
    teacher = client.post("/api/v1/contests", headers=world.tokens["judge_th"], json=body)
    assert teacher.status_code == 403
    # A school manager organises contests of their own school only.
    commune_wide = client.post("/api/v1/contests", headers=world.tokens["manager"], json=body)
    assert commune_wide.status_code == 403
    own = client.post(
        "/api/v1/contests",
        headers=world.tokens["manager"],
        json={**body, "organization_id": world.thcs.id},
    )
    assert own.status_code == 201
    cid = own.json()["id"]
    # ... and manages its panel; an administrator may too; a teacher may not.
    judge = {"user_id": world.judge_th.id}
    url = f"/api/v1/contests/{cid}/judges"
    assert client.post(url, headers=world.tokens["judge_thcs"], json=judge).status_code == 403
    assert client.post(url, headers=world.tokens["manager"], json=judge).status_code == 201
    assert client.post(url, headers=world.tokens["admin"], json=judge).status_code == 409
    student = client.post(url, headers=world.tokens["admin"], json={"user_id": world.student1.id})
    assert student.status_code == 422
    panel = client.get(f"/api/v1/contests/{cid}", headers=world.tokens["manager"]).json()
    assert [j["user_id"] for j in panel["judges"]] == [world.judge_th.id]
    hidden = client.get(f"/api/v1/contests/{cid}", headers=world.tokens["student1"]).json()
    assert hidden["judges"] == []
    assert count(db, Contest) == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"criteria": []}, 422),
        ({"criteria": [{"name": "A", "weight": 0, "max_score": 10}]}, 422),
        ({"criteria": [{"name": "A", "weight": 1, "max_score": -1}]}, 422),
        (
            {
                "criteria": [
                    {"name": "Sáng tạo", "weight": 1, "max_score": 10},
                    {"name": "sáng tạo", "weight": 1, "max_score": 10},
                ]
            },
            422,
        ),
        ({"kind": "music"}, 422),
        ({"opens_at": "2026-12-10T00:00:00+07:00", "closes_at": "2026-12-01T00:00:00+07:00"}, 422),
        ({"opens_at": "2026-12-01T00:00:00"}, 422),  # no time zone
        ({"prizes": [{"rank": 1, "name": "A"}, {"rank": 1, "name": "B"}]}, 422),
        ({"levels": ["university"]}, 422),
        ({"title": " "}, 422),
    ],
)
def test_bad_contests_are_refused(
    client: TestClient,
    db: Session,
    world: ContestWorld,
    change: dict[str, Any],
    status: int,
) -> None:
    response = client.post(
        "/api/v1/contests", headers=world.tokens["admin"], json=contest_body(world, **change)
    )
    assert response.status_code == status, response.text
    assert count(db, Contest) == 0


def test_contest_lists_by_state(client: TestClient, db: Session, world: ContestWorld) -> None:
    now = datetime.now(UTC)
    open_id = create_contest(client, world, title="Đang mở")["id"]
    create_contest(
        client,
        world,
        title="Sắp mở",
        opens_at=(now + timedelta(days=3)).isoformat(),
        closes_at=(now + timedelta(days=9)).isoformat(),
    )
    closed_id = create_contest(client, world, title="Đã đóng")["id"]
    close(db, closed_id)
    h = world.tokens["student1"]

    def titles(status: str) -> list[str]:
        page = client.get(f"/api/v1/contests?status={status}", headers=h).json()
        return [c["title"] for c in page["items"]]

    assert titles("open") == ["Đang mở"]
    assert titles("upcoming") == ["Sắp mở"]
    assert titles("closed") == ["Đã đóng"]
    assert client.get("/api/v1/contests", headers=h).json()["total"] == 3
    assert client.get(f"/api/v1/contests/{open_id}", headers=h).json()["state"] == "open"


def test_authors_remove_a_file_before_the_deadline(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    cid = create_contest(client, world)["id"]
    entry = enter(client, world, cid, "student1", "Máy lọc nước")
    h = world.tokens["student1"]
    file_id = upload(client, h, entry["id"], samples.png(), "hinh.png").json()["id"]
    url = f"/api/v1/entries/{entry['id']}/files/{file_id}"
    assert client.delete(url, headers=world.tokens["student2"]).status_code == 404
    assert count(db, EntryFile) == 1
    assert client.delete(url, headers=h).status_code == 204
    assert client.get(f"/api/v1/entries/{entry['id']}", headers=h).json()["files"] == []
    assert client.get(url, headers=h).status_code == 404
    assert count(db, EntryFile) == 0
