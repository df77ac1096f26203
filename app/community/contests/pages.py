"""HTML pages of contests: the list and the "new contest" form, a contest (rules, dates,
rubric, my entry, the organiser's panel and publishing, results), an entry (view, edit until
the deadline, files) and a judge's queue.

- ``/contests``: open, upcoming and closed contests in tabs; administrators and school
  managers see the "new contest" form (a manager's contest is for their own school);
- ``/contests/{id}``: the contest; an eligible person submits an entry there and adds files;
  the organiser manages the panel, follows how many judges scored each entry (never the
  scores) and publishes the results after the deadline;
- ``/entries/{id}``: the entry; its authors edit it and add or remove files until the
  deadline; after the results, its rank, the criteria's means and the judges' comments;
- ``/judging/{contest_id}``: a judge's entries with a score form each (their own scores only).

Forms post and redirect (303) with a flash message, or show the page again with the error and
its status. The upload form streams the body (``api.receive_entry_file``), so its CSRF token
travels in the query string, as on the studio's upload form. Times are typed and shown in the
configured time zone (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.accounts import service as accounts
from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import Organization, SchoolLevel, User
from app.community.contests import policy, service
from app.community.contests.api import (
    ENTRY_EXTENSIONS,
    entry_file_response,
    max_entry_bytes,
    receive_entry_file,
)
from app.community.contests.models import ContestKind, Entry, EntryMode
from app.core.db import SessionDep, SettingsDep
from app.core.errors import AppError, CSRFFailed, InvalidInput
from app.core.forms import parse_local_datetime
from app.core.i18n import gettext as _
from app.core.security import csrf_valid
from app.core.web import (
    CSRF_COOKIE,
    CSRF_FIELD,
    Offset,
    Pagination,
    redirect,
    render,
    safe_next,
    streams_body,
)
from app.lcms.deps import BlobStoreDep

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
ENTRIES_PAGE_SIZE = 100
CRITERIA_ROWS = 5
PRIZE_ROWS = 4
TABS = ("open", "upcoming", "closed")

Text = Annotated[str, Form(max_length=1000)]
LongText = Annotated[str, Form(max_length=20_000)]
Short = Annotated[str, Form(max_length=50)]
Flag = Annotated[str | None, Form(max_length=10)]
Values = Annotated[list[str] | None, Form()]


# --- Small pure helpers (unit-tested) -----------------------------------------------------


def parse_number(value: str | None, *, field: str) -> float:
    text = (value or "").strip().replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput(_("{field} must be a number.").format(field=field)) from None
    return number


def parse_criteria(
    names: list[str], weights: list[str], maxima: list[str]
) -> list[service.CriterionSpec]:
    """The rubric rows of the form; a row with an empty name is ignored."""
    specs: list[service.CriterionSpec] = []
    for i, name in enumerate(names):
        if not name.strip():
            continue
        weight = weights[i] if i < len(weights) else ""
        maximum = maxima[i] if i < len(maxima) else ""
        specs.append(
            service.CriterionSpec(
                name,
                parse_number(weight or "1", field=_("Weight")),
                parse_number(maximum or "10", field=_("Maximum score")),
            )
        )
    return specs


def parse_prizes(ranks: list[str], names: list[str]) -> list[service.PrizeSpec]:
    """Prize rows: a rank ("1") or a range ("4-6") and a name; empty rows are ignored."""
    specs: list[service.PrizeSpec] = []
    for i, name in enumerate(names):
        rank_text = (ranks[i] if i < len(ranks) else "").strip()
        if not name.strip() and not rank_text:
            continue
        first, _sep, last = rank_text.partition("-")
        try:
            rank = int(first)
            rank_to = int(last) if last.strip() else None
        except ValueError:
            raise InvalidInput(
                _("The rank of the prize '{name}' must be a number or a range like 4-6.").format(
                    name=name.strip()
                )
            ) from None
        specs.append(service.PrizeSpec(rank, name, rank_to))
    return specs


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def split_emails(value: str | None) -> list[str]:
    return [
        p.strip()
        for p in (value or "").replace(";", ",").replace("\n", ",").split(",")
        if p.strip()
    ]


def users_by_email(session: Session, emails: list[str]) -> list[int]:
    ids: list[int] = []
    for email in emails:
        user = accounts.find_user_by_email(session, email.lower())
        if user is None or not user.is_active:
            raise InvalidInput(_("No user has the email '{email}'.").format(email=email[:254]))
        ids.append(user.id)
    return ids


def _check_upload_csrf(request: Request) -> None:
    settings = request.app.state.settings
    token = request.headers.get("x-csrf-token") or request.query_params.get(CSRF_FIELD)
    if not csrf_valid(settings, request.cookies.get(CSRF_COOKIE), token):
        raise CSRFFailed(
            _("The form has expired or did not come from this site. Please try again.")
        )


# --- The list and the new contest form ----------------------------------------------------


def _organizations_for(session: Session, user: User) -> list[Organization]:
    if policy.is_admin(user):
        return accounts.list_organizations(session)
    return [user.organization]


def _render_list(
    request: Request,
    session: Session,
    user: User,
    *,
    tab: str = "open",
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    status = "ended" if tab == "closed" else tab
    items, total = service.list_contests(
        session,
        user,
        status=status,  # type: ignore[arg-type]
        limit=PAGE_SIZE,
        offset=offset,
    )
    can_create = policy.can_create_contest(user)
    context: dict[str, Any] = {
        "contests": items,
        "total": total,
        "tab": tab,
        "tabs": TABS,
        "states": {c.id: service.state(c) for c in items},
        "pagination": Pagination(total=total, limit=PAGE_SIZE, offset=offset),
        "can_create": can_create,
        "organizations": _organizations_for(session, user) if can_create else [],
        "levels": [lv.value for lv in SchoolLevel],
        "kinds": [k.value for k in ContestKind],
        "entry_modes": [m.value for m in EntryMode],
        "criteria_rows": CRITERIA_ROWS,
        "prize_rows": PRIZE_ROWS,
        "form": {"organization_id": user.organization_id, "kind": "idea"},
    }
    context.update(extra)
    return render(request, "community/contests/list.html", context, status_code=status_code)


@router.get("/contests")
def contests_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    tab: Annotated[str, Query(max_length=20)] = "open",
    offset: Offset = 0,
) -> Response:
    return _render_list(request, session, user, tab=tab if tab in TABS else "open", offset=offset)


@router.post("/contests", dependencies=[CSRFChecked])
def contest_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    title: Text = "",
    kind: Short = "idea",
    rules: LongText = "",
    opens_at: Short = "",
    closes_at: Short = "",
    levels: Values = None,
    organization_id: Short = "",
    entry_mode: Short = "individual",
    judges_skip_own_school: Flag = None,
    crit_name: Values = None,
    crit_weight: Values = None,
    crit_max: Values = None,
    prize_rank: Values = None,
    prize_name: Values = None,
) -> Response:
    form = {
        "title": title,
        "kind": kind,
        "rules": rules,
        "opens_at": opens_at,
        "closes_at": closes_at,
        "levels": levels or [],
        "organization_id": organization_id,
        "entry_mode": entry_mode,
        "judges_skip_own_school": bool(judges_skip_own_school),
        "crit_name": crit_name or [],
        "crit_weight": crit_weight or [],
        "crit_max": crit_max or [],
        "prize_rank": prize_rank or [],
        "prize_name": prize_name or [],
    }
    try:
        policy.require_contest_creator(user, user.organization_id)
        org_id = int(organization_id) if organization_id.strip().isdecimal() else None
        contest = service.create_contest(
            session,
            user,
            title=title,
            kind=kind,
            rules=rules,
            opens_at=parse_local_datetime(
                opens_at, field=_("Opens at"), timezone=settings.timezone
            ),
            closes_at=parse_local_datetime(
                closes_at, field=_("Closes at"), timezone=settings.timezone
            ),
            levels=levels or [],
            criteria=parse_criteria(crit_name or [], crit_weight or [], crit_max or []),
            organization_id=org_id,
            entry_mode=entry_mode,
            judges_skip_own_school=bool(judges_skip_own_school),
            prizes=parse_prizes(prize_rank or [], prize_name or []),
        )
    except AppError as exc:
        session.rollback()
        if exc.status_code == 403 and not policy.can_create_contest(user):
            raise
        return _render_list(
            request, session, user, status_code=exc.status_code, form=form, error=exc.detail
        )
    return redirect(
        request,
        f"/contests/{contest.id}",
        message=_("Contest '{title}' created. Now name its judges.").format(title=contest.title),
    )


# --- A contest ----------------------------------------------------------------------------


def _render_contest(
    request: Request,
    session: Session,
    user: User,
    contest_id: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    settings = request.app.state.settings
    contest = service.get_contest(session, contest_id)
    state = service.state(contest)
    organizer = service.is_organizer(user, contest)
    judge = service.is_judge(session, contest.id, user.id)
    mine = service.my_entry(session, contest.id, user.id)
    problem = service.eligibility_problem(session, contest, user)
    entries: list[Entry] = []
    if organizer or state == "published":
        entries, _total = service.list_entries(session, user, contest.id, limit=ENTRIES_PAGE_SIZE)
    context: dict[str, Any] = {
        "contest": contest,
        "state": state,
        "is_organizer": organizer,
        "is_judge": judge,
        "my_entry": mine,
        "eligibility_problem": problem,
        # create_entry refuses organisers (admins included) and judges: no form for them.
        "can_enter": (
            state == "open" and mine is None and not organizer and not judge and problem is None
        ),
        "judges": service.list_judges(session, contest.id) if organizer or judge else [],
        "entries": entries,
        "judged": service.judged_counts(session, user, contest.id) if organizer else {},
        "entry_form": {},
        "publish_form": {"create_awards": True},
        "judge_form": {},
        "max_upload_mb": max_entry_bytes(settings) // (1024 * 1024),
        "accepted": ", ".join(ENTRY_EXTENSIONS),
        "accept": ",".join(f".{ext}" for ext in ENTRY_EXTENSIONS),
        "error": None,
        "error_at": None,
    }
    context.update(extra)
    return render(request, "community/contests/detail.html", context, status_code=status_code)


@router.get("/contests/{contest_id}")
def contest_page(
    request: Request, contest_id: int, session: SessionDep, user: PageUser
) -> Response:
    return _render_contest(request, session, user, contest_id)


def _failed(
    request: Request,
    session: Session,
    user: User,
    contest_id: int,
    exc: AppError,
    *,
    at: str,
    **extra: Any,
) -> Response:
    session.rollback()
    return _render_contest(
        request,
        session,
        user,
        contest_id,
        status_code=exc.status_code,
        error=exc.detail,
        error_at=at,
        **extra,
    )


@router.post("/contests/{contest_id}/entries", dependencies=[CSRFChecked])
def entry_create(
    request: Request,
    contest_id: int,
    session: SessionDep,
    user: PageUser,
    title: Text = "",
    summary: Annotated[str, Form(max_length=10_000)] = "",
    members: Text = "",
) -> Response:
    form = {"title": title, "summary": summary, "members": members}
    try:
        entry = service.create_entry(
            session,
            user,
            contest_id,
            title=title,
            summary=summary,
            member_ids=users_by_email(session, split_emails(members)),
        )
    except AppError as exc:
        return _failed(request, session, user, contest_id, exc, at="entry", entry_form=form)
    return redirect(
        request,
        f"/entries/{entry.id}",
        message=_("Your entry is submitted. You can add files and edit it until the deadline."),
    )


@router.post("/contests/{contest_id}/judges", dependencies=[CSRFChecked])
def judge_add(
    request: Request,
    contest_id: int,
    session: SessionDep,
    user: PageUser,
    email: Text = "",
) -> Response:
    try:
        if not email.strip():
            raise InvalidInput(_("{field} is required.").format(field=_("Email")))
        [judge_id] = users_by_email(session, [email.strip()])
        judge = service.add_judge(session, user, contest_id, judge_id)
    except AppError as exc:
        if exc.status_code == 403:
            raise
        return _failed(
            request, session, user, contest_id, exc, at="judges", judge_form={"email": email}
        )
    return redirect(
        request,
        f"/contests/{contest_id}#judges-title",
        message=_("{name} is now a judge.").format(name=judge.user.full_name),
    )


@router.post("/contests/{contest_id}/judges/{user_id}/remove", dependencies=[CSRFChecked])
def judge_remove(
    request: Request, contest_id: int, user_id: int, session: SessionDep, user: PageUser
) -> Response:
    try:
        service.remove_judge(session, user, contest_id, user_id)
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        return _failed(request, session, user, contest_id, exc, at="judges")
    return redirect(
        request, f"/contests/{contest_id}#judges-title", message=_("The judge was removed.")
    )


@router.post("/contests/{contest_id}/publish", dependencies=[CSRFChecked])
def results_publish(
    request: Request,
    contest_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    decision_number: Text = "",
    awarded_on: Short = "",
    create_awards: Flag = None,
) -> Response:
    form = {
        "decision_number": decision_number,
        "awarded_on": awarded_on,
        "create_awards": bool(create_awards),
    }
    try:
        awarded_at = (
            parse_local_datetime(awarded_on, field=_("Award date"), timezone=settings.timezone)
            if awarded_on.strip()
            else None
        )
        service.publish_results(
            session,
            user,
            contest_id,
            create_awards=bool(create_awards),
            decision_number=decision_number,
            awarded_at=awarded_at,
        )
    except AppError as exc:
        if exc.status_code == 403:
            raise
        return _failed(request, session, user, contest_id, exc, at="publish", publish_form=form)
    return redirect(
        request,
        f"/contests/{contest_id}#results-title",
        message=_("The results are published."),
    )


# --- An entry -----------------------------------------------------------------------------


def _render_entry(
    request: Request,
    session: Session,
    user: User,
    entry_id: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    settings = request.app.state.settings
    entry = service.get_entry_for(session, user, entry_id)
    contest = service.get_contest(session, entry.contest_id)
    state = service.state(contest)
    member = service.is_member(entry, user.id)
    published = state == "published"
    context: dict[str, Any] = {
        "entry": entry,
        "contest": contest,
        "state": state,
        "is_member": member,
        "editable": member and state == "open",
        "is_team": contest.entry_mode == EntryMode.team,
        "is_judge": service.is_judge(session, contest.id, user.id),
        "published": published,
        "means": service.criterion_means(session, entry) if published else {},
        "feedback": service.feedback(session, user, entry.id) if published else [],
        "form": {
            "title": entry.title,
            "summary": entry.summary,
            "members": ", ".join(m.user.email for m in entry.members if m.role != "lead"),
        },
        "max_upload_mb": max_entry_bytes(settings) // (1024 * 1024),
        "accepted": ", ".join(ENTRY_EXTENSIONS),
        "accept": ",".join(f".{ext}" for ext in ENTRY_EXTENSIONS),
        "error": None,
        "upload_error": None,
    }
    context.update(extra)
    return render(request, "community/contests/entry.html", context, status_code=status_code)


@router.get("/entries/{entry_id}")
def entry_page(request: Request, entry_id: int, session: SessionDep, user: PageUser) -> Response:
    return _render_entry(request, session, user, entry_id)


@router.post("/entries/{entry_id}", dependencies=[CSRFChecked])
def entry_update(
    request: Request,
    entry_id: int,
    session: SessionDep,
    user: PageUser,
    title: Text = "",
    summary: Annotated[str, Form(max_length=10_000)] = "",
    members: Text | None = None,
) -> Response:
    form = {"title": title, "summary": summary, "members": members or ""}
    try:
        service.update_entry(
            session,
            user,
            entry_id,
            title=title,
            summary=summary,
            member_ids=(
                users_by_email(session, split_emails(members)) if members is not None else None
            ),
        )
    except AppError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        return _render_entry(
            request,
            session,
            user,
            entry_id,
            status_code=exc.status_code,
            error=exc.detail,
            form=form,
        )
    return redirect(request, f"/entries/{entry_id}", message=_("Changes saved."))


@router.post("/entries/{entry_id}/files")
@streams_body
async def entry_upload(
    request: Request,
    entry_id: int,
    session: SessionDep,
    settings: SettingsDep,
    store: BlobStoreDep,
    user: PageUser,
) -> Response:
    """The upload form, streamed to storage. No ``CSRFChecked``: that would parse the whole
    body first; the token comes in the query string. ``next`` says where to go back."""
    _check_upload_csrf(request)
    target = safe_next(request.query_params.get("next"), f"/entries/{entry_id}")
    try:
        file = await receive_entry_file(request, session, settings, store, user, entry_id)
    except AppError as exc:
        await run_in_threadpool(session.rollback)
        if exc.status_code == 404:
            raise
        status, detail = exc.status_code, exc.detail
        return await run_in_threadpool(
            lambda: _render_entry(
                request, session, user, entry_id, status_code=status, upload_error=detail
            )
        )
    return redirect(request, target, message=_("File '{name}' added.").format(name=file.filename))


@router.get("/entries/{entry_id}/files/{file_id}")
def entry_file(
    request: Request,
    entry_id: int,
    file_id: int,
    session: SessionDep,
    store: BlobStoreDep,
    user: PageUser,
    download: bool = False,
) -> Response:
    file = service.get_entry_file_for(session, user, entry_id, file_id)
    return entry_file_response(request, store, file, download=download)


@router.post("/entries/{entry_id}/files/{file_id}/remove", dependencies=[CSRFChecked])
def entry_file_remove(
    request: Request, entry_id: int, file_id: int, session: SessionDep, user: PageUser
) -> Response:
    try:
        service.remove_entry_file(session, user, entry_id, file_id)
    except AppError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        return _render_entry(
            request, session, user, entry_id, status_code=exc.status_code, upload_error=exc.detail
        )
    return redirect(request, f"/entries/{entry_id}", message=_("The file was removed."))


# --- Judging ------------------------------------------------------------------------------


def _render_judging(
    request: Request,
    session: Session,
    user: User,
    contest_id: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    contest = service.get_contest(session, contest_id)
    queue = service.judge_queue(session, user, contest.id)
    state = service.state(contest)
    context: dict[str, Any] = {
        "contest": contest,
        "state": state,
        "queue": queue,
        "scored": sum(1 for item in queue if item.review is not None),
        # The judge's own values as the score fields show them ("8", "7.5").
        "own_values": {
            item.entry.id: {str(s.criterion_id): _plain(s.value) for s in item.review.scores}
            for item in queue
            if item.review is not None
        },
        "can_score": state == "closed",
        "error": None,
        "error_at": None,
        "form": {},
    }
    context.update(extra)
    return render(request, "community/contests/judging.html", context, status_code=status_code)


@router.get("/judging/{contest_id}")
def judging_page(
    request: Request, contest_id: int, session: SessionDep, user: PageUser
) -> Response:
    return _render_judging(request, session, user, contest_id)


@router.post("/judging/{contest_id}/entries/{entry_id}", dependencies=[CSRFChecked])
def judging_score(
    request: Request,
    contest_id: int,
    entry_id: int,
    session: SessionDep,
    user: PageUser,
    criterion: Values = None,
    value: Values = None,
    comment: Annotated[str, Form(max_length=5_000)] = "",
) -> Response:
    ids = criterion or []
    values = value or []
    form = {
        "entry_id": entry_id,
        "values": dict(zip(ids, values, strict=False)),
        "comment": comment,
    }
    try:
        entry = service.get_entry(session, entry_id)
        if entry.contest_id != contest_id:
            raise InvalidInput(_("This entry is not part of this contest."))
        scores: dict[int, float] = {}
        names = {str(c.id): c.name for c in service.get_contest(session, contest_id).criteria}
        for i, criterion_id in enumerate(ids):
            raw = values[i] if i < len(values) else ""
            if not criterion_id.isdecimal():
                raise InvalidInput(_("Unknown criterion."))
            label = names.get(criterion_id, criterion_id)
            if not raw.strip():
                raise InvalidInput(
                    _("Score every criterion; missing: {names}.").format(names=label)
                )
            scores[int(criterion_id)] = parse_number(raw, field=label)
        service.score_entry(session, user, entry_id, scores=scores, comment=comment)
    except AppError as exc:
        session.rollback()
        if exc.status_code == 403 and not service.is_judge(session, contest_id, user.id):
            raise
        return _render_judging(
            request,
            session,
            user,
            contest_id,
            status_code=exc.status_code,
            error=exc.detail,
            error_at=entry_id,
            form=form,
        )
    return redirect(
        request,
        f"/judging/{contest_id}#entry-{entry_id}",
        message=_("Your scores are saved."),
    )
