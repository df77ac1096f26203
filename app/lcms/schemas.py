"""Pydantic shapes of the content API (field names fixed by DESIGN.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.lcms.models import ContentKind, ContentStatus, TrackKind

Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
Labels = Annotated[list[Label], Field(max_length=20)]


class ContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    kind: ContentKind
    description: Annotated[str, Field(max_length=5000)] = ""
    tags: Labels = []
    levels: Labels = []
    topics: Labels = []
    url: Annotated[str | None, Field(max_length=2000)] = None


class ContentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[
        str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
    ] = None
    description: Annotated[str | None, Field(max_length=5000)] = None
    tags: Labels | None = None
    levels: Labels | None = None
    topics: Labels | None = None
    url: Annotated[str | None, Field(max_length=2000)] = None


class ContentOut(BaseModel):
    id: int
    uuid: str
    title: str
    kind: ContentKind
    description: str
    tags: list[str]
    levels: list[str]
    topics: list[str]
    url: str | None
    status: ContentStatus
    published_version: int | None
    latest_version: int | None
    owner_id: int
    owner_name: str
    created_at: datetime
    updated_at: datetime


class ContentPage(BaseModel):
    items: list[ContentOut]
    total: int


class VersionOut(BaseModel):
    number: int
    sha256: str
    size: int
    media_type: str
    filename: str
    note: str
    created_at: datetime
    created_by: str
    published: bool


class VersionPage(BaseModel):
    items: list[VersionOut]
    total: int


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[int, Field(ge=0)]


class PublishEventOut(BaseModel):
    action: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: datetime


class HistoryOut(BaseModel):
    items: list[PublishEventOut]
    total: int


class TrackOut(BaseModel):
    """A text track of a version: ``url`` serves its bytes (text/vtt or text/plain)."""

    id: int
    kind: TrackKind
    language: str
    label: str
    size: int
    sha256: str
    filename: str
    media_type: str
    created_at: datetime
    created_by: str
    url: str


class TrackPage(BaseModel):
    items: list[TrackOut]
    total: int
