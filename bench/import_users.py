"""Benchmark: import 5,000 users from CSV through the API (target: under 30 s).

Baseline, measured in the same run on the same database: a raw SQL executemany INSERT of the
same 5,000 rows. Prints the figures and the ratio and appends them to docs/benchmarks.md.
Run with ``make bench`` (SQLite) or ``HOCSO_BENCH_DB=postgresql make bench``.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.accounts.models import Organization, User  # noqa: E402
from app.cli import alembic_config  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from app.core.security import hash_password  # noqa: E402
from app.main import create_app  # noqa: E402

ROWS = 5_000


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    from alembic import command

    backend = os.environ.get("HOCSO_BENCH_DB", "sqlite")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if backend == "postgresql":
            from tests.support.postgres import throwaway_postgres

            url = stack.enter_context(throwaway_postgres("hocso_bench"))
        else:
            url = f"sqlite:///{tmp / 'bench.db'}"
        settings = Settings(
            env="test",
            database_url=url,
            data_dir=tmp,
            secret_key="bench-secret-key-0123456789abcdef0123",
        )
        command.upgrade(alembic_config(settings), "head")
        engine = make_engine(settings)
        with session_scope(make_sessionmaker(engine)) as session:
            org = Organization(
                name="Trường THCS Bench", kind="school", level="lower_secondary", parent_id=None
            )
            province = Organization(name="Tỉnh", kind="province")
            session.add(province)
            session.flush()
            commune = Organization(name="Xã", kind="commune", parent_id=province.id)
            session.add(commune)
            session.flush()
            org.parent_id = commune.id
            session.add(org)
            session.flush()
            admin = User(
                email="admin@bench.edu.vn",
                full_name="Quản trị",
                role="admin",
                organization_id=org.id,
                password_hash=hash_password(settings, "Bench-2026!"),
            )
            session.add(admin)
            org_id = org.id

        lines = ["email,full_name,role,organization_id"]
        lines += [
            f"hs{i:05d}@bench.edu.vn,Nguyễn Văn Học {i:05d},student,{org_id}" for i in range(ROWS)
        ]
        data = ("\n".join(lines) + "\n").encode()

        # Baseline: the same rows through one raw executemany INSERT.
        now = datetime.now(UTC).replace(tzinfo=None) if backend == "sqlite" else datetime.now(UTC)
        rows = [
            {
                "email": f"raw{i:05d}@bench.edu.vn",
                "full_name": f"Raw {i}",
                "role": "student",
                "org": org_id,
                "now": now,
            }
            for i in range(ROWS)
        ]
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts_user (email, full_name, role, organization_id, "
                    "is_active, token_version, created_at, updated_at) VALUES "
                    "(:email, :full_name, :role, :org, true, 0, :now, :now)"
                ),
                rows,
            )
        baseline = time.perf_counter() - t0

        app = create_app(settings)
        with TestClient(app) as client:
            token = client.post(
                "/api/v1/auth/token",
                data={"username": "admin@bench.edu.vn", "password": "Bench-2026!"},
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            t0 = time.perf_counter()
            response = client.post(
                "/api/v1/users/import",
                headers=headers,
                files={"file": ("users.csv", data, "text/csv")},
            )
            elapsed = time.perf_counter() - t0
            body = response.json()
            assert response.status_code == 200, response.text
            assert body["created"] == ROWS, body["errors"][:3]
            t0 = time.perf_counter()
            again = client.post(
                "/api/v1/users/import",
                headers=headers,
                files={"file": ("users.csv", data, "text/csv")},
            ).json()
            reimport = time.perf_counter() - t0
            assert again["skipped"] == ROWS
        engine.dispose()

    ratio = elapsed / baseline
    summary = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {backend} | {ROWS} | {elapsed:.2f} s | "
        f"{reimport:.2f} s | {baseline:.3f} s | {ratio:.1f}× | {machine()} |"
    )
    print(
        f"import of {ROWS} users via API on {backend}: {elapsed:.2f} s "
        f"(re-import, all skipped: {reimport:.2f} s); raw INSERT baseline {baseline:.3f} s; "
        f"ratio {ratio:.1f}×; target < 30 s: {'met' if elapsed < 30 else 'MISSED'}"
    )
    out = ROOT / "docs" / "benchmarks.md"
    if out.exists():
        with out.open("a", encoding="utf-8") as fh:
            fh.write(summary + "\n")
        print(f"appended to {out}")


if __name__ == "__main__":
    main()
