"""Hot-path SQL run straight on the DBAPI cursor of the session's connection.

SQLAlchemy's execution path (ORM or Core: the compiled-statement cache lookup, the execution
context, the result object) costs 60–90 µs per statement on SQLite where the query itself takes
5–10 µs; the learner endpoints run five to seven statements per request (ADR 0013). A ``Query``
is one statement written once in SQL with ``:name`` parameters, rewritten into the dialect's
parameter style on first use. Values are converted by the same SQLAlchemy types the ORM uses
(UTC timestamps stored as text on SQLite, booleans), so what is read and written here is what
the ORM reads and writes.

The statements stay inside the session's unit of work: they run on its connection and
transaction (begun as the session would begin it: ``BEGIN IMMEDIATE`` for a writer on SQLite),
after a flush of the session's pending changes. They still pass through the connection's
``before_cursor_execute`` events (the NUL refusal, statement counters in tests and benchmarks)
and its error handling (errors wrapped as ``DBAPIError``, a dropped connection invalidated).
What they change is not reflected in objects the session already holds: callers expire those.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any]
Row = tuple[Any, ...]

_PARAM = re.compile(r"(?<![:\w]):(\w+)")  # ":name", not "::cast" nor "a:b" inside words


class Query:
    """One statement: SQL with ``:name`` parameters (``variants`` replace it on a dialect, by
    name), the types of the parameters and result columns that need a conversion (by name and
    by position; the others pass as the driver takes and returns them; NULL is None whatever
    the type)."""

    def __init__(
        self,
        sql: str,
        *,
        binds: Mapping[str, TypeEngine[Any]] | None = None,
        results: Sequence[TypeEngine[Any] | None] = (),
        variants: Mapping[str, str] | None = None,
    ) -> None:
        self.sql = sql
        self.binds = dict(binds or {})
        self.results = tuple(results)
        self.variants = dict(variants or {})
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(dialect.name, _Compiled(self, dialect))
        return found


class _Compiled:
    """A ``Query`` for one dialect: the SQL in its parameter style, the converters."""

    def __init__(self, query: Query, dialect: Dialect) -> None:
        sql = query.variants.get(dialect.name, query.sql)
        style = dialect.paramstyle
        if style in ("named", "qmark"):
            # sqlite3 takes ":name" with a mapping whatever the dialect's declared style.
            self.sql = sql
        elif style == "pyformat":
            self.sql = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
        else:  # pragma: no cover - the two drivers the app supports are above
            raise NotImplementedError(f"paramstyle {style}")
        self.binds: list[tuple[str, Processor]] = [
            (name, processor)
            for name, type_ in query.binds.items()
            if (processor := type_.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        self.results: list[tuple[int, Processor]] = [
            (index, processor)
            for index, type_ in enumerate(query.results)
            if type_ is not None
            and (processor := type_.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        ]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        for name, processor in self.binds:
            values[name] = processor(values[name])
        return values

    def row(self, row: Row) -> Row:
        if not self.results:
            return tuple(row)
        values = list(row)
        for index, processor in self.results:
            value = values[index]
            if value is not None:  # NULL stays None whatever the type (no call per empty cell)
                values[index] = processor(value)
        return tuple(values)


def _execute(session: Session, query: Query, params: dict[str, Any]) -> tuple[Any, _Compiled]:
    session.flush()  # what the ORM holds pending must be seen (no autoflush on this path)
    connection: Connection = session.connection()
    compiled = query.compiled(connection.dialect)
    args = compiled.params(params)
    cursor = connection.connection.cursor()
    try:
        # The connection's own routine for statements outside its compiled path: events,
        # echo, and DBAPI errors wrapped (and a dropped connection invalidated) as usual.
        connection._cursor_execute(cursor, compiled.sql, args)
    except BaseException:
        cursor.close()
        raise
    return cursor, compiled


def rows(session: Session, query: Query, **params: Any) -> list[Row]:
    """Every row of ``query``."""
    cursor, compiled = _execute(session, query, params)
    try:
        fetched = cursor.fetchall()
    finally:
        cursor.close()
    return [compiled.row(row) for row in fetched]


def first(session: Session, query: Query, **params: Any) -> Row | None:
    """The first row of ``query``, or None."""
    cursor, compiled = _execute(session, query, params)
    try:
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else compiled.row(tuple(row))


def run(session: Session, query: Query, **params: Any) -> int:
    """Run a statement that returns no rows; the number of rows it changed."""
    cursor, _compiled = _execute(session, query, params)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()
