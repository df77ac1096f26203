"""CSV user import: the API, the service and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.importer import import_users
from app.accounts.models import ActivationCode, User
from app.core.config import Settings
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user

HEADER = "email,full_name,role,organization_id\n"


def csv_bytes(*lines: str, bom: bool = False) -> bytes:
    data = (HEADER + "".join(line + "\n" for line in lines)).encode()
    return b"\xef\xbb\xbf" + data if bom else data


def count_users(db: Session) -> int:
    return db.scalar(select(func.count(User.id))) or 0


def test_import_with_bom_and_vietnamese_names(
    client: TestClient, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    admin = make_user(db, settings, role="admin", organization=school)
    data = csv_bytes(
        f"hs.an@truong.edu.vn,Nguyễn Thị Ánh Dương,student,{school.id}",
        f"gv.binh@truong.edu.vn,  Đặng   Văn Bình ,teacher,{school.id}",
        "",
        f"HS.Cuong@Truong.edu.vn,Lò Văn Cường,student,{school.id}",
        bom=True,
    )
    response = client.post(
        "/api/v1/users/import",
        headers=token_for(client, admin.email),
        files={"file": ("danh-sach.csv", data, "text/csv")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["skipped"], body["errors"]) == (3, 0, [])
    assert len(body["activations"]) == 3
    names = set(db.scalars(select(User.full_name).where(User.organization_id == school.id)))
    assert {"Nguyễn Thị Ánh Dương", "Đặng Văn Bình", "Lò Văn Cường"} <= names
    cuong = db.scalar(select(User).where(User.email == "hs.cuong@truong.edu.vn"))
    assert cuong is not None
    assert cuong.password_hash is None
    # The activation link lets the user choose a password, then sign in.
    link = next(
        a["activation_url"] for a in body["activations"] if a["email"] == "hs.cuong@truong.edu.vn"
    )
    code = link.rsplit("/", 1)[1]
    assert (
        client.post(
            "/api/v1/auth/activate", json={"code": code, "password": "Cuong-2026!"}
        ).status_code
        == 200
    )
    token_for(client, "hs.cuong@truong.edu.vn", "Cuong-2026!")


def test_reimport_skips_existing_emails(db: Session, settings: Settings) -> None:
    school = make_org(db)
    data = csv_bytes(
        f"a@truong.edu.vn,An,student,{school.id}", f"b@truong.edu.vn,Bình,student,{school.id}"
    )
    first = import_users(db, settings, None, data)
    second = import_users(
        db, settings, None, data + f"c@truong.edu.vn,Cúc,student,{school.id}\n".encode()
    )
    assert (first.created, first.skipped) == (2, 0)
    assert (second.created, second.skipped) == (1, 2)
    assert db.scalar(select(func.count(ActivationCode.id))) == 3


def test_dry_run_saves_nothing(client: TestClient, db: Session, settings: Settings) -> None:
    school = make_org(db)
    admin = make_user(db, settings, role="admin", organization=school)
    before = count_users(db)
    response = client.post(
        "/api/v1/users/import?dry_run=true",
        headers=token_for(client, admin.email),
        files={"file": ("u.csv", csv_bytes(f"x@truong.edu.vn,Xuân,teacher,{school.id}"))},
    )
    assert response.json()["created"] == 1
    assert response.json()["dry_run"] is True
    assert response.json()["activations"] == []
    assert count_users(db) == before


def test_every_bad_line_is_reported_and_nothing_is_half_created(
    client: TestClient, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    admin = make_user(db, settings, role="admin", organization=school)
    before = count_users(db)
    data = csv_bytes(
        f"ok@truong.edu.vn,Được,student,{school.id}",  # line 2: fine
        f"not-an-email,Sai Email,student,{school.id}",  # 3
        "x@truong.edu.vn,Không Trường,student,999999",  # 4
        f"y@truong.edu.vn,Sai Vai Trò,wizard,{school.id}",  # 5
        f"z@truong.edu.vn,,student,{school.id}",  # 6
        "w@truong.edu.vn,Chữ,student,abc",  # 7
        f"ok@truong.edu.vn,Trùng,student,{school.id}",  # 8: twice in the file
        "only,three,columns",  # 9
    )
    response = client.post(
        "/api/v1/users/import",
        headers=token_for(client, admin.email),
        files={"file": ("u.csv", data)},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["created"] == 0
    assert [e["line"] for e in body["errors"]] == [3, 4, 5, 6, 7, 8, 9]
    assert "999999" in body["errors"][1]["message"]
    assert count_users(db) == before


def test_malformed_files(db: Session, settings: Settings) -> None:
    school = make_org(db)
    cases = {
        b"": 1,
        b"\xef\xbb\xbf": 1,
        b"mail,name\nx@y.vn,X\n": 1,
        HEADER.encode() + f"a@truong.edu.vn,Nguy\xe1n,student,{school.id}\n".encode("latin-1"): 2,
    }
    for data, line in cases.items():
        result = import_users(db, settings, None, data)
        assert result.created == 0
        assert result.errors, data
        assert result.errors[0].line == line, (data, result.errors)
    assert db.scalar(select(func.count(User.id)).where(User.email == "a@truong.edu.vn")) == 0


def test_school_manager_imports_only_into_their_school(
    client: TestClient, db: Session, settings: Settings
) -> None:
    commune = make_org(db, kind="commune")
    mine = make_org(db, parent=commune)
    other = make_org(db, parent=commune)
    manager = make_user(db, settings, role="school_manager", organization=mine)
    data = csv_bytes(
        f"m1@truong.edu.vn,Một,student,{mine.id}",
        f"m2@truong.edu.vn,Hai,student,{other.id}",
        f"m3@truong.edu.vn,Ba,admin,{mine.id}",
    )
    body = client.post(
        "/api/v1/users/import",
        headers=token_for(client, manager.email),
        files={"file": ("u.csv", data)},
    ).json()
    assert [e["line"] for e in body["errors"]] == [3, 4]
    assert body["created"] == 0


def test_oversize_file_is_413(client: TestClient, db: Session, settings: Settings) -> None:
    admin = make_user(db, settings, role="admin")
    big = HEADER.encode() + b"x" * (10 * 1024 * 1024 + 10)
    response = client.post(
        "/api/v1/users/import",
        headers=token_for(client, admin.email),
        files={"file": ("big.csv", big)},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    missing = client.post("/api/v1/users/import", headers=token_for(client, admin.email))
    assert missing.status_code == 422


def _hocso(settings: Settings, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOCSO_DATABASE_URL": settings.database_url,
        "HOCSO_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_import_reports_lines_and_writes_links(
    committed: object, settings: Settings, tmp_path: Path
) -> None:
    from app.core.db import make_sessionmaker, session_scope

    with session_scope(make_sessionmaker(committed)) as session:  # type: ignore[arg-type]
        school_id = make_org(session).id
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(f"bad-email,X,student,{school_id}"))
    result = _hocso(settings, "import-users", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{bad}:2:" in result.stderr
    assert "Traceback" not in result.stderr
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(f"cli@truong.edu.vn,Nguyễn CLI,teacher,{school_id}", bom=True))
    dry = _hocso(settings, "import-users", str(good), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0
    assert "would create 1" in dry.stdout
    done = _hocso(settings, "import-users", str(good), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created 1" in done.stdout
    links = (tmp_path / "good.activation.csv").read_text(encoding="utf-8-sig")
    assert "cli@truong.edu.vn,http://127.0.0.1:8000/activate/" in links
    again = _hocso(settings, "import-users", str(good), cwd=tmp_path)
    assert "created 0, skipped 1" in again.stdout
    missing = _hocso(settings, "import-users", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
