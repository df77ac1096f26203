"""Whole-API fuzzing with schemathesis (issue #7, item 1).

Every operation of the app's OpenAPI schema (loaded in-process from ``/openapi.json``) gets
generated requests, valid and invalid ones (schemathesis' positive and negative modes), plus
extreme values mixed into JSON bodies and query strings (NUL characters, lone surrogates, huge
and negative integers, 1e308, far-off dates, long strings). Each generated request is sent once
as every role: anonymous, student, teacher, author, school manager and admin (bearer tokens
from ``POST /api/v1/auth/token``). Each answer must:

* not be a server error (no 5xx);
* have a documented status code, a documented content type, and a body and headers that match
  the schema for that status (``{"error", "detail"}`` for the errors, see app/core/openapi.py);
* not be a success for an anonymous request to an operation that declares bearer security.

The requests run in-process (schemathesis' ASGI client) inside the test's rolled-back
transaction: the ``client`` fixture's override of ``get_session`` applies to the app, so what
the fuzzer creates disappears at the end. A seeded world (a published course with three
lessons, a draft course, library items, an event with a registration, a partner, a club with a
join request, a thread and posts, a contest with a judge, an entry and its file, an award, a
periodic report, a certificate, a calendar feed) gives the fuzzer real ids: path parameters are
drawn from the seeded ids half of the time, so requests reach real objects and not only 404s.
The role users are put back (active, same role, school, password and token) after each
operation, so that an admin's fuzzed ``PATCH /users/{id}`` does not sign the others out.

Size: ``HOCSO_FUZZ_EXAMPLES`` generated requests per operation (each sent as all six roles).
``make test`` runs the default (3 on SQLite, 2 on PostgreSQL, whose round trips are slower);
``make fuzz`` runs 100. ``HOCSO_FUZZ_SEED`` fixes the random seed (default: a fixed seed in
``make test`` so CI is reproducible, a fresh one in ``make fuzz``, printed on failure).

Excluded operations: none. The streamed uploads (``POST /content/{id}/versions``,
``POST /entries/{id}/files``, the CSV imports) are fuzzed too, with the small multipart bodies
schemathesis generates; only the extreme-value mutation skips multipart and form bodies (their
encoders cannot carry lone surrogates). ``EXCLUDED`` below is where an operation would be
listed, with the reason, if one ever had to be left out.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

import hypothesis
import pytest
import schemathesis
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.config import Settings
from tests.accounts.test_auth_api import token_for
from tests.factories import make_user
from tests.lcms import samples
from tests.lms.helpers import build_world, published_item
from tests.lms.test_learning import answers_for

ROLES = ("anonymous", "student", "teacher", "author", "school_manager", "admin")
_PG = os.environ.get("HOCSO_TEST_DB", "sqlite").startswith("postgresql")
EXAMPLES = int(os.environ.get("HOCSO_FUZZ_EXAMPLES") or (2 if _PG else 3))
# A fixed seed unless told otherwise: CI replays the same requests; make fuzz draws a new one.
SEED = int(os.environ.get("HOCSO_FUZZ_SEED", "20260707") or random.randrange(2**32))

# Operations left out, as "METHOD /path": reason. Empty: every operation is fuzzed.
EXCLUDED: dict[str, str] = {}

CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]
# Not negative_data_rejection ("invalid input must be a 4xx"): tried, it only reported what
# pydantic accepts on purpose (a Unix time for a date, a title over its maximum length before
# the surrounding spaces are stripped, unknown query parameters ignored) and cases that the
# hooks below had made valid again (a seeded id in place of an invalid one).

# Extreme values of each JSON type, mixed into bodies and query strings.
NASTY_STRINGS = ["\x00", "a\x00b", "\U0001f600" * 3, "\u202e\u0000", "x" * 70_000, " ", "%00"]
NASTY_SURROGATES = ["\ud800", "a\udfffb"]  # JSON can carry them; UTF-8 cannot
NASTY_INTEGERS = [2**63, -(2**63) - 1, 2**31, -1, 0, 10**30]
NASTY_NUMBERS = [1e308, -1e308, 5e-324, -0.0, 2.0**53 + 1]
NASTY_DATES = [
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59+23:59",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30T00:00:00Z",
]


@dataclass
class Seeded:
    """Ids of the seeded objects, by path parameter name, and the role users' tokens."""

    ids: dict[str, list[Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    restore: Callable[[], None] = lambda: None


_seeded = Seeded()  # read by the schema hooks, filled by the fixture


# --- The schema and its hooks ------------------------------------------------------------


def _nasty_for(value: Any, *, surrogates: bool) -> st.SearchStrategy[Any]:
    if isinstance(value, bool) or value is None:
        return st.sampled_from([None, True, "", 0])
    if isinstance(value, int):
        return st.sampled_from(NASTY_INTEGERS)
    if isinstance(value, float):
        return st.sampled_from(NASTY_NUMBERS)
    if isinstance(value, str):
        choices = NASTY_STRINGS + NASTY_DATES + (NASTY_SURROGATES if surrogates else [])
        return st.sampled_from(choices)
    if isinstance(value, list):
        return st.sampled_from([[], [None], [2**63], ["\x00"], list(range(6000))])
    return st.sampled_from([{}, None])


def _mutated(container: dict[str, Any], *, surrogates: bool) -> st.SearchStrategy[dict[str, Any]]:
    """The dict with one value replaced by an extreme value of the same JSON type."""
    if not container:
        return st.just(container)
    keys = sorted(container)

    def replace(key: str) -> st.SearchStrategy[dict[str, Any]]:
        nasty = _nasty_for(container[key], surrogates=surrogates)
        return nasty.map(lambda value: {**container, key: value})

    return st.sampled_from(keys).flatmap(replace)


def _json_body(operation: Any) -> bool:
    body = operation.definition.raw.get("requestBody", {})
    return list(body.get("content", {})) == ["application/json"]


@pytest.fixture(scope="session")
def api_schema(app: FastAPI) -> OpenApiSchema:
    config = schemathesis.Config.from_dict(
        {
            "generation": {
                "database": "none",  # no example database written into the repository
                "with-security-parameters": False,  # the test sends each role's token itself
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        # Half of the time, ids of seeded objects: the fuzzer reaches real rows.
        real = {n: _seeded.ids[n] for n in path_parameters or {} if _seeded.ids.get(n)}
        if not real:
            return st.just(path_parameters)
        seeded = st.fixed_dictionaries({n: st.sampled_from(v) for n, v in real.items()})
        return st.one_of(
            st.just(path_parameters), seeded.map(lambda ids: {**(path_parameters or {}), **ids})
        )

    @schema.hook
    def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
        if not isinstance(query, dict) or not query:
            return st.just(query)
        return st.one_of(st.just(query), _mutated(query, surrogates=False))

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        if not isinstance(body, dict) or not body or not _json_body(context.operation):
            return st.just(body)
        return st.one_of(st.just(body), _mutated(body, surrogates=True))

    return schema


@pytest.fixture(scope="session")
def asgi_client(app: FastAPI) -> Iterator[asgi.ASGIClient]:
    with asgi.get_client(cast(Any, app)) as session:
        session.trust_env = False  # no proxy lookups from the environment on every request
        yield session


# --- The seeded world --------------------------------------------------------------------


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json() if response.content else None


@pytest.fixture
def seeded(client: TestClient, db: Session, settings: Settings) -> Iterator[Seeded]:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    world = build_world(db, settings, store)
    commune_id = world.school.parent_id
    assert commune_id is not None
    pdf = published_item(
        db,
        store,
        world.author,
        title="Tài liệu",
        data=samples.pdf(),
        kind="document",
        media_type="application/pdf",
    )
    targets = [
        make_user(db, settings, role="teacher", organization=world.school),
        make_user(db, settings, role="student", organization=world.school),
    ]
    people: dict[str, User] = {
        "student": world.student,
        "teacher": world.teacher,
        "author": world.author,
        "school_manager": world.manager,
        "admin": world.admin,
    }
    h = {role: token_for(client, user.email) for role, user in people.items()}
    now = datetime.now(UTC)

    # Learning: the teacher completes the course (a certificate) and keeps an open attempt.
    c = f"/api/v1/courses/{world.course.id}"
    _ok(client.post(f"{c}/enroll", headers=h["teacher"]))
    for lesson in (world.video, world.doc):
        _ok(
            client.post(
                f"/api/v1/lessons/{lesson.id}/progress",
                headers=h["teacher"],
                json={"event_id": str(uuid.uuid4()), "status": "completed", "percent": 100},
            )
        )
    attempt = _ok(
        client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=h["teacher"]), 201
    )
    answers = answers_for(attempt, right=True)
    submit = f"/api/v1/attempts/{attempt['id']}/submit"
    assert _ok(client.post(submit, headers=h["teacher"], json={"answers": answers}))["passed"]
    open_attempt = _ok(
        client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=h["teacher"]), 201
    )
    draft = _ok(
        client.post("/api/v1/courses", headers=h["author"], json={"title": "Bản nháp"}), 201
    )
    module = _ok(
        client.post(
            f"/api/v1/courses/{draft['id']}/modules", headers=h["author"], json={"title": "HP"}
        ),
        201,
    )
    certificates = _ok(client.get("/api/v1/me/certificates", headers=h["teacher"]))["items"]

    # Community: an event with a registration, a partner, a club, a contest, an award.
    event = _ok(
        client.post(
            "/api/v1/events",
            headers=h["school_manager"],
            json={
                "title": "Hội thảo chuyển đổi số",
                "kind": "seminar",
                "starts_at": (now - timedelta(minutes=10)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
                "organization_id": world.school.id,
            },
        ),
        201,
    )
    _ok(client.post(f"/api/v1/events/{event['id']}/register", headers=h["teacher"]), 201)
    feed = _ok(client.post("/api/v1/me/calendar-feed", headers=h["teacher"]))
    partner = _ok(
        client.post(
            "/api/v1/partners", headers=h["admin"], json={"name": "Sở GD", "kind": "agency"}
        ),
        201,
    )
    club = _ok(
        client.post(
            "/api/v1/clubs",
            headers=h["teacher"],
            json={"name": "CLB Robot", "organization_id": world.school.id},
        ),
        201,
    )
    join = _ok(client.post(f"/api/v1/clubs/{club['id']}/join", headers=h["school_manager"]), 201)
    thread = _ok(
        client.post(
            f"/api/v1/clubs/{club['id']}/threads",
            headers=h["teacher"],
            json={"title": "Ý tưởng STEM", "body": "Xin chào"},
        ),
        201,
    )
    post = _ok(
        client.post(
            f"/api/v1/threads/{thread['id']}/posts", headers=h["teacher"], json={"body": "Hi"}
        ),
        201,
    )
    contest = _ok(
        client.post(
            "/api/v1/contests",
            headers=h["admin"],
            json={
                "title": "Ý tưởng sáng tạo STEM",
                "kind": "stem",
                "opens_at": (now - timedelta(days=1)).isoformat(),
                "closes_at": (now + timedelta(days=7)).isoformat(),
                "levels": ["primary"],
                "criteria": [{"name": "Sáng tạo", "weight": 1, "max_score": 10}],
                "organization_id": commune_id,
            },
        ),
        201,
    )
    _ok(
        client.post(
            f"/api/v1/contests/{contest['id']}/judges",
            headers=h["admin"],
            json={"user_id": world.outsider.id},
        ),
        201,
    )
    entry = _ok(
        client.post(
            f"/api/v1/contests/{contest['id']}/entries",
            headers=h["student"],
            json={"title": "Robot tưới cây"},
        ),
        201,
    )
    entry_file = _ok(
        client.post(
            f"/api/v1/entries/{entry['id']}/files",
            headers=h["student"],
            files={"file": ("bai.pdf", samples.pdf(), "application/pdf")},
        ),
        201,
    )
    award = _ok(
        client.post(
            "/api/v1/awards",
            headers=h["admin"],
            json={
                "title": "Giấy khen",
                "reason": "Thành tích tốt",
                "awarded_at": now.isoformat(),
                "user_id": world.student.id,
            },
        ),
        201,
    )
    track = _ok(
        client.post(
            f"/api/v1/content/{world.item.id}/versions/1/tracks",
            headers=h["author"],
            data={"kind": "captions", "language": "vi"},
            files={
                "file": ("vi.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nXin chao\n", "text/vtt")
            },
        ),
        201,
    )
    report = _ok(
        client.post(
            "/api/v1/reports/periodic",
            headers=h["school_manager"],
            json={"organization_id": world.school.id, "period": "2026-Q4"},
        ),
        201,
    )

    ids: dict[str, list[Any]] = {
        "organization_id": [world.school.id, world.other_school.id, commune_id],
        "user_id": [u.id for u in (*people.values(), *targets, world.outsider)],
        "item_id": [world.item.id, pdf.id],
        "number": [1],
        "course_id": [world.course.id, draft["id"]],
        "module_id": [world.video.module_id, module["id"]],
        "lesson_id": [world.video.id, world.doc.id, world.quiz.id],
        "attempt_id": [attempt["id"], open_attempt["id"]],
        "code": [c["code"] for c in certificates],
        "event_id": [event["id"]],
        "token": [feed["url"].rsplit("/", 1)[-1].removesuffix(".ics")],
        "partner_id": [partner["id"]],
        "report_id": [report["id"]],
        "club_id": [club["id"]],
        "request_id": [join["id"]],
        "thread_id": [thread["id"]],
        "post_id": [post["id"]],
        "contest_id": [contest["id"]],
        "entry_id": [entry["id"]],
        "file_id": [entry_file["id"]],
        "award_id": [award["id"]],
        "track_id": [track["id"]],
    }
    assert all(ids.values()), ids

    columns = ("is_active", "role", "organization_id", "password_hash", "token_version")
    snapshot = {
        user.id: {name: getattr(user, name) for name in columns} for user in people.values()
    }

    def restore() -> None:
        """Put the role users back as they were (a fuzzed admin may have changed them)."""
        db.rollback()  # leave any half-done request state behind
        for user in people.values():
            db.refresh(user)
            for name, value in snapshot[user.id].items():
                setattr(user, name, value)
        db.commit()

    _seeded.ids, _seeded.headers, _seeded.restore = ids, {"anonymous": {}, **h}, restore
    yield _seeded
    _seeded.ids, _seeded.headers, _seeded.restore = {}, {}, lambda: None


# --- The test ----------------------------------------------------------------------------


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any],
    session: asgi.ASGIClient,
    failures: dict[tuple[str, str, str], str],
    examples: int = EXAMPLES,
) -> None:
    """Up to ``examples`` generated requests, each sent as every role; findings go to ``failures``
    (one per operation, role and kind of failure) instead of stopping the run."""
    secured = bool(operation.definition.raw.get("security"))  # then anonymous gets no 2xx
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.generate],  # no shrinking: every finding is reported as found
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: Case[Any]) -> None:
        for role in ROLES:
            session.cookies.clear()  # the API is cookie-free: no state between requests
            try:
                response = case.call(session=session, headers=_seeded.headers[role])
                case.validate_response(response, checks=CHECKS)
                if role == "anonymous" and secured and response.status_code < 300:
                    key = (operation.label, role, "no-auth")
                    failures.setdefault(
                        key, f"{operation.label}: {response.status_code} without a token\n{case!r}"
                    )
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = (operation.label, role, getattr(failure, "code", type(failure).__name__))
                    failures.setdefault(key, f"{operation.label} as {role}: {group}")
            except Exception as exc:  # the app raised through the server instead of answering
                key = (operation.label, role, type(exc).__name__)
                failures.setdefault(key, f"{operation.label} as {role}: {exc!r}\n{case!r}")

    hypothesis.seed(SEED)(run)()


def test_every_operation_as_every_role(
    api_schema: OpenApiSchema, seeded: Seeded, asgi_client: asgi.ASGIClient
) -> None:
    load_all_checks()
    failures: dict[tuple[str, str, str], str] = {}
    labels = []
    for result in api_schema.get_all_operations():
        if not isinstance(result, Ok):
            failures[(str(result.err()), "", "schema")] = f"invalid schema: {result.err()}"
            continue
        operation = result.ok()
        labels.append(operation.label)
        if operation.label in EXCLUDED:
            continue
        _fuzz(operation, asgi_client, failures)
        seeded.restore()
    assert len(labels) > 100, "the schema lost its operations"
    assert set(EXCLUDED) <= set(labels), "an excluded operation no longer exists"
    assert not failures, f"{len(failures)} findings (seed {SEED}):\n\n" + "\n\n".join(
        failures.values()
    )


_BEARER = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


def test_the_fuzzer_reports_server_errors_and_answers_off_the_schema() -> None:
    """The harness itself: a 500, an undocumented status and a secured operation that answers
    without a token are findings, not passes."""
    mini = FastAPI()

    @mini.get("/api/v1/open-door")
    def open_door(token: Annotated[str | None, Depends(_BEARER)]) -> dict[str, bool]:
        return {"open": True}  # never checks the token

    @mini.get("/api/v1/things/{thing_id}", responses={404: {"description": "No such thing"}})
    def thing(thing_id: int) -> JSONResponse:
        return JSONResponse({"id": thing_id}, status_code=500 if thing_id % 2 else 418)

    schema = schemathesis.openapi.from_asgi("/openapi.json", mini)
    headers, _seeded.headers = _seeded.headers, {role: {} for role in ROLES}
    failures: dict[tuple[str, str, str], str] = {}
    try:
        with asgi.get_client(cast(Any, mini)) as session:
            for result in schema.get_all_operations():
                assert isinstance(result, Ok)
                _fuzz(result.ok(), session, failures, examples=20)
    finally:
        _seeded.headers = headers
    kinds = {kind for _label, _role, kind in failures}
    assert {"ST101", "ST103", "no-auth"} <= kinds, failures
