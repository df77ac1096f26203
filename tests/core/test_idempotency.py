"""A form sent again with its Idempotency-Key is done once (app/core/idempotency.py, decision 12):
the copy of a finished submission is answered with the first redirect and "already sent", a
copy of one in progress with 409, a form shown again with its errors is forgotten, keys belong
to one browser session, expire, and never reach the API.

These tests need real commits (the key is claimed in a transaction of its own before the
handler's): they use ``live_client`` or a live server, and the ``committed`` fixture empties the
tables afterwards. Messages are compared in English (``?lang=en``)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.responses import Response

from app.cli import alembic_config, blobs_in_use
from app.community.clubs import service as clubs
from app.community.clubs.models import Thread
from app.community.events.models import Event
from app.core.backup import check_archive, create_backup, restore_backup
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope, utcnow
from app.core.idempotency import (
    DONE_TTL,
    IN_PROGRESS_TTL,
    IdempotencyKey,
    KeyState,
    remembered_outcome,
)
from app.core.security import sign
from app.core.web import FLASH_COOKIE, SESSION_COOKIE
from app.lcms import service as lcms
from app.lcms.models import ContentVersion
from tests.community.test_clubs import Town, build_town
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.support.live import live_server

ALREADY = "This was already sent; it was done once."
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

Client = TestClient | httpx.Client
Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class Scene:
    town: Town
    club_id: int
    item_id: int  # a document item of town.author, no version yet


@pytest.fixture
def sessions(committed: Engine) -> Sessions:
    return make_sessionmaker(committed)


@pytest.fixture
def scene(sessions: Sessions, settings: Settings) -> Scene:
    with session_scope(sessions) as session:
        town = build_town(session, settings)
        club = clubs.create_club(
            session, town.leader, name="CLB Robot", organization_id=town.school.id
        )
        item = lcms.create_item(session, town.author, title="Bài giảng", kind="document")
        return Scene(town=town, club_id=club.id, item_id=item.id)


def sign_in(client: Client, email: str) -> Client:
    client.cookies.clear()
    token = csrf_from(client.get("/login?lang=en").text)
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def key() -> str:
    return str(uuid.uuid4())


def thread_form(client: Client, scene: Scene, title: str = "Lịch họp tháng 12") -> dict[str, str]:
    token = csrf_from(client.get(f"/clubs/{scene.club_id}").text)
    return {"csrf_token": token, "title": title, "body": "Thứ Hai, **8 giờ**."}


def post(client: Client, url: str, data: dict[str, Any], idem: str | None) -> Any:
    headers = {"Idempotency-Key": idem} if idem is not None else {}
    return client.post(url, data=data, headers=headers, follow_redirects=False)


def count(sessions: Sessions, model: type[Any], *where: Any) -> int:
    with session_scope(sessions) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def keys(sessions: Sessions) -> list[IdempotencyKey]:
    with session_scope(sessions) as session:
        return list(session.scalars(select(IdempotencyKey)))


def event_form(client: Client, scene: Scene, **fields: str) -> dict[str, Any]:
    token = csrf_from(client.get("/events/new").text)
    return {
        "csrf_token": token,
        "organization_id": str(scene.town.school.id),
        "title": "Tập huấn Nghị quyết 57",
        "kind": "training",
        "start_date": "2030-03-02",
        "start_time": "08:00",
        "end_date": "2030-03-02",
        "end_time": "11:30",
        "location": "Hội trường",
        "capacity": "40",
        **fields,
    }


# --- The same submission twice ------------------------------------------------------------


def test_a_thread_sent_twice_with_one_key_is_started_once_and_the_copy_says_so(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.leader.email)
    form = thread_form(client, scene)
    same = key()

    first = post(client, f"/clubs/{scene.club_id}/threads", form, same)
    assert first.status_code == 303, first.text
    assert first.headers["location"].startswith("/threads/")
    assert "idempotent-replayed" not in first.headers
    client.get(first.headers["location"])  # shows (and clears) the first flash

    again = post(client, f"/clubs/{scene.club_id}/threads", form, same)
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert count(sessions, Thread) == 1
    shown = client.get(again.headers["location"]).text
    assert ALREADY in shown
    assert "Thread started." in shown  # the first answer's own message, once more
    [row] = keys(sessions)
    assert row.state == KeyState.done
    assert row.outcome is not None
    assert row.outcome["location"] == first.headers["location"]


def test_different_keys_are_different_submissions(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.manager.email)
    form = event_form(client, scene)
    first = post(client, "/events/new", form, key())
    second = post(client, "/events/new", form, key())
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] != second.headers["location"]
    assert "idempotent-replayed" not in second.headers
    assert count(sessions, Event) == 2
    # Without the header (no script, or another client) nothing is remembered either.
    assert post(client, "/events/new", form, None).status_code == 303
    assert count(sessions, Event) == 3
    assert len(keys(sessions)) == 2


def test_a_form_shown_again_with_errors_is_forgotten_so_the_fix_runs_with_the_same_key(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.manager.email)
    same = key()
    wrong = post(client, "/events/new", event_form(client, scene, capacity="0"), same)
    assert wrong.status_code == 422
    assert "Capacity" in wrong.text
    assert keys(sessions) == []  # deleted before the answer was sent
    assert count(sessions, Event) == 0

    fixed = post(client, "/events/new", event_form(client, scene), same)
    assert fixed.status_code == 303, fixed.text
    assert "idempotent-replayed" not in fixed.headers
    again = post(client, "/events/new", event_form(client, scene), same)
    assert again.status_code == 303
    assert again.headers["location"] == fixed.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert count(sessions, Event) == 1


def test_a_new_user_is_created_once_and_its_activation_page_is_never_stored(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    """The user form answers with a page holding a one-time activation link, not a redirect: the
    answer is not stored, and the copy is refused by the database (one account per email)."""
    from app.accounts.models import User

    client = sign_in(live_client, scene.town.admin.email)
    token = csrf_from(client.get("/admin/users/new").text)
    email = f"gv.{uuid.uuid4().hex[:8]}@truong.edu.vn"
    form = {
        "csrf_token": token,
        "email": email,
        "full_name": "Nguyễn Văn Mạng Yếu",
        "role": "teacher",
        "organization_id": str(scene.town.school.id),
    }
    same = key()
    first = post(client, "/admin/users", form, same)
    assert first.status_code == 201, first.text
    assert "/activate/" in first.text
    assert keys(sessions) == []  # the link is shown once, never kept
    again = post(client, "/admin/users", form, same)
    assert again.status_code == 409
    assert email in again.text  # the form again, saying the email is taken
    assert count(sessions, User, User.email == email) == 1


def test_an_upload_sent_twice_by_the_studio_script_is_stored_once(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.author.email)
    page = f"/studio/items/{scene.item_id}"
    token = csrf_from(client.get(page).text)
    same = key()

    def upload() -> Any:
        return client.post(
            f"{page}/versions",
            files={"file": ("Bài giảng.pdf", PDF, "application/pdf")},
            data={"note": "Bản đầu"},
            headers={"X-CSRF-Token": token, "Accept": "application/json", "Idempotency-Key": same},
        )

    first = upload()
    assert first.status_code == 201, first.text
    again = upload()
    assert again.status_code == 201
    assert again.json() == first.json() == {"number": 1, "url": page}
    assert again.headers["idempotent-replayed"] == "true"
    assert count(sessions, ContentVersion) == 1
    shown = client.get(page).text
    assert ALREADY in shown
    assert "Version 1 uploaded." in shown


# --- Whose key, which keys ----------------------------------------------------------------


def test_another_browser_session_never_gets_the_answer_of_a_key(
    live_client: TestClient, app: FastAPI, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.leader.email)
    same = key()
    first = post(client, f"/clubs/{scene.club_id}/threads", thread_form(client, scene), same)
    assert first.status_code == 303
    with TestClient(app, base_url="http://testserver") as other:
        # The same person in another browser: another session, so the key means nothing there.
        sign_in(other, scene.town.leader.email)
        assert other.cookies[SESSION_COOKIE] != client.cookies[SESSION_COOKIE]
        second = post(other, f"/clubs/{scene.club_id}/threads", thread_form(other, scene), same)
    assert second.status_code == 303
    assert "idempotent-replayed" not in second.headers
    assert second.headers["location"] != first.headers["location"]
    assert count(sessions, Thread) == 2
    assert len({row.scope for row in keys(sessions)}) == 2


def test_a_malformed_key_is_refused_and_does_nothing(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.leader.email)
    form = thread_form(client, scene)
    for bad in ("", "not-a-uuid", "1234", str(uuid.uuid4()) + "0", "{" + str(uuid.uuid4()) + "}"):
        response = post(client, f"/clubs/{scene.club_id}/threads", form, bad)
        assert response.status_code == 400, bad
        assert "Idempotency-Key" in response.text
        assert "text/html" in response.headers["content-type"]
    assert count(sessions, Thread) == 0
    # Upper case is the same UUID.
    same = key()
    assert post(client, f"/clubs/{scene.club_id}/threads", form, same.upper()).status_code == 303
    again = post(client, f"/clubs/{scene.club_id}/threads", form, same)
    assert again.headers["idempotent-replayed"] == "true"
    assert count(sessions, Thread) == 1


def test_a_key_reused_for_another_form_is_refused(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.leader.email)
    same = key()
    url = f"/clubs/{scene.club_id}/threads"
    assert post(client, url, thread_form(client, scene), same).status_code == 303
    other = post(client, f"/clubs/{scene.club_id}/leave", thread_form(client, scene), same)
    assert other.status_code == 422
    assert "another form" in other.text
    assert count(sessions, Thread) == 1


def test_signed_out_forms_and_the_api_ignore_the_header(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    same = key()
    live_client.cookies.clear()
    token = csrf_from(live_client.get("/login?lang=en").text)
    sign_in_form = {"email": scene.town.leader.email, "password": PASSWORD, "csrf_token": token}
    first = post(live_client, "/login", sign_in_form, same)
    assert first.status_code == 303
    assert SESSION_COOKIE in first.cookies  # a session is never replayed: it ran
    assert keys(sessions) == []

    api_token = live_client.post(
        "/api/v1/auth/token", data={"username": scene.town.leader.email, "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {api_token}", "Idempotency-Key": "not-a-uuid"}
    for _ in range(2):
        created = live_client.post(
            f"/api/v1/clubs/{scene.club_id}/threads",
            json={"title": "Qua API", "body": "Nội dung"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
    assert count(sessions, Thread) == 2
    assert keys(sessions) == []


def test_an_exception_forgets_the_key(
    live_client: TestClient, scene: Scene, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sign_in(live_client, scene.town.leader.email)
    form = thread_form(client, scene)
    same = key()

    seen: list[str] = []

    def broken(*args: Any, **kwargs: Any) -> None:
        seen.extend(row.state for row in keys(sessions))  # claimed while the handler runs
        raise RuntimeError("the disk caught fire")

    with monkeypatch.context() as patch:
        patch.setattr(clubs, "create_thread", broken)
        with pytest.raises(RuntimeError):
            post(client, f"/clubs/{scene.club_id}/threads", form, same)
    assert seen == [KeyState.in_progress]
    assert keys(sessions) == []
    done = post(client, f"/clubs/{scene.club_id}/threads", form, same)
    assert done.status_code == 303
    assert "idempotent-replayed" not in done.headers
    assert count(sessions, Thread) == 1


# --- Expiry -------------------------------------------------------------------------------


def age(sessions: Sessions, by: timedelta) -> None:
    with session_scope(sessions) as session:
        for row in session.scalars(select(IdempotencyKey)):
            row.created_at = row.created_at - by


def test_keys_expire_and_old_ones_are_pruned(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    client = sign_in(live_client, scene.town.leader.email)
    url = f"/clubs/{scene.club_id}/threads"
    form = thread_form(client, scene)
    same = key()
    assert post(client, url, form, same).status_code == 303

    age(sessions, DONE_TTL - timedelta(minutes=5))  # still remembered within the day
    assert post(client, url, form, same).headers["idempotent-replayed"] == "true"
    age(sessions, timedelta(minutes=10))  # a day and five minutes: forgotten, it runs again
    again = post(client, url, form, same)
    assert again.status_code == 303
    assert "idempotent-replayed" not in again.headers
    assert count(sessions, Thread) == 2
    [row] = keys(sessions)  # taken over, not a second row
    assert row.created_at > utcnow() - timedelta(minutes=5)

    # A day-old row of another key is deleted when a new key comes.
    old = key()
    assert post(client, url, form, old).status_code == 303
    with session_scope(sessions) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == old)
            .values(created_at=utcnow() - DONE_TTL - timedelta(hours=1))
        )
    assert post(client, url, form, key()).status_code == 303
    assert old not in {row.key for row in keys(sessions)}
    assert len(keys(sessions)) == 2


def test_a_key_left_in_progress_blocks_copies_until_it_goes_stale(
    live_client: TestClient, scene: Scene, sessions: Sessions
) -> None:
    """A row in progress is a request still running (409 with Retry-After), until a process that
    died with it has clearly gone (10 minutes): then the next copy runs."""
    client = sign_in(live_client, scene.town.leader.email)
    url = f"/clubs/{scene.club_id}/threads"
    form = thread_form(client, scene)
    same = key()
    assert post(client, url, form, same).status_code == 303
    with session_scope(sessions) as session:  # as if the first were still running
        session.execute(
            update(IdempotencyKey).values(state=KeyState.in_progress.value, outcome=None)
        )
    busy = post(client, url, form, same)
    assert busy.status_code == 409
    assert busy.headers["retry-after"]
    assert "still being processed" in busy.text
    assert count(sessions, Thread) == 1

    age(sessions, IN_PROGRESS_TTL + timedelta(minutes=1))
    taken = post(client, url, form, same)
    assert taken.status_code == 303
    assert "idempotent-replayed" not in taken.headers
    assert count(sessions, Thread) == 2
    assert post(client, url, form, same).headers["idempotent-replayed"] == "true"


# --- Backups ------------------------------------------------------------------------------


def test_a_backup_carries_the_keys_so_a_restored_instance_still_replays(
    live_client: TestClient,
    scene: Scene,
    sessions: Sessions,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """``hocso backup`` reflects every table: the key table goes with the sessions, and its
    JSON outcome and composite key come back as they were (restored here into SQLite)."""
    client = sign_in(live_client, scene.town.leader.email)
    same = key()
    url = f"/clubs/{scene.club_id}/threads"
    assert post(client, url, thread_form(client, scene), same).status_code == 303
    archive = tmp_path / "hocso.tar"
    create_backup(settings, archive, referenced_blobs=blobs_in_use)
    assert any(
        t.name == IdempotencyKey.__tablename__ and t.rows == 1
        for t in check_archive(archive).tables
    )

    target = settings.model_copy(
        update={
            "database_url": f"sqlite:///{tmp_path / 'restored.db'}",
            "data_dir": tmp_path / "restored",
            "storage": "local",
        }
    )
    restore_backup(target, archive, alembic_cfg=alembic_config(target))
    engine = make_engine(target)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            restored = [
                (r.scope, r.key, r.state, r.created_at, r.outcome)
                for r in session.scalars(select(IdempotencyKey))
            ]
    finally:
        engine.dispose()
    assert restored == [(r.scope, r.key, r.state, r.created_at, r.outcome) for r in keys(sessions)]


# --- At the same moment -------------------------------------------------------------------


@pytest.fixture
def server(app: FastAPI, committed: Engine) -> Iterator[str]:
    with live_server(app) as url:
        yield url


def test_a_copy_sent_while_the_first_is_running_gets_409_then_the_answer(
    server: str, scene: Scene, sessions: Sessions
) -> None:
    """The first request's body arrives in two halves with a pause between (a slow phone): its
    key is claimed from the headers, so a copy sent meanwhile is refused, not run."""
    with httpx.Client(base_url=server) as client:
        sign_in(client, scene.town.leader.email)
        same = key()
        url = f"/clubs/{scene.club_id}/threads"
        body = httpx.QueryParams(thread_form(client, scene)).__str__().encode()
        go = threading.Event()

        def slow_body() -> Iterator[bytes]:
            yield body[:10]
            assert go.wait(60), "never released"
            yield body[10:]

        headers = {
            "Idempotency-Key": same,
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(len(body)),
        }
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(
                client.post, url, content=slow_body(), headers=headers, follow_redirects=False
            )
            for _ in range(600):  # until the key is claimed (60 s at most)
                if keys(sessions) or first.done():
                    break
                threading.Event().wait(0.1)
            [row] = keys(sessions)
            assert row.state == KeyState.in_progress
            copy = client.post(url, content=body, headers=headers, follow_redirects=False)
            go.set()
            done = first.result(timeout=60)
        assert copy.status_code == 409
        assert copy.headers["retry-after"]
        assert done.status_code == 303, done.text
        later = client.post(url, content=body, headers=headers, follow_redirects=False)
        assert later.status_code == 303
        assert later.headers["location"] == done.headers["location"]
        assert later.headers["idempotent-replayed"] == "true"
    assert count(sessions, Thread) == 1


def test_many_copies_at_once_do_the_thing_once(
    server: str, scene: Scene, sessions: Sessions
) -> None:
    with httpx.Client(base_url=server) as client:
        sign_in(client, scene.town.leader.email)
        form = thread_form(client, scene)
        same = key()
        url = f"/clubs/{scene.club_id}/threads"
        start = threading.Barrier(8)

        def send(_: int) -> Any:
            start.wait(30)
            return post(client, url, form, same)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {303, 409}, statuses
    ran = [a for a in answers if a.status_code == 303 and "idempotent-replayed" not in a.headers]
    assert len(ran) == 1
    assert all(
        a.headers["location"] == ran[0].headers["location"] for a in answers if a.status_code == 303
    )
    assert count(sessions, Thread) == 1


# --- Which answers are remembered ---------------------------------------------------------


def cookie(name: str, value: str) -> tuple[str, str]:
    """A Set-Cookie header as Starlette writes it (quoting and escapes included)."""
    response = Response()
    response.set_cookie(name, value, httponly=True, samesite="lax")
    return ("set-cookie", response.headers["set-cookie"])


def flash_cookie(settings: Settings, *flashes: tuple[str, str]) -> tuple[str, str]:
    return cookie(FLASH_COOKIE, sign(settings, json.dumps([list(f) for f in flashes])))


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        (303, [], {"status": 303, "location": "/threads/7", "flashes": [["success", "Đã lưu."]]}),
        (302, [], {"status": 303, "location": "/threads/7", "flashes": [["success", "Đã lưu."]]}),
        (307, [], None),  # the browser would send the body again: not a finished form
        (200, [], None),
        (422, [], None),
    ],
)
def test_only_redirects_are_remembered(
    settings: Settings, status: int, extra: list[tuple[str, str]], expected: object
) -> None:
    headers = Headers(
        raw=[
            (k.encode(), v.encode())
            for k, v in [
                ("location", "/threads/7"),
                flash_cookie(settings, ("success", "Đã lưu.")),
                *extra,
            ]
        ]
    )
    assert remembered_outcome(status, headers, settings) == expected


def test_redirects_that_did_not_do_the_thing_are_not_remembered(settings: Settings) -> None:
    def outcome(*pairs: tuple[str, str]) -> object:
        headers = Headers(raw=[(k.encode(), v.encode()) for k, v in pairs])
        return remembered_outcome(303, headers, settings)

    assert (
        outcome(("location", "/clubs/1"), flash_cookie(settings, ("error", "Không được."))) is None
    )
    assert outcome(("location", "/login?next=%2Fclubs")) is None
    assert outcome(("location", "/"), cookie(SESSION_COOKIE, "abc")) is None
    assert outcome(("location", "/clubs/1")) == {
        "status": 303,
        "location": "/clubs/1",
        "flashes": [],
    }
    # A forged flash (wrong signature) is not carried into the stored outcome.
    forged = cookie(FLASH_COOKIE, json.dumps([["success", "x"]]) + "." + "0" * 32)
    assert outcome(("location", "/clubs/1"), forged) == {
        "status": 303,
        "location": "/clubs/1",
        "flashes": [],
    }
