"""Pydantic shapes of the contests and awards API (field names fixed by DESIGN.md; the extra
fields sit beside them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.accounts.models import SchoolLevel
from app.community.contests.models import ContestKind, EntryMode

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Score = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CriterionIn(Strict):
    name: Name
    weight: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 1.0
    max_score: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 10.0


class PrizeIn(Strict):
    rank: Annotated[int, Field(ge=1, le=10_000)]
    rank_to: Annotated[int | None, Field(ge=1, le=10_000)] = None
    name: Name


class ContestIn(Strict):
    title: Title
    kind: ContestKind
    rules: Annotated[str, Field(max_length=20_000)] = ""
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    levels: Annotated[list[SchoolLevel], Field(max_length=3)] = []
    criteria: Annotated[list[CriterionIn], Field(min_length=1, max_length=20)]
    organization_id: int | None = None
    entry_mode: EntryMode = EntryMode.individual
    judges_skip_own_school: bool = False
    prizes: Annotated[list[PrizeIn], Field(max_length=20)] = []


class CriterionOut(BaseModel):
    id: int
    name: str
    weight: float
    max_score: float


class PrizeOut(BaseModel):
    rank: int
    rank_to: int
    name: str


class JudgeOut(BaseModel):
    user_id: int
    full_name: str
    organization_id: int
    organization_name: str


class ContestOut(BaseModel):
    id: int
    title: str
    kind: ContestKind
    rules: str
    opens_at: datetime
    closes_at: datetime
    levels: list[str]
    criteria: list[CriterionOut]
    organization_id: int
    organization_name: str
    entry_mode: EntryMode
    judges_skip_own_school: bool
    prizes: list[PrizeOut]
    state: str  # upcoming | open | closed | published
    results_published_at: datetime | None
    created_by_id: int
    # About the caller:
    is_organizer: bool
    is_judge: bool
    my_entry_id: int | None
    can_enter: bool
    # The panel: only the organiser and the judges see it (empty for everyone else).
    judges: list[JudgeOut]


class ContestPage(BaseModel):
    items: list[ContestOut]
    total: int


class JudgeIn(Strict):
    user_id: int


class EntryIn(Strict):
    title: Title
    summary: Annotated[str, Field(max_length=10_000)] = ""
    member_ids: Annotated[list[int], Field(max_length=10)] = []


class EntryUpdate(Strict):
    title: Title | None = None
    summary: Annotated[str | None, Field(max_length=10_000)] = None
    member_ids: Annotated[list[int] | None, Field(max_length=10)] = None


class MemberOut(BaseModel):
    user_id: int
    full_name: str
    role: str
    organization_name: str


class FileOut(BaseModel):
    id: int
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    url: str


class EntryOut(BaseModel):
    id: int
    contest_id: int
    title: str
    summary: str
    organization_id: int
    organization_name: str
    members: list[MemberOut]
    files: list[FileOut]
    created_at: datetime
    updated_at: datetime
    editable: bool
    # Only after the results are published (None before).
    score: float | None
    rank: int | None
    prize: str | None


class EntryPage(BaseModel):
    items: list[EntryOut]
    total: int


class ScoreIn(Strict):
    scores: Annotated[dict[int, Score], Field(max_length=20)]
    comment: Annotated[str, Field(max_length=5_000)] = ""


class ReviewOut(BaseModel):
    entry_id: int
    judge_id: int
    scores: dict[int, float]
    comment: str
    scored_at: datetime
    percent: float  # this judge's weighted total, 0..100


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    total: int


class PublishIn(Strict):
    create_awards: bool = True
    decision_number: Annotated[str, Field(max_length=100)] = ""
    awarded_at: AwareDatetime | None = None


class ResultOut(BaseModel):
    entry_id: int
    title: str
    rank: int
    score: float
    prize: str | None
    organization_name: str
    members: list[str]


class ResultsOut(BaseModel):
    contest_id: int
    published_at: datetime
    items: list[ResultOut]
    total: int


class AwardIn(Strict):
    title: Title
    user_id: int | None = None
    organization_id: int | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    decision_number: Annotated[str, Field(max_length=100)] = ""
    awarded_at: AwareDatetime
    entry_id: int | None = None
    issuer_organization_id: int | None = None


class AwardOut(BaseModel):
    id: int
    title: str
    user_id: int | None
    organization_id: int | None
    recipient_name: str
    scope_organization_id: int
    issuer_organization_id: int
    issuer_name: str
    reason: str
    decision_number: str
    awarded_at: datetime
    entry_id: int | None
    created_at: datetime
    certificate_url: str


class AwardPage(BaseModel):
    items: list[AwardOut]
    total: int
