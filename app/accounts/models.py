"""Tables of the accounts package."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime, one_of, utcnow


class OrgKind(enum.StrEnum):
    province = "province"
    commune = "commune"
    school = "school"


class SchoolLevel(enum.StrEnum):
    preschool = "preschool"
    primary = "primary"
    lower_secondary = "lower_secondary"


class Role(enum.StrEnum):
    admin = "admin"
    school_manager = "school_manager"
    author = "author"
    teacher = "teacher"
    student = "student"


# The kind of parent each kind of organisation must have (None: a root).
PARENT_KIND: dict[OrgKind, OrgKind | None] = {
    OrgKind.province: None,
    OrgKind.commune: OrgKind.province,
    OrgKind.school: OrgKind.commune,
}


class Organization(Base):
    __tablename__ = "accounts_organization"
    __table_args__ = (
        UniqueConstraint("parent_id", "name"),
        CheckConstraint(one_of("kind", OrgKind), name="kind"),
        CheckConstraint(f"level IS NULL OR {one_of('level', SchoolLevel)}", name="level"),
        CheckConstraint("(kind = 'school') = (level IS NOT NULL)", name="level_only_for_schools"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped[Organization | None] = relationship(remote_side=[id], lazy="joined")


class User(Base):
    __tablename__ = "accounts_user"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), index=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    # NULL until the user sets a password through an activation code.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped on password change and deactivation: every older API token stops working.
    token_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship(lazy="joined")


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; only its digest is stored."""

    __tablename__ = "accounts_web_session"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginFailure(Base):
    """One failed sign-in, counted per account and per client address inside a window."""

    __tablename__ = "accounts_login_failure"
    __table_args__ = (
        CheckConstraint("scope IN ('account', 'ip')", name="scope"),
        Index("ix_accounts_login_failure_lookup", "scope", "key", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(254))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ActivationCode(Base):
    """A one-time code that lets a user set their own password (imports, password resets)."""

    __tablename__ = "accounts_activation_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
