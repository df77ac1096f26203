"""Tables of the content library."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.db import Base, UTCDateTime, one_of, utcnow


class ContentKind(enum.StrEnum):
    video = "video"
    audio = "audio"
    image = "image"
    slides = "slides"
    document = "document"
    handbook = "handbook"
    package = "package"
    link = "link"


class ContentStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class LabelKind(enum.StrEnum):
    tag = "tag"
    level = "level"
    topic = "topic"


class TrackKind(enum.StrEnum):
    """What a text track of an audio or video version is (the first two are WebVTT)."""

    captions = "captions"  # the speech and meaningful sounds, in the spoken language
    subtitles = "subtitles"  # a translation of the speech
    transcript = "transcript"  # plain text, read beside the player


class PublishAction(enum.StrEnum):
    publish = "publish"
    rollback = "rollback"
    archive = "archive"
    restore = "restore"


class Blob(Base):
    """Bytes stored once per SHA-256, whatever item or version refers to them."""

    __tablename__ = "lcms_blob"
    __table_args__ = (CheckConstraint("size >= 0", name="size"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContentItem(Base):
    __tablename__ = "lcms_content_item"
    __table_args__ = (
        CheckConstraint(one_of("kind", ContentKind), name="kind"),
        CheckConstraint(one_of("status", ContentStatus), name="status"),
        CheckConstraint("(kind = 'link') = (url IS NOT NULL)", name="url_only_for_links"),
        Index("ix_lcms_content_item_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(20), default=ContentStatus.draft.value)
    # The version learners see. NULL until the first publish.
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("lcms_content_version.id", use_alter=True, ondelete="RESTRICT")
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"), index=True)
    # Folded (accent-free, lower-case) copies for search, identical on every database.
    search_title: Mapped[str] = mapped_column(String(300), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")
    labels: Mapped[list[ContentLabel]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContentLabel.id"
    )

    def values(self, kind: LabelKind) -> list[str]:
        return [label.value for label in self.labels if label.kind == kind]


class ContentLabel(Base):
    """A tag, level or topic of an item (a row each, so filters are plain joins)."""

    __tablename__ = "lcms_content_label"
    __table_args__ = (
        UniqueConstraint("item_id", "kind", "value"),
        CheckConstraint(one_of("kind", LabelKind), name="kind"),
        Index("ix_lcms_content_label_lookup", "kind", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(60))
    # The folded value (no accents, lower case): filters match on it on every database.
    key: Mapped[str] = mapped_column(String(60))


class ContentVersion(Base):
    """One immutable upload of an item: never updated, never deleted."""

    __tablename__ = "lcms_content_version"
    __table_args__ = (
        UniqueConstraint("item_id", "number"),
        CheckConstraint("number >= 1", name="number"),
        CheckConstraint("size >= 0", name="size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="RESTRICT"), index=True
    )
    number: Mapped[int]
    blob_sha256: Mapped[str] = mapped_column(
        ForeignKey("lcms_blob.sha256", ondelete="RESTRICT"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(String(1000), default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    created_by: Mapped[User] = relationship(lazy="joined")


class PublishEvent(Base):
    """Every publish, rollback, archive and restore: who, when, from which version to which."""

    __tablename__ = "lcms_publish_event"
    __table_args__ = (CheckConstraint(one_of("action", PublishAction), name="action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    from_version: Mapped[int | None]
    to_version: Mapped[int | None]
    actor_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User] = relationship(lazy="joined")


class TextTrack(Base):
    """Captions, subtitles or a transcript of one audio or video version (decision 11).

    The bytes are a blob like any file; the row says which version they belong to. A new
    version starts with its predecessor's tracks (rows copied, blobs shared)."""

    __tablename__ = "lcms_text_track"
    __table_args__ = (
        UniqueConstraint("version_id", "kind", "language"),
        CheckConstraint(one_of("kind", TrackKind), name="kind"),
        CheckConstraint("size >= 0", name="size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_version.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    # A BCP 47 tag such as "vi", "en" or "zh-Hant" (the <track srclang> and the text's lang).
    language: Mapped[str] = mapped_column(String(35))
    label: Mapped[str] = mapped_column(String(100))
    blob_sha256: Mapped[str] = mapped_column(
        ForeignKey("lcms_blob.sha256", ondelete="RESTRICT"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    created_by: Mapped[User] = relationship(lazy="joined")
