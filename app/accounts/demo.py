"""Demo organisations and users for Tân Cương commune (idempotent: run it any number of times)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.security import hash_password

DEMO_PASSWORD = "HocSo@2026"

PROVINCE = "Tỉnh Thái Nguyên"
COMMUNE = "Xã Tân Cương"
SCHOOLS = (
    ("Trường Mầm non Tân Cương", "preschool"),
    ("Trường Tiểu học Tân Cương", "primary"),
    ("Trường THCS Tân Cương", "lower_secondary"),
)

# email, full name, role, organisation name
DEMO_USERS = (
    ("admin@tancuong.edu.vn", "Nguyễn Văn An", "admin", COMMUNE),
    ("quanly.thcs@tancuong.edu.vn", "Trần Thị Bình", "school_manager", "Trường THCS Tân Cương"),
    ("quanly.th@tancuong.edu.vn", "Lê Văn Cường", "school_manager", "Trường Tiểu học Tân Cương"),
    ("tacgia@tancuong.edu.vn", "Phạm Thu Dung", "author", COMMUNE),
    ("gv.mn@tancuong.edu.vn", "Hoàng Thị Én", "teacher", "Trường Mầm non Tân Cương"),
    ("gv.th@tancuong.edu.vn", "Đặng Văn Giang", "teacher", "Trường Tiểu học Tân Cương"),
    ("gv.thcs@tancuong.edu.vn", "Vũ Thị Hà", "teacher", "Trường THCS Tân Cương"),
    ("hs.thcs1@tancuong.edu.vn", "Đỗ Minh Khang", "student", "Trường THCS Tân Cương"),
    ("hs.thcs2@tancuong.edu.vn", "Bùi Ngọc Lan", "student", "Trường THCS Tân Cương"),
    ("hs.th1@tancuong.edu.vn", "Ngô Gia Minh", "student", "Trường Tiểu học Tân Cương"),
)


def _org(
    session: Session, name: str, kind: str, parent: Organization | None, level: str | None = None
) -> tuple[Organization, bool]:
    parent_id = parent.id if parent else None
    found = session.scalar(
        select(Organization).where(
            Organization.name == name,
            Organization.parent_id.is_(None)
            if parent_id is None
            else Organization.parent_id == parent_id,
        )
    )
    if found:
        return found, False
    org = Organization(name=name, kind=kind, level=level, parent_id=parent_id)
    session.add(org)
    session.flush()
    return org, True


def load_demo(session: Session, settings: Settings) -> int:
    """Create what is missing; return how many records were created."""
    created = 0
    province, new = _org(session, PROVINCE, "province", None)
    created += new
    commune, new = _org(session, COMMUNE, "commune", province)
    created += new
    orgs = {PROVINCE: province, COMMUNE: commune}
    for name, level in SCHOOLS:
        orgs[name], new = _org(session, name, "school", commune, level)
        created += new
    password_hash = None
    for email, full_name, role, org_name in DEMO_USERS:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            continue
        password_hash = password_hash or hash_password(settings, DEMO_PASSWORD)
        session.add(
            User(
                email=email,
                full_name=full_name,
                role=role,
                organization_id=orgs[org_name].id,
                password_hash=password_hash,
            )
        )
        created += 1
    session.flush()
    return created
