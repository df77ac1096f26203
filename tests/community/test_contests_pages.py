"""The contest pages: the new contest form, entering with a file, the locked entry after the
deadline, the judge's queue (own scores only), publishing, results, and the CSRF check."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.community.contests import pages
from app.community.contests.models import Contest, Entry, EntryFile, Review
from app.core.config import Settings
from app.core.errors import InvalidInput
from app.core.forms import parse_local_datetime
from tests.community.test_contests_api import (
    ContestWorld,
    add_judges,
    close,
    create_contest,
    enter,
    make_contest_world,
)
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.lcms import samples

Login = Callable[[str, str], TestClient]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> ContestWorld:
    return make_contest_world(client, db, settings)


def login(page_login: Login, world: ContestWorld, who: str) -> TestClient:
    return page_login(getattr(world, who).email, PASSWORD)


def token(client: TestClient, url: str) -> str:
    return csrf_from(client.get(url).text)


def test_an_admin_creates_a_contest_with_its_rubric_through_the_form(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    login(page_login, world, "admin")
    page = client.get("/contests")
    assert page.status_code == 200
    assert 'action="/contests"' in page.text
    year = datetime.now(UTC).year + 1  # a contest cannot be created already closed
    data = {
        "csrf_token": csrf_from(page.text),
        "title": "Sáng kiến chuyển đổi số",
        "kind": "idea",
        "rules": "Bài viết tối đa 2 trang.",
        "opens_at": f"{year}-12-01T07:30",
        "closes_at": f"{year}-12-20T17:00",
        "levels": ["lower_secondary", "primary"],
        "organization_id": str(world.commune.id),
        "entry_mode": "team",
        "judges_skip_own_school": "1",
        "crit_name": ["Tính mới", "Hiệu quả", ""],
        "crit_weight": ["2", "1,5", "1"],
        "crit_max": ["10", "10", "10"],
        "prize_rank": ["1", "2", "3-5"],
        "prize_name": ["Giải Nhất", "Giải Nhì", "Giải Khuyến khích"],
    }
    response = client.post("/contests", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    contest = db.scalars(select(Contest)).one()
    assert response.headers["location"] == f"/contests/{contest.id}"
    assert [(c.name, c.weight, c.max_score) for c in contest.criteria] == [
        ("Tính mới", 2.0, 10.0),
        ("Hiệu quả", 1.5, 10.0),
    ]
    assert [(p.rank_from, p.rank_to, p.name) for p in contest.prizes] == [
        (1, 1, "Giải Nhất"),
        (2, 2, "Giải Nhì"),
        (3, 5, "Giải Khuyến khích"),
    ]
    # Typed in Vietnam time (UTC+7), stored in UTC.
    assert contest.opens_at == datetime(year, 12, 1, 0, 30, tzinfo=UTC)
    assert contest.closes_at == datetime(year, 12, 20, 10, 0, tzinfo=UTC)
    assert (contest.entry_mode, contest.judges_skip_own_school) == ("team", True)
    assert sorted(contest.levels) == ["lower_secondary", "primary"]
    shown = client.get(f"/contests/{contest.id}").text
    assert "Tính mới" in shown
    assert f"20/12/{year} 17:00" in shown  # the deadline in local time


def test_a_bad_contest_form_is_shown_again_with_the_error_and_nothing_saved(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    login(page_login, world, "admin")
    data = {
        "csrf_token": token(client, "/contests"),
        "title": "Cuộc thi thiếu tiêu chí",
        "kind": "stem",
        "opens_at": "2026-12-01T07:30",
        "closes_at": "2026-11-01T07:30",
        "crit_name": ["Tính mới"],
        "crit_weight": ["1"],
        "crit_max": ["10"],
    }
    response = client.post("/contests", data=data)
    assert response.status_code == 422
    assert "Cuộc thi thiếu tiêu chí" in response.text  # the form keeps what was typed
    assert 'role="alert"' in response.text
    assert db.scalars(select(Contest)).first() is None


def test_students_do_not_see_the_new_contest_form_and_cannot_post_it(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    login(page_login, world, "student1")
    page = client.get("/contests")
    assert 'action="/contests"' not in page.text
    response = client.post(
        "/contests",
        data={"csrf_token": csrf_from(page.text), "title": "X", "crit_name": ["A"]},
    )
    assert response.status_code == 403
    assert db.scalars(select(Contest)).first() is None


def test_a_student_enters_adds_a_file_and_the_entry_locks_at_the_deadline(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    cid = create_contest(client, world)["id"]
    login(page_login, world, "student1")
    page = client.get(f"/contests/{cid}")
    assert f'action="/contests/{cid}/entries"' in page.text
    response = client.post(
        f"/contests/{cid}/entries",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "Vườn rau thủy canh",
            "summary": "Trồng rau không cần đất.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    entry = db.scalars(select(Entry)).one()
    assert response.headers["location"] == f"/entries/{entry.id}"
    entry_page = client.get(f"/entries/{entry.id}").text
    match = re.search(r'action="(/entries/\d+/files\?csrf_token=[^"]+)"', entry_page)
    assert match, "no upload form"
    pdf = samples.pdf("Thuyết minh")
    upload = client.post(
        match.group(1).replace("&amp;", "&"),
        files={"file": ("thuyet-minh.pdf", pdf, "application/pdf")},
        follow_redirects=False,
    )
    assert upload.status_code == 303, upload.text
    [file] = db.scalars(select(EntryFile)).all()
    assert file.filename == "thuyet-minh.pdf"
    got = samples.fetch(client, f"/entries/{entry.id}/files/{file.id}")
    assert got.content == pdf
    # A wrong type is refused on the page, with the reason and nothing recorded.
    wrong = client.post(
        match.group(1).replace("&amp;", "&"),
        files={"file": ("a.pdf", samples.EXE, "application/pdf")},
    )
    assert wrong.status_code == 415
    assert "pdf" in wrong.text
    # An upload without the CSRF token is refused.
    forged = client.post(
        f"/entries/{entry.id}/files", files={"file": ("b.pdf", pdf, "application/pdf")}
    )
    assert forged.status_code == 403
    assert len(db.scalars(select(EntryFile)).all()) == 1
    # The contest page shows the entry as mine.
    assert "Vườn rau thủy canh" in client.get(f"/contests/{cid}").text

    close(db, cid)
    locked = client.get(f"/entries/{entry.id}").text
    assert f'action="/entries/{entry.id}"' not in locked  # no edit form any more
    assert "/files?csrf_token" not in locked
    edit = client.post(
        f"/entries/{entry.id}",
        data={"csrf_token": csrf_from(locked), "title": "Đổi tên muộn", "summary": ""},
    )
    assert edit.status_code == 403
    late = client.post(
        f"/entries/{entry.id}/files?csrf_token={csrf_from(locked)}",
        files={"file": ("c.pdf", pdf, "application/pdf")},
    )
    assert late.status_code == 403
    db.expire_all()
    assert db.get(Entry, entry.id).title == "Vườn rau thủy canh"  # type: ignore[union-attr]
    assert len(db.scalars(select(EntryFile)).all()) == 1


def test_the_judging_page_scores_and_never_shows_another_judges_scores(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    add_judges(client, world, cid, "judge_thcs", "judge_th")
    entry = enter(client, world, cid, "student1", "Máy tưới cây")
    close(db, cid)
    ids = [str(c["id"]) for c in contest["criteria"]]
    secret = "Ý kiến riêng của giám khảo THCS"

    login(page_login, world, "judge_thcs")
    queue = client.get(f"/judging/{cid}")
    assert queue.status_code == 200
    assert "Máy tưới cây" in queue.text
    url = f"/judging/{cid}/entries/{entry['id']}"
    bad = client.post(
        url,
        data={"csrf_token": csrf_from(queue.text), "criterion": ids, "value": ["12", "3"]},
    )
    assert bad.status_code == 422
    assert "Tính sáng tạo" in bad.text
    assert db.scalars(select(Review)).first() is None
    saved = client.post(
        url,
        data={
            "csrf_token": csrf_from(queue.text),
            "criterion": ids,
            "value": ["7,5", "3"],
            "comment": secret,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    mine = client.get(f"/judging/{cid}").text
    assert secret in mine
    assert 'value="7.5"' in mine

    login(page_login, world, "judge_th")
    for path in (f"/judging/{cid}", f"/entries/{entry['id']}", f"/contests/{cid}"):
        body = client.get(path).text
        assert secret not in body, path
        assert "7.5" not in body, path
    login(page_login, world, "admin")
    organiser = client.get(f"/contests/{cid}").text
    assert secret not in organiser
    # A non-judge has no queue.
    login(page_login, world, "student2")
    assert client.get(f"/judging/{cid}").status_code == 403


def test_publishing_from_the_contest_page_shows_the_results(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    contest = create_contest(client, world)
    cid = contest["id"]
    add_judges(client, world, cid, "judge_th")
    e1 = enter(client, world, cid, "student1", "Máy tưới cây")
    e2 = enter(client, world, cid, "student2", "Đèn học")
    close(db, cid)
    ids = [c["id"] for c in contest["criteria"]]
    judge = world.tokens["judge_th"]
    for entry, values in ((e1, [9, 5]), (e2, [6, 2])):
        response = client.post(
            f"/api/v1/entries/{entry['id']}/scores",
            headers=judge,
            json={"scores": dict(zip(ids, values, strict=True))},
        )
        assert response.status_code == 200
    login(page_login, world, "admin")
    page = client.get(f"/contests/{cid}")
    assert f'action="/contests/{cid}/publish"' in page.text
    published = client.post(
        f"/contests/{cid}/publish",
        data={
            "csrf_token": csrf_from(page.text),
            "create_awards": "1",
            "decision_number": "20/QĐ-UBND",
            "awarded_on": "2026-12-25",
        },
        follow_redirects=False,
    )
    assert published.status_code == 303, published.text
    results = client.get(f"/contests/{cid}").text
    assert f'action="/contests/{cid}/publish"' not in results
    assert results.index("Máy tưới cây") < results.index("Đèn học")
    assert "Giải Nhất" in results
    assert "Giải Nhì" in results
    again = client.post(f"/contests/{cid}/publish", data={"csrf_token": csrf_from(results)})
    assert again.status_code == 409
    # The entrant sees the rank and the criteria's means on the entry page.
    login(page_login, world, "student2")
    entry_page = client.get(f"/entries/{e2['id']}").text
    assert "Giải Nhì" in entry_page
    assert "55 / 100" in entry_page  # (3 x 6/10 + 1 x 2/5) / 4 = 55 %


def test_posting_without_the_csrf_token_is_refused(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    cid = create_contest(client, world)["id"]
    login(page_login, world, "student1")
    response = client.post(f"/contests/{cid}/entries", data={"title": "Không có mã"})
    assert response.status_code == 403
    assert db.scalars(select(Entry)).first() is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T07:30", datetime(2026, 12, 1, 0, 30, tzinfo=UTC)),
        ("01/12/2026 07:30", datetime(2026, 12, 1, 0, 30, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 11, 30, 17, 0, tzinfo=UTC)),
    ],
)
def test_local_times_typed_in_forms(text: str, expected: datetime) -> None:
    assert parse_local_datetime(text, field="x", timezone="Asia/Ho_Chi_Minh") == expected


@pytest.mark.parametrize("text", ["", "31/02/2026 10:00", "hôm qua", "1800-01-01T00:00"])
def test_bad_local_times_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_local_datetime(text, field="x", timezone="Asia/Ho_Chi_Minh")


def test_prize_rows_take_ranks_and_ranges() -> None:
    specs = pages.parse_prizes(["1", "2-3", ""], ["Giải Nhất", "Giải Nhì", ""])
    assert [(p.rank, p.rank_to, p.name) for p in specs] == [
        (1, None, "Giải Nhất"),
        (2, 3, "Giải Nhì"),
    ]
    with pytest.raises(InvalidInput):
        pages.parse_prizes(["một"], ["Giải Nhất"])
