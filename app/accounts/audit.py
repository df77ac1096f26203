"""The audit log: who did which administrative action to what, when, and from where.

``record`` adds one row to the caller's session, so the entry lives and dies with the action's
own transaction: an action that is rolled back leaves no entry, a committed one always has its
entry. Where the request came from (client address, "web" page or "api") is read from
``app.core.context``, which ``WebMiddleware`` sets per request; without it (the command line)
the channel is "cli" and the address empty.

The actor's and the target's names are copied into the row (``actor_label``,
``target_label``): the log keeps saying who it was even after the user is renamed, and a
deleted actor only loses the link (``actor_id`` becomes NULL), never the entry.

Importing 5,000 users writes one ``user.imported`` entry per organisation that received new
users (counts and the first emails in ``detail``), not one per user: the school filter still
finds the import, and the log stays readable.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Select, String, Text, and_, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.accounts import policy
from app.accounts.models import Organization, User
from app.core import context
from app.core.db import Base, UTCDateTime, one_of, utcnow
from app.core.errors import PermissionDenied
from app.core.i18n import gettext as _
from app.core.text import escape_like, fold, search_terms

MAX_LABEL = 300
MAX_ACTOR_LABEL = 500
MAX_TARGET_ID = 64
MAX_IP = 45  # the longest textual IPv6 address


class AuditAction(enum.StrEnum):
    """Every action code the log knows. ``record`` refuses any other (a typo is a bug)."""

    user_created = "user.created"
    user_updated = "user.updated"  # name, role or organisation changed
    user_deactivated = "user.deactivated"
    user_reactivated = "user.reactivated"
    user_imported = "user.imported"  # one entry per organisation per CSV import
    organization_created = "organization.created"
    organization_updated = "organization.updated"
    content_published = "content.published"
    content_rolled_back = "content.rolled_back"
    content_archived = "content.archived"
    content_restored = "content.restored"
    course_published = "course.published"
    course_archived = "course.archived"
    enrollment_assigned = "enrollment.assigned"
    enrollment_self = "enrollment.self"
    enrollment_withdrawn = "enrollment.withdrawn"
    certificate_revoked = "certificate.revoked"
    report_submitted = "report.submitted"
    contest_results_published = "contest.results_published"
    award_created = "award.created"
    event_created = "event.created"
    event_attendance_imported = "event.attendance_imported"  # one entry per CSV import


class AuditVia(enum.StrEnum):
    web = context.VIA_WEB
    api = context.VIA_API
    cli = context.VIA_CLI


class AuditEntry(Base):
    __tablename__ = "accounts_audit_entry"
    __table_args__ = (CheckConstraint(one_of("via", AuditVia), name="via"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # NULL for the command line, or once the acting user is gone; the label stays.
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(MAX_ACTOR_LABEL), default="")
    action: Mapped[str] = mapped_column(String(50), index=True)
    target_type: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(MAX_TARGET_ID))
    target_label: Mapped[str] = mapped_column(String(MAX_LABEL), default="")
    # The organisation the action concerns (the user's school, say): the school filter.
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="SET NULL"), index=True
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(MAX_IP))
    via: Mapped[str] = mapped_column(String(10))
    # Folded actor and target labels, so "nguyen van" finds "Nguyễn Văn" on every database.
    search_text: Mapped[str] = mapped_column(Text, default="")

    organization: Mapped[Organization | None] = relationship(lazy="joined")


def user_label(user: User) -> str:
    """How a user is named in the log: "Full Name (email)"."""
    return f"{user.full_name} ({user.email})"


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: int | str | None,
    target_label: str = "",
    organization_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add an audit entry to ``session`` (same transaction as the action; nothing is flushed).

    ``actor=None`` is the command line or the system. ``detail`` is a small JSON object (dates
    become ISO strings, enums their values, anything else unknown its ``str``).
    """
    if action not in AuditAction._value2member_map_:
        raise ValueError(f"unknown audit action {action!r}")
    origin = context.current_origin()
    actor_label = user_label(actor)[:MAX_ACTOR_LABEL] if actor is not None else ""
    label = (target_label or "")[:MAX_LABEL]
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=actor.id if actor is not None else None,
            actor_label=actor_label,
            action=str(action),
            target_type=target_type,
            target_id=None if target_id is None else str(target_id)[:MAX_TARGET_ID],
            target_label=label,
            organization_id=organization_id,
            detail=_jsonable(dict(detail or {})),
            ip=origin.ip[:MAX_IP] if origin.ip else None,
            via=origin.via,
            search_text=fold(f"{actor_label} {label}"),
        )
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    return str(value)


# --- Reading -------------------------------------------------------------------------------


def require_auditor(actor: User) -> None:
    """Only administrators read the log."""
    if not policy.is_admin(actor):
        raise PermissionDenied(_("Only an administrator can see the audit log."))


def _filtered(
    *,
    actor_id: int | None,
    action: str | None,
    organization_id: int | None,
    date_from: datetime | None,
    date_to: datetime | None,
    q: str | None,
) -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if organization_id is not None:
        # The organisation and everything below it: a commune shows its schools' entries.
        tree = (
            select(Organization.id)
            .where(Organization.id == organization_id)
            .cte("audit_org_tree", recursive=True)
        )
        tree = tree.union_all(select(Organization.id).where(Organization.parent_id == tree.c.id))
        query = query.where(AuditEntry.organization_id.in_(select(tree.c.id)))
    if date_from is not None:
        query = query.where(AuditEntry.at >= date_from)
    if date_to is not None:
        query = query.where(AuditEntry.at < date_to)
    terms = search_terms(q or "")
    if terms:
        query = query.where(
            and_(*(AuditEntry.search_text.like(f"%{escape_like(t)}%", escape="\\") for t in terms))
        )
    return query


def list_entries(
    session: Session,
    *,
    actor_id: int | None = None,
    action: str | None = None,
    organization_id: int | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """One page of entries, newest first, and the number of entries matching the filters.

    ``organization_id`` matches that organisation and every one below it; ``date_from`` is
    inclusive and ``date_to`` exclusive (aware datetimes); ``q`` matches words of the actor's
    or the target's name or email, accents and case ignored.
    """
    query = _filtered(
        actor_id=actor_id,
        action=action,
        organization_id=organization_id,
        date_from=date_from,
        date_to=date_to,
        q=q,
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(items), total


def iter_entries(
    session: Session,
    *,
    actor_id: int | None = None,
    action: str | None = None,
    organization_id: int | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    q: str | None = None,
    batch_size: int = 500,
) -> Iterator[AuditEntry]:
    """Every matching entry, newest first, fetched ``batch_size`` rows at a time (exports)."""
    query = _filtered(
        actor_id=actor_id,
        action=action,
        organization_id=organization_id,
        date_from=date_from,
        date_to=date_to,
        q=q,
    ).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    yield from session.scalars(query.execution_options(yield_per=batch_size))
