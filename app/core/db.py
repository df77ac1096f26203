"""Database plumbing: declarative Base with a constraint naming convention, engine with
SQLite pragmas, UTC timestamps, and the one-session-per-request dependency.

Services receive the session and never commit; the request boundary commits once at the
end or rolls back on error (see ``session_scope``).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, cast
from weakref import WeakKeyDictionary

import anyio
import anyio.to_thread
from fastapi import Depends
from sqlalchemy import (
    ColumnDefault,
    DateTime,
    Engine,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator
from starlette.requests import Request

from app.core.config import Settings

SQLITE_IMMEDIATE = "hocso_sqlite_immediate"

# At most this many requests hold a database session at once; the others wait without taking
# a worker thread. It stays below the worker-thread limit (40), so a request holding a row lock
# always finds a thread to finish on, and within the connection pool, so checkout never waits.
# It was 20: under overload (bench/load.py) 20 busy handler threads per process starved the
# event loop of the GIL, so refusals and new connections waited seconds; with 8 a process
# serves as much (one GIL) and answers those in milliseconds.
DB_CONCURRENCY = 8
BUSY_TIMEOUT_SECONDS = 10  # how long a SQLite writer waits for the write lock before "busy"
# A pooled PostgreSQL connection given back less than this long ago is handed out again without
# the pre-ping's round trip (see _ping_when_idle).
PING_AFTER_IDLE_SECONDS = 1.0

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def one_of(column: str, choices: type[enum.StrEnum]) -> str:
    """SQL for a CHECK constraint: ``column IN ('a', 'b', ...)``, from a string enum."""
    return f"{column} IN ({', '.join(repr(m.value) for m in choices)})"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_WRITE_LOCK = "hocso_write_lock"  # key in the pooled connection's info: it holds the lock
_write_locks: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()


def sqlite_write_lock(engine: Engine) -> threading.Lock | None:
    """The in-process writer lock of a SQLite engine (None for other databases)."""
    return _write_locks.get(engine)


def _sqlite_pragmas(engine: Engine) -> None:
    # SQLite has one writer at a time. Writers of this process queue on a lock instead of in
    # SQLite's busy handler, which sleeps and polls (up to 100 ms a nap, first come not first
    # served): under load that made some progress posts wait seconds. Other processes (a second
    # worker, the CLI) still meet at SQLite's lock and its busy_timeout.
    write_lock = _write_locks[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself: pysqlite's implicit transactions break SAVEPOINT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writing request takes the write lock up front (BEGIN IMMEDIATE, waiting up to
        # busy_timeout): a deferred transaction that read first could not upgrade once another
        # writer had committed, and SQLite would fail it at once (SQLITE_BUSY_SNAPSHOT).
        if not connection.get_execution_options().get(SQLITE_IMMEDIATE):
            connection.exec_driver_sql("BEGIN")
            return
        # On a timeout, go on without it: SQLite's own wait then decides (and may answer busy).
        if write_lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            connection.info[_WRITE_LOCK] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection.info)
            raise

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_WRITE_LOCK, False):
            write_lock.release()

    # Released as the transaction ends (just before COMMIT/ROLLBACK reach SQLite: a next writer
    # meets at most the tail of this commit in the busy handler), and as a safety net when a
    # connection goes back to the pool or is discarded without either.
    event.listen(engine, "commit", lambda connection: _release(connection.info))
    event.listen(engine, "rollback", lambda connection: _release(connection.info))
    event.listen(engine, "checkin", lambda _dbapi, record: _release(record.info))
    event.listen(engine, "invalidate", lambda _dbapi, record, _exc: _release(record.info))


_insert_ignore_statements: dict[tuple[str, tuple[str, ...]], TextClause] = {}


def insert_ignore(session: Session, model: type[Base], **values: Any) -> bool:
    """INSERT the row unless it conflicts with a unique key; True when it was inserted.

    ``ON CONFLICT DO NOTHING`` instead of a savepoint and a caught IntegrityError: one
    statement instead of three on hot paths such as progress events. Written as text (the
    syntax is the same on SQLite and PostgreSQL) because SQLAlchemy does not cache the compiled
    form of its dialect ``on_conflict_do_nothing()`` constructs: they were compiled anew on
    every call. Typed parameters keep the columns' conversions (UTC timestamps)."""
    table = cast(Table, model.__table__)
    for column in table.columns:  # text() does not apply the columns' Python-side defaults
        default = column.default
        if column.name not in values and isinstance(default, ColumnDefault):
            values[column.name] = default.arg(None) if default.is_callable else default.arg
    names = tuple(sorted(values))
    statement = _insert_ignore_statements.get((table.name, names))
    if statement is None:
        columns = ", ".join(table.c[name].name for name in names)
        placeholders = ", ".join(f":{name}" for name in names)
        statement = text(
            f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders}) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        ).bindparams(*(bindparam(name, type_=table.c[name].type) for name in names))
        _insert_ignore_statements[(table.name, names)] = statement
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    return session.execute(statement, values).first() is not None


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Pooled connections (the pragmas run once per connection, not once per request).
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
            pool_size=DB_CONCURRENCY,
            max_overflow=10,
        )
        _sqlite_pragmas(engine)
    else:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=DB_CONCURRENCY,
            max_overflow=10,  # the command line, start-up gc and health checks
            pool_timeout=30,
            connect_args={"connect_timeout": 5},
        )
        _ping_when_idle(engine)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """The pool's pre-ping (a ``SELECT 1`` round trip on every checkout) only for connections
    that sat idle for ``PING_AFTER_IDLE_SECONDS`` or more. Those are the ones a database restart,
    an idle timeout or a dropped link may have killed unnoticed; a connection given back a
    moment ago by a request that ran statements on it is alive, and under load every checkout
    is one of those (the ping was one round trip in four of a course page). If one has died in
    the meantime after all, its first statement fails as a disconnect: SQLAlchemy invalidates
    the whole pool, and the next checkouts reconnect, as after a failed ping."""
    returned: WeakKeyDictionary[Any, float] = WeakKeyDictionary()
    dialect = engine.dialect
    ping = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        at = returned.pop(dbapi_connection, None)
        if at is not None and time.monotonic() - at < PING_AFTER_IDLE_SECONDS:
            return True
        return ping(dbapi_connection)

    def checked_in(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None when the connection was invalidated
            returned[dbapi_connection] = time.monotonic()

    dialect.do_ping = do_ping  # type: ignore[method-assign]  # this engine's dialect only
    event.listen(engine, "checkin", checked_in)


class NulInText(ValueError):
    """A text value holds U+0000, which PostgreSQL cannot store and SQLite would: refused on
    both alike, before the statement is sent (the web layer answers 422). Not an AppError, so
    the pages that catch those to show a form again do not go on with a failed flush."""


def _has_nul(value: Any) -> bool:
    """Whether a statement's parameters (a mapping, a sequence, or a list of those for
    executemany, with list values for arrays) hold a text with U+0000. It runs before every
    statement, and a course page's pins pass 100 ids in one array: scalars are judged in the
    loop, without a call (or a generator) each."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, _SEQUENCES):
        return False
    for item in value:
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, _CONTAINERS) and _has_nul(item):
            return True
    return False


_SEQUENCES = (list, tuple)
_CONTAINERS = (dict, list, tuple)


def _refuse_nul(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    if _has_nul(parameters):
        raise NulInText(statement.split(None, 1)[0] if statement else "")


def writer_engine(engine: Engine) -> Engine:
    """The same engine and pool, whose transactions begin as writers (SQLite: BEGIN IMMEDIATE)."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the end, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Commits and rollbacks get threads of their own: if they queued behind request handlers for
# the shared thread pool, handlers waiting for a connection or a row lock could starve the very
# commits that would release them.
_finish_limiter: anyio.CapacityLimiter | None = None


def _limiter() -> anyio.CapacityLimiter:
    global _finish_limiter
    if _finish_limiter is None:
        _finish_limiter = anyio.CapacityLimiter(64)
    return _finish_limiter


def _finish(session: Session, ok: bool) -> None:
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: the request's unit of work (commit at the end, rollback on error).

    A writing request's session is bound to the engine with the SQLite "immediate" option, so
    its first statement, in the handler's own thread, begins as a writer (no extra thread hop);
    commit (or rollback) and close share one hop at the end."""
    writing = request.method not in ("GET", "HEAD", "OPTIONS")
    factory = request.app.state.sessionmaker
    session = factory(bind=request.app.state.write_engine) if writing else factory()
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(_finish, session, False, limiter=_limiter())
        raise
    if not session.in_transaction():
        # Nothing to commit and no connection to give back (no database work, or a hot path
        # that committed in its own thread): closing costs no I/O, so no thread hop either.
        session.close()
        return
    await anyio.to_thread.run_sync(_finish, session, True, limiter=_limiter())


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (SQLite: BEGIN IMMEDIATE; no-op elsewhere)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={SQLITE_IMMEDIATE: True})


def begin_autocommit_read(session: Session) -> None:
    """Run the session's next statements without a transaction on PostgreSQL: each read is its
    own snapshot, and BEGIN and COMMIT — two round trips — are not sent. For read-only work that
    needs no snapshot across its statements (the learner's course page). SQLite's BEGIN costs no
    round trip, so it is left alone; so is a session already in a transaction or bound to a
    connection (the tests' rolled-back one)."""
    bind = session.get_bind()
    if (
        bind.dialect.name == "postgresql"
        and isinstance(bind, Engine)
        and not session.in_transaction()
    ):
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# scope="function": the commit happens before the response is sent, so a success answer means
# the change is stored (and a failed commit is an error the client sees).
SessionDep = Annotated[
    Session, Depends(get_session, scope="function", max_concurrency=DB_CONCURRENCY)
]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
