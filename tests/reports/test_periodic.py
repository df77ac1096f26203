"""Periodic reports: drafts, frozen submissions, revisions, the database's guarantees,
permissions, the commune overview, and the XLSX / PDF files (service and JSON API)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry
from app.accounts.models import Organization, User
from app.core import i18n
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.lms import service as lms
from app.lms.models import Enrollment, EnrollmentStatus
from app.reports import periodic, service
from app.reports.periodic import PeriodicReport, ReportStatus, Timeliness
from app.reports.periods import PeriodKind, current_period
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user
from tests.lms.helpers import World, build_world

TZ = "Asia/Ho_Chi_Minh"
Q4 = "2026-Q4"
# Inside 2026-Q4, whose report is due on 10/01/2027 (end of day, UTC+7).
NOW = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
DUE_END = datetime(2027, 1, 10, 16, 59, 59, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.get_locale()
    i18n.set_locale("en")
    yield
    i18n.set_locale(before)


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def at(day: date, hour: int = 3) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def enrol(db: Session, world: World, user: User, *, on: datetime) -> Enrollment:
    lms.assign(db, world.admin, world.course.id, user_ids=[user.id])
    enrollment = lms.get_enrollment(db, user.id, world.course.id)
    assert enrollment is not None
    enrollment.enrolled_at = on
    db.flush()
    return enrollment


def complete(db: Session, enrollment: Enrollment, *, on: datetime) -> None:
    enrollment.status = EnrollmentStatus.completed.value
    enrollment.completed_at = on
    enrollment.progress_percent = 100
    enrollment.last_activity_at = on
    db.flush()


def learners(db: Session, settings: Settings, school: Organization, n: int) -> list[User]:
    return [make_user(db, settings, role="teacher", organization=school) for _ in range(n)]


def submitted(db: Session, actor: User, school: Organization, *, now: datetime) -> PeriodicReport:
    report = periodic.create_draft(
        db,
        actor,
        organization_id=school.id,
        period=Q4,
        narrative="Tổ chức hội thảo về Nghị quyết 57.",
        now=now,
    )
    return periodic.submit(db, actor, report.id, now=now)


# --- Draft → submit → frozen -----------------------------------------------------------------


def test_submit_freezes_the_figures_later_activity_never_changes_them(
    db: Session, settings: Settings, world: World
) -> None:
    teacher = enrol(db, world, world.teacher, on=at(date(2026, 10, 5)))
    enrol(db, world, world.student, on=at(date(2026, 11, 1)))
    early = learners(db, settings, world.school, 1)[0]
    enrol(db, world, early, on=at(date(2026, 8, 20)))  # before the quarter: counted, cumulative
    complete(db, teacher, on=at(date(2026, 12, 1)))
    enrol(db, world, world.outsider, on=at(date(2026, 10, 6)))  # another school: never counted

    draft = periodic.create_draft(
        db,
        world.manager,
        organization_id=world.school.id,
        period=" 2026-q4 ",
        narrative="Câu lạc bộ STEM; cuộc thi ý tưởng sáng tạo.\r\nKhen thưởng 3 giáo viên.",
        number="05/BC-THTC",
        now=NOW,
    )
    assert (draft.period, draft.revision, draft.status) == (Q4, 1, ReportStatus.draft)
    assert draft.figures is None
    assert (
        draft.narrative == "Câu lạc bộ STEM; cuộc thi ý tưởng sáng tạo.\nKhen thưởng 3 giáo viên."
    )
    preview = periodic.figures_of(db, world.manager, draft, now=NOW)
    assert preview.live
    assert preview.totals["enrolled"] == 3

    report = periodic.submit(db, world.manager, draft.id, now=NOW)
    assert report.status == ReportStatus.submitted
    assert report.submitted_at == NOW
    assert report.submitted_by_id == world.manager.id
    figures = report.figures
    assert figures is not None
    totals = figures["totals"]
    assert (totals["enrolled"], totals["completed"], totals["in_progress"]) == (3, 1, 0)
    assert (totals["enrolled_in_period"], totals["completed_in_period"]) == (2, 1)
    assert totals["completion_rate"] == pytest.approx(33.3)
    assert [row["label"] for row in figures["rows"]] == [world.course.title]
    assert figures["period"] == {"label": Q4, "starts_on": "2026-10-01", "ends_on": "2026-12-31"}
    assert figures["filter"]["date_to"] == "2026-12-31"
    assert figures["generated_at"] == NOW.isoformat()
    frozen = dict(totals)

    # Later activity: the other learners complete, a new learner enrols within the quarter.
    for enrollment in db.scalars(select(Enrollment).where(Enrollment.completed_at.is_(None))):
        complete(db, enrollment, on=at(date(2026, 12, 28)))
    enrol(db, world, learners(db, settings, world.school, 1)[0], on=at(date(2026, 12, 29)))
    later = NOW + timedelta(days=20)
    live = periodic.compute_figures(
        db, world.manager, world.school.id, report.period_info, now=later
    )
    assert live["totals"]["enrolled"] == 4
    assert live["totals"]["completed"] == 3

    db.expire_all()
    again = periodic.get_report(db, world.admin, report.id)
    assert again.figures is not None
    assert again.figures["totals"] == frozen
    shown = periodic.figures_of(db, world.admin, again, now=later)
    assert not shown.live
    assert shown.totals == frozen
    assert shown.generated_at == NOW


def test_submit_needs_a_narrative(db: Session, world: World) -> None:
    draft = periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period=Q4, now=NOW
    )
    with pytest.raises(InvalidInput) as caught:
        periodic.submit(db, world.manager, draft.id, now=NOW)
    assert caught.value.extra == {"field": "narrative"}
    assert periodic.get_report(db, world.manager, draft.id).status == ReportStatus.draft


def test_submission_is_audited(db: Session, world: World) -> None:
    report = submitted(db, world.manager, world.school, now=NOW)
    db.flush()
    entry = db.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "report.submitted", AuditEntry.target_id == str(report.id)
        )
    )
    assert entry is not None
    assert entry.actor_id == world.manager.id
    assert entry.organization_id == world.school.id


def test_replayed_submit_and_edits_of_a_submitted_report_are_409(db: Session, world: World) -> None:
    report = submitted(db, world.manager, world.school, now=NOW)
    with pytest.raises(Conflict):
        periodic.submit(db, world.manager, report.id, now=NOW + timedelta(hours=1))
    with pytest.raises(Conflict):
        periodic.update_draft(db, world.manager, report.id, narrative="Sửa lại")
    # Neither a second draft nor a second report for the same school and period.
    with pytest.raises(Conflict) as caught:
        periodic.create_draft(db, world.admin, organization_id=world.school.id, period=Q4, now=NOW)
    assert caught.value.extra == {"report_id": report.id}
    db.expire_all()
    assert periodic.get_report(db, world.manager, report.id).submitted_at == NOW


def test_a_second_draft_for_the_same_period_is_409(db: Session, world: World) -> None:
    draft = periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period=Q4, now=NOW
    )
    with pytest.raises(Conflict) as caught:
        periodic.create_draft(
            db, world.manager, organization_id=world.school.id, period="2026-q4", now=NOW
        )
    assert caught.value.extra == {"report_id": draft.id}
    # Another period, or another school, is another report.
    periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period="2026", now=NOW
    )
    periodic.create_draft(
        db, world.admin, organization_id=world.other_school.id, period=Q4, now=NOW
    )


def test_update_draft(db: Session, world: World) -> None:
    draft = periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period=Q4, now=NOW
    )
    periodic.update_draft(db, world.manager, draft.id, narrative="  Hội giảng  ", number=None)
    assert (draft.narrative, draft.number) == ("Hội giảng", "")
    periodic.update_draft(db, world.manager, draft.id, number=" 07/BC-THTC ")
    assert (draft.narrative, draft.number) == ("Hội giảng", "07/BC-THTC")
    with pytest.raises(InvalidInput) as caught:
        periodic.update_draft(db, world.manager, draft.id, narrative="x" * 20_001)
    assert caught.value.extra == {"field": "narrative"}
    with pytest.raises(InvalidInput):
        periodic.update_draft(db, world.manager, draft.id, number="9" * 51)


def test_a_period_that_has_not_started_is_refused(db: Session, world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        periodic.create_draft(
            db, world.manager, organization_id=world.school.id, period="2027-Q1", now=NOW
        )
    assert caught.value.extra == {"field": "period"}
    with pytest.raises(InvalidInput) as caught:
        periodic.create_draft(
            db, world.manager, organization_id=world.school.id, period="2026-Q7", now=NOW
        )
    assert caught.value.extra == {"field": "period"}


# --- Revisions -------------------------------------------------------------------------------


def test_revision_supersedes_on_submit_and_keeps_history(db: Session, world: World) -> None:
    first = submitted(db, world.manager, world.school, now=NOW)
    first.number = "05/BC-THTC"  # (set before revising: the copy carries it)
    second = periodic.revise(db, world.manager, first.id, now=NOW + timedelta(days=1))
    db.flush()
    assert (second.revision, second.status, second.supersedes_id) == (2, "draft", first.id)
    assert second.narrative == first.narrative
    assert second.number == "05/BC-THTC"
    # Until the revision is submitted, the first report is the current one.
    assert first.status == ReportStatus.submitted
    with pytest.raises(Conflict):
        periodic.revise(db, world.manager, first.id)  # a revision is already being drafted
    with pytest.raises(Conflict):
        periodic.revise(db, world.manager, second.id)  # a draft is edited, not revised

    periodic.update_draft(db, world.manager, second.id, narrative="Bổ sung: hội thi STEM.")
    periodic.submit(db, world.manager, second.id, now=NOW + timedelta(days=2))
    db.expire_all()
    revisions = periodic.history(db, periodic.get_report(db, world.manager, second.id))
    assert [(r.revision, r.status) for r in revisions] == [
        (1, ReportStatus.superseded),
        (2, ReportStatus.submitted),
    ]
    assert revisions[0].figures is not None  # the history keeps the old snapshot
    assert revisions[0].narrative == "Tổ chức hội thảo về Nghị quyết 57."
    with pytest.raises(Conflict):
        periodic.update_draft(db, world.manager, first.id, narrative="x")
    with pytest.raises(Conflict):
        periodic.revise(db, world.manager, first.id)  # superseded: only the latest
    third = periodic.revise(db, world.manager, second.id)
    assert (third.revision, third.supersedes_id) == (3, second.id)


def test_database_allows_one_open_draft_and_one_current_report(db: Session, world: World) -> None:
    report = submitted(db, world.manager, world.school, now=NOW)
    db.flush()

    def insert(**fields: Any) -> None:
        values: dict[str, Any] = {
            "organization_id": world.school.id,
            "period": Q4,
            "revision": 2,
            "supersedes_id": report.id,
            "status": "draft",
            "narrative": "",
            "number": "",
            "created_by_id": world.manager.id,
        }
        values.update(fields)
        with db.begin_nested():
            db.add(PeriodicReport(**values))

    # A second current submitted report that supersedes nothing.
    with pytest.raises(IntegrityError):
        insert(
            status="submitted",
            figures={"rows": []},
            submitted_at=NOW,
            submitted_by_id=world.manager.id,
        )
    # A revision number used twice.
    with pytest.raises(IntegrityError):
        insert(revision=1, supersedes_id=None)
    # A submitted report without its frozen figures.
    with pytest.raises(IntegrityError):
        insert(status="submitted", submitted_at=NOW, submitted_by_id=world.manager.id)
    insert()  # one open draft revision is fine
    draft = db.scalar(select(PeriodicReport).where(PeriodicReport.status == "draft"))
    assert draft is not None
    # ... two are not (a row that passes every other constraint: only the index refuses it).
    with pytest.raises(IntegrityError):
        insert(revision=3, supersedes_id=draft.id)
    insert(revision=3, supersedes_id=draft.id, period="2026")  # another period: fine


# --- Permissions -----------------------------------------------------------------------------


def test_permissions(db: Session, settings: Settings, world: World) -> None:
    for outsider in (world.teacher, world.student, world.author):
        with pytest.raises(PermissionDenied):
            periodic.create_draft(db, outsider, organization_id=world.school.id, period=Q4, now=NOW)
    other_manager = make_user(db, settings, role="school_manager", organization=world.other_school)
    with pytest.raises(PermissionDenied):
        periodic.create_draft(
            db, other_manager, organization_id=world.school.id, period=Q4, now=NOW
        )
    with pytest.raises(NotFound):
        periodic.create_draft(db, world.admin, organization_id=999_999, period=Q4, now=NOW)
    commune = world.school.parent
    assert commune is not None
    with pytest.raises(InvalidInput) as caught:
        periodic.create_draft(db, world.admin, organization_id=commune.id, period=Q4, now=NOW)
    assert caught.value.extra == {"field": "organization_id"}

    report = periodic.create_draft(
        db, world.admin, organization_id=world.school.id, period=Q4, now=NOW
    )
    assert periodic.get_report(db, world.manager, report.id).id == report.id
    for viewer in (other_manager, world.teacher):
        with pytest.raises(PermissionDenied):
            periodic.get_report(db, viewer, report.id)
        with pytest.raises(PermissionDenied):
            periodic.update_draft(db, viewer, report.id, narrative="x")
        with pytest.raises(PermissionDenied):
            periodic.submit(db, viewer, report.id, now=NOW)
    with pytest.raises(NotFound):
        periodic.get_report(db, world.admin, 999_999)

    periodic.create_draft(
        db, other_manager, organization_id=world.other_school.id, period=Q4, now=NOW
    )
    assert periodic.list_reports(db, world.manager).total == 1
    assert periodic.list_reports(db, other_manager).total == 1
    assert periodic.list_reports(db, world.admin).total == 2
    assert periodic.list_reports(db, world.admin, organization_id=world.school.id).total == 1
    with pytest.raises(PermissionDenied):
        periodic.list_reports(db, world.manager, organization_id=world.other_school.id)
    with pytest.raises(PermissionDenied):
        periodic.list_reports(db, world.teacher)
    with pytest.raises(PermissionDenied):
        periodic.commune_overview(db, world.manager, Q4, now=NOW)


def test_list_filters(db: Session, world: World) -> None:
    submitted(db, world.manager, world.school, now=NOW)
    periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period="2026", now=NOW
    )
    assert periodic.list_reports(db, world.manager, period="2026-q4").total == 1
    assert periodic.list_reports(db, world.manager, status="draft").items[0].period == "2026"
    assert periodic.list_reports(db, world.manager, limit=1, offset=1).total == 2
    assert len(periodic.list_reports(db, world.manager, limit=1, offset=1).items) == 1
    with pytest.raises(InvalidInput):
        periodic.list_reports(db, world.manager, status="archived")
    with pytest.raises(InvalidInput):
        periodic.list_reports(db, world.manager, period="Q4")


# --- The commune overview --------------------------------------------------------------------


def test_overview_on_time_late_draft_missing_and_rollup(
    db: Session, settings: Settings, world: World
) -> None:
    commune = world.school.parent
    assert commune is not None
    draft_school = make_org(db, parent=commune, name="Trường Mầm non Tân Cương", level="preschool")
    silent_school = make_org(db, parent=commune, name="Trường Mầm non Hoa Sen", level="preschool")
    elsewhere = make_org(db, name="Trường Tiểu học Xã Khác")  # another commune: not listed

    for user in (world.teacher, world.student):
        enrol(db, world, user, on=at(date(2026, 10, 10)))
    outsider = enrol(db, world, world.outsider, on=at(date(2026, 10, 10)))
    complete(db, outsider, on=at(date(2026, 11, 10)))
    other_manager = make_user(db, settings, role="school_manager", organization=world.other_school)

    on_time = submitted(db, world.manager, world.school, now=NOW)
    # Revised after the deadline: still on time, since the first submission was.
    revision = periodic.revise(db, world.manager, on_time.id, now=DUE_END + timedelta(days=3))
    periodic.submit(db, world.manager, revision.id, now=DUE_END + timedelta(days=3))
    submitted(db, other_manager, world.other_school, now=DUE_END + timedelta(seconds=2))
    periodic.create_draft(db, world.admin, organization_id=draft_school.id, period=Q4, now=NOW)
    periodic.create_draft(db, world.admin, organization_id=elsewhere.id, period=Q4, now=NOW)

    overview = periodic.commune_overview(
        db, world.admin, Q4, commune.id, now=DUE_END + timedelta(days=5), timezone=TZ
    )
    statuses = {s.name: s.status for s in overview.schools}
    assert statuses == {
        world.school.name: Timeliness.on_time,
        world.other_school.name: Timeliness.late,
        draft_school.name: Timeliness.draft,
        silent_school.name: Timeliness.missing,
    }
    assert overview.counts == {"on_time": 1, "late": 1, "draft": 1, "missing": 1}
    assert overview.past_due
    by_name = {s.name: s for s in overview.schools}
    assert by_name[world.school.name].report is not None
    assert by_name[world.school.name].report.revision == 2  # type: ignore[union-attr]
    assert by_name[world.school.name].first_submitted_at == NOW
    # The roll-up sums the two submitted snapshots: 2 learners (school) + 1 (other school).
    totals = overview.rollup_totals
    assert (totals["enrolled"], totals["completed"], totals["completion_rate"]) == (3, 1, 33.3)
    assert [r["enrolled"] for r in overview.rollup_rows] == [3]

    # Frozen, not recomputed: later completions change nothing in the roll-up.
    for enrollment in db.scalars(select(Enrollment).where(Enrollment.completed_at.is_(None))):
        complete(db, enrollment, on=DUE_END + timedelta(days=6))
    again = periodic.commune_overview(db, world.admin, Q4, commune.id, timezone=TZ)
    assert again.rollup_totals["completed"] == 1

    # Every school, without a scope; a deadline not yet passed.
    everywhere = periodic.commune_overview(db, world.admin, Q4, now=NOW, timezone=TZ)
    assert elsewhere.name in {s.name for s in everywhere.schools}
    assert not everywhere.past_due
    with pytest.raises(InvalidInput):
        periodic.commune_overview(db, world.admin, "2026-Q5")
    with pytest.raises(NotFound):
        periodic.commune_overview(db, world.admin, Q4, 999_999)


def test_a_submission_at_the_last_local_minute_is_on_time(db: Session, world: World) -> None:
    submitted(db, world.manager, world.school, now=DUE_END)  # 23:59:59 on 10/01, UTC+7
    overview = periodic.commune_overview(db, world.admin, Q4, timezone=TZ)
    assert {s.name: s.status for s in overview.schools}[world.school.name] == Timeliness.on_time


def test_rollup_sums_snapshots() -> None:
    def snap(
        key: str, label: str, enrolled: int, completed: int, progress: float
    ) -> dict[str, Any]:
        row = {
            "key": key,
            "label": label,
            "enrolled": enrolled,
            "not_started": enrolled - completed,
            "in_progress": 0,
            "completed": completed,
            "overdue": 0,
            "completion_rate": 0.0,
            "average_progress": progress,
            "average_score": 80.0,
            "enrolled_in_period": enrolled,
            "completed_in_period": completed,
        }
        return {"rows": [row], "totals": dict(row)}

    rows, totals = periodic.rollup(
        [
            snap("1", "Khóa A", 4, 1, 50.0),
            snap("1", "Khóa A", 6, 5, 100.0),
            snap("2", "B", 10, 0, 0),
        ]
    )
    assert [(r["label"], r["enrolled"], r["completed"]) for r in rows] == [
        ("B", 10, 0),
        ("Khóa A", 10, 6),
    ]
    assert rows[1]["completion_rate"] == 60.0
    assert rows[1]["average_progress"] == 80.0  # (4 × 50 + 6 × 100) / 10
    assert rows[1]["average_score"] is None  # not derivable from the snapshots
    assert (totals["enrolled"], totals["completed"], totals["completed_in_period"]) == (20, 6, 6)
    assert totals["completion_rate"] == 30.0


def test_rollup_rounds_rates_as_the_schools_own_reports_do() -> None:
    """1 of 16 completed (6.25 %) and 12.25 % progress read 6.3 and 12.3 in the school's report:
    the commune's roll-up of that one school shows the same, not 6.2 and 12.2."""
    school = service._Sums(enrolled=16, completed=1, in_progress=3, progress_sum=196.0)
    own = school.row("7", "Chuyển đổi số cho giáo viên")
    assert (own.completion_rate, own.average_progress) == (6.3, 12.3)
    frozen = periodic._row_dict(own)
    rows, totals = periodic.rollup([{"rows": [frozen], "totals": dict(frozen)}])
    for rolled in (rows[0], totals):
        assert (rolled["completion_rate"], rolled["average_progress"]) == (6.3, 12.3)


# --- The JSON API ----------------------------------------------------------------------------


def this_quarter() -> str:
    """A period that has started whatever the real date (the API uses the real clock)."""
    return current_period(PeriodKind.quarter, utcnow().date()).label


def test_api_draft_submit_revise(client: TestClient, db: Session, world: World) -> None:
    enrol(db, world, world.teacher, on=utcnow())
    headers = token_for(client, world.manager.email)
    period = this_quarter()
    body = {"organization_id": world.school.id, "period": period, "narrative": "Hội thảo CĐS"}
    created = client.post("/api/v1/reports/periodic", json=body, headers=headers)
    assert created.status_code == 201, created.text
    report = created.json()
    assert (report["status"], report["revision"], report["figures"]) == ("draft", 1, None)
    assert report["period_info"]["label"] == period
    assert report["period_info"]["kind"] == "quarter"
    rid = report["id"]

    again = client.post("/api/v1/reports/periodic", json=body, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert again.json()["report_id"] == rid

    patched = client.patch(
        f"/api/v1/reports/periodic/{rid}", json={"number": "02/BC-TH"}, headers=headers
    )
    assert patched.status_code == 200
    assert patched.json()["number"] == "02/BC-TH"
    assert patched.json()["narrative"] == "Hội thảo CĐS"

    done = client.post(f"/api/v1/reports/periodic/{rid}/submit", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "submitted"
    assert done.json()["figures"]["totals"]["enrolled"] == 1

    replay = client.post(f"/api/v1/reports/periodic/{rid}/submit", headers=headers)
    assert replay.status_code == 409
    edit = client.patch(
        f"/api/v1/reports/periodic/{rid}", json={"narrative": "khác"}, headers=headers
    )
    assert edit.status_code == 409

    revision = client.post(f"/api/v1/reports/periodic/{rid}/revise", headers=headers)
    assert revision.status_code == 201
    assert (revision.json()["revision"], revision.json()["supersedes_id"]) == (2, rid)
    listed = client.get("/api/v1/reports/periodic", headers=headers).json()
    assert listed["total"] == 2
    assert {i["status"] for i in listed["items"]} == {"draft", "submitted"}
    one = client.get(f"/api/v1/reports/periodic/{rid}", headers=headers).json()
    assert one["figures"]["totals"]["enrolled"] == 1
    filtered = client.get(
        "/api/v1/reports/periodic",
        params={"status": "submitted", "period": period},
        headers=headers,
    ).json()
    assert [i["id"] for i in filtered["items"]] == [rid]


def test_api_bad_input(client: TestClient, db: Session, settings: Settings, world: World) -> None:
    manager = token_for(client, world.manager.email)
    period = this_quarter()

    def create(headers: dict[str, str], **fields: Any) -> Any:
        body = {"organization_id": world.school.id, "period": period, "narrative": ""}
        body.update(fields)
        return client.post("/api/v1/reports/periodic", json=body, headers=headers)

    invalid = create(manager, period="2026-2028-HK1")
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "invalid_input"
    assert invalid.json()["field"] == "period"
    assert create(manager, period="Quý 4").status_code == 422
    assert create(manager, organization_id=999_999).status_code == 404
    assert create(manager, organization_id=world.other_school.id).status_code == 403
    assert create(token_for(client, world.teacher.email)).status_code == 403
    assert create(manager, unexpected="x").status_code == 422
    assert client.post("/api/v1/reports/periodic", json={"period": period}).status_code == 401
    assert client.get("/api/v1/reports/periodic", headers=manager).json() == {
        "items": [],
        "total": 0,
    }
    assert client.get("/api/v1/reports/periodic/999999", headers=manager).status_code == 404
    assert (
        client.get(
            "/api/v1/reports/periodic", params={"status": "lost"}, headers=manager
        ).status_code
        == 422
    )

    other_manager = make_user(db, settings, role="school_manager", organization=world.other_school)
    other = create(token_for(client, other_manager.email), organization_id=world.other_school.id)
    assert other.status_code == 201
    oid = other.json()["id"]
    for path in ("", ".xlsx", ".pdf"):
        assert (
            client.get(f"/api/v1/reports/periodic/{oid}{path}", headers=manager).status_code == 403
        )
    assert client.post(f"/api/v1/reports/periodic/{oid}/submit", headers=manager).status_code == 403
    assert (
        client.get(
            "/api/v1/reports/periodic/overview", params={"period": period}, headers=manager
        ).status_code
        == 403
    )


def test_api_overview(client: TestClient, db: Session, world: World) -> None:
    enrol(db, world, world.teacher, on=utcnow())
    period = this_quarter()
    report = periodic.create_draft(
        db,
        world.manager,
        organization_id=world.school.id,
        period=period,
        narrative="Hoạt động câu lạc bộ",
    )
    periodic.submit(db, world.manager, report.id)
    commune = world.school.parent
    assert commune is not None
    response = client.get(
        "/api/v1/reports/periodic/overview",
        params={"period": period, "organization_id": commune.id},
        headers=token_for(client, world.admin.email),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"]["label"] == period
    assert body["organization_id"] == commune.id
    statuses = {s["name"]: s["status"] for s in body["schools"]}
    assert statuses == {world.school.name: "on_time", world.other_school.name: "missing"}
    assert body["counts"]["on_time"] == 1
    assert body["counts"]["missing"] == 1
    assert body["rollup"]["totals"]["enrolled"] == 1
    bad = client.get(
        "/api/v1/reports/periodic/overview",
        params={"period": "2026-Q9"},
        headers=token_for(client, world.admin.email),
    )
    assert bad.status_code == 422


# --- Files -----------------------------------------------------------------------------------


def submitted_now(db: Session, world: World, settings: Settings) -> PeriodicReport:
    teacher = enrol(db, world, world.teacher, on=utcnow() - timedelta(minutes=5))
    complete(db, teacher, on=utcnow() - timedelta(minutes=1))
    enrol(db, world, world.student, on=utcnow() - timedelta(minutes=5))
    report = periodic.create_draft(
        db,
        world.manager,
        organization_id=world.school.id,
        period=this_quarter(),
        narrative='Tổ chức hội thảo “Nghị quyết 57”.\n=HYPERLINK("http://x")',
        number="05/BC-THTC",
    )
    return periodic.submit(db, world.manager, report.id)


def test_xlsx_opens_and_its_totals_match_the_snapshot(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    report = submitted_now(db, world, settings)
    response = client.get(
        f"/api/v1/reports/periodic/{report.id}.xlsx",
        params={"lang": "en"},
        headers=token_for(client, world.admin.email),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    headers = next(r for r in rows if r and r[0] == "Course")
    totals = rows[-1]
    assert report.figures is not None
    snapshot = report.figures["totals"]
    for column in ("enrolled", "completed", "not_started", "completed_in_period"):
        header = {c.key: c.header for c in periodic.report_columns()}[column]
        assert totals[headers.index(header)] == snapshot[column]
    assert (snapshot["enrolled"], snapshot["completed"]) == (2, 1)
    assert rows[rows.index(headers) + 1][0] == world.course.title
    assert world.school.name in str(rows[0][0])


def test_pdf_is_a_valid_pdf_naming_the_school(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    report = submitted_now(db, world, settings)
    headers = token_for(client, world.manager.email)
    response = client.get(f"/api/v1/reports/periodic/{report.id}.pdf", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    pypdf = pytest.importorskip("pypdf")
    text = "\n".join(
        page.extract_text() or "" for page in pypdf.PdfReader(io.BytesIO(response.content)).pages
    )
    flat = " ".join(text.split())
    assert world.school.name.upper() in flat
    assert "BÁO CÁO" in flat
    assert "DỰ THẢO" not in flat
    assert "Số: 05/BC-THTC" in flat
    assert "Nghị quyết 57" in flat
    assert world.manager.full_name in flat

    draft = periodic.create_draft(
        db, world.manager, organization_id=world.school.id, period=str(date.today().year)
    )
    draft_pdf = client.get(f"/api/v1/reports/periodic/{draft.id}.pdf", headers=headers)
    assert draft_pdf.status_code == 200
    draft_text = " ".join(
        " ".join(
            p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(draft_pdf.content)).pages
        ).split()
    )
    assert "DỰ THẢO" in draft_text


def test_document_layout_fields(db: Session, world: World) -> None:
    commune = world.school.parent
    assert commune is not None
    commune.name = "Xã Tân Cương"
    report = submitted(db, world.manager, world.school, now=NOW)
    figures = periodic.figures_of(db, world.manager, report)
    doc = periodic.report_document(report, figures, today=date(2027, 3, 1), timezone=TZ)
    assert doc.issuing_parent == "XÃ TÂN CƯƠNG"
    assert doc.issuing_body == world.school.name.upper()
    assert doc.place == "Tân Cương"
    assert doc.issued_on == date(2026, 12, 20)  # the submission day, not today
    assert doc.title == "BÁO CÁO"
    assert doc.subtitle.endswith("Quý IV/2026")
    assert doc.recipients[0] == "Phòng Văn hóa – Xã hội xã Tân Cương"
    assert doc.signer_title == "HIỆU TRƯỞNG"
    assert doc.signer_name == world.manager.full_name
    assert doc.sections[1].heading.startswith("II. HOẠT ĐỘNG CỘNG ĐỒNG")
    assert doc.sections[-1].paragraphs == ["Tổ chức hội thảo về Nghị quyết 57."]
