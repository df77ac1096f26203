"""``hocso backup`` and ``hocso restore``: a populated instance (demo data and uploaded files)
round-trips with every row and every file; a backup taken while rows are written is consistent;
an older SQLite backup restores into a new instance of the run's database and storage (on the
PostgreSQL pass: SQLite + local disk into PostgreSQL + S3); a damaged archive, a newer one, a
non-empty target and an existing output file are refused with one line.

Each instance has a database and a storage of its own: a SQLite file and a local folder, or
with HOCSO_TEST_DB=postgresql a new database on the run's PostgreSQL server and, with
HOCSO_TEST_STORAGE=s3, a bucket of its own on the run's moto server."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import JSON, Engine, column, create_engine, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.accounts.models import Organization, User
from app.cli import alembic_config, blobs_in_use, cli
from app.core.backup import BackupError, check_archive, create_backup, restore_backup
from app.core.config import Settings
from app.core.db import Base, UTCDateTime, make_engine
from app.core.i18n import translations
from app.core.storage import BlobStore, make_blob_store, s3_client
from app.main import create_app
from tests.lcms.samples import fetch, mp4, pdf, upload

BACKEND = os.environ.get("HOCSO_TEST_DB", "sqlite")
STORAGE = os.environ.get("HOCSO_TEST_STORAGE", "local")
SECRET = "test-secret-key-0123456789abcdef0123456789"
DEMO_PASSWORD = "HocSo@2026"


@dataclass
class Instance:
    settings: Settings
    _engine: Engine | None = None

    @property
    def env(self) -> dict[str, str]:
        s = self.settings
        env = {
            "HOCSO_DATA_DIR": str(s.data_dir),
            "HOCSO_DATABASE_URL": s.database_url,
            "HOCSO_STORAGE": s.storage,
            "HOCSO_SECRET_KEY": SECRET,
            "HOCSO_GC_ON_STARTUP": "false",
        }
        if s.storage == "s3":
            env |= {"HOCSO_S3_ENDPOINT_URL": str(s.s3_endpoint_url), "HOCSO_S3_BUCKET": s.s3_bucket}
        return env

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings)
        return self._engine

    def store(self) -> BlobStore:
        return make_blob_store(self.settings)

    def migrate(self, revision: str = "head") -> None:
        command.upgrade(alembic_config(self.settings), revision)


class Instances:
    """Fresh instances on the run's database server and storage."""

    def __init__(
        self, database_url: str, tmp: pytest.TempPathFactory, s3_endpoint: str | None
    ) -> None:
        self.database_url = database_url
        self.tmp = tmp
        self.s3_endpoint = s3_endpoint
        self.numbers = itertools.count(1)
        self.databases: list[str] = []
        self.made: list[Instance] = []

    def _server(self) -> Engine:
        url = make_url(self.database_url).set(database="postgres")
        return create_engine(url, isolation_level="AUTOCOMMIT")

    def new(self, name: str, *, backend: str = BACKEND, storage: str = STORAGE) -> Instance:
        n = next(self.numbers)
        data_dir = self.tmp.mktemp(name)
        if backend.startswith("postgresql"):
            database = f"hocso_backup_{name}_{n}"
            server = self._server()
            with server.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {database}"))
            server.dispose()
            self.databases.append(database)
            url = make_url(self.database_url).set(database=database)
            database_url = url.render_as_string(hide_password=False)
        else:
            database_url = f"sqlite:///{data_dir / 'hocso.db'}"
        extra: dict[str, Any] = {}
        if storage == "s3":
            extra = {"storage": "s3", "s3_endpoint_url": self.s3_endpoint}
            extra["s3_bucket"] = f"hocso-backup-{name.replace('_', '-')}-{n}"
        settings = Settings(
            env="test",
            database_url=database_url,
            data_dir=data_dir,
            secret_key=SECRET,
            gc_on_startup=False,
            **extra,
        )
        if storage == "s3":
            s3_client(settings).create_bucket(Bucket=settings.s3_bucket)
        instance = Instance(settings)
        self.made.append(instance)
        return instance

    def drop_all(self) -> None:
        for instance in self.made:
            instance.engine().dispose()
        if not self.databases:
            return
        server = self._server()
        with server.connect() as conn:
            for database in self.databases:
                conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        server.dispose()


def hocso(instance: Instance, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOCSO_")}
    environment.update(instance.env)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=instance.settings.data_dir,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints (asserting it is one line, and no traceback)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith("hocso: error:"), result.stderr
    assert "\n" not in line, result.stderr
    return line


def message(msgid: str) -> str:
    """The start of a message (up to its first placeholder) as the command line shows it: in
    Vietnamese once the catalogue translates it."""
    return translations("vi").gettext(msgid).split("{")[0]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_bytes(store: BlobStore, sha: str) -> bytes:
    with store.open(sha) as fh:
        return fh.read()


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every application table's rows, in primary-key order."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        rows = {}
        for name in inspector.get_table_names():
            if name == "alembic_version":
                continue
            keys = inspector.get_pk_constraint(name)["constrained_columns"] or ["1"]
            order = ", ".join(keys)
            rows[name] = [
                tuple(r) for r in conn.execute(text(f"SELECT * FROM {name} ORDER BY {order}"))
            ]
        return rows


def revision_of(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(text("SELECT version_num FROM alembic_version")))


def head_revision(instance: Instance) -> str:
    return ScriptDirectory.from_config(alembic_config(instance.settings)).get_current_head() or ""


@pytest.fixture(scope="module")
def instances(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Instances]:
    endpoint = request.getfixturevalue("s3_endpoint") if STORAGE == "s3" else None
    made = Instances(database_url, tmp_path_factory, endpoint)
    yield made
    made.drop_all()


@pytest.fixture(scope="module")
def source(instances: Instances) -> Instance:
    """The demo instance (``hocso demo``) with files uploaded through the API."""
    instance = instances.new("source")
    instance.migrate()
    demo = hocso(instance, "demo")
    assert demo.returncode == 0, demo.stderr
    with TestClient(create_app(instance.settings)) as client:
        token = client.post(
            "/api/v1/auth/token",
            data={"username": "tacgia@tancuong.edu.vn", "password": DEMO_PASSWORD},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        files = [
            ("document", "tai-lieu.pdf", pdf(f"Sao lưu {os.urandom(8).hex()}")),
            ("video", "bai-giang.mp4", mp4(64 * 1024)[:-16] + os.urandom(16)),
        ]
        for kind, name, data in files:
            item = client.post(
                "/api/v1/content", headers=headers, json={"title": f"Sao lưu {name}", "kind": kind}
            ).json()
            response = upload(client, headers, item["id"], data, filename=name)
            assert response.status_code == 201, response.text
            assert response.json()["sha256"] == sha256_of(data)
    return instance


@pytest.fixture(scope="module")
def archive(source: Instance, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hocso backup`` of the source instance."""
    out = tmp_path_factory.mktemp("archives") / "hocso.tar"
    made = hocso(source, "backup", str(out))
    assert made.returncode == 0, made.stderr
    assert sha256_of(out.read_bytes()) in made.stdout  # the archive's own checksum is shown
    assert out.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only
    return out


def test_a_populated_instance_round_trips_every_row_and_file(
    source: Instance, archive: Path, instances: Instances
) -> None:
    manifest = check_archive(archive)
    checked = CliRunner().invoke(cli, ["restore", "--check", str(archive)])
    assert checked.exit_code == 0, checked.output
    assert f"{len(manifest.files)} files match the manifest" in checked.output
    source_rows = table_rows(source.engine())
    assert {t.name: t.rows for t in manifest.tables} == {
        name: len(rows) for name, rows in source_rows.items()
    }
    assert manifest.alembic_revision == head_revision(source)
    assert manifest.database_kind == make_url(source.settings.database_url).get_backend_name()
    assert sum(t.rows for t in manifest.tables) > 100
    with source.engine().connect() as conn:
        blobs = sorted(blobs_in_use(conn))
    assert len(blobs) >= 4  # the demo library and the two uploads
    assert manifest.blobs.count == len(blobs)
    assert not manifest.blobs.missing

    target = instances.new("target")
    target.migrate()  # as a fresh container does before anyone restores into it
    restored = hocso(target, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert table_rows(target.engine()) == source_rows
    assert revision_of(target.engine()) == head_revision(target)
    target_store = target.store()
    for sha in blobs:
        assert sha256_of(stored_bytes(target_store, sha)) == sha

    # The restored instance serves: sign in, download an uploaded file, create a new record (the
    # id sequences were moved past the restored rows on PostgreSQL).
    with TestClient(create_app(target.settings)) as client:
        token = client.post(
            "/api/v1/auth/token",
            data={"username": "tacgia@tancuong.edu.vn", "password": DEMO_PASSWORD},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        items = client.get("/api/v1/content?q=sao luu", headers=headers).json()["items"]
        assert len(items) == 2
        for item in items:
            data = fetch(client, f"/api/v1/content/{item['id']}/versions/1/file", headers).content
            assert sha256_of(data) in blobs
        created = client.post(
            "/api/v1/content",
            headers=headers,
            json={"title": "Sau khi khôi phục", "kind": "link", "url": "https://moet.gov.vn"},
        )
        assert created.status_code == 201, created.text

    again = refused(hocso(target, "restore", str(archive)))
    assert (
        message(
            "The target database is not empty (table {table} has rows): restore only into an "
            "empty instance."
        )
        in again
    )


def test_an_existing_output_file_is_kept_unless_forced(source: Instance, tmp_path: Path) -> None:
    out = tmp_path / "hocso.tar.gz"
    out.write_bytes(b"yesterday's backup")
    line = refused(hocso(source, "backup", str(out)))
    assert str(out) in line
    assert out.read_bytes() == b"yesterday's backup"
    assert list(tmp_path.iterdir()) == [out]  # no temp file left behind

    create_backup(source.settings, out, referenced_blobs=blobs_in_use, force=True)
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    manifest = check_archive(out)
    assert manifest.blobs.count >= 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hocso.tar.gz"]


def _flip_byte(archive: Path, out: Path, member_name: str) -> None:
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member_name).offset_data
    data = bytearray(archive.read_bytes())
    data[offset + 10] ^= 0xFF
    out.write_bytes(bytes(data))


def _rewrite_manifest(archive: Path, out: Path, change: dict[str, Any]) -> None:
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for member in source.getmembers():
            body = source.extractfile(member)
            assert body is not None
            data = body.read()
            if member.name == "manifest.json":
                manifest = orjson.loads(data)
                for key, value in change.items():
                    if key == "rows":
                        manifest["tables"][1]["rows"] += value
                    else:
                        manifest[key] = value
                data = orjson.dumps(manifest)
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))


def assert_untouched(instance: Instance) -> None:
    with instance.engine().connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        for name in names:
            assert conn.scalar(text(f"SELECT count(*) FROM {name}")) == 0, name
    assert list(instance.store().iter_blobs()) == []


def test_a_damaged_or_newer_archive_is_refused_before_anything_changes(
    archive: Path, instances: Instances, tmp_path: Path
) -> None:
    manifest = check_archive(archive)
    blob = next(f.path for f in manifest.files if f.path.startswith("blobs/"))
    damaged = tmp_path / "damaged.tar"
    _flip_byte(archive, damaged, blob)
    target = instances.new("tampered")
    line = refused(hocso(target, "restore", str(damaged)))
    assert blob in line
    assert (
        message("The backup is damaged: {name} does not match the SHA-256 in its manifest.") in line
    )
    assert not inspect(target.engine()).get_table_names()  # not even migrated
    assert list(target.store().iter_blobs()) == []

    cfg = alembic_config(target.settings)
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    not_tar = tmp_path / "notes.tar"
    not_tar.write_text("not an archive")
    for bad in (truncated, not_tar, tmp_path / "missing.tar"):
        with pytest.raises(BackupError):
            restore_backup(target.settings, bad, alembic_cfg=cfg)

    newer = tmp_path / "newer.tar"
    _rewrite_manifest(archive, newer, {"alembic_revision": "0123456789ff"})
    with pytest.raises(BackupError, match="0123456789ff"):
        restore_backup(target.settings, newer, alembic_cfg=cfg)
    assert not inspect(target.engine()).get_table_names()

    # A manifest edited by hand (row counts are not hashed) fails the row check: the load is
    # rolled back and the files it had stored are removed again.
    edited = tmp_path / "edited.tar"
    _rewrite_manifest(archive, edited, {"rows": 1})
    with pytest.raises(BackupError, match=manifest.tables[1].name):
        restore_backup(target.settings, edited, alembic_cfg=cfg)
    assert_untouched(target)


def typed_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows read through the models' types (UTC timestamps, JSON, booleans), so
    two databases of different kinds can be compared."""
    with engine.connect() as conn:
        return {
            name: [
                tuple(row)
                for row in conn.execute(select(model).order_by(*model.primary_key.columns))
            ]
            for name, model in Base.metadata.tables.items()
        }


@pytest.mark.skipif(
    not BACKEND.startswith("postgresql"), reason="needs the PostgreSQL pass for the source"
)
def test_a_postgresql_backup_restores_into_sqlite_and_local_disk(
    source: Instance, archive: Path, instances: Instances
) -> None:
    target = instances.new("downsized", backend="sqlite", storage="local")
    restore_backup(target.settings, archive, alembic_cfg=alembic_config(target.settings))
    assert typed_rows(target.engine()) == typed_rows(source.engine())
    with source.engine().connect() as conn:
        blobs = blobs_in_use(conn)
    for sha in blobs:
        assert sha256_of(stored_bytes(target.store(), sha)) == sha


def test_a_backup_taken_while_rows_are_written_is_consistent(
    source: Instance, instances: Instances, tmp_path: Path
) -> None:
    """A writer adds a school and its teacher in one transaction, again and again, while the
    backup runs; the backup waits after the organisations until more pairs are committed. A
    backup that was not one snapshot would hold teachers whose school it lacks."""
    engine = source.engine()
    with Session(engine) as session:
        commune = session.scalars(select(Organization).where(Organization.kind == "commune"))
        commune_id = commune.first().id  # type: ignore[union-attr]
    committed: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            try:
                with Session(engine) as session, session.begin():
                    school = Organization(
                        name=f"Trường ghi đồng thời {n}",
                        kind="school",
                        level="primary",
                        parent_id=commune_id,
                    )
                    session.add(school)
                    session.flush()
                    session.add(
                        User(
                            email=f"dongthoi{n}@tancuong.edu.vn",
                            full_name=f"Giáo viên {n}",
                            role="teacher",
                            organization_id=school.id,
                        )
                    )
                committed.append(n)
            except BaseException as exc:  # reported by the test
                errors.append(exc)
                return
            time.sleep(0.005)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while len(committed) < count and not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(committed) >= count, errors

    def on_table(name: str) -> None:
        if name == "accounts_organization":
            wait_for(len(committed) + 3)  # writes land between this table and the users

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_for(2)
        out = tmp_path / "during.tar"
        create_backup(source.settings, out, referenced_blobs=blobs_in_use, on_table=on_table)
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    manifest = check_archive(out)
    counts = {t.name: t.rows for t in manifest.tables}
    with engine.connect() as conn:
        now = conn.scalar(select(text("count(*)")).select_from(Organization.__table__))
    assert now is not None
    assert now >= counts["accounts_organization"] + 3

    target = instances.new("during")  # not migrated: restore migrates it
    restore_backup(target.settings, out, alembic_cfg=alembic_config(target.settings))
    restored = table_rows(target.engine())
    assert {name: len(rows) for name, rows in restored.items()} == counts
    with Session(target.engine()) as session:
        schools = set(
            session.scalars(select(Organization.id).where(Organization.name.like("Trường ghi%")))
        )
        teachers = set(
            session.scalars(select(User.organization_id).where(User.email.like("dongthoi%")))
        )
    assert schools  # some pairs were committed before the backup began
    assert schools == teachers  # every pair whole, none half


def test_an_older_sqlite_backup_restores_into_a_new_instance(
    instances: Instances, tmp_path: Path
) -> None:
    """Made by the previous schema revision on SQLite + local disk, restored into an instance
    of this run's kind already migrated to the newest revision: restore takes the empty
    target down to the backup's revision, loads, and migrates up again."""
    old = instances.new("older", backend="sqlite", storage="local")
    script = ScriptDirectory.from_config(alembic_config(old.settings))
    previous = str(script.get_revision(script.get_current_head()).down_revision)
    old.migrate(previous)
    document = b"%PDF-1.4 Tai lieu cu " + os.urandom(16)
    blob = sha256_of(document)
    staged = old.store().temp_dir() / "upload-old"
    staged.write_bytes(document)
    old.store().put(blob, staged)
    at = "2026-01-05 03:04:05.123456"
    with old.engine().begin() as conn:
        # Ids run against the tree (the province has the highest id): parents must come first.
        for id_, name, kind, parent in [
            (30, "Tỉnh Thái Nguyên", "province", None),
            (20, "Xã Tân Cương", "commune", 30),
            (10, "Trường THCS Tân Cương", "school", 20),
        ]:
            conn.execute(
                text(
                    "INSERT INTO accounts_organization (id, name, kind, level, parent_id, "
                    "created_at) VALUES (:id, :name, :kind, :level, :parent, :at)"
                ),
                {
                    "id": id_,
                    "name": name,
                    "kind": kind,
                    "parent": parent,
                    "at": at,
                    "level": "lower_secondary" if kind == "school" else None,
                },
            )
        conn.execute(
            text(
                "INSERT INTO accounts_user (id, email, full_name, role, organization_id, "
                "is_active, token_version, created_at, updated_at) VALUES (7, "
                "'quanly@tancuong.edu.vn', 'Nguyễn Thị Quản Lý', 'school_manager', 10, 1, 0, "
                ":at, :at)"
            ),
            {"at": at},
        )
        for id_, detail in [(1, "null"), (2, '{"lý do": "Sao lưu", "n": [1, 2.5, null]}')]:
            conn.execute(
                text(
                    "INSERT INTO accounts_audit_entry (id, at, actor_id, actor_label, action, "
                    "target_type, target_label, organization_id, detail, via, search_text) "
                    "VALUES (:id, :at, 7, 'Quản lý', 'test', 'user', 'x', 10, :detail, 'cli', '')"
                ),
                {"id": id_, "at": at, "detail": detail},
            )
        # A submitted report (id 2) and its correction (id 1) that supersedes it: the
        # correction's figures are SQL NULL, the audit entry's detail above is JSON null.
        conn.execute(
            text(
                "INSERT INTO reports_periodic_report (id, organization_id, period, revision, "
                "status, narrative, number, figures, created_by_id, created_at, updated_at, "
                "submitted_by_id, submitted_at, supersedes_id) VALUES "
                "(2, 10, '2026-Q1', 1, 'superseded', 'Quý I', '12/BC', '{\"v\": 1}', 7, :at, :at,"
                " 7, :at, NULL), "
                "(1, 10, '2026-Q1', 2, 'draft', 'Quý I (sửa)', '', NULL, 7, :at, :at, NULL, "
                "NULL, 2)"
            ),
            {"at": at},
        )
        conn.execute(
            text("INSERT INTO lcms_blob (sha256, size, created_at) VALUES (:sha, :size, :at)"),
            {"sha": blob, "size": len(document), "at": at},
        )
    out = tmp_path / "older.tar"
    create_backup(old.settings, out, referenced_blobs=blobs_in_use)
    assert check_archive(out).alembic_revision == previous

    target = instances.new("newer")
    target.migrate()
    restore_backup(target.settings, out, alembic_cfg=alembic_config(target.settings))
    engine = target.engine()
    assert revision_of(engine) == script.get_current_head()
    expected_at = datetime(2026, 1, 5, 3, 4, 5, 123456, tzinfo=UTC)
    organizations = table(
        "accounts_organization",
        column("id"),
        column("parent_id"),
        column("created_at", UTCDateTime()),
    )
    audit = table("accounts_audit_entry", column("id"), column("detail", JSON))
    reports = table("reports_periodic_report", column("id"), column("figures", JSON))
    with engine.connect() as conn:
        assert conn.execute(select(organizations).order_by(organizations.c.id)).all() == [
            (10, 20, expected_at),
            (20, 30, expected_at),
            (30, None, expected_at),
        ]
        assert conn.execute(
            select(audit.c.id, audit.c.detail, audit.c.detail.is_(None)).order_by(audit.c.id)
        ).all() == [(1, None, False), (2, {"lý do": "Sao lưu", "n": [1, 2.5, None]}, False)]
        assert conn.execute(
            select(reports.c.id, reports.c.figures, reports.c.figures.is_(None)).order_by(
                reports.c.id
            )
        ).all() == [(1, None, True), (2, {"v": 1}, False)]
    assert sha256_of(stored_bytes(target.store(), blob)) == blob


def test_backup_of_an_unmigrated_database_says_what_to_do(
    instances: Instances, tmp_path: Path
) -> None:
    empty = instances.new("empty", backend="sqlite", storage="local")
    with pytest.raises(BackupError, match="hocso migrate"):
        create_backup(empty.settings, tmp_path / "x.tar", referenced_blobs=blobs_in_use)
    assert list(tmp_path.iterdir()) == []
    shutil.rmtree(empty.settings.data_dir, ignore_errors=True)
