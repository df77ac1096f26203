"""Clubs and their discussions: creating clubs, join requests, members and roles, threads and
posts with library attachments, moderation, read markers and unread counts.

Plain functions taking ``(session, actor, ...)``; the caller's session commits. Rules are in
``policy.py``; integrity (one membership, one pending request, one read marker) is also held
by the database, so two racing requests end with one row and a 409 for the loser.

Read markers hold the id of the newest post a member has seen in a thread (ids only grow):
"unread" is every visible post above it that someone else wrote. Posting moves the writer's
own marker, so one's own words are never unread.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.models import Organization, SchoolLevel, User
from app.community.clubs import policy
from app.community.clubs.models import (
    Club,
    ClubKind,
    ClubLabel,
    ClubMember,
    JoinRequest,
    MemberRole,
    ModerationAction,
    ModerationEntry,
    Post,
    PostAttachment,
    RequestStatus,
    Thread,
    ThreadRead,
)
from app.core.collation import vi_sort_key
from app.core.db import insert_ignore, utcnow
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.i18n import format_number
from app.core.i18n import gettext as _
from app.core.text import escape_like, fold
from app.lcms import service as lcms
from app.lcms.models import ContentItem, ContentStatus

MAX_NAME = 200
MAX_DESCRIPTION = 5000
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_MESSAGE = 500
MAX_ATTACHMENTS = 10


# --- Validation ----------------------------------------------------------------------------


def _clean(value: str | None, *, field: str, max_len: int, required: bool) -> str:
    text = unicodedata.normalize("NFC", (value or "").strip())
    if required and not text:
        raise InvalidInput(_("{field} is required.").format(field=field))
    if len(text) > max_len:
        raise InvalidInput(
            _("{field} is longer than {n} characters.").format(
                field=field, n=format_number(max_len)
            )
        )
    return text


def _name_key(name: str) -> str:
    """What two club names of one organisation may not share: the name with letter case
    folded (Vietnamese capitals too) and Unicode composition normalised."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def clean_title(value: str | None) -> str:
    return _clean(
        " ".join((value or "").split()), field=_("Title"), max_len=MAX_TITLE, required=True
    )


def clean_body(value: str | None) -> str:
    """The Markdown of a post: not empty, at most 20,000 characters (kept as written)."""
    # Only blank lines before and trailing space go: leading spaces mean something in Markdown.
    text = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n")).rstrip().lstrip("\n")
    if not text.strip():
        raise InvalidInput(_("The message is empty. Write something first."))
    if len(text) > MAX_BODY:
        raise InvalidInput(
            _("The message is longer than {n} characters.").format(n=format_number(MAX_BODY))
        )
    return text


def clean_kind(value: str | None) -> ClubKind:
    try:
        return ClubKind(value or ClubKind.club.value)
    except ValueError:
        raise InvalidInput(_("Unknown kind of club '{kind}'.").format(kind=value)) from None


# --- Lookups -------------------------------------------------------------------------------


def ancestor_ids(session: Session, organization_id: int) -> list[int]:
    """The organisation and every organisation above it (a recursive query, one round trip)."""
    chain = (
        select(Organization.id, Organization.parent_id)
        .where(Organization.id == organization_id)
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        select(Organization.id, Organization.parent_id).where(Organization.id == chain.c.parent_id)
    )
    return list(session.scalars(select(chain.c.id)))


def get_club(session: Session, club_id: int) -> Club:
    club = session.get(Club, club_id)
    if club is None:
        raise NotFound(_("Club {id} does not exist.").format(id=club_id))
    return club


def get_membership(session: Session, club_id: int, user_id: int) -> ClubMember | None:
    return session.scalar(
        select(ClubMember).where(ClubMember.club_id == club_id, ClubMember.user_id == user_id)
    )


@dataclass
class ClubAccess:
    """A club as ``actor`` sees it: their membership (if any) and whether they moderate."""

    club: Club
    member: ClubMember | None
    moderator: bool

    @property
    def role(self) -> str | None:
        return self.member.role if self.member else None


def get_club_for(session: Session, actor: User, club_id: int) -> ClubAccess:
    """The club if ``actor`` may see it (404 otherwise, the same as a club that does not exist)."""
    club = get_club(session, club_id)
    member = get_membership(session, club.id, actor.id)
    if member is None and not policy.is_admin(actor):
        policy.check_visible(
            actor, club, member=None, chain=ancestor_ids(session, actor.organization_id)
        )
    return ClubAccess(club, member, policy.is_moderator(actor, member))


# --- Clubs ---------------------------------------------------------------------------------


def _set_labels(club: Club, *, levels: list[str] | None, topics: list[str] | None) -> None:
    wanted = {
        "level": lcms.clean_levels(levels) if levels is not None else None,
        "topic": lcms.clean_labels(topics, field=_("Topics")) if topics is not None else None,
    }
    for kind, values in wanted.items():
        if values is None:
            continue
        club.labels = [label for label in club.labels if label.kind != kind] + [
            ClubLabel(kind=kind, value=value) for value in values
        ]


def create_club(
    session: Session,
    actor: User,
    *,
    name: str,
    organization_id: int,
    description: str | None = None,
    kind: str | None = None,
    topics: list[str] | None = None,
    levels: list[str] | None = None,
) -> Club:
    """A new club in a school or commune; ``actor`` becomes its first leader."""
    organization = accounts.get_organization(session, organization_id)
    policy.check_can_create(actor, organization)
    name = _clean(" ".join((name or "").split()), field=_("Name"), max_len=MAX_NAME, required=True)
    description = _clean(
        description, field=_("Description"), max_len=MAX_DESCRIPTION, required=False
    )
    club_kind = clean_kind(kind)
    # Compared in Python: SQLite's lower() (and PostgreSQL's under the C locale) folds only
    # ASCII, so "CLB TIN HỌC" and "CLB Tin học" would differ in SQL. A school has few clubs.
    key = _name_key(name)
    existing = session.scalars(select(Club.name).where(Club.organization_id == organization.id))
    if any(_name_key(other) == key for other in existing):
        raise Conflict(_("A club named '{name}' already exists here.").format(name=name))
    club = Club(
        name=name,
        kind=club_kind.value,
        description=description,
        organization_id=organization.id,
        created_by_id=actor.id,
        search_name=fold(name),
    )
    _set_labels(club, levels=levels or [], topics=topics or [])
    try:
        with session.begin_nested():
            session.add(club)
            session.flush()
    except IntegrityError:
        raise Conflict(_("A club named '{name}' already exists here.").format(name=name)) from None
    session.add(ClubMember(club_id=club.id, user_id=actor.id, role=MemberRole.leader.value))
    session.flush()
    return club


@dataclass
class ClubRow:
    club: Club
    role: str | None  # the actor's role, None when not a member
    pending: bool  # the actor has asked to join and waits for an answer
    members: int
    unread: int


@dataclass
class ClubPage:
    items: list[ClubRow]
    total: int


def _visible_clubs(session: Session, actor: User) -> Select[tuple[Club]]:
    query = select(Club)
    if not policy.is_admin(actor):
        mine = select(ClubMember.club_id).where(ClubMember.user_id == actor.id)
        query = query.where(
            or_(
                Club.organization_id.in_(ancestor_ids(session, actor.organization_id)),
                Club.id.in_(mine),
            )
        )
    return query


def list_clubs(
    session: Session,
    actor: User,
    *,
    mine: bool | None = None,
    q: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> ClubPage:
    """Clubs ``actor`` may see. ``mine``: True only their clubs, False only the others."""
    query = _visible_clubs(session, actor)
    member_of = select(ClubMember.club_id).where(ClubMember.user_id == actor.id)
    if mine is True:
        query = query.where(Club.id.in_(member_of))
    elif mine is False:
        query = query.where(Club.id.not_in(member_of))
    words = fold(q or "").split()
    for word in words[:10]:
        query = query.where(Club.search_name.like(f"%{escape_like(word)}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    clubs = list(session.scalars(query.order_by(Club.name, Club.id).limit(limit).offset(offset)))
    return ClubPage(_rows(session, actor, clubs), total)


def _rows(session: Session, actor: User, clubs: list[Club]) -> list[ClubRow]:
    ids = [c.id for c in clubs]
    if not ids:
        return []
    roles = dict(
        session.execute(
            select(ClubMember.club_id, ClubMember.role).where(
                ClubMember.user_id == actor.id, ClubMember.club_id.in_(ids)
            )
        )
        .tuples()
        .all()
    )
    counts = dict(
        session.execute(
            select(ClubMember.club_id, func.count(ClubMember.id))
            .where(ClubMember.club_id.in_(ids))
            .group_by(ClubMember.club_id)
        )
        .tuples()
        .all()
    )
    pending = set(
        session.scalars(
            select(JoinRequest.club_id).where(
                JoinRequest.user_id == actor.id,
                JoinRequest.club_id.in_(ids),
                JoinRequest.status == RequestStatus.pending,
            )
        )
    )
    unread = _unread_by_club(session, actor.id, [i for i in ids if i in roles])
    return [
        ClubRow(
            club=c,
            role=roles.get(c.id),
            pending=c.id in pending,
            members=counts.get(c.id, 0),
            unread=unread.get(c.id, (0, 0))[1],
        )
        for c in clubs
    ]


def club_row(session: Session, actor: User, club: Club) -> ClubRow:
    return _rows(session, actor, [club])[0]


# --- Join requests -------------------------------------------------------------------------


def _pending_request(session: Session, club_id: int, user_id: int) -> JoinRequest | None:
    return session.scalar(
        select(JoinRequest).where(
            JoinRequest.club_id == club_id,
            JoinRequest.user_id == user_id,
            JoinRequest.status == RequestStatus.pending,
        )
    )


def request_join(session: Session, actor: User, club_id: int, *, message: str = "") -> JoinRequest:
    access = get_club_for(session, actor, club_id)
    if access.member is not None:
        raise Conflict(_("You are already a member of this club."))
    if _pending_request(session, club_id, actor.id) is not None:
        raise Conflict(_("You have already asked to join this club. A leader will answer soon."))
    request = JoinRequest(
        club_id=club_id,
        user_id=actor.id,
        message=_clean(message, field=_("Message"), max_len=MAX_MESSAGE, required=False),
    )
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:  # a concurrent request got there first
        raise Conflict(
            _("You have already asked to join this club. A leader will answer soon.")
        ) from None
    return request


def list_requests(
    session: Session, actor: User, club_id: int, *, status: str | None = "pending"
) -> list[JoinRequest]:
    access = get_club_for(session, actor, club_id)
    policy.require_moderator(actor, access.member)
    query = select(JoinRequest).where(JoinRequest.club_id == club_id)
    if status:
        query = query.where(JoinRequest.status == status)
    return list(session.scalars(query.order_by(JoinRequest.created_at, JoinRequest.id)))


def pending_count(session: Session, club_id: int) -> int:
    return (
        session.scalar(
            select(func.count(JoinRequest.id)).where(
                JoinRequest.club_id == club_id, JoinRequest.status == RequestStatus.pending
            )
        )
        or 0
    )


def decide_request(
    session: Session, actor: User, club_id: int, request_id: int, *, approve: bool
) -> JoinRequest:
    """A leader's answer. Approving makes the user a member; an answered request is 409."""
    access = get_club_for(session, actor, club_id)
    policy.require_moderator(actor, access.member)
    request = session.get(JoinRequest, request_id)
    if request is None or request.club_id != club_id:
        raise NotFound(_("Join request {id} does not exist.").format(id=request_id))
    # The row is locked (PostgreSQL) so two leaders answering at once do not both win.
    session.execute(select(JoinRequest.id).where(JoinRequest.id == request.id).with_for_update())
    session.refresh(request)
    if request.status != RequestStatus.pending:
        raise Conflict(_("This request has already been answered."))
    request.status = (RequestStatus.approved if approve else RequestStatus.rejected).value
    request.decided_at = utcnow()
    request.decided_by_id = actor.id
    if approve:
        if get_membership(session, club_id, request.user_id) is not None:
            raise Conflict(
                _("{name} is already a member of this club.").format(name=request.user.full_name)
            )
        try:
            with session.begin_nested():
                session.add(
                    ClubMember(
                        club_id=club_id, user_id=request.user_id, role=MemberRole.member.value
                    )
                )
                session.flush()
        except IntegrityError:
            raise Conflict(
                _("{name} is already a member of this club.").format(name=request.user.full_name)
            ) from None
    session.flush()
    return request


# --- Members -------------------------------------------------------------------------------


@dataclass
class MemberPage:
    items: list[ClubMember]
    total: int


def list_members(
    session: Session, actor: User, club_id: int, *, limit: int = 100, offset: int = 0
) -> MemberPage:
    get_club_for(session, actor, club_id)
    query = select(ClubMember).where(ClubMember.club_id == club_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    leaders_first = case((ClubMember.role == MemberRole.leader, 0), else_=1)
    items = list(
        session.scalars(
            query.join(User, User.id == ClubMember.user_id)
            .order_by(leaders_first, User.sort_name, ClubMember.id)
            .limit(limit)
            .offset(offset)
        )
    )
    return MemberPage(items, total)


def _lock_club(session: Session, club_id: int) -> None:
    # Serialises changes of leadership (PostgreSQL; SQLite writers are serialised already), so
    # two leaders stepping down at once cannot leave the club without one.
    session.execute(select(Club.id).where(Club.id == club_id).with_for_update())


def _leader_count(session: Session, club_id: int) -> int:
    return (
        session.scalar(
            select(func.count(ClubMember.id)).where(
                ClubMember.club_id == club_id, ClubMember.role == MemberRole.leader
            )
        )
        or 0
    )


def _target_member(session: Session, club_id: int, user_id: int) -> ClubMember:
    member = get_membership(session, club_id, user_id)
    if member is None:
        raise NotFound(_("This person is not a member of the club."))
    return member


def set_member_role(
    session: Session, actor: User, club_id: int, user_id: int, *, role: str
) -> ClubMember:
    try:
        new_role = MemberRole(role)
    except ValueError:
        raise InvalidInput(_("Unknown member role '{role}'.").format(role=role)) from None
    access = get_club_for(session, actor, club_id)
    policy.require_moderator(actor, access.member)
    _lock_club(session, club_id)
    member = _target_member(session, club_id, user_id)
    if member.role == new_role:
        return member
    if new_role == MemberRole.member and _leader_count(session, club_id) <= 1:
        raise Conflict(_("A club needs at least one leader. Make someone else a leader first."))
    member.role = new_role.value
    session.flush()
    return member


def remove_member(session: Session, actor: User, club_id: int, user_id: int) -> None:
    """A member leaves (``user_id`` is the actor) or a leader removes someone."""
    access = get_club_for(session, actor, club_id)
    if user_id != actor.id:
        policy.require_moderator(actor, access.member)
    _lock_club(session, club_id)
    member = _target_member(session, club_id, user_id)
    if member.role == MemberRole.leader and _leader_count(session, club_id) <= 1:
        if user_id == actor.id:
            raise Conflict(
                _("You are the club's only leader. Make another member a leader before leaving.")
            )
        raise Conflict(_("A club needs at least one leader. Make someone else a leader first."))
    session.delete(member)
    session.flush()


# --- Threads and posts ---------------------------------------------------------------------


@dataclass
class Attachment:
    content_id: int
    title: str
    available: bool  # still published in the library

    @property
    def url(self) -> str:
        return f"/library/{self.content_id}"


def _clean_attachments(session: Session, ids: list[int] | None) -> list[int]:
    wanted = list(dict.fromkeys(ids or []))
    if len(wanted) > MAX_ATTACHMENTS:
        raise InvalidInput(
            _("At most {n} library items can be attached to a message.").format(n=MAX_ATTACHMENTS)
        )
    for item_id in wanted:
        item = session.get(ContentItem, item_id) if 0 < item_id < 2**31 else None
        if item is None or item.status != ContentStatus.published:
            raise InvalidInput(
                _("Library item {id} does not exist or is not published.").format(id=item_id)
            )
    return wanted


def _new_post(
    session: Session, actor: User, thread: Thread, *, body: str, attachments: list[int]
) -> Post:
    post = Post(
        thread_id=thread.id,
        author_id=actor.id,
        body=body,
        attachments=[
            PostAttachment(content_item_id=item_id, position=n)
            for n, item_id in enumerate(attachments)
        ],
    )
    session.add(post)
    session.flush()
    thread.last_post_at = post.created_at
    _advance_marker(session, actor.id, thread.id, post.id)
    return post


def create_thread(
    session: Session,
    actor: User,
    club_id: int,
    *,
    title: str,
    body: str,
    attachments: list[int] | None = None,
) -> Thread:
    """A new thread; ``body`` is its opening post."""
    access = get_club_for(session, actor, club_id)
    policy.require_member(access.member)
    title = clean_title(title)
    text = clean_body(body)
    items = _clean_attachments(session, attachments)
    thread = Thread(club_id=club_id, title=title, author_id=actor.id)
    session.add(thread)
    session.flush()
    _new_post(session, actor, thread, body=text, attachments=items)
    return thread


@dataclass
class ThreadRow:
    thread: Thread
    posts: int
    unread: int


@dataclass
class ThreadPage:
    items: list[ThreadRow]
    total: int


def list_threads(
    session: Session, actor: User, club_id: int, *, limit: int = 20, offset: int = 0
) -> ThreadPage:
    access = get_club_for(session, actor, club_id)
    policy.require_reader(actor, access.member)
    query = select(Thread).where(Thread.club_id == club_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    threads = list(
        session.scalars(
            query.order_by(Thread.last_post_at.desc(), Thread.id.desc()).limit(limit).offset(offset)
        )
    )
    return ThreadPage(thread_rows(session, actor, threads), total)


def thread_rows(session: Session, actor: User, threads: list[Thread]) -> list[ThreadRow]:
    ids = [t.id for t in threads]
    if not ids:
        return []
    counts = dict(
        session.execute(
            select(Post.thread_id, func.count(Post.id))
            .where(Post.thread_id.in_(ids))
            .group_by(Post.thread_id)
        )
        .tuples()
        .all()
    )
    unread = unread_by_thread(session, actor.id, ids)
    return [ThreadRow(t, counts.get(t.id, 0), unread.get(t.id, 0)) for t in threads]


def get_thread(session: Session, thread_id: int) -> Thread:
    thread = session.get(Thread, thread_id) if 0 < thread_id < 2**31 else None
    if thread is None:
        raise NotFound(_("Thread {id} does not exist.").format(id=thread_id))
    return thread


def get_thread_for(session: Session, actor: User, thread_id: int) -> tuple[Thread, ClubAccess]:
    """The thread and the club as ``actor`` sees it; 404 when the club is hidden to them, 403
    when they see the club but are not a member."""
    thread = get_thread(session, thread_id)
    try:
        access = get_club_for(session, actor, thread.club_id)
    except NotFound:
        raise NotFound(_("Thread {id} does not exist.").format(id=thread_id)) from None
    policy.require_reader(actor, access.member)
    return thread, access


@dataclass
class PostPage:
    items: list[Post]
    total: int


def list_posts(
    session: Session, actor: User, thread_id: int, *, limit: int = 20, offset: int = 0
) -> PostPage:
    """Posts oldest first (hidden ones too: callers show a placeholder to non-moderators)."""
    thread, _access = get_thread_for(session, actor, thread_id)
    return posts_page(session, thread, limit=limit, offset=offset)


def posts_page(session: Session, thread: Thread, *, limit: int, offset: int) -> PostPage:
    query = select(Post).where(Post.thread_id == thread.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.order_by(Post.id).limit(limit).offset(offset)))
    return PostPage(items, total)


def add_post(
    session: Session,
    actor: User,
    thread_id: int,
    *,
    body: str,
    attachments: list[int] | None = None,
) -> Post:
    thread, access = get_thread_for(session, actor, thread_id)
    policy.require_member(access.member)
    if thread.locked_at is not None:
        raise Conflict(_("This thread is locked by a moderator: no new replies can be posted."))
    text = clean_body(body)
    items = _clean_attachments(session, attachments)
    return _new_post(session, actor, thread, body=text, attachments=items)


def attachments_of(session: Session, posts: list[Post]) -> dict[int, list[Attachment]]:
    """Each post's attachments with the library item's title, in one query."""
    ids = {a.content_item_id for p in posts for a in p.attachments}
    items = (
        {
            row.id: row
            for row in session.execute(
                select(ContentItem.id, ContentItem.title, ContentItem.status).where(
                    ContentItem.id.in_(ids)
                )
            )
        }
        if ids
        else {}
    )
    found: dict[int, list[Attachment]] = {}
    for post in posts:
        found[post.id] = [
            Attachment(
                content_id=a.content_item_id,
                title=items[a.content_item_id].title,
                available=items[a.content_item_id].status == ContentStatus.published,
            )
            for a in post.attachments
            if a.content_item_id in items
        ]
    return found


# --- Moderation ----------------------------------------------------------------------------


def _moderation_entry(
    session: Session, actor: User, thread: Thread, action: ModerationAction, post: Post | None
) -> None:
    session.add(
        ModerationEntry(
            club_id=thread.club_id,
            thread_id=thread.id,
            post_id=post.id if post else None,
            action=action.value,
            actor_id=actor.id,
        )
    )


def get_post(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id) if 0 < post_id < 2**31 else None
    if post is None:
        raise NotFound(_("Post {id} does not exist.").format(id=post_id))
    return post


def set_post_hidden(session: Session, actor: User, post_id: int, *, hidden: bool) -> Post:
    """Hide a post (members then see "hidden by a moderator") or show it again."""
    post = get_post(session, post_id)
    try:
        thread, access = get_thread_for(session, actor, post.thread_id)
    except NotFound:
        raise NotFound(_("Post {id} does not exist.").format(id=post_id)) from None
    policy.require_moderator(actor, access.member)
    if (post.hidden_at is not None) == hidden:
        return post  # already so: nothing changes, nothing is logged
    if hidden:
        post.hidden_at = utcnow()
        post.hidden_by_id = actor.id
    else:
        post.hidden_at = None
        post.hidden_by_id = None
    action = ModerationAction.hide_post if hidden else ModerationAction.unhide_post
    _moderation_entry(session, actor, thread, action, post)
    session.flush()
    return post


def set_thread_locked(session: Session, actor: User, thread_id: int, *, locked: bool) -> Thread:
    thread, access = get_thread_for(session, actor, thread_id)
    policy.require_moderator(actor, access.member)
    if (thread.locked_at is not None) == locked:
        return thread
    if locked:
        thread.locked_at = utcnow()
        thread.locked_by_id = actor.id
    else:
        thread.locked_at = None
        thread.locked_by_id = None
    action = ModerationAction.lock_thread if locked else ModerationAction.unlock_thread
    _moderation_entry(session, actor, thread, action, None)
    session.flush()
    return thread


def moderation_history(session: Session, actor: User, thread_id: int) -> list[ModerationEntry]:
    thread, access = get_thread_for(session, actor, thread_id)
    policy.require_moderator(actor, access.member)
    return list(
        session.scalars(
            select(ModerationEntry)
            .where(ModerationEntry.thread_id == thread.id)
            .order_by(ModerationEntry.at, ModerationEntry.id)
        )
    )


def shown_body(post: Post, *, moderator: bool) -> str | None:
    """The Markdown a reader may see; None for a hidden post shown to a non-moderator."""
    if post.hidden_at is not None and not moderator:
        return None
    return post.body


# --- Read markers and unread counts --------------------------------------------------------


def _advance_marker(session: Session, user_id: int, thread_id: int, post_id: int) -> None:
    now = utcnow()
    inserted = insert_ignore(
        session,
        ThreadRead,
        user_id=user_id,
        thread_id=thread_id,
        last_read_post_id=post_id,
        read_at=now,
    )
    if not inserted:
        session.execute(
            update(ThreadRead)
            .where(
                ThreadRead.user_id == user_id,
                ThreadRead.thread_id == thread_id,
                ThreadRead.last_read_post_id < post_id,
            )
            .values(last_read_post_id=post_id, read_at=now)
        )


def mark_read(
    session: Session, actor: User, thread_id: int, *, up_to_post_id: int | None = None
) -> int:
    """Move ``actor``'s marker to ``up_to_post_id`` (default: the newest post) — never back.
    Returns the marker's post id."""
    thread, _access = get_thread_for(session, actor, thread_id)
    query = select(func.max(Post.id)).where(Post.thread_id == thread.id)
    if up_to_post_id is not None:
        query = query.where(Post.id <= up_to_post_id)
    newest = session.scalar(query) or 0
    if newest:
        _advance_marker(session, actor.id, thread.id, newest)
    return newest


def _unread_posts(user_id: int) -> Select[tuple[int, int, int]]:
    """(club id, thread id, post id) of every post unread by ``user_id`` in their clubs."""
    return (
        select(Thread.club_id, Post.thread_id, Post.id)
        .join(Thread, Thread.id == Post.thread_id)
        .join(ClubMember, and_(ClubMember.club_id == Thread.club_id, ClubMember.user_id == user_id))
        .outerjoin(
            ThreadRead, and_(ThreadRead.thread_id == Post.thread_id, ThreadRead.user_id == user_id)
        )
        .where(
            Post.hidden_at.is_(None),
            or_(Post.author_id.is_(None), Post.author_id != user_id),
            Post.id > func.coalesce(ThreadRead.last_read_post_id, 0),
        )
    )


def unread_by_thread(session: Session, user_id: int, thread_ids: list[int]) -> dict[int, int]:
    """Unread posts per thread (threads of clubs the user is a member of)."""
    if not thread_ids:
        return {}
    unread = _unread_posts(user_id).where(Post.thread_id.in_(thread_ids)).subquery()
    rows = session.execute(
        select(unread.c.thread_id, func.count()).group_by(unread.c.thread_id)
    ).tuples()
    return dict(rows.all())


def _unread_by_club(
    session: Session, user_id: int, club_ids: list[int] | None
) -> dict[int, tuple[int, int]]:
    """Per club: (threads with unread posts, unread posts)."""
    query = _unread_posts(user_id)
    if club_ids is not None:
        if not club_ids:
            return {}
        query = query.where(Thread.club_id.in_(club_ids))
    unread = query.subquery()
    rows = session.execute(
        select(
            unread.c.club_id, func.count(func.distinct(unread.c.thread_id)), func.count()
        ).group_by(unread.c.club_id)
    ).tuples()
    return {club_id: (threads, posts) for club_id, threads, posts in rows}


@dataclass(frozen=True)
class ClubUnread:
    """One of the user's clubs with what is new in it (for the home page and /clubs)."""

    club_id: int
    name: str
    role: str
    unread_threads: int
    unread_posts: int

    @property
    def url(self) -> str:
        return f"/clubs/{self.club_id}"


def unread_summary(session: Session, user: User) -> list[ClubUnread]:
    """Every club ``user`` is a member of, with its unread threads and posts: clubs with news
    first (most unread posts first), then the others by name. Two queries whatever the number
    of clubs and threads."""
    clubs = session.execute(
        select(Club.id, Club.name, ClubMember.role)
        .join(ClubMember, ClubMember.club_id == Club.id)
        .where(ClubMember.user_id == user.id)
    ).tuples()
    counts = _unread_by_club(session, user.id, None)
    summary = [
        ClubUnread(club_id, name, role, *counts.get(club_id, (0, 0)))
        for club_id, name, role in clubs
    ]
    summary.sort(key=lambda s: (-s.unread_posts, vi_sort_key(s.name), s.club_id))
    return summary


def home_context(session: Session, user: User) -> dict[str, object]:
    """What ``templates/community/clubs/_unread_panel.html`` needs on the home page."""
    return {"club_unread": unread_summary(session, user)}


def first_unread_offset(session: Session, user_id: int, thread_id: int, page_size: int) -> int:
    """The offset of the page holding the user's first unread post (0 when all is read)."""
    marker = session.scalar(
        select(ThreadRead.last_read_post_id).where(
            ThreadRead.user_id == user_id, ThreadRead.thread_id == thread_id
        )
    )
    if not marker:
        return 0
    read = (
        session.scalar(
            select(func.count(Post.id)).where(Post.thread_id == thread_id, Post.id <= marker)
        )
        or 0
    )
    total = session.scalar(select(func.count(Post.id)).where(Post.thread_id == thread_id)) or 0
    index = min(read, max(total - 1, 0))
    return (index // page_size) * page_size


def last_read_post_id(session: Session, user_id: int, thread_id: int) -> int:
    return (
        session.scalar(
            select(ThreadRead.last_read_post_id).where(
                ThreadRead.user_id == user_id, ThreadRead.thread_id == thread_id
            )
        )
        or 0
    )


def library_choices(session: Session, *, limit: int = 100) -> list[tuple[int, str]]:
    """Recently published library items offered as attachments: (id, title)."""
    rows = session.execute(
        select(ContentItem.id, ContentItem.title)
        .where(ContentItem.status == ContentStatus.published)
        .order_by(ContentItem.updated_at.desc(), ContentItem.id.desc())
        .limit(limit)
    ).tuples()
    return list(rows.all())


LEVELS = [lv.value for lv in SchoolLevel]
KINDS = [k.value for k in ClubKind]


def creatable_organizations(session: Session, actor: User) -> list[Organization]:
    """Where ``actor`` may create a club: their school, or (admins) any commune or school."""
    if not policy.can_create_clubs(actor):
        return []
    if policy.is_admin(actor):
        return list(
            session.scalars(
                select(Organization)
                .where(Organization.kind.in_(["commune", "school"]))
                .order_by(Organization.kind, Organization.sort_name, Organization.id)
            )
        )
    org = session.get(Organization, actor.organization_id)
    return [org] if org is not None and org.kind == "school" else []
