"""Periodic reports: a school's report to the commune's Culture–Society office and the
provincial Department of Education for a quarter, a semester or a year (plan section III.2).

Owns the ``reports_periodic_report`` table and its life cycle:

``create_draft`` → ``update_draft`` (narrative, document number) → ``submit`` (figures frozen)
→ ``revise`` (revision n+1, a draft) → ``submit`` (the previous revision becomes superseded).

- Who: a school manager for their own school, or an administrator for any school. Everyone
  else is refused (403), and so is a manager asking about another school's report.
- One report per school and period, enforced by the database: at most one open draft and at
  most one current submitted report per (school, period) (two partial unique indexes), and
  revisions numbered uniquely. A submitted report with a revision being drafted is normal: the
  submitted one stays current until the revision is submitted. Creating a second report for a
  period that already has one is a 409 (revise the submitted report instead); so is editing or
  re-submitting a submitted report: a submitted report is never changed, only superseded, and
  every revision stays in the history.
- Figures: the completion report of the school by course (``app.reports.service``), frozen as
  JSON in ``figures`` at the moment of submission and never recomputed (a draft shows a live
  preview instead). Window: enrolments made up to the period's last day (cumulative, "lũy kế",
  as Vietnamese reports count), with their status at submission; plus, per course, the
  enrolments made during the period (``enrolled_in_period``) and the enrolments completed
  during it (``completed_in_period``). The snapshot records the filters it used and when it was
  taken (``generated_at``).
- Deadlines (``commune_overview``): a period's report is due at the end of ``Period.due_on``
  (``periods.DUE_AFTER_DAYS`` after the period ends), local time. A school is on time when its
  first submission for the period came by then, late when after, "draft" when it has only a
  draft, missing when it has nothing. A later revision does not make an on-time school late.
  The commune roll-up sums the schools' frozen figures (current submitted revisions), per course
  and in total; rates are derived from those sums, never from live data. The average quiz score
  cannot be derived from the snapshots and is left out of the roll-up.
- Exports: ``report_columns``/``report_rows`` feed the XLSX stream; ``report_document`` builds
  the administrative PDF (``app.reports.pdf``). A draft exports its live preview, marked as a
  draft.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.accounts import audit
from app.accounts import service as accounts
from app.accounts.models import Organization, OrgKind, Role, User
from app.core.collation import vi_sort_key
from app.core.db import Base, UTCDateTime, one_of, utcnow
from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.core.faults import pause_point
from app.core.i18n import gettext as _
from app.reports import community
from app.reports.exports import Column
from app.reports.pdf import ReportDocument, Section, Table
from app.reports.periods import Period, parse_period
from app.reports.service import (
    CompletionReport,
    DateField,
    GroupBy,
    ReportFilter,
    ReportRow,
    completion_report,
    one_decimal,
)

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
MAX_NARRATIVE = 20_000
MAX_NUMBER = 50
FIGURES_VERSION = 2  # 2: adds the community activity (events, clubs, contests, awards)

# The numbers a snapshot keeps per row; the roll-up sums the counts.
COUNT_KEYS = (
    "enrolled",
    "not_started",
    "in_progress",
    "completed",
    "overdue",
    "enrolled_in_period",
    "completed_in_period",
)
RATE_KEYS = ("completion_rate", "average_progress", "average_score")

# Administrative words dropped from a commune's name for the "place" of a document
# ("Xã Tân Cương" → "Tân Cương, ngày … tháng … năm …").
_PLACE_PREFIX = re.compile(r"^\s*(xã|phường|thị trấn|ubnd xã|ubnd phường)\s+", re.IGNORECASE)
_UNIT_WORD = re.compile(r"(xã|phường|thị trấn)\s+(.+)", re.IGNORECASE)


class ReportStatus(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    superseded = "superseded"


class Timeliness(enum.StrEnum):
    on_time = "on_time"
    late = "late"
    draft = "draft"
    missing = "missing"


class PeriodicReport(Base):
    __tablename__ = "reports_periodic_report"
    __table_args__ = (
        UniqueConstraint("organization_id", "period", "revision"),
        # At most one open draft and one current submitted report per school and period.
        Index(
            "ix_reports_periodic_report_one_draft",
            "organization_id",
            "period",
            unique=True,
            sqlite_where=text("status = 'draft'"),
            postgresql_where=text("status = 'draft'"),
        ),
        Index(
            "ix_reports_periodic_report_one_submitted",
            "organization_id",
            "period",
            unique=True,
            sqlite_where=text("status = 'submitted'"),
            postgresql_where=text("status = 'submitted'"),
        ),
        CheckConstraint(one_of("status", ReportStatus), name="status"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint("(revision = 1) = (supersedes_id IS NULL)", name="supersedes"),
        CheckConstraint(
            "(status = 'draft') = (submitted_at IS NULL) "
            "AND (submitted_at IS NULL) = (submitted_by_id IS NULL) "
            "AND (submitted_at IS NULL) = (figures IS NULL)",
            name="submission",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_organization.id", ondelete="RESTRICT")
    )
    period: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(12), default=ReportStatus.draft.value)
    narrative: Mapped[str] = mapped_column(Text, default="")
    number: Mapped[str] = mapped_column(String(MAX_NUMBER), default="")
    # The frozen snapshot (see the module docstring); NULL while a draft.
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts_user.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports_periodic_report.id", ondelete="RESTRICT"), unique=True
    )

    organization: Mapped[Organization] = relationship(lazy="joined")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])

    @property
    def period_info(self) -> Period:
        return parse_period(self.period)

    @property
    def is_draft(self) -> bool:
        return self.status == ReportStatus.draft


# --- Checks ----------------------------------------------------------------------------------


def _require_reporter(actor: User) -> None:
    if actor.role not in (Role.admin, Role.school_manager):
        raise PermissionDenied(
            _("Only school managers and administrators can work with periodic reports.")
        )


def _check_school_access(actor: User, organization_id: int) -> None:
    _require_reporter(actor)
    if actor.role != Role.admin and organization_id != actor.organization_id:
        raise PermissionDenied(_("You can only see the reports of your own school."))


def _school(session: Session, organization_id: int) -> Organization:
    org = accounts.get_organization(session, organization_id)
    if org.kind != OrgKind.school:
        raise InvalidInput(
            _("Periodic reports are made by schools; '{name}' is not a school.").format(
                name=org.name
            ),
            extra={"field": "organization_id"},
        )
    return org


def _period(label: str, today: date) -> Period:
    try:
        period = parse_period(label)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, extra={"field": "period"}) from None
    if period.starts_on > today:
        raise InvalidInput(
            _("{period} has not started yet: there is nothing to report.").format(
                period=period.display
            ),
            extra={"field": "period"},
        )
    return period


def clean_narrative(value: str | None) -> str:
    text_ = (value or "").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if len(text_) > MAX_NARRATIVE:
        raise InvalidInput(
            _("The narrative is too long: at most {n} characters.").format(n=MAX_NARRATIVE),
            extra={"field": "narrative"},
        )
    return text_


def clean_number(value: str | None) -> str:
    text_ = " ".join((value or "").replace("\x00", "").split())
    if len(text_) > MAX_NUMBER:
        raise InvalidInput(
            _("The document number is too long: at most {n} characters.").format(n=MAX_NUMBER),
            extra={"field": "number"},
        )
    return text_


def _today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


# --- Reading ---------------------------------------------------------------------------------


def get_report(session: Session, actor: User, report_id: int) -> PeriodicReport:
    _require_reporter(actor)
    report = session.get(PeriodicReport, report_id)
    if report is None:
        raise NotFound(_("Periodic report {id} does not exist.").format(id=report_id))
    _check_school_access(actor, report.organization_id)
    return report


@dataclass(frozen=True)
class ReportPage:
    items: list[PeriodicReport]
    total: int


def list_reports(
    session: Session,
    actor: User,
    *,
    organization_id: int | None = None,
    period: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ReportPage:
    """Reports newest first. A school manager sees only their school's (asking for another
    school is refused); an administrator sees every school's."""
    _require_reporter(actor)
    query = select(PeriodicReport)
    if organization_id is not None:
        accounts.get_organization(session, organization_id)
        _check_school_access(actor, organization_id)
        query = query.where(PeriodicReport.organization_id == organization_id)
    elif actor.role != Role.admin:
        query = query.where(PeriodicReport.organization_id == actor.organization_id)
    if period:
        query = query.where(PeriodicReport.period == parse_period(period).label)
    if status:
        try:
            query = query.where(PeriodicReport.status == ReportStatus(status).value)
        except ValueError:
            raise InvalidInput(
                _("Unknown status '{status}': use draft, submitted or superseded.").format(
                    status=status[:20]
                )
            ) from None
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(
        session.scalars(
            query.order_by(PeriodicReport.updated_at.desc(), PeriodicReport.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    return ReportPage(items, int(total))


def history(session: Session, report: PeriodicReport) -> list[PeriodicReport]:
    """Every revision of the report's school and period, oldest first (the caller has already
    been allowed to see ``report``)."""
    return list(
        session.scalars(
            select(PeriodicReport)
            .where(
                PeriodicReport.organization_id == report.organization_id,
                PeriodicReport.period == report.period,
            )
            .order_by(PeriodicReport.revision)
        )
    )


def _current(session: Session, organization_id: int, period: str) -> PeriodicReport | None:
    """The open draft, else the current submitted report, of a school and period."""
    found = list(
        session.scalars(
            select(PeriodicReport).where(
                PeriodicReport.organization_id == organization_id,
                PeriodicReport.period == period,
                PeriodicReport.status != ReportStatus.superseded.value,
            )
        )
    )
    found.sort(key=lambda r: r.status != ReportStatus.draft)
    return found[0] if found else None


# --- Figures ---------------------------------------------------------------------------------


def _row_dict(row: ReportRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "enrolled": row.enrolled,
        "not_started": row.not_started,
        "in_progress": row.in_progress,
        "completed": row.completed,
        "overdue": row.overdue,
        "completion_rate": row.completion_rate,
        "average_progress": row.average_progress,
        "average_score": row.average_score,
        "enrolled_in_period": 0,
        "completed_in_period": 0,
    }


def _filter_dict(flt: ReportFilter) -> dict[str, Any]:
    return {
        key: (value.isoformat() if isinstance(value, date) else value)
        for key, value in asdict(flt).items()
        if value is not None and value is not False
    }


def compute_figures(
    session: Session, viewer: User, organization_id: int, period: Period, *, now: datetime
) -> dict[str, Any]:
    """The figures of a school for a period as they stand at ``now`` (see the module
    docstring for the window): what ``submit`` freezes and what a draft previews."""
    base = ReportFilter(
        group_by=GroupBy.course, organization_id=organization_id, date_to=period.ends_on
    )
    main = completion_report(session, viewer, base, now=now)
    in_window = ReportFilter(
        group_by=GroupBy.course,
        organization_id=organization_id,
        date_from=period.starts_on,
        date_to=period.ends_on,
    )
    enrolled = completion_report(session, viewer, in_window, now=now)
    completed_filter = ReportFilter(
        group_by=GroupBy.course,
        organization_id=organization_id,
        date_from=period.starts_on,
        date_to=period.ends_on,
        date_field=DateField.completed,
    )
    completed = completion_report(session, viewer, completed_filter, now=now)
    figures = _merge(period, main, enrolled, completed, now=now)
    activity = community.rolled_up(
        session, organization_id, period.starts_on, period.ends_on, now=now
    )
    figures["community"] = activity.as_dict()
    return figures


def _merge(
    period: Period,
    main: CompletionReport,
    enrolled: CompletionReport,
    completed: CompletionReport,
    *,
    now: datetime,
) -> dict[str, Any]:
    rows = {row.key: _row_dict(row) for row in main.rows}
    totals = _row_dict(main.totals)
    for source, key in ((enrolled, "enrolled_in_period"), (completed, "completed_in_period")):
        for row in source.rows:
            # Enrolments made in the period are a subset of those made up to its end.
            if row.key in rows:
                rows[row.key][key] = row.enrolled
        totals[key] = source.totals.enrolled
    return {
        "version": FIGURES_VERSION,
        "generated_at": now.isoformat(),
        "period": {
            "label": period.label,
            "starts_on": period.starts_on.isoformat(),
            "ends_on": period.ends_on.isoformat(),
        },
        "filter": _filter_dict(main.filter),
        "enrolled_in_period_filter": _filter_dict(enrolled.filter),
        "completed_in_period_filter": _filter_dict(completed.filter),
        "rows": list(rows.values()),
        "totals": totals,
    }


@dataclass(frozen=True)
class Figures:
    """Figures to show: the frozen snapshot of a submitted report, or a live preview."""

    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    generated_at: datetime
    live: bool
    # Events held, attendance, clubs, contest entries, awards (snapshots of version ≥ 2).
    community: dict[str, int] | None = None


def figures_of(
    session: Session, actor: User, report: PeriodicReport, *, now: datetime | None = None
) -> Figures:
    """The report's frozen figures; for a draft, a live preview computed at ``now``."""
    data = report.figures
    live = data is None
    if data is None:
        data = compute_figures(
            session, actor, report.organization_id, report.period_info, now=now or utcnow()
        )
    return Figures(
        rows=list(data["rows"]),
        totals=dict(data["totals"]),
        generated_at=datetime.fromisoformat(data["generated_at"]),
        live=live,
        community=data.get("community"),
    )


# --- Writing ---------------------------------------------------------------------------------


def create_draft(
    session: Session,
    actor: User,
    *,
    organization_id: int,
    period: str,
    narrative: str = "",
    number: str = "",
    now: datetime | None = None,
    timezone: str = DEFAULT_TZ,
) -> PeriodicReport:
    """A new draft (revision 1) for a school and period. 409 when the school already has a
    report for the period: a draft to finish, or a submitted report to revise."""
    now = now or utcnow()
    _require_reporter(actor)
    found_period = _period(period, _today(now, timezone))
    school = _school(session, organization_id)
    _check_school_access(actor, school.id)
    narrative, number = clean_narrative(narrative), clean_number(number)
    existing = _current(session, school.id, found_period.label)
    if existing is not None:
        raise _exists(existing)
    report = PeriodicReport(
        organization_id=school.id,
        period=found_period.label,
        revision=1,
        status=ReportStatus.draft.value,
        narrative=narrative,
        number=number,
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:  # a concurrent request created it first
        existing = _current(session, school.id, found_period.label)
        raise _exists(existing) from None
    return report


def _exists(existing: PeriodicReport | None) -> Conflict:
    if existing is not None and existing.status == ReportStatus.submitted:
        return Conflict(
            _(
                "This school has already submitted its report for this period. "
                "Make a new revision of it instead."
            ),
            extra={"report_id": existing.id},
        )
    return Conflict(
        _("This school already has a draft report for this period. Continue that draft."),
        extra={"report_id": existing.id} if existing is not None else None,
    )


def _require_draft(report: PeriodicReport) -> None:
    if report.status != ReportStatus.draft:
        raise Conflict(
            _("A submitted report cannot be changed. Make a new revision of it instead.")
            if report.status == ReportStatus.submitted
            else _("This revision has been superseded by a newer one and cannot be changed.")
        )


def update_draft(
    session: Session,
    actor: User,
    report_id: int,
    *,
    narrative: str | None = None,
    number: str | None = None,
    now: datetime | None = None,
) -> PeriodicReport:
    """Change a draft's narrative and/or number (None: unchanged). Drafts only (409)."""
    report = get_report(session, actor, report_id)
    _require_draft(report)
    if narrative is not None:
        report.narrative = clean_narrative(narrative)
    if number is not None:
        report.number = clean_number(number)
    report.updated_at = now or utcnow()
    session.flush()
    return report


def submit(
    session: Session, actor: User, report_id: int, *, now: datetime | None = None
) -> PeriodicReport:
    """Freeze the figures as they stand now and submit the draft; a revision supersedes the
    revision before it. A report that is not a draft (a replayed submit) is a 409."""
    now = now or utcnow()
    report = get_report(session, actor, report_id)
    _require_draft(report)
    if not report.narrative.strip():
        raise InvalidInput(
            _("Describe the activities held in the period before submitting the report."),
            extra={"field": "narrative"},
        )
    figures = compute_figures(session, actor, report.organization_id, report.period_info, now=now)
    previous: PeriodicReport | None = None
    if report.supersedes_id is not None:
        # Conditional updates: of two concurrent submits, the second finds nothing to change.
        done = session.execute(
            update(PeriodicReport)
            .where(
                PeriodicReport.id == report.supersedes_id,
                PeriodicReport.status == ReportStatus.submitted.value,
            )
            .values(status=ReportStatus.superseded.value, updated_at=now)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(_("This report has just been submitted or superseded."))
        previous = session.get(PeriodicReport, report.supersedes_id)
    done = session.execute(
        update(PeriodicReport)
        .where(PeriodicReport.id == report.id, PeriodicReport.status == ReportStatus.draft.value)
        .values(
            status=ReportStatus.submitted.value,
            figures=figures,
            submitted_by_id=actor.id,
            submitted_at=now,
            updated_at=now,
        )
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(_("This report has just been submitted or superseded."))
    session.refresh(report)
    if previous is not None:
        session.refresh(previous)
    audit.record(
        session,
        actor=actor,
        action="report.submitted",
        target_type="periodic_report",
        target_id=report.id,
        target_label=f"{report.organization.name} – {report.period} ({report.revision})",
        organization_id=report.organization_id,
        detail={
            "period": report.period,
            "revision": report.revision,
            "supersedes": report.supersedes_id,
        },
    )
    pause_point("report.submit", session)
    return report


def revise(
    session: Session, actor: User, report_id: int, *, now: datetime | None = None
) -> PeriodicReport:
    """A new draft revision of a submitted report, copying its narrative and number. The
    submitted report stays current until the revision is submitted."""
    now = now or utcnow()
    report = get_report(session, actor, report_id)
    if report.status == ReportStatus.draft:
        raise Conflict(_("This report is still a draft: edit it instead of revising it."))
    if report.status == ReportStatus.superseded:
        raise Conflict(_("Only the latest submitted revision can be revised."))
    revision = PeriodicReport(
        organization_id=report.organization_id,
        period=report.period,
        revision=report.revision + 1,
        status=ReportStatus.draft.value,
        narrative=report.narrative,
        number=report.number,
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
        supersedes_id=report.id,
    )
    try:
        with session.begin_nested():
            session.add(revision)
    except IntegrityError:
        raise Conflict(
            _("A revision of this report is already being drafted. Continue that draft.")
        ) from None
    return revision


# --- The commune overview --------------------------------------------------------------------


@dataclass
class SchoolStatus:
    organization_id: int
    name: str
    status: Timeliness
    report: PeriodicReport | None  # the current submitted report, else the open draft
    first_submitted_at: datetime | None
    revision_open: bool  # a submitted report with a new revision being drafted


@dataclass
class Overview:
    period: Period
    scope: Organization | None
    due_at: datetime
    schools: list[SchoolStatus]
    counts: dict[str, int]
    rollup_rows: list[dict[str, Any]]
    rollup_totals: dict[str, Any]
    generated_at: datetime
    past_due: bool = False
    # The submitted snapshots' community activity, summed (events, clubs, contests, awards).
    rollup_community: dict[str, int] | None = None


def _empty_row(key: str, label: str) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key, "label": label}
    row.update(dict.fromkeys(COUNT_KEYS, 0))
    return row


def _finish(row: dict[str, Any], progress_sum: float) -> dict[str, Any]:
    enrolled = row["enrolled"]
    # Rounded as the reports themselves round (half away from zero), so a school's rates read
    # the same in the commune's roll-up as in its own report.
    row["completion_rate"] = one_decimal(row["completed"] * 100 / enrolled) if enrolled else 0.0
    row["average_progress"] = one_decimal(progress_sum / enrolled) if enrolled else 0.0
    row["average_score"] = None
    return row


def rollup(snapshots: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-course rows and totals summed from frozen snapshots (never from live data)."""
    rows: dict[str, dict[str, Any]] = {}
    progress: dict[str, float] = {}
    totals = _empty_row("all", _("Total"))
    total_progress = 0.0
    for snap in snapshots:
        for source in snap.get("rows", []):
            key = str(source.get("key"))
            row = rows.setdefault(key, _empty_row(key, str(source.get("label", key))))
            for name in COUNT_KEYS:
                row[name] += int(source.get(name) or 0)
            progress[key] = progress.get(key, 0.0) + float(
                source.get("average_progress") or 0
            ) * int(source.get("enrolled") or 0)
        snap_totals = snap.get("totals", {})
        for name in COUNT_KEYS:
            totals[name] += int(snap_totals.get(name) or 0)
        total_progress += float(snap_totals.get("average_progress") or 0) * int(
            snap_totals.get("enrolled") or 0
        )
    ordered = sorted(rows.values(), key=lambda r: (vi_sort_key(str(r["label"])), r["key"]))
    return [_finish(r, progress[r["key"]]) for r in ordered], _finish(totals, total_progress)


def commune_overview(
    session: Session,
    viewer: User,
    period: str,
    commune_id: int | None = None,
    *,
    now: datetime | None = None,
    timezone: str = DEFAULT_TZ,
) -> Overview:
    """Per school under ``commune_id`` (any organisation; None: every school): whether it
    submitted its report for ``period`` on time, late, only drafted it, or not at all; and
    the roll-up of the submitted figures. Administrators only."""
    now = now or utcnow()
    if viewer.role != Role.admin:
        raise PermissionDenied(_("Only an administrator can see every school's reports."))
    found_period = parse_period(period)
    scope: Organization | None = None
    query = select(Organization).where(Organization.kind == OrgKind.school.value)
    if commune_id is not None:
        scope = accounts.get_organization(session, commune_id)
        query = query.where(Organization.id.in_(accounts.descendant_ids(session, scope.id)))
    schools = list(session.scalars(query.order_by(Organization.sort_name, Organization.id)))
    reports: dict[int, list[PeriodicReport]] = {}
    if schools:
        for report in session.scalars(
            select(PeriodicReport)
            .where(
                PeriodicReport.period == found_period.label,
                PeriodicReport.organization_id.in_([s.id for s in schools]),
            )
            .order_by(PeriodicReport.revision)
        ):
            reports.setdefault(report.organization_id, []).append(report)
    due_at = found_period.due_at(timezone)
    rows: list[SchoolStatus] = []
    snapshots: list[dict[str, Any]] = []
    for school in schools:
        revisions = reports.get(school.id, [])
        submitted = [r for r in revisions if r.status == ReportStatus.submitted]
        draft = next((r for r in revisions if r.status == ReportStatus.draft), None)
        times = [r.submitted_at for r in revisions if r.submitted_at is not None]
        first = min(times) if times else None
        if submitted:
            status = Timeliness.on_time if first and first <= due_at else Timeliness.late
            if submitted[0].figures is not None:
                snapshots.append(submitted[0].figures)
        elif draft is not None:
            status = Timeliness.draft
        else:
            status = Timeliness.missing
        rows.append(
            SchoolStatus(
                organization_id=school.id,
                name=school.name,
                status=status,
                report=submitted[0] if submitted else draft,
                first_submitted_at=first,
                revision_open=bool(submitted) and draft is not None,
            )
        )
    counts = {t.value: sum(1 for r in rows if r.status == t) for t in Timeliness}
    rollup_rows, rollup_totals = rollup(snapshots)
    return Overview(
        period=found_period,
        scope=scope,
        due_at=due_at,
        schools=rows,
        counts=counts,
        rollup_rows=rollup_rows,
        rollup_totals=rollup_totals,
        generated_at=now,
        past_due=now > due_at,
        rollup_community=community_rollup(snapshots),
    )


def community_rollup(snapshots: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The community figures of the snapshots, summed (older snapshots have none)."""
    total = dict.fromkeys(community.FIELDS, 0)
    for snap in snapshots:
        for key, value in (snap.get("community") or {}).items():
            if key in total:
                total[key] += int(value or 0)
    return total


# --- Exports ---------------------------------------------------------------------------------


def report_columns() -> list[Column]:
    return [
        Column("label", _("Course"), width=40),
        Column("enrolled", _("Enrolled"), "int"),
        Column("not_started", _("Not started"), "int"),
        Column("in_progress", _("In progress"), "int"),
        Column("completed", _("Completed"), "int"),
        Column("overdue", _("Overdue"), "int"),
        Column("completion_rate", _("Completion rate (%)"), "percent"),
        Column("average_progress", _("Average progress (%)"), "percent"),
        Column("average_score", _("Average score (%)"), "percent"),
        Column("enrolled_in_period", _("Enrolled in the period"), "int"),
        Column("completed_in_period", _("Completed in the period"), "int"),
    ]


def export_title(report: PeriodicReport, figures: Figures) -> str:
    title = _("Periodic report – {school} – {period}").format(
        school=report.organization.name, period=report.period_info.display
    )
    if figures.live:
        title += " – " + _("DRAFT (live figures, not frozen)")
    elif report.status == ReportStatus.superseded:
        title += " – " + _("superseded by a newer revision")
    return title


def export_filename(report: PeriodicReport, extension: str) -> str:
    suffix = "-draft" if report.is_draft else ""
    return (
        f"bao-cao-{report.period}-{report.organization_id}-r{report.revision}{suffix}.{extension}"
    )


def _place(org: Organization | None) -> str:
    if org is None:
        return ""
    return _PLACE_PREFIX.sub("", org.name).strip() or org.name


def _of_commune(org: Organization | None) -> str:
    """ "xã Tân Cương" for "Xã Tân Cương": the unit's word in lower case after "Phòng … –"."""
    if org is None:
        return ""
    match = _UNIT_WORD.match(org.name.strip())
    return f"{match[1].lower()} {match[2]}" if match else org.name.strip()


def _fmt_int(value: Any) -> str:
    return f"{int(value or 0):,}".replace(",", ".")


def _fmt_pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}".replace(".", ",") + "%"


def report_document(
    report: PeriodicReport, figures: Figures, *, today: date, timezone: str = DEFAULT_TZ
) -> ReportDocument:
    """The report in the Vietnamese administrative layout. The document is always Vietnamese,
    whatever the reader's language: it is the school's official report."""
    school = report.organization
    parent = school.parent
    period = report.period_info
    issued_on = (
        report.submitted_at.astimezone(ZoneInfo(timezone)).date()
        if report.submitted_at is not None
        else today
    )
    vi_period = _vi_period(period)
    headers = [
        "STT",
        "Khóa học",
        "Số tham gia",
        "Hoàn thành",
        "Tỷ lệ hoàn thành",
        "Hoàn thành trong kỳ",
        "Quá hạn",
    ]
    rows = [
        [
            str(i),
            str(row["label"]),
            _fmt_int(row["enrolled"]),
            _fmt_int(row["completed"]),
            _fmt_pct(row["completion_rate"]),
            _fmt_int(row.get("completed_in_period")),
            _fmt_int(row["overdue"]),
        ]
        for i, row in enumerate(figures.rows, 1)
    ]
    t = figures.totals
    totals = [
        "",
        "Tổng cộng",
        _fmt_int(t["enrolled"]),
        _fmt_int(t["completed"]),
        _fmt_pct(t["completion_rate"]),
        _fmt_int(t.get("completed_in_period")),
        _fmt_int(t["overdue"]),
    ]
    generated = figures.generated_at.astimezone(ZoneInfo(timezone))
    figure_notes = [
        (
            "Số liệu tạm tính tại thời điểm "
            if figures.live
            else "Số liệu được chốt tại thời điểm nộp báo cáo "
        )
        + f"{generated:%H:%M} ngày {generated:%d/%m/%Y}, tính các lượt ghi danh đến hết ngày "
        f"{period.ends_on:%d/%m/%Y}; cột “Hoàn thành trong kỳ” tính các lượt hoàn thành từ "
        f"{period.starts_on:%d/%m/%Y} đến {period.ends_on:%d/%m/%Y}."
    ]
    if not rows:
        figure_notes.append("Trong kỳ báo cáo chưa có lượt ghi danh khóa học nào.")
    narrative = [p for p in report.narrative.split("\n") if p.strip()] or ["(Chưa có nội dung.)"]
    commune = _of_commune(parent)
    number = f"Số: {report.number}" if report.number else "Số:        /BC-"
    signer = report.submitted_by.full_name if report.submitted_by is not None else ""
    return ReportDocument(
        issuing_parent=(parent.name if parent is not None else "").upper(),
        issuing_body=school.name.upper(),
        number=number,
        place=_place(parent) or _place(school),
        issued_on=issued_on,
        title="BÁO CÁO" + (" (DỰ THẢO)" if figures.live else ""),
        subtitle=("Kết quả triển khai chuyển đổi số và Nghị quyết 57-NQ/TW – " + vi_period),
        sections=[
            Section(
                "I. KẾT QUẢ HỌC TẬP, BỒI DƯỠNG TRÊN NỀN TẢNG SỐ",
                paragraphs=figure_notes,
                table=Table(
                    headers,
                    rows,
                    totals=totals,
                    widths=[0.6, 3.2, 1.1, 1.1, 1.2, 1.2, 0.9],
                ),
            ),
            *_community_sections(figures),
            Section(
                f"{'III' if figures.community is not None else 'II'}. CÁC HOẠT ĐỘNG ĐÃ TRIỂN"
                " KHAI VÀ ĐỀ XUẤT, KIẾN NGHỊ",
                paragraphs=narrative,
            ),
        ],
        recipients=[
            f"Phòng Văn hóa – Xã hội {commune}".strip(),
            "Sở Giáo dục và Đào tạo tỉnh Thái Nguyên",
            "Lưu: VT",
        ],
        signer_title="HIỆU TRƯỞNG",
        signer_name=signer,
    )


_COMMUNITY_LABELS = {
    "events_held": "Hội thảo, tập huấn, chuyên đề đã tổ chức",
    "attendance": "Lượt người tham dự",
    "clubs": "Câu lạc bộ, nhóm học thuật đang hoạt động",
    "contest_entries": "Bài dự thi (sáng kiến, STEM)",
    "awards": "Khen thưởng, biểu dương",
}


def _community_sections(figures: Figures) -> list[Section]:
    if figures.community is None:  # snapshots frozen before the community figures existed
        return []
    rows = [
        [str(i), label, _fmt_int(figures.community.get(key, 0))]
        for i, (key, label) in enumerate(_COMMUNITY_LABELS.items(), 1)
    ]
    return [
        Section(
            "II. HOẠT ĐỘNG CỘNG ĐỒNG: HỘI THẢO, CÂU LẠC BỘ, CUỘC THI, KHEN THƯỞNG",
            paragraphs=["Số liệu trong kỳ báo cáo, ghi nhận trên nền tảng."],
            table=Table(["STT", "Nội dung", "Số lượng"], rows, widths=[0.6, 5.0, 1.4]),
        )
    ]


_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def _vi_period(period: Period) -> str:
    """The period in Vietnamese, whatever the reader's language (the document is official)."""
    if period.kind == "quarter":
        y, n = period.label.split("-Q")
        return f"Quý {_ROMAN[int(n)]}/{y}"
    if period.kind == "semester":
        first, second, n = period.label.replace("-HK", "-").split("-")
        return f"Học kỳ {_ROMAN[int(n)]} năm học {first}–{second}"
    return f"Năm {period.label}"
