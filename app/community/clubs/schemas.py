"""Pydantic shapes of the clubs API (fields of DESIGN.md kept: name, organization_id,
description; title, body). Posts carry their raw Markdown (``body``) and the sanitised HTML
(``body_html``); a hidden post shows neither to someone who does not moderate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.accounts.models import SchoolLevel
from app.community.clubs.models import ClubKind, MemberRole, RequestStatus

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# The service refuses a body of only spaces; the length limit is the same there.
Body = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
ItemId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Attachments = Annotated[list[ItemId], Field(max_length=10)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClubIn(Strict):
    name: Name
    organization_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    description: Annotated[str, Field(max_length=5000)] = ""
    kind: ClubKind = ClubKind.club
    topics: Annotated[list[Label], Field(max_length=20)] = []
    levels: Annotated[list[SchoolLevel], Field(max_length=3)] = []


class ClubOut(BaseModel):
    id: int
    name: str
    kind: ClubKind
    description: str
    description_html: str
    organization_id: int
    organization_name: str
    topics: list[str]
    levels: list[str]
    created_by_id: int | None
    created_at: datetime
    member_count: int
    my_role: MemberRole | None
    pending_request: bool
    unread_posts: int


class ClubPage(BaseModel):
    items: list[ClubOut]
    total: int


class JoinIn(Strict):
    message: Annotated[str, Field(max_length=500)] = ""


class JoinRequestOut(BaseModel):
    id: int
    club_id: int
    user_id: int
    user_name: str
    message: str
    status: RequestStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by_id: int | None


class JoinRequestPage(BaseModel):
    items: list[JoinRequestOut]
    total: int


class MemberOut(BaseModel):
    user_id: int
    full_name: str
    role: MemberRole
    organization_name: str
    joined_at: datetime


class MemberPage(BaseModel):
    items: list[MemberOut]
    total: int


class MemberRoleIn(Strict):
    role: MemberRole


class AttachmentOut(BaseModel):
    content_id: int
    title: str
    url: str
    available: bool


class PostIn(Strict):
    body: Body
    attachments: Attachments = []


class ThreadIn(Strict):
    title: Title
    body: Body
    attachments: Attachments = []


class PostOut(BaseModel):
    id: int
    thread_id: int
    author_id: int | None
    author_name: str
    created_at: datetime
    hidden: bool
    hidden_at: datetime | None
    hidden_by_id: int | None
    body: str | None
    body_html: str | None
    attachments: list[AttachmentOut]


class PostPage(BaseModel):
    items: list[PostOut]
    total: int


class ThreadOut(BaseModel):
    id: int
    club_id: int
    title: str
    author_id: int | None
    author_name: str
    created_at: datetime
    last_post_at: datetime
    locked: bool
    locked_at: datetime | None
    locked_by_id: int | None
    post_count: int
    unread: int


class ThreadPage(BaseModel):
    items: list[ThreadOut]
    total: int


class ThreadDetail(ThreadOut):
    posts: PostPage


class ReadIn(Strict):
    post_id: ItemId | None = None


class ReadOut(BaseModel):
    thread_id: int
    last_read_post_id: int


class ModerationOut(BaseModel):
    action: str
    post_id: int | None
    actor_id: int | None
    at: datetime


class UnreadOut(BaseModel):
    club_id: int
    name: str
    role: MemberRole
    unread_threads: int
    unread_posts: int
    url: str
