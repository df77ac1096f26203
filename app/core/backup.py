"""Backups of a whole instance: ``hocso backup OUT`` and ``hocso restore IN`` (decision 9).

An archive is one tar file (``.tar``; ``.tar.gz`` or ``.tgz`` compresses it) holding, in order:

    blobs/ab/abcdef...           every stored file the database refers to
    database/NNN-<table>.jsonl   each table's rows, one JSON array per line, parents first
    manifest.json                app version, alembic revision, creation time, database kind,
                                 tables (columns, row counts) and every file's size and SHA-256

The database is read in one snapshot (PostgreSQL: a REPEATABLE READ, READ ONLY transaction;
SQLite: one read transaction, which WAL mode keeps consistent while writers go on), so a backup
taken while the app serves is consistent. Blobs are immutable and gc only deletes blobs that no
row refers to, so copying the snapshot's blobs after it has been read is safe. The dump is
logical and database-neutral: a SQLite backup restores into PostgreSQL and the other way round.

Restore goes into an empty instance only. It checks every file against the manifest before it
touches anything, brings the empty database to the archive's schema revision, stores the blobs,
loads every table in one transaction, compares the row counts with the manifest, commits, and
then migrates to the code's newest revision.

The table list is reflected from the database, so nothing here knows about a domain; the caller
says which blobs the snapshot refers to (``referenced_blobs``).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import orjson
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    ForeignKeyConstraint,
    MetaData,
    Table,
    and_,
    bindparam,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import (
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Time,
    TypeEngine,
    Uuid,
)

from app import __version__
from app.core.config import Settings
from app.core.db import make_engine, writer_engine
from app.core.errors import AppError
from app.core.i18n import gettext as _
from app.core.storage import BlobStore, make_blob_store, new_temp_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ALEMBIC_TABLE = "alembic_version"
CHUNK = 1024 * 1024
BATCH = 1000
MAX_MANIFEST_BYTES = 256 * 1024 * 1024

BLOB_PATH = re.compile(r"blobs/([0-9a-f]{2})/(\1[0-9a-f]{62})")
TABLE_PATH = re.compile(r"database/[0-9]{3,}-[A-Za-z0-9_]+\.jsonl")

ColumnKind = Literal["plain", "datetime", "date", "time", "decimal", "bytes", "uuid", "json"]
Warn = Callable[[str], None]
BlobLister = Callable[[Connection], Iterable[str]]


class BackupError(AppError):
    code = "backup_failed"


# --- The manifest ---------------------------------------------------------------------------


class FileEntry(BaseModel):
    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ColumnEntry(BaseModel):
    name: str
    kind: ColumnKind


class TableEntry(BaseModel):
    name: str
    file: str
    rows: int = Field(ge=0)
    columns: list[ColumnEntry]
    # Nullable foreign-key columns that close a cycle between tables: loaded as NULL, then set
    # once every table is in (content items point at their published version and back).
    deferred: list[str] = []


class BlobSummary(BaseModel):
    count: int = Field(ge=0)
    bytes: int = Field(ge=0)
    # Referred to by the database but absent from storage, or no longer matching their SHA-256,
    # when the backup was taken: reported then, and not stored by a restore.
    missing: list[str] = []
    damaged: list[str] = []


class Manifest(BaseModel):
    format: Literal["hocso-backup"]
    format_version: int
    app_version: str
    created_at: datetime
    alembic_revision: str
    database_kind: str
    database_version: str
    storage: str
    tables: list[TableEntry]
    blobs: BlobSummary
    files: list[FileEntry]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    sha256: str  # of the archive itself: record it beside the copies
    tables: int
    rows: int
    blobs: int
    blob_bytes: int
    missing_blobs: list[str]
    damaged_blobs: list[str]
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    revision: str
    tables: int
    rows: int
    blobs: int
    skipped_blobs: list[str]
    seconds: float


# --- Reflection and order -------------------------------------------------------------------


def _reflect(conn: Connection) -> dict[str, Table]:
    """The application's tables as the database has them now: columns, primary keys and foreign
    keys only (indexes and checks are not needed to copy rows, and reflecting them warns)."""
    inspector = inspect(conn)
    names = [name for name in inspector.get_table_names() if name != ALEMBIC_TABLE]
    if not names:
        return {}
    columns = inspector.get_multi_columns(filter_names=names)
    primary_keys = inspector.get_multi_pk_constraint(filter_names=names)
    foreign_keys = inspector.get_multi_foreign_keys(filter_names=names)
    metadata = MetaData()
    for (_schema, name), reflected in sorted(columns.items()):
        constraint = primary_keys.get((_schema, name))
        pk = set(constraint["constrained_columns"] if constraint else ())
        Table(
            name,
            metadata,
            *(
                Column(
                    c["name"],
                    c["type"],
                    nullable=c["nullable"],
                    primary_key=c["name"] in pk,
                    autoincrement=False,
                )
                for c in reflected
            ),
        )
    for (_schema, name), fks in sorted(foreign_keys.items()):
        for fk in fks:
            referred = fk["referred_table"]
            if referred in metadata.tables and fk.get("referred_schema") is None:
                metadata.tables[name].append_constraint(
                    ForeignKeyConstraint(
                        fk["constrained_columns"],
                        [f"{referred}.{column}" for column in fk["referred_columns"]],
                    )
                )
    return dict(metadata.tables)


def _table_order(tables: dict[str, Table]) -> tuple[list[Table], dict[str, list[str]]]:
    """Tables with the ones they refer to first. Where tables refer to each other in a cycle,
    one nullable foreign key of the cycle is deferred (loaded as NULL, set at the end)."""
    pending: dict[str, list[ForeignKeyConstraint]] = {
        name: [
            fk
            for fk in table.foreign_key_constraints
            if fk.referred_table.name in tables and fk.referred_table.name != name
        ]
        for name, table in tables.items()
    }
    done: list[str] = []
    deferred: dict[str, list[str]] = {}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            name = stack.pop()
            if name == goal:
                return True
            if name in seen or name in done:
                continue
            seen.add(name)
            stack.extend(fk.referred_table.name for fk in pending[name])
        return False

    while len(done) < len(tables):
        ready = sorted(
            name
            for name, fks in pending.items()
            if name not in done and all(fk.referred_table.name in done for fk in fks)
        )
        if ready:
            done.extend(ready)
            continue
        cycle_edges = sorted(
            (
                (name, fk)
                for name, fks in pending.items()
                if name not in done
                for fk in fks
                if all(column.nullable for column in fk.columns)
                and len(tables[name].primary_key.columns) > 0  # set later by primary key
                and reaches(fk.referred_table.name, name)
            ),
            key=lambda edge: (edge[0], sorted(edge[1].column_keys)),
        )
        if not cycle_edges:
            stuck = ", ".join(sorted(name for name in pending if name not in done))
            raise BackupError(
                _(
                    "The tables refer to each other with no column that may be empty: {tables}."
                ).format(tables=stuck)
            )
        name, fk = cycle_edges[0]
        pending[name].remove(fk)
        deferred.setdefault(name, []).extend(column.name for column in fk.columns)
    return [tables[name] for name in done], deferred


def _self_references(table: Table) -> list[tuple[list[int], list[int]]]:
    """(referring column positions, referred column positions) of each foreign key of a table
    into itself (an organisation's parent): its rows are written parents first."""
    names = [column.name for column in table.columns]
    pairs = []
    for fk in table.foreign_key_constraints:
        if fk.referred_table is table:
            pairs.append(
                (
                    [names.index(element.parent.name) for element in fk.elements],
                    [names.index(element.column.name) for element in fk.elements],
                )
            )
    return pairs


def _parents_first(
    rows: list[tuple[Any, ...]], references: list[tuple[list[int], list[int]]]
) -> list[tuple[Any, ...]]:
    emitted: list[set[tuple[Any, ...]]] = [set() for _ in references]
    ordered: list[tuple[Any, ...]] = []
    remaining = rows
    while remaining:
        later: list[tuple[Any, ...]] = []
        for row in remaining:
            ready = True
            for i, (referring, referred) in enumerate(references):
                parent = tuple(row[p] for p in referring)
                own = tuple(row[p] for p in referred)
                if None not in parent and parent != own and parent not in emitted[i]:
                    ready = False
                    break
            if not ready:
                later.append(row)
                continue
            ordered.append(row)
            for i, (_referring, referred) in enumerate(references):
                emitted[i].add(tuple(row[p] for p in referred))
        if len(later) == len(remaining):  # a cycle in the data itself: the restore says so
            ordered.extend(later)
            break
        remaining = later
    return ordered


# --- Values ---------------------------------------------------------------------------------


def _kind(type_: TypeEngine[Any]) -> ColumnKind:
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, DateTime):
        return "datetime"
    if isinstance(type_, Date):
        return "date"
    if isinstance(type_, Time):
        return "time"
    if isinstance(type_, LargeBinary):
        return "bytes"
    if isinstance(type_, Float):
        return "plain"
    if isinstance(type_, Numeric):
        return "decimal"
    if isinstance(type_, Uuid):
        return "uuid"
    return "plain"


PLAIN = (str, int, float, bool)


def _encode(kind: ColumnKind, value: Any, where: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        # SQLite hands back naive values: the app stores every timestamp in UTC.
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if kind in ("date", "time"):
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind in ("decimal", "uuid"):
        return str(value)
    if kind == "plain" and not isinstance(value, PLAIN):
        raise BackupError(
            _("Cannot back up column {column}: values of type {type} are not supported.").format(
                column=where, type=type(value).__name__
            )
        )
    return value


def _decoder(kind: ColumnKind, column: Column[Any], dialect: str) -> Callable[[Any], Any]:
    if kind == "datetime":
        naive = dialect == "sqlite" or not getattr(column.type, "timezone", False)

        def moment(value: str) -> datetime:
            parsed = datetime.fromisoformat(value).astimezone(UTC)
            return parsed.replace(tzinfo=None) if naive else parsed

        return moment
    if kind == "date":
        return date.fromisoformat
    if kind == "time":
        return time_of_day.fromisoformat
    if kind == "bytes":
        return base64.b64decode
    if kind == "decimal":
        return Decimal
    if kind == "uuid":
        return uuid.UUID if isinstance(column.type, Uuid) else str
    if kind == "json":
        # [value] is a JSON value (JSON null included), a bare null is SQL NULL.
        return lambda wrapped: JSON.NULL if wrapped[0] is None else wrapped[0]
    return lambda value: value


# --- Files ----------------------------------------------------------------------------------


class _HashingWriter:
    """The archive's file: counts and hashes what tarfile writes (the archive's own SHA-256)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


class _BlobReader:
    """A stored blob as tarfile reads it: exactly ``size`` bytes, hashed on the way."""

    def __init__(self, source: BinaryIO, size: int, sha256: str) -> None:
        self.source = source
        self.left = size
        self.sha256 = sha256
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        parts: list[bytes] = []
        got = 0
        while got < want:
            try:
                data = self.source.read(want - got)
            except Exception as exc:  # OSError, botocore's errors
                raise _read_failed(self.sha256, exc) from exc
            if not data:
                raise BackupError(
                    _("Stored file {sha256} changed while it was being copied.").format(
                        sha256=self.sha256
                    )
                )
            parts.append(data)
            got += len(data)
        chunk = b"".join(parts)
        self.left -= len(chunk)
        self.hash.update(chunk)
        return chunk


def _read_failed(sha256: str, exc: BaseException) -> BackupError:
    return BackupError(
        _("Cannot read stored file {sha256}: {reason}.").format(sha256=sha256, reason=_reason(exc))
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def _file_info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    return info


def _hash_stream(source: IO[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


# --- Backup ---------------------------------------------------------------------------------


@dataclass
class _Dump:
    created_at: datetime
    revision: str
    kind: str
    version: str
    tables: list[tuple[TableEntry, FileEntry, Path]] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction that sees the whole database as of its first statement."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def _database_version(conn: Connection) -> str:
    if conn.dialect.name == "postgresql":
        return str(conn.scalar(text("SHOW server_version")))
    if conn.dialect.name == "sqlite":
        return str(conn.scalar(text("SELECT sqlite_version()")))
    return ""


def _revision(conn: Connection) -> str | None:
    if ALEMBIC_TABLE not in inspect(conn).get_table_names():
        return None
    revisions = sorted(conn.scalars(text(f"SELECT version_num FROM {ALEMBIC_TABLE}")))
    return " ".join(revisions) or None


def _dump_database(
    engine: Engine,
    staging: Path,
    referenced_blobs: BlobLister,
    on_table: Callable[[str], None] | None,
) -> _Dump:
    with _snapshot(engine) as conn:
        revision = _revision(conn)  # the first statement: the snapshot starts here
        created_at = datetime.now(UTC)
        if revision is None:
            raise BackupError(_("The database has no HọcSố schema yet: run 'hocso migrate' first."))
        dump = _Dump(created_at, revision, conn.dialect.name, _database_version(conn))
        tables, deferred = _table_order(_reflect(conn))
        for number, table in enumerate(tables, 1):
            path = f"database/{number:03d}-{table.name}.jsonl"
            local = staging / path.replace("/", "_")
            entry, info = _dump_table(conn, table, deferred.get(table.name, []), path, local)
            dump.tables.append((entry, info, local))
            if on_table is not None:
                on_table(table.name)
        dump.blobs = sorted(set(referenced_blobs(conn)))
    return dump


def _dump_table(
    conn: Connection, table: Table, deferred: list[str], path: str, local: Path
) -> tuple[TableEntry, FileEntry]:
    columns = list(table.columns)
    kinds = [_kind(column.type) for column in columns]
    where = [f"{table.name}.{column.name}" for column in columns]
    json_at = [i for i, kind in enumerate(kinds) if kind == "json"]
    # JSON null and SQL NULL both read as None: ask the database which one each value is.
    flags = [columns[i].is_(None) for i in json_at]
    order = list(table.primary_key.columns) or columns
    statement = select(*columns, *flags).order_by(*order)
    rows: Iterable[tuple[Any, ...]] = (
        tuple(row) for row in conn.execution_options(yield_per=2000).execute(statement)
    )
    references = _self_references(table)
    if references:
        rows = _parents_first(list(rows), references)
    digest = hashlib.sha256()
    count = size = 0
    width = len(columns)
    with local.open("wb") as out:
        for row in rows:
            values = [_encode(kinds[i], row[i], where[i]) for i in range(width)]
            for n, i in enumerate(json_at):
                values[i] = None if row[width + n] else [row[i]]
            line = orjson.dumps(values) + b"\n"
            out.write(line)
            digest.update(line)
            size += len(line)
            count += 1
    entry = TableEntry(
        name=table.name,
        file=path,
        rows=count,
        columns=[ColumnEntry(name=c.name, kind=k) for c, k in zip(columns, kinds, strict=True)],
        deferred=deferred,
    )
    return entry, FileEntry(path=path, size=size, sha256=digest.hexdigest())


def _add_blobs(
    tar: tarfile.TarFile, store: BlobStore, hashes: list[str], mtime: float, warn: Warn
) -> tuple[list[FileEntry], list[str], list[str]]:
    files: list[FileEntry] = []
    missing: list[str] = []
    damaged: list[str] = []
    for sha256 in hashes:
        try:
            size = store.size(sha256)
            source = store.open(sha256) if size is not None else None
        except FileNotFoundError:
            size, source = None, None
        except AppError:
            raise
        except Exception as exc:  # OSError, botocore's errors
            raise _read_failed(sha256, exc) from exc
        if size is None or source is None:
            missing.append(sha256)
            warn(
                _("Stored file {sha256} is missing: the backup goes on without it.").format(
                    sha256=sha256
                )
            )
            continue
        path = f"blobs/{sha256[:2]}/{sha256}"
        with contextlib.closing(source):
            reader = _BlobReader(source, size, sha256)
            tar.addfile(_file_info(path, size, mtime), reader)
        digest = reader.hash.hexdigest()
        if digest != sha256:
            damaged.append(sha256)
            warn(
                _(
                    "Stored file {sha256} is damaged (its content no longer matches its "
                    "SHA-256): it is kept in the backup but a restore will not store it."
                ).format(sha256=sha256)
            )
        files.append(FileEntry(path=path, size=size, sha256=digest))
    return files, missing, damaged


def create_backup(
    settings: Settings,
    out: Path,
    *,
    referenced_blobs: BlobLister,
    force: bool = False,
    warn: Warn | None = None,
    on_table: Callable[[str], None] | None = None,
) -> BackupResult:
    """Write a backup of the instance ``settings`` describes to ``out`` (a .tar, or a .tar.gz
    when the name ends in .gz or .tgz), atomically: a temp file beside it, renamed at the end.

    ``referenced_blobs`` lists, inside the snapshot, the SHA-256 of every blob the database
    refers to. ``on_table`` is called after each table is dumped (progress; tests use it to
    write while the snapshot is open)."""
    started = time.monotonic()
    warn = warn or (lambda _message: None)
    out = out.expanduser().absolute()
    if out.is_dir() or (out.exists() and not force):
        raise _exists(out)
    if not out.parent.is_dir():
        raise BackupError(_("The folder {path} does not exist.").format(path=out.parent))
    store = make_blob_store(settings)
    engine = make_engine(settings)
    try:
        with tempfile.TemporaryDirectory(prefix=".hocso-backup-", dir=out.parent) as staging:
            dump = _dump_database(engine, Path(staging), referenced_blobs, on_table)
            engine.dispose()
            return _write_archive(settings, out, dump, store, force, warn, started)
    except OSError as exc:
        raise BackupError(
            _("Cannot write {path}: {reason}.").format(path=out, reason=_reason(exc))
        ) from exc
    except SQLAlchemyError as exc:
        raise _database_error(exc, None) from exc
    finally:
        engine.dispose()


def _write_archive(
    settings: Settings,
    out: Path,
    dump: _Dump,
    store: BlobStore,
    force: bool,
    warn: Warn,
    started: float,
) -> BackupResult:
    mtime = dump.created_at.timestamp()
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = _HashingWriter(raw)
            compressed = (
                gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=6, mtime=int(mtime))
                if out.name.endswith((".gz", ".tgz"))
                else None
            )
            sink: Any = compressed or writer
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                blob_files, missing, damaged = _add_blobs(tar, store, dump.blobs, mtime, warn)
                for _entry, info, local in dump.tables:
                    with local.open("rb") as source:
                        tar.addfile(_file_info(info.path, info.size, mtime), source)
                manifest = Manifest(
                    format="hocso-backup",
                    format_version=FORMAT_VERSION,
                    app_version=__version__,
                    created_at=dump.created_at,
                    alembic_revision=dump.revision,
                    database_kind=dump.kind,
                    database_version=dump.version,
                    storage=settings.storage,
                    tables=[entry for entry, _info, _local in dump.tables],
                    blobs=BlobSummary(
                        count=len(blob_files),
                        bytes=sum(f.size for f in blob_files),
                        missing=missing,
                        damaged=damaged,
                    ),
                    files=[*blob_files, *(info for _entry, info, _local in dump.tables)],
                )
                body = orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
                tar.addfile(_file_info(MANIFEST, len(body), mtime), io.BytesIO(body))
            if compressed is not None:
                compressed.close()
            raw.flush()
            os.fsync(raw.fileno())
        _publish(partial, out, force)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(
        path=out,
        size=writer.size,
        sha256=writer.hash.hexdigest(),
        tables=len(dump.tables),
        rows=sum(entry.rows for entry, _info, _local in dump.tables),
        blobs=len(blob_files),
        blob_bytes=manifest.blobs.bytes,
        missing_blobs=missing,
        damaged_blobs=damaged,
        seconds=time.monotonic() - started,
    )


def _exists(path: Path) -> BackupError:
    return BackupError(
        _("{path} already exists: choose another name, or add --force to replace it.").format(
            path=path
        )
    )


def _publish(partial: Path, out: Path, force: bool) -> None:
    """Give the finished archive its name: never over an existing file unless ``force``."""
    if force:
        os.replace(partial, out)
    else:
        try:
            os.link(partial, out)  # unlike a rename, fails if ``out`` appeared meanwhile
        except FileExistsError:
            raise _exists(out) from None
        except OSError:  # a file system without hard links
            if out.exists():
                raise _exists(out) from None
            os.replace(partial, out)
        else:
            partial.unlink()
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- Checking an archive --------------------------------------------------------------------


def _damaged(path: Path, exc: BaseException) -> BackupError:
    return BackupError(
        _("{path} is not a HọcSố backup, or it is damaged: {reason}.").format(
            path=path, reason=_reason(exc)
        )
    )


@contextlib.contextmanager
def _open_archive(path: Path) -> Iterator[tarfile.TarFile]:
    """The archive as a stream (compressed or not): read front to back, never seeking."""
    if not path.is_file():
        raise BackupError(_("No such file: {path}.").format(path=path))
    try:
        with tarfile.open(path, mode="r|*") as tar:
            yield tar
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _damaged(path, exc) from exc


def _load_manifest(body: bytes) -> Manifest:
    try:
        return Manifest.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise BackupError(
            _("The backup's manifest is not valid: {reason}.").format(reason=reason)
        ) from None


def check_archive(path: Path) -> Manifest:
    """Read the whole archive and compare every file with the manifest: its list, sizes and
    SHA-256, and the order restore relies on (blobs, then tables in order, then the manifest).
    Raises BackupError on the first difference; touches nothing."""
    seen: list[tuple[str, int, str]] = []
    body: bytes | None = None
    with _open_archive(path) as tar:
        for member in tar:
            name = member.name
            if body is not None or not member.isreg():
                raise BackupError(
                    _("The backup holds an unexpected entry: {name}.").format(name=name)
                )
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            if name == MANIFEST:
                if member.size > MAX_MANIFEST_BYTES:
                    raise BackupError(
                        _("The backup's manifest is not valid: {reason}.").format(
                            reason=f"{member.size} bytes"
                        )
                    )
                body = source.read()
                continue
            size, digest = _hash_stream(source)
            seen.append((name, size, digest))
    if body is None:
        raise BackupError(_("{path} is not a HọcSố backup: it has no manifest.").format(path=path))
    manifest = _load_manifest(body)
    if manifest.format_version > FORMAT_VERSION:
        raise BackupError(
            _("This backup was made by a newer version of HọcSố; upgrade HọcSố to restore it.")
        )
    listed = {entry.path: entry for entry in manifest.files}
    if len(listed) != len(manifest.files):
        raise BackupError(
            _("The backup's manifest is not valid: {reason}.").format(reason="duplicate paths")
        )
    blob_files = [e.path for e in manifest.files if BLOB_PATH.fullmatch(e.path)]
    expected = [*blob_files, *(table.file for table in manifest.tables)]
    if (
        set(expected) != set(listed)
        or len(blob_files) != manifest.blobs.count
        or any(not TABLE_PATH.fullmatch(table.file) for table in manifest.tables)
    ):
        raise BackupError(
            _("The backup's manifest is not valid: {reason}.").format(reason="unexpected paths")
        )
    names = [name for name, _size, _digest in seen]
    present: set[str] = set()
    for name in names:
        if name not in listed or name in present:
            raise BackupError(_("The backup holds an unexpected entry: {name}.").format(name=name))
        present.add(name)
    for name in expected:
        if name not in present:
            raise BackupError(_("The backup is incomplete: {name} is missing.").format(name=name))
    for name, size, digest in seen:
        entry = listed[name]
        if entry.size != size or entry.sha256 != digest:
            raise BackupError(
                _(
                    "The backup is damaged: {name} does not match the SHA-256 in its manifest."
                ).format(name=name)
            )
    if names != sorted(names[: manifest.blobs.count]) + [t.file for t in manifest.tables]:
        raise BackupError(_("The backup's entries are not in the order HọcSố writes them."))
    return manifest


# --- Restore --------------------------------------------------------------------------------


def _target_revision(engine: Engine) -> str | None:
    """The empty target's schema revision (None: no tables at all). Refuses a target that holds
    any row, or tables that HọcSố did not create."""
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        revision = _revision(conn)
        if revision is None and names:
            raise BackupError(
                _(
                    "The target database holds tables that HọcSố did not create: restore only "
                    "into an empty database."
                )
            )
        for name in sorted(names):
            if name == ALEMBIC_TABLE:
                continue
            table = Table(name, MetaData())
            if conn.execute(select(text("1")).select_from(table).limit(1)).first():
                raise BackupError(
                    _(
                        "The target database is not empty (table {table} has rows): restore "
                        "only into an empty instance."
                    ).format(table=name)
                )
    return revision


def _migrate_to(alembic_cfg: Any, current: str | None, wanted: str) -> None:
    """Bring the empty target to the archive's revision (up, or down from a newer code's)."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_cfg)
    try:
        for revision in wanted.split():
            script.get_revision(revision)
    except CommandError:
        raise BackupError(
            _(
                "This backup was made by a newer version of HọcSố (database revision {revision}): "
                "upgrade HọcSố to restore it."
            ).format(revision=wanted)
        ) from None
    if current == wanted:
        return
    if current is None:
        command.upgrade(alembic_cfg, wanted)
        return
    try:
        older = {s.revision for s in script.iterate_revisions(current, "base")}
    except CommandError:
        raise BackupError(
            _(
                "The target database was migrated by a newer version of HọcSố (revision "
                "{revision})."
            ).format(revision=current)
        ) from None
    if set(wanted.split()) <= older:
        command.downgrade(alembic_cfg, wanted)
    else:
        command.upgrade(alembic_cfg, wanted)


@dataclass
class _Loader:
    """Loads the tables of one archive, in its order, inside one transaction."""

    conn: Connection
    tables: dict[str, Table]
    manifest: Manifest
    later: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    current: str | None = None  # the table being loaded, for error messages

    def check_schema(self) -> None:
        for entry in self.manifest.tables:
            table = self.tables.get(entry.name)
            if table is None:
                raise BackupError(
                    _("The target database has no table {table}, which the backup holds.").format(
                        table=entry.name
                    )
                )
            for wanted in entry.columns:
                if wanted.name not in table.c:
                    raise BackupError(
                        _(
                            "The target database has no column {column}, which the backup holds."
                        ).format(column=f"{entry.name}.{wanted.name}")
                    )
            for column in table.columns:
                if isinstance(column.type, JSON):
                    column.type.none_as_null = True  # None is SQL NULL; JSON.NULL is JSON null

    def load(self, entry: TableEntry, source: IO[bytes], expected: FileEntry) -> None:
        self.current = entry.name
        table = self.tables[entry.name]
        dialect = self.conn.dialect.name
        names = [column.name for column in entry.columns]
        decoders = [
            _decoder(column.kind, table.c[column.name], dialect) for column in entry.columns
        ]
        deferred = set(entry.deferred)
        keys = [column.name for column in table.primary_key.columns]
        digest = hashlib.sha256()
        batch: list[dict[str, Any]] = []
        later: list[dict[str, Any]] = []
        count = 0
        for line in source:
            digest.update(line)
            values = orjson.loads(line)
            if not isinstance(values, list) or len(values) != len(names):
                raise BackupError(
                    _(
                        "The backup is damaged: {name} does not match the SHA-256 in its manifest."
                    ).format(name=entry.file)
                )
            row = {
                name: None if value is None else decode(value)
                for name, value, decode in zip(names, values, decoders, strict=True)
            }
            if deferred:
                postponed = {f"v_{n}": row[n] for n in deferred if row[n] is not None}
                if postponed:
                    later.append({**{f"k_{k}": row[k] for k in keys}, **postponed})
                    for n in deferred:
                        row[n] = None
            batch.append(row)
            count += 1
            if len(batch) >= BATCH:
                self.conn.execute(table.insert(), batch)
                batch = []
        if batch:
            self.conn.execute(table.insert(), batch)
        if count != entry.rows:
            raise BackupError(
                _(
                    "Row counts differ after the restore: table {table} has {found} rows, the "
                    "backup {expected}."
                ).format(table=entry.name, found=count, expected=entry.rows)
            )
        if digest.hexdigest() != expected.sha256:  # changed since check_archive read it
            raise BackupError(
                _(
                    "The backup is damaged: {name} does not match the SHA-256 in its manifest."
                ).format(name=entry.file)
            )
        if later:
            self.later[entry.name] = later

    def finish(self) -> None:
        """Set the deferred foreign keys, move id sequences past the loaded rows (PostgreSQL),
        and compare every table's row count with the manifest."""
        for entry in self.manifest.tables:
            self.current = entry.name
            params = self.later.get(entry.name)
            if not params:
                continue
            table = self.tables[entry.name]
            for n in entry.deferred:  # one statement per column: rows set different columns
                rows = [p for p in params if f"v_{n}" in p]
                if not rows:
                    continue
                statement = (
                    table.update()
                    .where(and_(*(c == bindparam(f"k_{c.name}") for c in table.primary_key)))
                    .values({n: bindparam(f"v_{n}")})
                )
                self.conn.execute(
                    statement,
                    [
                        {k: v for k, v in p.items() if k.startswith("k_") or k == f"v_{n}"}
                        for p in rows
                    ],
                )
        if self.conn.dialect.name == "postgresql":
            self._advance_sequences()
        for entry in self.manifest.tables:
            self.current = entry.name
            found = self.conn.scalar(select(func.count()).select_from(self.tables[entry.name]))
            if found != entry.rows:
                raise BackupError(
                    _(
                        "Row counts differ after the restore: table {table} has {found} rows, the "
                        "backup {expected}."
                    ).format(table=entry.name, found=found, expected=entry.rows)
                )

    def _advance_sequences(self) -> None:
        quote = self.conn.dialect.identifier_preparer.quote
        for entry in self.manifest.tables:
            self.current = entry.name
            table = self.tables[entry.name]
            keys = list(table.primary_key.columns)
            if len(keys) != 1 or not isinstance(keys[0].type, Integer):
                continue
            sequence = self.conn.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": keys[0].name},
            )
            if sequence:
                self.conn.execute(
                    text(
                        f"SELECT setval(CAST(:sequence AS regclass), "
                        f"COALESCE((SELECT MAX({quote(keys[0].name)}) FROM {quote(table.name)}), "
                        f"0) + 1, false)"
                    ),
                    {"sequence": sequence},
                )


def _store_blob(store: BlobStore, sha256: str, source: IO[bytes], expected: FileEntry) -> bool:
    """Store one blob of the archive (True), or find it already there (False)."""
    out, temp = new_temp_file(store)
    try:
        with out:
            if store.exists(sha256):  # content-addressed: the same bytes
                return False
            size, digest = 0, hashlib.sha256()
            while chunk := source.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256 or size != expected.size:
            raise BackupError(
                _(
                    "The backup is damaged: {name} does not match the SHA-256 in its manifest."
                ).format(name=expected.path)
            )
        store.put(sha256, temp)
    except AppError:
        raise
    except Exception as exc:  # OSError, botocore's errors
        raise BackupError(
            _("Cannot store file {sha256}: {reason}.").format(sha256=sha256, reason=_reason(exc))
        ) from exc
    finally:
        temp.unlink(missing_ok=True)
    return True


def restore_backup(
    settings: Settings,
    archive: Path,
    *,
    alembic_cfg: Any,
    warn: Warn | None = None,
) -> RestoreResult:
    """Restore ``archive`` into the empty instance ``settings`` describes (see the module's
    docstring for the steps). ``alembic_cfg`` is the alembic Config of that database."""
    from alembic import command

    started = time.monotonic()
    warn = warn or (lambda _message: None)
    archive = archive.expanduser().absolute()
    manifest = check_archive(archive)
    listed = {entry.path: entry for entry in manifest.files}
    by_file = {table.file: table for table in manifest.tables}
    skip = set(manifest.blobs.damaged)
    engine = make_engine(settings)
    store = make_blob_store(settings)
    stored: list[str] = []
    loader: _Loader | None = None
    try:
        _migrate_to(alembic_cfg, _target_revision(engine), manifest.alembic_revision)
        engine.dispose()  # the migration changed the schema under the pooled connections
        with _open_archive(archive) as tar, contextlib.ExitStack() as transaction:
            for member in tar:
                source = tar.extractfile(member)
                if source is None or member.name == MANIFEST:
                    continue
                match = BLOB_PATH.fullmatch(member.name)
                if match and match.group(2) in skip:
                    warn(
                        _(
                            "Stored file {sha256} was damaged when the backup was taken: it is "
                            "not restored."
                        ).format(sha256=match.group(2))
                    )
                elif match:
                    if _store_blob(store, match.group(2), source, listed[member.name]):
                        stored.append(match.group(2))
                else:
                    if loader is None:  # blobs first, then every table in one transaction
                        conn = transaction.enter_context(writer_engine(engine).begin())
                        loader = _Loader(conn, _reflect(conn), manifest)
                        loader.check_schema()
                    loader.load(by_file[member.name], source, listed[member.name])
            if loader is not None:
                loader.finish()
    except BaseException as exc:
        for sha256 in stored:  # nothing refers to them now: leave no orphans behind
            with contextlib.suppress(Exception):
                store.delete(sha256)
        if isinstance(exc, SQLAlchemyError):
            raise _database_error(exc, loader.current if loader else None) from exc
        raise
    finally:
        engine.dispose()
    if manifest.alembic_revision.split() != _heads(alembic_cfg):
        command.upgrade(alembic_cfg, "heads")
    return RestoreResult(
        revision=manifest.alembic_revision,
        tables=len(manifest.tables),
        rows=sum(table.rows for table in manifest.tables),
        blobs=manifest.blobs.count - len(skip),
        skipped_blobs=sorted(skip),
        seconds=time.monotonic() - started,
    )


def _database_error(exc: SQLAlchemyError, table: str | None) -> BackupError:
    reason = _reason(getattr(exc, "orig", None) or exc)
    if table:
        return BackupError(
            _("Could not load table {table}: {reason}.").format(table=table, reason=reason)
        )
    return BackupError(_("The database cannot be used: {reason}.").format(reason=reason))


def _heads(alembic_cfg: Any) -> list[str]:
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(alembic_cfg).get_heads())
