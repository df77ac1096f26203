"""Typed factory functions: build real rows through the same services the app uses."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.security import hash_password

PASSWORD = "Mat-khau-2026"
_seq = itertools.count(1)


def make_org(
    session: Session,
    *,
    name: str | None = None,
    kind: str = "school",
    level: str | None = "primary",
    parent: Organization | None = None,
) -> Organization:
    n = next(_seq)
    if kind == "school" and parent is None:
        parent = make_org(session, kind="commune", level=None)
    if kind == "commune" and parent is None:
        parent = make_org(session, kind="province", level=None)
    org = Organization(
        name=name or f"{kind.title()} {n}",
        kind=kind,
        level=level if kind == "school" else None,
        parent_id=parent.id if parent else None,
    )
    session.add(org)
    session.flush()
    return org


def make_user(
    session: Session,
    settings: Settings,
    *,
    role: str = "teacher",
    organization: Organization | None = None,
    email: str | None = None,
    full_name: str | None = None,
    password: str | None = PASSWORD,
    is_active: bool = True,
) -> User:
    n = next(_seq)
    user = User(
        email=(email or f"user{n}@truong.edu.vn").lower(),
        full_name=full_name or f"Người dùng {n}",
        role=role,
        organization_id=(organization or make_org(session)).id,
        password_hash=hash_password(settings, password) if password else None,
        is_active=is_active,
    )
    session.add(user)
    session.flush()
    return user
