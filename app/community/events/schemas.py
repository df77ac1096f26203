"""Pydantic shapes of the events and partners API (field names fixed by DESIGN.md; the extra
fields sit beside them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.accounts.models import Role, SchoolLevel
from app.accounts.schemas import LineErrorOut
from app.community.events.models import (
    AttendanceSource,
    EventKind,
    PartnerKind,
    RegistrationStatus,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Ids = Annotated[list[int], Field(max_length=50)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(Strict):
    title: Title
    kind: EventKind
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    location: Annotated[str, Field(max_length=300)] = ""
    online_url: Annotated[str | None, Field(max_length=2000)] = None
    organization_id: int
    levels: Annotated[list[SchoolLevel], Field(max_length=3)] = []
    roles: Annotated[list[Role], Field(max_length=5)] = []
    capacity: Annotated[int | None, Field(ge=1, le=100_000)] = None
    lesson_id: int | None = None
    description: Annotated[str, Field(max_length=10_000)] = ""
    materials: Ids = []  # library content item ids
    partner_ids: Ids = []
    audience_organization_ids: Ids = []


class EventUpdate(Strict):
    """Only the fields present change; an explicit null clears an optional one."""

    title: Title | None = None
    kind: EventKind | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    location: Annotated[str | None, Field(max_length=300)] = None
    online_url: Annotated[str | None, Field(max_length=2000)] = None
    organization_id: int | None = None
    levels: Annotated[list[SchoolLevel] | None, Field(max_length=3)] = None
    roles: Annotated[list[Role] | None, Field(max_length=5)] = None
    capacity: Annotated[int | None, Field(ge=1, le=100_000)] = None
    lesson_id: int | None = None
    description: Annotated[str | None, Field(max_length=10_000)] = None
    materials: Ids | None = None
    partner_ids: Ids | None = None
    audience_organization_ids: Ids | None = None


class PartnerRef(BaseModel):
    id: int
    name: str
    kind: PartnerKind


class MyStatus(BaseModel):
    registration: RegistrationStatus | None
    waitlist_position: int | None
    attended: bool
    attended_at: datetime | None


class EventOut(BaseModel):
    id: int
    uuid: str
    title: str
    kind: EventKind
    description: str
    starts_at: datetime
    ends_at: datetime
    location: str
    online_url: str | None
    organization_id: int
    organization_name: str
    levels: list[str]
    roles: list[str]
    capacity: int | None
    seats_left: int | None
    lesson_id: int | None
    materials: list[int]
    partner_ids: list[int]
    partners: list[PartnerRef]
    audience_organization_ids: list[int]
    created_by_id: int | None
    is_organiser: bool
    me: MyStatus | None
    ics_url: str
    created_at: datetime
    updated_at: datetime


class EventPage(BaseModel):
    items: list[EventOut]
    total: int


class RegisterIn(Strict):
    waitlist: bool = False


class RegistrationOut(BaseModel):
    event_id: int
    user_id: int
    status: RegistrationStatus
    waitlist_position: int | None
    requested_at: datetime


class CancelOut(BaseModel):
    event_id: int
    status: RegistrationStatus
    promoted_user_ids: list[int]


class CheckinCodeOut(BaseModel):
    code: str
    opens_at: datetime
    expires_at: datetime
    checkin_url: str


class CheckinIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class CheckinOut(BaseModel):
    event_id: int
    user_id: int
    attended_at: datetime
    already: bool
    lesson_completed: bool


class AttendeeOut(BaseModel):
    user_id: int
    full_name: str
    email: str
    organization_id: int
    registration: RegistrationStatus | None
    attended: bool
    attended_at: datetime | None
    source: AttendanceSource | None


class AttendancePage(BaseModel):
    items: list[AttendeeOut]
    total: int
    registered: int
    waitlisted: int
    attended: int


class AttendanceMark(Strict):
    present: bool = True


class AttendanceImportOut(BaseModel):
    marked: int
    already: int
    errors: list[LineErrorOut]


class CalendarFeedOut(BaseModel):
    url: str | None
    created_at: datetime | None


class PartnerIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: PartnerKind
    website: Annotated[str | None, Field(max_length=2000)] = None
    contact: Annotated[str, Field(max_length=300)] = ""
    description: Annotated[str, Field(max_length=10_000)] = ""
    content_ids: Ids = []


class PartnerUpdate(Strict):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    kind: PartnerKind | None = None
    website: Annotated[str | None, Field(max_length=2000)] = None
    contact: Annotated[str | None, Field(max_length=300)] = None
    description: Annotated[str | None, Field(max_length=10_000)] = None
    content_ids: Ids | None = None


class PartnerOut(BaseModel):
    id: int
    name: str
    kind: PartnerKind
    website: str | None
    contact: str
    description: str
    content_ids: list[int]
    created_at: datetime
    updated_at: datetime


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    total: int
