"""The ``hocso`` command line: migrate, create-admin, demo; one clear line on mistakes."""

from __future__ import annotations

import csv
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from typer.testing import CliRunner

from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.db import make_sessionmaker, session_scope
from tests.factories import make_org


def hocso(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOCSO_")}
    environment.update({"HOCSO_DATA_DIR": str(data_dir), **env})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_dir,
    )


def test_migrate_demo_and_create_admin_on_a_fresh_sqlite_instance(tmp_path: Path) -> None:
    assert hocso(tmp_path, "migrate").returncode == 0
    first = hocso(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert "admin@tancuong.edu.vn" in first.stdout
    assert "HocSo@2026" in first.stdout
    second = hocso(tmp_path, "demo")
    assert "(0 new records)" in second.stdout  # idempotent
    engine = create_engine(f"sqlite:///{tmp_path / 'hocso.db'}")
    with engine.connect() as conn:
        schools = conn.execute(
            select(Organization.name, Organization.level).where(Organization.kind == "school")
        ).all()
        assert {level for _, level in schools} == {"preschool", "primary", "lower_secondary"}
        roles = set(conn.scalars(select(User.role)))
        assert roles == {"admin", "school_manager", "author", "teacher", "student"}
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        published = conn.execute(
            text("SELECT count(*) FROM lcms_content_item WHERE status = 'published'")
        ).scalar()
        assert published == 3  # the library is not empty on a fresh `make run`
        courses = conn.execute(
            text("SELECT count(*) FROM lms_course WHERE status = 'published'")
        ).scalar()
        assert courses == 1  # nor is the catalogue
        enrolled = conn.execute(text("SELECT count(*) FROM lms_enrollment")).scalar()
        assert enrolled == 17  # 3 demo teachers + 14 with learning history for the reports
        certificates = conn.execute(text("SELECT count(*) FROM lms_certificate")).scalar()
        assert certificates == 7  # the dashboards are not empty either

    made = hocso(
        tmp_path,
        "create-admin",
        "--email",
        "Sep@TanCuong.edu.vn",
        "--password",
        "Quan-tri-2026",
        "--name",
        "Hà Văn Sếp",
    )
    assert made.returncode == 0, made.stderr
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(User.email == "sep@tancuong.edu.vn")) == 1
    engine.dispose()


def test_user_mistakes_print_one_line_and_exit_non_zero(tmp_path: Path) -> None:
    assert hocso(tmp_path, "migrate").returncode == 0
    hocso(tmp_path, "create-admin", "--email", "a@truong.edu.vn", "--password", "Mat-khau-2026")
    cases = [
        ("create-admin", "--email", "a@truong.edu.vn", "--password", "Mat-khau-2026"),
        ("create-admin", "--email", "not-an-email", "--password", "Mat-khau-2026"),
        ("create-admin", "--email", "b@truong.edu.vn", "--password", "short"),
        (
            "create-admin",
            "--email",
            "c@truong.edu.vn",
            "--password",
            "Mat-khau-2026",
            "--organization-id",
            "999",
        ),
    ]
    for args in cases:
        result = hocso(tmp_path, *args)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert result.stderr.startswith("hocso: error:")


def test_an_unmigrated_database_and_a_bad_setting_are_clear(tmp_path: Path) -> None:
    result = hocso(tmp_path, "demo")
    assert result.returncode == 1
    assert "hocso migrate" in result.stderr
    assert "Traceback" not in result.stderr
    bad = hocso(tmp_path, "demo", HOCSO_MAX_UPLOAD_MB="lots")
    assert bad.returncode == 1
    assert "max_upload_mb" in bad.stderr
    assert "Traceback" not in bad.stderr
    prod = hocso(tmp_path, "migrate", HOCSO_ENV="production")
    assert prod.returncode == 1
    assert "HOCSO_SECRET_KEY" in prod.stderr


def _import_csv(tmp_path: Path, school_id: int) -> Path:
    source = tmp_path / "users.csv"
    source.write_text(
        "email,full_name,role,organization_id\n"
        f"links@truong.edu.vn,Phạm Liên,teacher,{school_id}\n",
        encoding="utf-8",
    )
    return source


def _imported(engine: Engine) -> int:
    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count(User.id)).where(User.email == "links@truong.edu.vn")) or 0
        )


def test_import_users_with_an_unwritable_links_file_saves_nothing(
    committed: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The links hold the only copy of the activation codes: when they cannot be written the
    import is one clear line and nothing is saved, so a second run creates the users and
    writes their links (it would skip them, linkless, had they been saved)."""
    with session_scope(make_sessionmaker(committed)) as session:
        school_id = make_org(session).id
    source = _import_csv(tmp_path, school_id)
    database = {"HOCSO_DATABASE_URL": settings.database_url}
    nowhere = tmp_path / "no-such-dir" / "links.csv"
    failed = hocso(tmp_path, "import-users", str(source), "--links", str(nowhere), **database)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().count("\n") == 0, failed.stderr
    assert failed.stderr.startswith(f"hocso: error: cannot write the activation links to {nowhere}")
    assert _imported(committed) == 0
    links = tmp_path / "links.csv"
    again = hocso(tmp_path, "import-users", str(source), "--links", str(links), **database)
    assert "created 1, skipped 0" in again.stdout, again.stderr
    assert "links@truong.edu.vn,http" in links.read_text(encoding="utf-8-sig")


def test_import_users_rolls_back_when_the_links_fail_to_be_written(
    committed: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while writing the links (a full disk, say) after the users are inserted rolls
    the import back, and no half-written links file is left behind."""
    from app import cli

    with session_scope(make_sessionmaker(committed)) as session:
        school_id = make_org(session).id
    source = _import_csv(tmp_path, school_id)

    class FullDisk:
        def writerow(self, _row: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    monkeypatch.setattr(csv, "writer", lambda _file: FullDisk())
    result = CliRunner().invoke(cli.cli, ["import-users", str(source)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert "cannot write the activation links" in result.stderr
    assert "nothing was imported" in result.stderr
    assert _imported(committed) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.csv"]
