"""Tables of contests (idea sharing, STEM), their entries and judging, and of awards.

```
Contest ──< ContestLevel            (eligible school levels; none = every level)
   ├──< Criterion                   (the rubric: name, weight, max_score)
   ├──< Prize                       (ranks rank_from..rank_to → a prize name)
   ├──< Judge                       (the panel; UNIQUE contest + user)
   └──< Entry ──< EntryMember       (UNIQUE contest + user: one entry per person per contest)
          ├──< EntryFile            (bytes in lcms_blob / the BlobStore)
          └──< Review ──< ReviewScore   (one review per judge and entry; one score per criterion)
Award (to a user XOR an organisation; from a contest entry or entered by an administrator)
```

Integrity lives here: the one-entry-per-person rule is the unique key on EntryMember, a judge
scores an entry once (Review unique key) and a criterion once per review (ReviewScore unique
key); an award names exactly one recipient (CHECK).
"""

from __future__ import annotations

import enum
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

from app.accounts.models import Organization, SchoolLevel, User
from app.core.db import Base, UTCDateTime, one_of, utcnow


class ContestKind(enum.StrEnum):
    idea = "idea"
    stem = "stem"


class EntryMode(enum.StrEnum):
    individual = "individual"
    team = "team"


class MemberRole(enum.StrEnum):
    lead = "lead"
    member = "member"


class Contest(Base):
    __tablename__ = "community_contest"
    __table_args__ = (
        CheckConstraint(one_of("kind", ContestKind), name="kind"),
        CheckConstraint(one_of("entry_mode", EntryMode), name="entry_mode"),
        CheckConstraint("closes_at > opens_at", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))
    rules: Mapped[str] = mapped_column(Text, default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Eligibility: people of this organisation and of everything below it.
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    entry_mode: Mapped[str] = mapped_column(String(12), default=EntryMode.individual.value)
    judges_skip_own_school: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="RESTRICT"), index=True
    )
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(lazy="joined")
    level_rows: Mapped[list[ContestLevel]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContestLevel.id"
    )
    criteria: Mapped[list[Criterion]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="Criterion.position"
    )
    prizes: Mapped[list[Prize]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="Prize.rank_from"
    )

    @property
    def levels(self) -> list[str]:
        return [row.level for row in self.level_rows]


class ContestLevel(Base):
    __tablename__ = "community_contest_level"
    __table_args__ = (
        UniqueConstraint("contest_id", "level"),
        CheckConstraint(one_of("level", SchoolLevel), name="level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(20))


class Criterion(Base):
    """One line of the rubric. A score is 0..max_score; its weight counts in the total."""

    __tablename__ = "community_contest_criterion"
    __table_args__ = (
        UniqueConstraint("contest_id", "name"),
        CheckConstraint("weight > 0", name="weight"),
        CheckConstraint("max_score > 0", name="max_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float]
    max_score: Mapped[float]
    position: Mapped[int] = mapped_column(default=0)


class Prize(Base):
    """Entries ranked rank_from..rank_to (inclusive) win this prize ("Giải Nhất" for rank 1)."""

    __tablename__ = "community_contest_prize"
    __table_args__ = (
        UniqueConstraint("contest_id", "rank_from"),
        CheckConstraint("rank_from >= 1 AND rank_to >= rank_from", name="ranks"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest.id", ondelete="CASCADE"), index=True
    )
    rank_from: Mapped[int]
    rank_to: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))


class Judge(Base):
    __tablename__ = "community_contest_judge"
    __table_args__ = (UniqueConstraint("contest_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Entry(Base):
    __tablename__ = "community_contest_entry"
    __table_args__ = (
        CheckConstraint("rank IS NULL OR rank >= 1", name="rank"),
        Index("ix_community_contest_entry_org_created", "organization_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contest_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    submitted_by_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="RESTRICT"), index=True
    )
    # The submitter's organisation (school) when the entry was made: reports count entries
    # per school, and the own-school judging rule compares against it.
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT")
    )
    # Set when results are published: the weighted score (0..100) and the rank (ties share).
    score: Mapped[float | None]
    rank: Mapped[int | None]
    prize: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    submitted_by: Mapped[User] = relationship(lazy="joined", foreign_keys=[submitted_by_id])
    organization: Mapped[Organization] = relationship(lazy="joined")
    members: Mapped[list[EntryMember]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EntryMember.id"
    )
    files: Mapped[list[EntryFile]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="EntryFile.id"
    )


class EntryMember(Base):
    """A person of an entry (the lead who submitted it, team members). The unique key on
    (contest, user) is the one-entry-per-person-per-contest rule."""

    __tablename__ = "community_contest_entry_member"
    __table_args__ = (
        UniqueConstraint("contest_id", "user_id"),
        CheckConstraint(one_of("role", MemberRole), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest_entry.id", ondelete="CASCADE"), index=True
    )
    contest_id: Mapped[int] = mapped_column(ForeignKey("community_contest.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str] = mapped_column(String(10), default=MemberRole.member.value)

    user: Mapped[User] = relationship(lazy="joined")


class EntryFile(Base):
    """A file of an entry. The bytes are a content-library blob (stored once per SHA-256,
    kept by ``hocso gc`` because the blob row exists)."""

    __tablename__ = "community_contest_entry_file"
    __table_args__ = (CheckConstraint("size >= 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest_entry.id", ondelete="CASCADE"), index=True
    )
    blob_sha256: Mapped[str] = mapped_column(
        ForeignKey("lcms_blob.sha256", ondelete="RESTRICT"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Review(Base):
    """One judge's scoring of one entry (replaced by a re-score until results are out)."""

    __tablename__ = "community_contest_review"
    __table_args__ = (UniqueConstraint("entry_id", "judge_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest_entry.id", ondelete="CASCADE"), index=True
    )
    judge_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="RESTRICT"), index=True
    )
    comment: Mapped[str] = mapped_column(Text, default="")
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    judge: Mapped[User] = relationship(lazy="joined")
    scores: Mapped[list[ReviewScore]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ReviewScore.id"
    )


class ReviewScore(Base):
    __tablename__ = "community_contest_review_score"
    __table_args__ = (
        UniqueConstraint("review_id", "criterion_id"),
        CheckConstraint("value >= 0", name="value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest_review.id", ondelete="CASCADE"), index=True
    )
    criterion_id: Mapped[int] = mapped_column(
        ForeignKey("community_contest_criterion.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[float]


class Award(Base):
    """A commendation ("biểu dương, khen thưởng") to one person or one organisation."""

    __tablename__ = "community_award"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (organization_id IS NULL)", name="one_recipient"),
        UniqueConstraint("entry_id", "user_id"),
        Index("ix_community_award_scope_awarded", "scope_organization_id", "awarded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="RESTRICT"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT"), index=True
    )
    # Where the award counts in reports: the person's organisation when it was given, or the
    # awarded organisation itself.
    scope_organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT")
    )
    # The body that gives the award (printed at the top of the certificate of merit).
    issuer_organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT")
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    decision_number: Mapped[str] = mapped_column(String(100), default="")
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("community_contest_entry.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[user_id])
    organization: Mapped[Organization | None] = relationship(
        lazy="joined", foreign_keys=[organization_id]
    )
    scope_organization: Mapped[Organization] = relationship(
        lazy="joined", foreign_keys=[scope_organization_id]
    )
    issuer: Mapped[Organization] = relationship(
        lazy="joined", foreign_keys=[issuer_organization_id]
    )

    @property
    def recipient_name(self) -> str:
        if self.user is not None:
            return self.user.full_name
        return self.organization.name if self.organization is not None else ""
