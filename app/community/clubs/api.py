"""JSON API of the clubs: clubs, join requests, members, threads, posts, moderation, read
markers and the unread summary. Bearer tokens; the same service functions as the pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from app.accounts.deps import ApiUser
from app.accounts.models import User
from app.community.clubs import service
from app.community.clubs.markup import render_markdown
from app.community.clubs.models import (
    ClubKind,
    ClubMember,
    JoinRequest,
    MemberRole,
    Post,
    RequestStatus,
    Thread,
)
from app.community.clubs.schemas import (
    AttachmentOut,
    ClubIn,
    ClubOut,
    ClubPage,
    JoinIn,
    JoinRequestOut,
    JoinRequestPage,
    MemberOut,
    MemberPage,
    MemberRoleIn,
    ModerationOut,
    PostIn,
    PostOut,
    PostPage,
    ReadIn,
    ReadOut,
    ThreadDetail,
    ThreadIn,
    ThreadOut,
    ThreadPage,
    UnreadOut,
)
from app.core.db import SessionDep
from app.core.web import Limit, Offset

router = APIRouter(prefix="/api/v1", tags=["clubs"])
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


# --- Shapes --------------------------------------------------------------------------------


def club_out(row: service.ClubRow) -> ClubOut:
    club = row.club
    return ClubOut(
        id=club.id,
        name=club.name,
        kind=ClubKind(club.kind),
        description=club.description,
        description_html=render_markdown(club.description),
        organization_id=club.organization_id,
        organization_name=club.organization.name,
        topics=club.values("topic"),
        levels=club.values("level"),
        created_by_id=club.created_by_id,
        created_at=club.created_at,
        member_count=row.members,
        my_role=MemberRole(row.role) if row.role else None,
        pending_request=row.pending,
        unread_posts=row.unread,
    )


def request_out(request: JoinRequest) -> JoinRequestOut:
    return JoinRequestOut(
        id=request.id,
        club_id=request.club_id,
        user_id=request.user_id,
        user_name=request.user.full_name,
        message=request.message,
        status=RequestStatus(request.status),
        created_at=request.created_at,
        decided_at=request.decided_at,
        decided_by_id=request.decided_by_id,
    )


def member_out(member: ClubMember) -> MemberOut:
    return MemberOut(
        user_id=member.user_id,
        full_name=member.user.full_name,
        role=MemberRole(member.role),
        organization_name=member.user.organization.name,
        joined_at=member.joined_at,
    )


def thread_out(row: service.ThreadRow) -> ThreadOut:
    thread = row.thread
    return ThreadOut(
        id=thread.id,
        club_id=thread.club_id,
        title=thread.title,
        author_id=thread.author_id,
        author_name=thread.author.full_name if thread.author else "",
        created_at=thread.created_at,
        last_post_at=thread.last_post_at,
        locked=thread.locked_at is not None,
        locked_at=thread.locked_at,
        locked_by_id=thread.locked_by_id,
        post_count=row.posts,
        unread=row.unread,
    )


def posts_out(session: Session, posts: list[Post], *, moderator: bool) -> list[PostOut]:
    attachments = service.attachments_of(session, posts)
    result = []
    for post in posts:
        body = service.shown_body(post, moderator=moderator)
        result.append(
            PostOut(
                id=post.id,
                thread_id=post.thread_id,
                author_id=post.author_id,
                author_name=post.author.full_name if post.author else "",
                created_at=post.created_at,
                hidden=post.hidden_at is not None,
                hidden_at=post.hidden_at,
                hidden_by_id=post.hidden_by_id if moderator else None,
                body=body,
                body_html=render_markdown(body) if body is not None else None,
                attachments=[
                    AttachmentOut(
                        content_id=a.content_id, title=a.title, url=a.url, available=a.available
                    )
                    for a in attachments.get(post.id, [])
                ],
            )
        )
    return result


def _thread_detail(
    session: Session, user: User, thread: Thread, *, moderator: bool, limit: int, offset: int
) -> ThreadDetail:
    row = service.thread_rows(session, user, [thread])[0]
    page = service.posts_page(session, thread, limit=limit, offset=offset)
    return ThreadDetail(
        **thread_out(row).model_dump(),
        posts=PostPage(items=posts_out(session, page.items, moderator=moderator), total=page.total),
    )


# --- Clubs ---------------------------------------------------------------------------------


@router.post("/clubs", response_model=ClubOut, status_code=201)
def create_club(body: ClubIn, session: SessionDep, user: ApiUser) -> ClubOut:
    """Admins: in any commune (commune-wide) or school; school managers and teachers: in their
    own school. The creator becomes the first leader."""
    club = service.create_club(
        session,
        user,
        name=body.name,
        organization_id=body.organization_id,
        description=body.description,
        kind=body.kind.value,
        topics=body.topics,
        levels=[lv.value for lv in body.levels],
    )
    return club_out(service.club_row(session, user, club))


@router.get("/clubs", response_model=ClubPage)
def list_clubs(
    session: SessionDep,
    user: ApiUser,
    mine: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ClubPage:
    """Clubs the user may see (their school's, their commune's, their own); ``mine=true``: only
    the clubs they belong to, ``mine=false``: only the others."""
    page = service.list_clubs(session, user, mine=mine, q=q, limit=limit, offset=offset)
    return ClubPage(items=[club_out(r) for r in page.items], total=page.total)


@router.get("/clubs/unread", response_model=list[UnreadOut])
def unread(session: SessionDep, user: ApiUser) -> list[UnreadOut]:
    """The user's clubs with their unread threads and posts (clubs with news first)."""
    return [
        UnreadOut(
            club_id=s.club_id,
            name=s.name,
            role=MemberRole(s.role),
            unread_threads=s.unread_threads,
            unread_posts=s.unread_posts,
            url=s.url,
        )
        for s in service.unread_summary(session, user)
    ]


@router.get("/clubs/{club_id}", response_model=ClubOut)
def get_club(club_id: Id, session: SessionDep, user: ApiUser) -> ClubOut:
    access = service.get_club_for(session, user, club_id)
    return club_out(service.club_row(session, user, access.club))


# --- Join requests -------------------------------------------------------------------------


@router.post("/clubs/{club_id}/join", response_model=JoinRequestOut, status_code=201)
def join(
    club_id: Id, session: SessionDep, user: ApiUser, body: JoinIn | None = None
) -> JoinRequestOut:
    """Ask to join: a leader approves or rejects. A member already, or a pending request: 409."""
    request = service.request_join(session, user, club_id, message=body.message if body else "")
    return request_out(request)


@router.get("/clubs/{club_id}/requests", response_model=JoinRequestPage)
def list_requests(
    club_id: Id,
    session: SessionDep,
    user: ApiUser,
    status: RequestStatus | None = RequestStatus.pending,
) -> JoinRequestPage:
    """Leaders and admins: the club's join requests (pending ones by default)."""
    items = service.list_requests(session, user, club_id, status=status.value if status else None)
    return JoinRequestPage(items=[request_out(r) for r in items], total=len(items))


@router.post("/clubs/{club_id}/requests/{request_id}/approve", response_model=JoinRequestOut)
def approve(club_id: Id, request_id: Id, session: SessionDep, user: ApiUser) -> JoinRequestOut:
    return request_out(service.decide_request(session, user, club_id, request_id, approve=True))


@router.post("/clubs/{club_id}/requests/{request_id}/reject", response_model=JoinRequestOut)
def reject(club_id: Id, request_id: Id, session: SessionDep, user: ApiUser) -> JoinRequestOut:
    return request_out(service.decide_request(session, user, club_id, request_id, approve=False))


# --- Members -------------------------------------------------------------------------------


@router.get("/clubs/{club_id}/members", response_model=MemberPage)
def list_members(
    club_id: Id, session: SessionDep, user: ApiUser, limit: Limit = 100, offset: Offset = 0
) -> MemberPage:
    page = service.list_members(session, user, club_id, limit=limit, offset=offset)
    return MemberPage(items=[member_out(m) for m in page.items], total=page.total)


@router.put("/clubs/{club_id}/members/{user_id}", response_model=MemberOut)
def set_role(
    club_id: Id, user_id: Id, body: MemberRoleIn, session: SessionDep, user: ApiUser
) -> MemberOut:
    """Leaders and admins promote a member to leader or make a leader a member again (the last
    leader cannot step down: 409)."""
    member = service.set_member_role(session, user, club_id, user_id, role=body.role.value)
    return member_out(member)


@router.delete("/clubs/{club_id}/members/{user_id}", status_code=204)
def remove_member(club_id: Id, user_id: Id, session: SessionDep, user: ApiUser) -> Response:
    """Leave (your own id) or, as a leader, remove a member. The last leader stays: 409."""
    service.remove_member(session, user, club_id, user_id)
    return Response(status_code=204)


# --- Threads and posts ---------------------------------------------------------------------


@router.post("/clubs/{club_id}/threads", response_model=ThreadDetail, status_code=201)
def create_thread(club_id: Id, body: ThreadIn, session: SessionDep, user: ApiUser) -> ThreadDetail:
    """Members only. ``body`` (Markdown) is the opening post; ``attachments`` are ids of
    published library items."""
    thread = service.create_thread(
        session, user, club_id, title=body.title, body=body.body, attachments=body.attachments
    )
    access = service.get_club_for(session, user, club_id)
    return _thread_detail(session, user, thread, moderator=access.moderator, limit=20, offset=0)


@router.get("/clubs/{club_id}/threads", response_model=ThreadPage)
def list_threads(
    club_id: Id, session: SessionDep, user: ApiUser, limit: Limit = 20, offset: Offset = 0
) -> ThreadPage:
    """Newest activity first, with the user's unread count per thread."""
    page = service.list_threads(session, user, club_id, limit=limit, offset=offset)
    return ThreadPage(items=[thread_out(r) for r in page.items], total=page.total)


@router.get("/threads/{thread_id}", response_model=ThreadDetail)
def get_thread(
    thread_id: Id, session: SessionDep, user: ApiUser, limit: Limit = 20, offset: Offset = 0
) -> ThreadDetail:
    """The thread with a page of its posts, oldest first. Reading here does not move the read
    marker: ``POST /threads/{id}/read`` does."""
    thread, access = service.get_thread_for(session, user, thread_id)
    return _thread_detail(
        session, user, thread, moderator=access.moderator, limit=limit, offset=offset
    )


@router.get("/threads/{thread_id}/posts", response_model=PostPage)
def list_posts(
    thread_id: Id, session: SessionDep, user: ApiUser, limit: Limit = 20, offset: Offset = 0
) -> PostPage:
    _thread, access = service.get_thread_for(session, user, thread_id)
    page = service.list_posts(session, user, thread_id, limit=limit, offset=offset)
    return PostPage(
        items=posts_out(session, page.items, moderator=access.moderator), total=page.total
    )


@router.post("/threads/{thread_id}/posts", response_model=PostOut, status_code=201)
def add_post(thread_id: Id, body: PostIn, session: SessionDep, user: ApiUser) -> PostOut:
    """Members only; a locked thread answers 409."""
    post = service.add_post(session, user, thread_id, body=body.body, attachments=body.attachments)
    _thread, access = service.get_thread_for(session, user, thread_id)
    return posts_out(session, [post], moderator=access.moderator)[0]


@router.post("/threads/{thread_id}/read", response_model=ReadOut)
def mark_read(
    thread_id: Id, session: SessionDep, user: ApiUser, body: ReadIn | None = None
) -> ReadOut:
    """Move the user's read marker to ``post_id`` (default: the newest post); never back."""
    service.mark_read(session, user, thread_id, up_to_post_id=body.post_id if body else None)
    return ReadOut(
        thread_id=thread_id,
        last_read_post_id=service.last_read_post_id(session, user.id, thread_id),
    )


# --- Moderation ----------------------------------------------------------------------------


def _post_out(session: Session, user: User, post: Post) -> PostOut:
    return posts_out(session, [post], moderator=True)[0]


@router.post("/posts/{post_id}/hide", response_model=PostOut)
def hide_post(post_id: Id, session: SessionDep, user: ApiUser) -> PostOut:
    """Leaders and admins: members then see "post hidden by a moderator"."""
    return _post_out(session, user, service.set_post_hidden(session, user, post_id, hidden=True))


@router.post("/posts/{post_id}/unhide", response_model=PostOut)
def unhide_post(post_id: Id, session: SessionDep, user: ApiUser) -> PostOut:
    return _post_out(session, user, service.set_post_hidden(session, user, post_id, hidden=False))


def _thread_after(session: Session, user: User, thread: Thread) -> ThreadOut:
    return thread_out(service.thread_rows(session, user, [thread])[0])


@router.post("/threads/{thread_id}/lock", response_model=ThreadOut)
def lock_thread(thread_id: Id, session: SessionDep, user: ApiUser) -> ThreadOut:
    """Leaders and admins: no new posts (409) until unlocked."""
    thread = service.set_thread_locked(session, user, thread_id, locked=True)
    return _thread_after(session, user, thread)


@router.post("/threads/{thread_id}/unlock", response_model=ThreadOut)
def unlock_thread(thread_id: Id, session: SessionDep, user: ApiUser) -> ThreadOut:
    thread = service.set_thread_locked(session, user, thread_id, locked=False)
    return _thread_after(session, user, thread)


@router.get("/threads/{thread_id}/moderation", response_model=list[ModerationOut])
def moderation(thread_id: Id, session: SessionDep, user: ApiUser) -> list[ModerationOut]:
    """Leaders and admins: who hid, showed, locked or unlocked what in this thread, and when."""
    return [
        ModerationOut(action=e.action, post_id=e.post_id, actor_id=e.actor_id, at=e.at)
        for e in service.moderation_history(session, user, thread_id)
    ]
