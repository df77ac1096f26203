"""Tables of the accounts package."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.core.collation import SORT_KEY_LENGTH, vi_name_key, vi_sort_key
from app.core.db import Base, UTCDateTime, one_of, utcnow
from app.core.text import fold


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


def _sort_name_column(source: str, key: Callable[[str], str]) -> Mapped[str]:
    """A Vietnamese sort key (decision 10) of the ``source`` column, compared byte by byte:
    COLLATE "C" on PostgreSQL, SQLite's default BINARY.

    Objects keep it through their validator (below); the column default covers bulk INSERTs
    that bypass it (the CSV import inserts plain rows). The '' server default only lets the
    migration add the column to existing rows."""

    def default(context: DefaultExecutionContext) -> str:
        parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
        return key(parameters[source])[:SORT_KEY_LENGTH]

    return mapped_column(
        String(SORT_KEY_LENGTH).with_variant(String(SORT_KEY_LENGTH, collation="C"), "postgresql"),
        index=True,
        default=default,
        server_default="",
    )


SEARCH_NAME_LENGTH = 200


def _search_name_column(source: str) -> Mapped[str]:
    """The ``source`` column folded (no accents, lower case, single spaces): the user search
    matches on it, so "nguyen van an" finds "Nguyễn Văn An" on every database (SQLite's
    lower() and PostgreSQL's in the C locale only fold ASCII). Kept as ``sort_name`` is."""

    def default(context: DefaultExecutionContext) -> str:
        parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
        return fold(parameters[source])[:SEARCH_NAME_LENGTH]

    return mapped_column(String(SEARCH_NAME_LENGTH), default=default, server_default="")


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
    # vi_sort_key(name): order lists of organisations by this, never by name.
    sort_name: Mapped[str] = _sort_name_column("name", vi_sort_key)
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped[Organization | None] = relationship(remote_side=[id], lazy="joined")

    # Every write of the name goes through here (constructor and assignment alike), so the key
    # cannot go stale. Bulk UPDATEs of the name would bypass it: there are none.
    @validates("name")
    def _keep_sort_name(self, _key: str, name: str) -> str:
        self.sort_name = vi_sort_key(name)[:SORT_KEY_LENGTH]
        return name


class User(Base):
    __tablename__ = "accounts_user"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # vi_name_key(full_name), given name first: order lists of people by this, never by full_name.
    sort_name: Mapped[str] = _sort_name_column("full_name", vi_name_key)
    search_name: Mapped[str] = _search_name_column("full_name")
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

    # As for Organization.name: constructor and assignment alike keep the keys right.
    @validates("full_name")
    def _keep_sort_name(self, _key: str, full_name: str) -> str:
        self.sort_name = vi_name_key(full_name)[:SORT_KEY_LENGTH]
        self.search_name = fold(full_name)[:SEARCH_NAME_LENGTH]
        return full_name


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
