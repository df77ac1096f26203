"""Tables of the clubs: clubs and academic teams, their members and join requests, discussion
threads and posts, library attachments, moderation history and per-member read markers.

Integrity lives here: one membership per user and club, at most one pending join request per
user and club (a partial unique index), one read marker per user and thread, and CHECK
constraints on every kind, role and status. Posts keep their raw Markdown; HTML is rendered
through the sanitiser (``markup.py``) when shown, never stored.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
from app.core.db import Base, UTCDateTime, one_of, utcnow


class ClubKind(enum.StrEnum):
    club = "club"
    academic_team = "academic_team"


class MemberRole(enum.StrEnum):
    leader = "leader"
    member = "member"


class RequestStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class ModerationAction(enum.StrEnum):
    hide_post = "hide_post"
    unhide_post = "unhide_post"
    lock_thread = "lock_thread"
    unlock_thread = "unlock_thread"


class Club(Base):
    __tablename__ = "community_club"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        CheckConstraint(one_of("kind", ClubKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The folded name (no accents, lower case): the search matches on it on every database.
    search_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20), default=ClubKind.club.value)
    description: Mapped[str] = mapped_column(Text, default="")
    # A school (a school club) or a commune (commune-wide): who may see and join follows it.
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")
    labels: Mapped[list[ClubLabel]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ClubLabel.id"
    )

    def values(self, kind: str) -> list[str]:
        return [label.value for label in self.labels if label.kind == kind]


class ClubLabel(Base):
    """A school level or a topic of a club."""

    __tablename__ = "community_club_label"
    __table_args__ = (
        UniqueConstraint("club_id", "kind", "value"),
        CheckConstraint("kind IN ('level', 'topic')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(
        ForeignKey("community_club.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(60))


class ClubMember(Base):
    __tablename__ = "community_club_member"
    __table_args__ = (
        UniqueConstraint("club_id", "user_id"),
        CheckConstraint(one_of("role", MemberRole), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(ForeignKey("community_club.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10), default=MemberRole.member.value)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class JoinRequest(Base):
    __tablename__ = "community_club_join_request"
    __table_args__ = (
        # One pending request per user and club; decided requests stay as history.
        Index(
            "ix_community_club_join_request_one_pending",
            "club_id",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        CheckConstraint(one_of("status", RequestStatus), name="status"),
        CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name="decided_when_not_pending"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(
        ForeignKey("community_club.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default=RequestStatus.pending.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )

    user: Mapped[User] = relationship(lazy="joined", foreign_keys=[user_id])


class Thread(Base):
    __tablename__ = "community_thread"
    __table_args__ = (
        CheckConstraint("(locked_at IS NULL) = (locked_by_id IS NULL)", name="locked_by"),
        Index("ix_community_thread_club_last_post", "club_id", "last_post_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(ForeignKey("community_club.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Moved by every new post: thread lists are ordered by it.
    last_post_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts_user.id"))

    author: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[author_id])
    locked_by: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[locked_by_id])


class Post(Base):
    """One message of a thread; the thread's opening message is its first post."""

    __tablename__ = "community_post"
    __table_args__ = (
        CheckConstraint("(hidden_at IS NULL) = (hidden_by_id IS NULL)", name="hidden_by"),
        Index("ix_community_post_thread_id_id", "thread_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("community_thread.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )
    # Raw Markdown as written; rendered through the sanitiser when shown.
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts_user.id"))

    author: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[author_id])
    hidden_by: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[hidden_by_id])
    attachments: Mapped[list[PostAttachment]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="PostAttachment.position"
    )


class PostAttachment(Base):
    """A library item attached to a post (by id: the library stays the owner of the content)."""

    __tablename__ = "community_post_attachment"
    __table_args__ = (UniqueConstraint("post_id", "content_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("community_post.id", ondelete="CASCADE"))
    content_item_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)


class ModerationEntry(Base):
    """Who hid or showed a post, locked or unlocked a thread, and when (kept after an undo)."""

    __tablename__ = "community_moderation_entry"
    __table_args__ = (CheckConstraint(one_of("action", ModerationAction), name="action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    club_id: Mapped[int] = mapped_column(
        ForeignKey("community_club.id", ondelete="CASCADE"), index=True
    )
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("community_thread.id", ondelete="CASCADE"), index=True
    )
    post_id: Mapped[int | None] = mapped_column(ForeignKey("community_post.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")


class ThreadRead(Base):
    """How far a member has read a thread: the id of the newest post they have seen."""

    __tablename__ = "community_thread_read"
    __table_args__ = (UniqueConstraint("user_id", "thread_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("community_thread.id", ondelete="CASCADE"), index=True
    )
    last_read_post_id: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
