"""Tables of events: the event, its audience and materials, registrations (with a waitlist),
attendance, check-in failures, personal calendar feeds; partners and what links them to events
and to library items.

The library (lcms) and the courses (lms) know nothing of these tables: the links to content
items and to an event lesson live here, by foreign key.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
from app.core.db import Base, UTCDateTime, one_of, utcnow


class EventKind(enum.StrEnum):
    seminar = "seminar"
    workshop = "workshop"
    training = "training"
    conference = "conference"
    extracurricular = "extracurricular"
    meeting = "meeting"


class RegistrationStatus(enum.StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    cancelled = "cancelled"


class AttendanceSource(enum.StrEnum):
    code = "code"  # the attendee typed (or scanned) the check-in code
    organiser = "organiser"  # marked by the organiser
    import_ = "import"  # imported from a CSV file of emails


class PartnerKind(enum.StrEnum):
    agency = "agency"
    institute = "institute"
    business = "business"
    ngo = "ngo"
    other = "other"


class Event(Base):
    __tablename__ = "community_event"
    __table_args__ = (
        CheckConstraint(one_of("kind", EventKind), name="kind"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="capacity"),
        Index("ix_community_event_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The calendar UID: stable across edits, never an internal id guessable across servers.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    location: Mapped[str] = mapped_column(String(300), default="")
    online_url: Mapped[str | None] = mapped_column(String(2000))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    capacity: Mapped[int | None]
    # An event can be a lesson of a course (kind "event"): attendance completes it. One event
    # per lesson.
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lms_lesson.id", ondelete="SET NULL"), unique=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL"), index=True
    )
    # The check-in code is derived from this random value and the server's secret key
    # (HMAC): the database alone does not reveal it, the organiser's page can show it again
    # after a reload, and rotating the value invalidates the old code at once.
    checkin_nonce: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")
    labels: Mapped[list[EventLabel]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EventLabel.id"
    )
    audience: Mapped[list[EventAudience]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EventAudience.organization_id"
    )
    materials: Mapped[list[EventMaterial]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EventMaterial.position"
    )
    partners: Mapped[list[EventPartner]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EventPartner.partner_id"
    )

    def values(self, kind: str) -> list[str]:
        return [label.value for label in self.labels if label.kind == kind]


class EventLabel(Base):
    """An audience level or role of an event (none of a kind: everyone)."""

    __tablename__ = "community_event_label"
    __table_args__ = (
        UniqueConstraint("event_id", "kind", "value"),
        CheckConstraint("kind IN ('level', 'role')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("community_event.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(30))


class EventAudience(Base):
    """An organisation the event is for (with everything below it), inside the event's own
    organisation. None: the whole of the event's organisation."""

    __tablename__ = "community_event_audience"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("community_event.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[int] = mapped_column(
        # Named by hand: the conventional name would pass PostgreSQL's 63-character limit.
        ForeignKey(
            "accounts_organization.id",
            ondelete="CASCADE",
            name="fk_community_event_audience_organization_id",
        ),
        primary_key=True,
        index=True,
    )


class EventMaterial(Base):
    """A library item handed out with the event."""

    __tablename__ = "community_event_material"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("community_event.id", ondelete="CASCADE"), primary_key=True
    )
    content_item_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)


class Registration(Base):
    __tablename__ = "community_event_registration"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        CheckConstraint(one_of("status", RegistrationStatus), name="status"),
        Index("ix_community_event_registration_queue", "event_id", "status", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("community_event.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12))
    # When the person (last) asked for a seat: the waitlist's order.
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Attendance(Base):
    __tablename__ = "community_event_attendance"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        CheckConstraint(one_of("source", AttendanceSource), name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("community_event.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(10))
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined", foreign_keys=[user_id])


class CheckinFailure(Base):
    """A wrong check-in code typed by a user: counted in a sliding window so that the short
    code cannot be guessed by brute force (rows, not process memory: N processes agree)."""

    __tablename__ = "community_checkin_failure"
    __table_args__ = (Index("ix_community_checkin_failure_lookup", "user_id", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("community_event.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id", ondelete="CASCADE"))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalendarFeed(Base):
    """A user's secret calendar address (for calendar apps that cannot send a bearer token).

    The token in the address is an HMAC of ``nonce`` under the server's secret key; only its
    SHA-256 (the lookup key) and the nonce are stored. A new nonce revokes the old address."""

    __tablename__ = "community_calendar_feed"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(String(64))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Partner(Base):
    """An organisation outside the school tree: an agency, a research institute, a business."""

    __tablename__ = "community_partner"
    __table_args__ = (CheckConstraint(one_of("kind", PartnerKind), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    website: Mapped[str | None] = mapped_column(String(2000))
    contact: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    contents: Mapped[list[PartnerContent]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="PartnerContent.content_item_id"
    )


class EventPartner(Base):
    """A partner co-organising an event."""

    __tablename__ = "community_event_partner"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("community_event.id", ondelete="CASCADE"), primary_key=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("community_partner.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PartnerContent(Base):
    """A library item a partner contributed (a source of content)."""

    __tablename__ = "community_partner_content"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("community_partner.id", ondelete="CASCADE"), primary_key=True
    )
    content_item_id: Mapped[int] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="CASCADE"), primary_key=True, index=True
    )
