"""HTML pages of the clubs.

- ``/clubs``: my clubs with unread badges, the clubs I may join, and the "new club" form for
  administrators, school managers and teachers;
- ``/clubs/{id}``: the description, members (leaders: promote, make member, remove), pending
  join requests (leaders: approve, reject), the threads with unread markers and the "new
  thread" form;
- ``/threads/{id}``: the posts, paginated (oldest first; without ``offset`` the page of the
  first unread post), the reply form, and for leaders hide/show a post, lock/unlock the thread.
  Viewing a page of posts moves the member's read marker to its last post.

Every form posts (CSRF-checked) and redirects with a flash message, or shows the page again
with the error next to the form and the error's status. Post bodies are Markdown rendered
through ``markup.render_markdown`` (the sanitiser); the pages mark that output safe, nothing
else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import User
from app.community.clubs import policy, service
from app.community.clubs.markup import render_markdown
from app.community.clubs.models import MemberRole, Post, Thread
from app.core.db import SessionDep, begin_write
from app.core.errors import AppError, InvalidInput
from app.core.i18n import gettext as _
from app.core.web import Offset, Pagination, redirect, render

router = APIRouter(include_in_schema=False)

CLUBS_PAGE_SIZE = 20
THREADS_PAGE_SIZE = 20
POSTS_PAGE_SIZE = 20
MY_CLUBS_LIMIT = 100
MEMBERS_LIMIT = 200

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=1000)]
# Longer than the service's limits, so a too-long text gets the form back with a clear error.
LongText = Annotated[str, Form(max_length=100_000)]
Values = Annotated[list[str] | None, Form()]


def _ids(values: list[str] | None) -> list[int]:
    found = []
    for value in values or []:
        text = value.strip()
        if not text:
            continue
        if not text.isdecimal() or not 0 < int(text) < 2**31:
            raise InvalidInput(_("Choose library items from the list."))
        found.append(int(text))
    return found


def _split_commas(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part.strip()]


def _html(markdown: str) -> Markup:
    # The one place sanitised Markdown becomes trusted markup (see markup.py).
    return Markup(render_markdown(markdown))


# --- /clubs --------------------------------------------------------------------------------


@router.get("/clubs")
def clubs_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
) -> Response:
    return _render_clubs(request, session, user, q=q, offset=offset)


def _render_clubs(
    request: Request,
    session: Session,
    user: User,
    *,
    q: str | None = None,
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    mine = service.list_clubs(session, user, mine=True, limit=MY_CLUBS_LIMIT)
    others = service.list_clubs(
        session, user, mine=False, q=q, limit=CLUBS_PAGE_SIZE, offset=offset
    )
    organizations = service.creatable_organizations(session, user)
    context: dict[str, Any] = {
        "mine": mine,
        "others": others,
        "pagination": Pagination(total=others.total, limit=CLUBS_PAGE_SIZE, offset=offset),
        "q": q or "",
        "can_create": bool(organizations),
        "organizations": organizations,
        "kinds": service.KINDS,
        "levels": service.LEVELS,
        "form": {"kind": "club", "organization_id": str(user.organization_id)},
        "unread_total": sum(r.unread for r in mine.items),
    }
    context.update(extra)
    return render(request, "community/clubs/clubs.html", context, status_code=status_code)


@router.post("/clubs", dependencies=[CSRFChecked])
def club_create(
    request: Request,
    session: SessionDep,
    user: PageUser,
    name: Short = "",
    organization_id: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=20)] = "club",
    description: LongText = "",
    topics: Text = "",
    levels: Values = None,
) -> Response:
    form = {
        "name": name,
        "organization_id": organization_id,
        "kind": kind,
        "description": description,
        "topics": topics,
        "levels": levels or [],
    }
    try:
        if not organization_id.strip().isdecimal() or not 0 < int(organization_id) < 2**31:
            raise InvalidInput(_("Choose the school or commune the club belongs to."))
        club = service.create_club(
            session,
            user,
            name=name,
            organization_id=int(organization_id),
            description=description,
            kind=kind,
            topics=_split_commas(topics),
            levels=levels or [],
        )
    except AppError as exc:
        session.rollback()
        return _render_clubs(
            request, session, user, status_code=exc.status_code, form=form, error=exc.detail
        )
    return redirect(
        request,
        f"/clubs/{club.id}",
        message=_("Club '{name}' created. You are its leader.").format(name=club.name),
    )


# --- /clubs/{id} ---------------------------------------------------------------------------


@router.get("/clubs/{club_id}")
def club_page(
    request: Request, club_id: Id, session: SessionDep, user: PageUser, offset: Offset = 0
) -> Response:
    return _render_club(request, session, user, club_id, offset=offset)


def _render_club(
    request: Request,
    session: Session,
    user: User,
    club_id: int,
    *,
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    access = service.get_club_for(session, user, club_id)
    club = access.club
    row = service.club_row(session, user, club)
    members = service.list_members(session, user, club_id, limit=MEMBERS_LIMIT)
    reader = policy.can_read(user, access.member)
    threads = (
        service.list_threads(session, user, club_id, limit=THREADS_PAGE_SIZE, offset=offset)
        if reader
        else None
    )
    context: dict[str, Any] = {
        "club": club,
        "row": row,
        "access": access,
        "description_html": _html(club.description),
        "members": members,
        "requests": (service.list_requests(session, user, club_id) if access.moderator else []),
        "threads": threads,
        "pagination": (
            Pagination(total=threads.total, limit=THREADS_PAGE_SIZE, offset=offset)
            if threads
            else None
        ),
        "library": service.library_choices(session) if access.member else [],
        "form": {},
        "max_title": service.MAX_TITLE,
        "max_body": service.MAX_BODY,
    }
    context.update(extra)
    return render(request, "community/clubs/club.html", context, status_code=status_code)


def _club_action(
    request: Request, session: Session, club_id: int, action: Callable[[], object], ok: str
) -> Response:
    """Run ``action()``; redirect to the club page with ``ok``, or with the error."""
    url = f"/clubs/{club_id}"
    try:
        action()
    except AppError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(request, url, message=ok)


@router.post("/clubs/{club_id}/join", dependencies=[CSRFChecked])
def club_join(
    request: Request, club_id: Id, session: SessionDep, user: PageUser, message: Text = ""
) -> Response:
    return _club_action(
        request,
        session,
        club_id,
        lambda: service.request_join(session, user, club_id, message=message),
        _("Your request to join has been sent. A leader of the club will answer it."),
    )


@router.post("/clubs/{club_id}/requests/{request_id}/{decision}", dependencies=[CSRFChecked])
def club_decide(
    request: Request,
    club_id: Id,
    request_id: Id,
    decision: Annotated[str, Path(pattern="^(approve|reject)$")],
    session: SessionDep,
    user: PageUser,
) -> Response:
    approve = decision == "approve"
    return _club_action(
        request,
        session,
        club_id,
        lambda: service.decide_request(session, user, club_id, request_id, approve=approve),
        _("Request approved: a new member has joined.") if approve else _("Request rejected."),
    )


@router.post("/clubs/{club_id}/members/{member_id}/role", dependencies=[CSRFChecked])
def member_role(
    request: Request,
    club_id: Id,
    member_id: Id,
    session: SessionDep,
    user: PageUser,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    ok = (
        _("The member is now a leader.")
        if role == MemberRole.leader
        else _("The leader is now a member.")
    )
    return _club_action(
        request,
        session,
        club_id,
        lambda: service.set_member_role(session, user, club_id, member_id, role=role),
        ok,
    )


@router.post("/clubs/{club_id}/members/{member_id}/remove", dependencies=[CSRFChecked])
def member_remove(
    request: Request, club_id: Id, member_id: Id, session: SessionDep, user: PageUser
) -> Response:
    return _club_action(
        request,
        session,
        club_id,
        lambda: service.remove_member(session, user, club_id, member_id),
        _("The member has been removed from the club."),
    )


@router.post("/clubs/{club_id}/leave", dependencies=[CSRFChecked])
def club_leave(request: Request, club_id: Id, session: SessionDep, user: PageUser) -> Response:
    url = f"/clubs/{club_id}"
    try:
        service.remove_member(session, user, club_id, user.id)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(request, "/clubs", message=_("You have left the club."))


@router.post("/clubs/{club_id}/threads", dependencies=[CSRFChecked])
def thread_create(
    request: Request,
    club_id: Id,
    session: SessionDep,
    user: PageUser,
    title: Text = "",
    body: LongText = "",
    attachments: Values = None,
) -> Response:
    form = {"title": title, "body": body, "attachments": attachments or []}
    try:
        thread = service.create_thread(
            session, user, club_id, title=title, body=body, attachments=_ids(attachments)
        )
    except AppError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return _render_club(
            request,
            session,
            user,
            club_id,
            status_code=exc.status_code,
            form=form,
            error=exc.detail,
        )
    return redirect(request, f"/threads/{thread.id}", message=_("Thread started."))


# --- /threads/{id} -------------------------------------------------------------------------


@router.get("/threads/{thread_id}")
def thread_page(
    request: Request,
    thread_id: Id,
    session: SessionDep,
    user: PageUser,
    offset: Offset | None = None,
) -> Response:
    thread, access = service.get_thread_for(session, user, thread_id)
    if offset is None:
        offset = service.first_unread_offset(session, user.id, thread.id, POSTS_PAGE_SIZE)
    page = service.posts_page(session, thread, limit=POSTS_PAGE_SIZE, offset=offset)
    marker = service.last_read_post_id(session, user.id, thread.id)
    newest_shown = max((p.id for p in page.items), default=0)
    if access.member is not None and newest_shown > marker:
        # Viewing is reading: move the marker to the last post of this page. A write, so the
        # transaction restarts as a writer (SQLite could refuse a write in a reader).
        session.commit()
        begin_write(session)
        service.mark_read(session, user, thread.id, up_to_post_id=newest_shown)
    return _render_thread(
        request, session, user, thread, access, page=page, offset=offset, marker=marker
    )


def _render_thread(
    request: Request,
    session: Session,
    user: User,
    thread: Thread,
    access: service.ClubAccess,
    *,
    page: service.PostPage,
    offset: int,
    marker: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    posts = [_post_view(p, moderator=access.moderator, marker=marker) for p in page.items]
    context: dict[str, Any] = {
        "thread": thread,
        "club": access.club,
        "access": access,
        "posts": posts,
        "attachments": service.attachments_of(session, page.items),
        "total": page.total,
        "offset": offset,
        "pagination": Pagination(total=page.total, limit=POSTS_PAGE_SIZE, offset=offset),
        "library": service.library_choices(session) if access.member else [],
        "form": {},
        "max_body": service.MAX_BODY,
        "history": (
            service.moderation_history(session, user, thread.id) if access.moderator else []
        ),
    }
    context.update(extra)
    return render(request, "community/clubs/thread.html", context, status_code=status_code)


def _post_view(post: Post, *, moderator: bool, marker: int) -> dict[str, Any]:
    body = service.shown_body(post, moderator=moderator)
    return {
        "post": post,
        "hidden": post.hidden_at is not None,
        "html": _html(body) if body is not None else None,
        "new": post.id > marker and post.author_id is not None,
    }


def _last_page_offset(total: int) -> int:
    return max(0, (total - 1) // POSTS_PAGE_SIZE * POSTS_PAGE_SIZE)


@router.post("/threads/{thread_id}/posts", dependencies=[CSRFChecked])
def post_create(
    request: Request,
    thread_id: Id,
    session: SessionDep,
    user: PageUser,
    body: LongText = "",
    attachments: Values = None,
) -> Response:
    try:
        post = service.add_post(session, user, thread_id, body=body, attachments=_ids(attachments))
    except AppError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        thread, access = service.get_thread_for(session, user, thread_id)
        total = service.posts_page(session, thread, limit=1, offset=0).total
        offset = _last_page_offset(total)
        page = service.posts_page(session, thread, limit=POSTS_PAGE_SIZE, offset=offset)
        return _render_thread(
            request,
            session,
            user,
            thread,
            access,
            page=page,
            offset=offset,
            marker=service.last_read_post_id(session, user.id, thread.id),
            status_code=exc.status_code,
            form={"body": body, "attachments": attachments or []},
            error=exc.detail,
        )
    thread = service.get_thread(session, thread_id)
    total = service.posts_page(session, thread, limit=1, offset=0).total
    return redirect(
        request,
        f"/threads/{thread_id}?offset={_last_page_offset(total)}#post-{post.id}",
        message=_("Reply posted."),
    )


def _back(thread_id: int, offset: str) -> str:
    value = offset.strip()
    return f"/threads/{thread_id}" + (f"?offset={value}" if value.isdecimal() else "")


@router.post("/posts/{post_id}/{action}", dependencies=[CSRFChecked])
def post_moderate(
    request: Request,
    post_id: Id,
    action: Annotated[str, Path(pattern="^(hide|unhide)$")],
    session: SessionDep,
    user: PageUser,
    offset: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    post = service.get_post(session, post_id)
    url = _back(post.thread_id, offset) + f"#post-{post_id}"
    hide = action == "hide"
    try:
        service.set_post_hidden(session, user, post_id, hidden=hide)
    except AppError as exc:
        if exc.status_code in (403, 404):  # the page never offers it: no friendly redirect
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(
        request,
        url,
        message=_("The post is hidden from members.") if hide else _("The post is shown again."),
    )


@router.post("/threads/{thread_id}/{action}", dependencies=[CSRFChecked])
def thread_moderate(
    request: Request,
    thread_id: Id,
    action: Annotated[str, Path(pattern="^(lock|unlock)$")],
    session: SessionDep,
    user: PageUser,
    offset: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    url = _back(thread_id, offset)
    lock = action == "lock"
    try:
        service.set_thread_locked(session, user, thread_id, locked=lock)
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(
        request,
        url,
        message=(
            _("The thread is locked: no new replies.")
            if lock
            else _("The thread is open for replies again.")
        ),
    )
