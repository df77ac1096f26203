"""Every route of the app × every role answers what ``permission_matrix.MATRIX`` says.

The world (``permission_world``) is built once for the module inside a transaction that is
rolled back at the end; every request runs in a savepoint rolled back after it, so a request
that deletes, archives or publishes something changes nothing for the next one. Requests carry
the role's bearer token (API) or signed-in session cookie and CSRF token (pages)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response  # what this Starlette's TestClient answers
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import get_session
from app.core.security import unsign
from app.core.web import CSRF_COOKIE, FLASH_COOKIE, LANG_COOKIE, SESSION_COOKIE, is_api_path
from tests.security.permission_matrix import CAPABILITY_ROUTES, MATRIX, PRIVATE_PARAMS, Case
from tests.security.permission_world import (
    ACTORS,
    CSRF_SEED,
    DRAFT,
    ROLES,
    SECRET,
    MatrixWorld,
    build_matrix_world,
)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")
DENIED = frozenset({"401", "403", "404", "L"})


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app (HEAD aside; mounts aside)."""
    routes = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                routes.add((method, route.path))
    return routes


@dataclass
class Matrix:
    world: MatrixWorld
    client: TestClient
    connection: Connection
    settings: Settings

    @property
    def s3(self) -> bool:
        return self.settings.storage == "s3"


@pytest.fixture(scope="module")
def matrix(app: FastAPI, engine: Engine) -> Iterator[Matrix]:
    """The world, built once in a transaction rolled back after the module; the app's requests
    run on that transaction's connection."""
    connection = engine.connect()
    transaction = connection.begin()

    def _session(request: Request) -> Iterator[Session]:
        # One session per request, like the app's: a request with two session dependencies
        # (the exports' streaming one and the user's) would otherwise interleave savepoints.
        shared: Session | None = getattr(request.state, "matrix_session", None)
        if shared is not None:
            yield shared
            shared.commit()
            return
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        request.state.matrix_session = session
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    seed = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        world = build_matrix_world(seed, app.state.settings, app.state.blob_store)
        seed.commit()
        seed.close()
        app.dependency_overrides[get_session] = _session
        with TestClient(app, base_url="http://testserver") as client:
            yield Matrix(world, client, connection, app.state.settings)
    finally:
        app.dependency_overrides.pop(get_session, None)
        seed.close()
        transaction.rollback()
        connection.close()


@contextmanager
def rolled_back(m: Matrix) -> Iterator[None]:
    """A request in a savepoint rolled back afterwards: what it changes, nobody else sees."""
    savepoint = m.connection.begin_nested()
    try:
        yield
    finally:
        if savepoint.is_active:
            savepoint.rollback()


def fill(path: str, ids: Mapping[str, Any], overrides: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        key = overrides.get(name, name)
        return key[1:] if key.startswith("=") else str(ids[key])

    return PARAM.sub(value, path)


def request(
    m: Matrix, role: str, method: str, path: str, case: Case, *, scope: str | None = None
) -> Response:
    """``role``'s request; on the objects of ``scope`` ("own": school A's, "other": school B's)
    when given, else on those of the role's column."""
    ids = m.world.ids[scope] if scope else m.world.scope(role)
    send = case.send
    url = fill(path, ids, send.ids)
    api = is_api_path(path)
    headers: dict[str, str] = {}
    m.client.cookies.clear()
    m.client.cookies.set(CSRF_COOKIE, CSRF_SEED)
    m.client.cookies.set(LANG_COOKIE, "en")
    actor = ACTORS[role]
    if actor is not None:
        if api:
            headers["Authorization"] = f"Bearer {m.world.actors[actor].token}"
        else:
            m.client.cookies.set(SESSION_COOKIE, m.world.actors[actor].cookie)
    if method in UNSAFE and not api:
        headers["X-CSRF-Token"] = m.world.csrf
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if send.query is not None:
        kwargs["params"] = send.query(ids)
    if send.json is not None:
        kwargs["content"] = json.dumps(send.json(ids))
        headers["Content-Type"] = "application/json"
    if send.form is not None:
        kwargs["data"] = send.form(ids)
    if send.files is not None:
        kwargs["files"] = send.files(ids)
    return m.client.request(method, url, **kwargs)


def flash_levels(response: Response, settings: Settings) -> list[str]:
    """The levels of the flash messages the response sets ("success", "error", ...)."""
    levels: list[str] = []
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if FLASH_COOKIE in cookie and cookie[FLASH_COOKIE].value:
            value = unsign(settings, cookie[FLASH_COOKIE].value)
            levels += [level for level, _message in json.loads(value)] if value else ["?"]
    return levels


def cell(response: Response, m: Matrix) -> str:
    """The response as a cell of the table (see permission_matrix)."""
    status = response.status_code
    if status == 303:
        location = response.headers.get("location", "")
        if location.startswith("/login"):
            return "L"
        return "R!" if "error" in flash_levels(response, m.settings) else "R"
    return str(status)


TEXT_TYPES = ("text/", "application/json", "application/problem+json")


def readable(response: Response) -> str:
    """The body when it is text (pages, JSON, CSV, calendars); "" for binary downloads."""
    media_type = response.headers.get("content-type", "")
    return response.text if media_type.startswith(TEXT_TYPES) else ""


def matches(expected: str, got: str, m: Matrix) -> bool:
    if expected == "F":
        return got == ("307" if m.s3 else "200")
    return expected == got


def route_params(path: str, case: Case) -> set[str]:
    """The world keys the route's path parameters are filled from."""
    return {case.send.ids.get(name, name) for name in PARAM.findall(path)}


def row(method: str, path: str, cells: list[str]) -> str:
    """A line of permission_matrix.TABLE."""
    return f"{method:<7}{path:<63}" + " ".join(f"{c:<3}" for c in cells).rstrip()


@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(*key, id=" ".join(key)) for key in MATRIX]
)
def test_route_answers_each_role_as_the_table_says(matrix: Matrix, method: str, path: str) -> None:
    case = MATRIX[(method, path)]
    got_row: list[str] = []
    wrong: list[str] = []
    for role, expected in zip(ROLES, case.expect, strict=True):
        with rolled_back(matrix):
            response = request(matrix, role, method, path, case)
        got = cell(response, matrix)
        got_row.append(got)
        if not matches(expected, got, matrix):
            wrong.append(f"{role}: expected {expected}, got {got}: {response.text[:200]}")
        if (
            role != "admin"
            and (method, path) not in CAPABILITY_ROUTES
            and SECRET in readable(response)
        ):
            wrong.append(f"{role}: the answer shows school B's private data ({SECRET})")
        if role not in ("author", "admin") and DRAFT in readable(response):
            wrong.append(f"{role}: the answer shows an unpublished version ({DRAFT})")
    assert not wrong, "\n".join([*wrong, "answered: " + row(method, path, got_row)])


# School A's events and clubs are open to the people of school A by design (see, register,
# join); every other object behind these parameters belongs to one person, a club's members or
# the school's managers.
SCHOOL_WIDE = frozenset({"event_id", "club_id"})
SCHOOLMATE_ROUTES = [
    pytest.param(*key, id=" ".join(key))
    for key, case in MATRIX.items()
    if route_params(key[1], case) & PRIVATE_PARAMS - SCHOOL_WIDE
]


@pytest.mark.parametrize(("method", "path"), SCHOOLMATE_ROUTES)
def test_a_schoolmates_objects_are_not_reachable(matrix: Matrix, method: str, path: str) -> None:
    """A student and a teacher of school A, on the attempts, entries, awards, reports, club
    threads and accounts of other people of their own school: refused like strangers (a page
    form may say so in a message on the page it returns to: ``R!``)."""
    case = MATRIX[(method, path)]
    for role in ("student", "teacher"):
        with rolled_back(matrix):
            response = request(matrix, role, method, path, case, scope="own")
        assert cell(response, matrix) in ("403", "404", "R!"), (
            f"{role}: {response.status_code} {response.text[:200]}"
        )


@pytest.mark.parametrize(
    ("path", "nobody"),
    [
        ("/api/v1/users/import", '"created":0'),
        ("/api/v1/courses/{course_id}/enrollments/import", '"enrolled":0'),
    ],
)
def test_imports_refuse_other_schools_line_by_line(matrix: Matrix, path: str, nobody: str) -> None:
    """The two imports where the table has 200 for the manager of A on school B: the line for
    school B is refused and nobody is created or enrolled."""
    with rolled_back(matrix):
        response = request(matrix, "manager_other", "POST", path, MATRIX[("POST", path)])
    assert response.status_code == 200
    assert nobody in response.text.replace(" ", "")
    errors = response.json()["errors"]
    assert [e["line"] for e in errors] == [2], errors


def test_every_route_has_a_row(app: FastAPI) -> None:
    """A new route fails here until the table says who may use it."""
    routes = app_routes(app)
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing, (
        f"routes without a line in permission_matrix.TABLE: {missing}; add one (with what to "
        "send in REQUESTS if it needs a body): the matrix test then prints what it answers"
    )
    assert not stale, f"lines of permission_matrix.TABLE for routes that do not exist: {stale}"


def test_no_private_object_is_reachable() -> None:
    """No one reaches, by id, an object of another school or user: on every route whose path
    names one, the table answers every role but the administrator (and the manager of A on
    school A's own objects) 401, 403, 404 or the sign-in page."""
    leaks = []
    for (method, path), case in MATRIX.items():
        if not route_params(path, case) & PRIVATE_PARAMS:
            continue
        for role in ROLES:
            if role in ("manager_own", "admin"):
                continue
            expected = case.expect[ROLES.index(role)]
            if expected not in DENIED:
                leaks.append(f"{method} {path} [{role}]: {expected}")
    assert not leaks, leaks
