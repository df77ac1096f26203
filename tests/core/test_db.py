"""The database helpers: SQLite's in-process writer lock and INSERT .. ON CONFLICT DO NOTHING."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.core.config import Settings
from app.core.db import (
    SQLITE_IMMEDIATE,
    _has_nul,
    insert_ignore,
    make_engine,
    sqlite_write_lock,
)
from app.lms.models import ProgressEvent
from tests.lms.helpers import build_world


def sqlite_engine(tmp_path: Path, settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/t.db"}))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    return engine


def test_writers_hold_the_lock_only_inside_their_transaction(
    tmp_path: Path, settings: Settings
) -> None:
    engine = sqlite_engine(tmp_path, settings)
    lock = sqlite_write_lock(engine)
    assert lock is not None
    assert not lock.locked()
    writer = engine.connect().execution_options(**{SQLITE_IMMEDIATE: True})
    with writer.begin():
        writer.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert lock.locked()
    assert not lock.locked()  # committed

    transaction = writer.begin()
    assert lock.locked()
    with pytest.raises(OperationalError):
        writer.execute(text("INSERT INTO nowhere VALUES (1)"))
    transaction.rollback()
    assert not lock.locked()  # rolled back by the error

    reader = engine.connect()
    with reader.begin():
        reader.execute(text("SELECT count(*) FROM t"))
        assert not lock.locked()  # readers never take it
    writer.close()
    reader.close()
    engine.dispose()


def test_queued_writers_all_commit(tmp_path: Path, settings: Settings) -> None:
    """Twenty threads write at once: each waits its turn on the lock, none is refused."""
    engine = sqlite_engine(tmp_path, settings)
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def write(i: int) -> None:
        try:
            barrier.wait()
            conn = engine.connect().execution_options(**{SQLITE_IMMEDIATE: True})
            with conn, conn.begin():
                conn.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": f"w{i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 20
    assert not sqlite_write_lock(engine).locked()  # type: ignore[union-attr]
    engine.dispose()


def test_insert_ignore_reports_whether_it_inserted(
    db: Session, settings: Settings, app: FastAPI
) -> None:
    world = build_world(db, settings, app.state.blob_store)
    event = {
        "event_id": str(uuid.uuid4()),
        "user_id": world.teacher.id,
        "lesson_id": world.video.id,
    }
    assert insert_ignore(db, ProgressEvent, **event) is True
    assert insert_ignore(db, ProgressEvent, **event) is False  # the same key: nothing happens
    assert db.scalar(select(func.count()).select_from(ProgressEvent)) == 1


@pytest.mark.skipif(
    os.environ.get("HOCSO_TEST_DB") != "postgresql",
    reason="the pre-ping is PostgreSQL's (HOCSO_TEST_DB=postgresql)",
)
def test_pooled_connections_are_pinged_only_after_sitting_idle(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from app.core import db

    pings: list[object] = []
    original = PGDialect_psycopg.do_ping

    def counted(self: Any, dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return bool(original(self, dbapi_connection))  # type: ignore[no-untyped-call]

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counted)
    engine = make_engine(settings)
    assert engine.pool.size() >= 1  # type: ignore[attr-defined]

    def backend() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def kill(pid: int) -> None:
        with create_engine(settings.database_url, poolclass=NullPool).connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()

    try:
        pid = backend()  # a new connection: SQLAlchemy never pings one
        assert backend() == pid  # the same connection, given back a moment ago: no ping
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # now it counts as idle
        assert backend() == pid
        assert len(pings) == 1
        # Killed while idle: the ping notices and the pool replaces it before any statement.
        kill(pid)
        replaced = backend()
        assert replaced != pid
        # Killed a moment after a request gave it back (no ping): that request's statement
        # fails as a disconnect, the pool is invalidated and the next checkout reconnects.
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
        kill(replaced)
        with pytest.raises(OperationalError):
            backend()
        assert backend() not in (pid, replaced)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({"email": "a\x00b"}, True),
        ({"ids": [1, 2, 3], "q": "ok"}, False),
        ({"tags": ["a", ("b", "c\x00")]}, True),  # nested arrays
        ([{"a": 1}, {"b": "\x00"}], True),  # executemany: a list of mappings
        (("x", 1, None), False),  # positional
        ({"blob": b"\x00"}, False),  # bytes may hold NUL: only text is refused
        ({"n": None, "f": 1.5, "when": "2026-11-26"}, False),
    ],
)
def test_nul_check_sees_text_at_any_depth(parameters: Any, refused: bool) -> None:
    assert _has_nul(parameters) is refused
