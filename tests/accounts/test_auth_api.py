"""Sign-in, tokens and throttling through the API."""

from __future__ import annotations

from datetime import timedelta

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.models import LoginFailure, User
from app.core.config import Settings
from app.core.db import utcnow
from app.core.security import hash_password
from tests.factories import PASSWORD, make_user


def token_for(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_sign_in_returns_a_bearer_token_that_works(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings, email="Co.Giao@Truong.edu.vn")
    response = client.post(
        "/api/v1/auth/token", data={"username": "co.giao@truong.edu.vn", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user.id
    assert db.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]


def test_wrong_password_and_unknown_email_are_the_same_401(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    wrong = client.post("/api/v1/auth/token", data={"username": user.email, "password": "nope"})
    unknown = client.post(
        "/api/v1/auth/token", data={"username": "ghost@truong.edu.vn", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"] == "not_authenticated"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_missing_form_fields_are_422(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "a@b.vn"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


def test_inactive_user_cannot_sign_in(client: TestClient, db: Session, settings: Settings) -> None:
    user = make_user(db, settings, is_active=False)
    response = client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 401


def test_account_is_throttled_after_repeated_failures_then_recovers(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    for _ in range(settings.login_max_failures_per_account):
        bad = client.post("/api/v1/auth/token", data={"username": user.email, "password": "x"})
        assert bad.status_code == 401
    # Even the right password is refused while throttled, with a Retry-After.
    throttled = client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": PASSWORD}
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "too_many_requests"
    retry = int(throttled.headers["Retry-After"])
    assert 0 < retry <= settings.login_window_seconds
    # No permanent lock-out: once the window has passed, the account signs in again.
    db.execute(
        update(LoginFailure).values(
            failed_at=utcnow() - timedelta(seconds=settings.login_window_seconds + 1)
        )
    )
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": user.email, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_one_address_is_throttled_across_accounts(
    client: TestClient, db: Session, settings: Settings
) -> None:
    for i in range(settings.login_max_failures_per_ip):
        client.post(
            "/api/v1/auth/token", data={"username": f"spray{i}@truong.edu.vn", "password": "x"}
        )
    user = make_user(db, settings)
    response = client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_failures_are_recorded_even_though_the_request_fails(
    live_client: TestClient, committed: object, settings: Settings, app: object
) -> None:
    # Real commits (no test transaction): the 401 must not roll the failure record back.
    response = live_client.post(
        "/api/v1/auth/token", data={"username": "nobody@truong.edu.vn", "password": "x"}
    )
    assert response.status_code == 401
    with live_client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        keys = session.scalars(select(LoginFailure.key)).all()
    assert "nobody@truong.edu.vn" in keys


def test_missing_forged_and_expired_tokens_are_401(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").headers["WWW-Authenticate"] == "Bearer"
    forged = jwt.encode(
        {"sub": str(user.id), "ver": 0, "iat": 0, "exp": 4102444800, "typ": "access"},
        "not-the-key-but-long-enough-to-pass-32-bytes",
        algorithm="HS256",
    )
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    )
    now = int(utcnow().timestamp())
    expired = jwt.encode(
        {"sub": str(user.id), "ver": 0, "iat": now - 7200, "exp": now - 3600, "typ": "access"},
        settings.secret_key,
        algorithm="HS256",
    )
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_changing_the_password_revokes_older_tokens(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    headers = token_for(client, user.email)
    wrong = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": "wrong-one", "new_password": "Moi-2026-abc"},
    )
    assert wrong.status_code == 422
    short = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422
    ok = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "Moi-2026-abc"},
    )
    assert ok.status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert (
        client.get("/api/v1/me", headers=token_for(client, user.email, "Moi-2026-abc")).status_code
        == 200
    )


def test_password_is_rehashed_when_the_parameters_change(
    client: TestClient, db: Session, settings: Settings
) -> None:
    weak = settings.model_copy(update={"argon2_time_cost": 1, "argon2_memory_kib": 8192})
    user = make_user(db, settings, password=None)
    user.password_hash = hash_password(weak, PASSWORD)
    db.flush()
    old_hash = user.password_hash
    token_for(client, user.email)
    db.refresh(user)
    assert user.password_hash != old_hash
    assert "m=19456,t=2,p=1" in (user.password_hash or "")
    assert user.password_hash.startswith("$argon2id$")  # type: ignore[union-attr]
