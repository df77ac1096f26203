"""Hot-path SQL on the DBAPI cursor (app.core.rawsql): the same values as the ORM, inside the
session's unit of work, through the connection's events and error handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Boolean, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.core import rawsql
from app.core.config import Settings
from app.core.db import NulInText, UTCDateTime
from tests.factories import make_user

_TIME = UTCDateTime()
_USER = rawsql.Query(
    "SELECT email, is_active, last_login_at FROM accounts_user WHERE id = :id",
    results=(None, Boolean(), _TIME),
)
_TOUCH = rawsql.Query(
    "UPDATE accounts_user SET last_login_at = :at, is_active = :active WHERE id = :id",
    binds={"at": _TIME, "active": Boolean()},
)


def test_values_are_the_ones_the_orm_reads_and_writes(db: Session, settings: Settings) -> None:
    user = make_user(db, settings, password=None)
    # Written by the ORM, read here.
    at = datetime(2026, 3, 1, 1, 2, 3, 456789, tzinfo=UTC)
    user.last_login_at = at
    db.flush()
    assert rawsql.first(db, _USER, id=user.id) == (user.email, True, at)
    # Written here (from another time zone), read by the ORM.
    later = datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(hours=7)
    local = later.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert rawsql.run(db, _TOUCH, at=local, active=False, id=user.id) == 1
    db.expire(user)
    assert (user.last_login_at, user.is_active) == (later, False)
    assert user.last_login_at.tzinfo is not None
    row = rawsql.first(db, _USER, id=user.id)
    assert row is not None
    assert row[1:] == (False, later)
    assert rawsql.first(db, _USER, id=-1) is None
    assert rawsql.rows(db, _USER, id=-1) == []


def test_null_cells_are_not_passed_to_converters(db: Session, settings: Settings) -> None:
    """A list of rows with empty cells (a head row beside rows of another shape, as the course
    page reads them): NULL stays None without a converter call per empty cell."""
    at = datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC)
    users = [make_user(db, settings, password=None) for _ in range(2)]
    users[0].last_login_at = at
    db.flush()
    calls: list[object] = []

    class Counted(UTCDateTime):
        def result_processor(self, dialect: Any, coltype: Any) -> Any:
            convert = super().result_processor(dialect, coltype)

            def process(value: Any) -> Any:
                calls.append(value)
                return convert(value)

            return process

    time_type = Counted()
    query = rawsql.Query(
        """SELECT id, last_login_at FROM accounts_user WHERE id IN (:a, :b)
        UNION ALL SELECT NULL, NULL""",
        results=(None, time_type),
    )
    found = rawsql.rows(db, query, a=users[0].id, b=users[1].id)
    expected = [(None, None), (users[0].id, at), (users[1].id, None)]
    assert sorted(found, key=lambda row: row[0] or 0) == expected
    assert len(calls) == 1  # the one time, not the two NULLs


def test_pending_orm_changes_are_seen(db: Session) -> None:
    db.add(Organization(name="Trường chưa ghi", kind="commune"))  # not flushed yet
    query = rawsql.Query("SELECT count(*) FROM accounts_organization WHERE name = :name")
    assert rawsql.rows(db, query, name="Trường chưa ghi") == [(1,)]


def test_statements_go_through_the_connection_events(db: Session, settings: Settings) -> None:
    user = make_user(db, settings, password=None)
    seen: list[str] = []

    def on_execute(*args: object) -> None:
        seen.append(str(args[2]))

    bind = db.connection()
    event.listen(bind, "before_cursor_execute", on_execute)
    try:
        rawsql.first(db, _USER, id=user.id)
    finally:
        event.remove(bind, "before_cursor_execute", on_execute)
    assert len(seen) == 1
    assert seen[0].startswith("SELECT email, is_active")
    # The NUL refusal listens there too: refused alike on SQLite and PostgreSQL.
    query = rawsql.Query("SELECT id FROM accounts_user WHERE email = :email")
    with pytest.raises(NulInText):
        rawsql.first(db, query, email="a\x00b")


def test_database_errors_are_wrapped_as_sqlalchemy_does(db: Session, settings: Settings) -> None:
    first = make_user(db, settings, password=None)
    second = make_user(db, settings, password=None)
    query = rawsql.Query("UPDATE accounts_user SET email = :email WHERE id = :id")
    with pytest.raises(IntegrityError), db.begin_nested():
        rawsql.run(db, query, email=first.email, id=second.id)
    # The session goes on after the savepoint's rollback.
    assert db.scalar(select(User.email).where(User.id == second.id)) == second.email


def test_parameters_take_each_drivers_style() -> None:
    query = rawsql.Query(
        "SELECT :a, '5%', CAST(:b AS TEXT), 1::integer, 'x:y' WHERE :a > 0",
        variants={"sqlite": "SELECT :a"},
    )
    pg = query.compiled(postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    assert pg.sql == "SELECT %(a)s, '5%%', CAST(%(b)s AS TEXT), 1::integer, 'x:y' WHERE %(a)s > 0"
    assert query.compiled(sqlite.pysqlite.dialect()).sql == "SELECT :a"
