"""The ``hocso`` command line: migrate, create-admin, demo; one clear line on mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from app.accounts.models import Organization, User


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
