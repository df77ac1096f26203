"""JSON API of contests and awards: /api/v1/contests, /api/v1/entries, /api/v1/awards.

Entry files are streamed and stored exactly like content-library versions (``app.lcms.upload``
receives the body into a temp file, ``app.lcms.sniff`` decides the type from the bytes, the
``BlobStore`` keeps the bytes once per SHA-256) and served by ``app.lcms.files`` (Range, ETag,
presigned S3 redirects). The file row is written only once the bytes are stored, so an upload
cut short leaves nothing visible (its temp file is removed, a stored blob without a row is
removed by ``hocso gc``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import ApiUser
from app.accounts.models import User
from app.community.contests import awards, service
from app.community.contests.models import Award, Contest, Entry, EntryFile, Judge, Review
from app.community.contests.schemas import (
    AwardIn,
    AwardOut,
    AwardPage,
    ContestIn,
    ContestOut,
    ContestPage,
    CriterionOut,
    EntryIn,
    EntryOut,
    EntryPage,
    EntryUpdate,
    FileOut,
    JudgeIn,
    JudgeOut,
    MemberOut,
    PrizeOut,
    PublishIn,
    ResultOut,
    ResultsOut,
    ReviewOut,
    ReviewPage,
    ScoreIn,
)
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep
from app.core.errors import InvalidInput, UnsupportedMediaType
from app.core.i18n import gettext as _
from app.core.storage import BlobStore
from app.core.web import Limit, Offset, streams_body
from app.lcms import service as lcms
from app.lcms.deps import BlobStoreDep, receive_upload
from app.lcms.files import FILE_RESPONSES, version_file_response
from app.lcms.models import ContentVersion
from app.lcms.sniff import ACCEPTED, sniff_file
from app.lcms.ziptools import check_upload as check_zip

router = APIRouter(prefix="/api/v1", tags=["contests"])


# The largest entry file (the server-wide upload limit applies too, when it is lower).
MAX_ENTRY_FILE_MB = 200
# What an entry may carry: documents, slides, pictures, short videos and recordings, and zip
# archives (a STEM project's code or drawings). Never SVG or anything scriptable.
ENTRY_TYPES = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.presentation",
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/wav",
        "application/zip",
    }
)
ENTRY_EXTENSIONS = sorted(ACCEPTED[t].extension for t in ENTRY_TYPES)


def max_entry_bytes(settings: Settings) -> int:
    return min(settings.max_upload_bytes, MAX_ENTRY_FILE_MB * 1024 * 1024)


# --- Shapes -------------------------------------------------------------------------------


def contest_out(session: Session, user: User, contest: Contest) -> ContestOut:
    organizer = service.is_organizer(user, contest)
    judge = service.is_judge(session, contest.id, user.id)
    mine = service.my_entry(session, contest.id, user.id)
    state = service.state(contest)
    can_enter = (
        state == "open"
        and mine is None
        and not organizer  # create_entry refuses organisers (admins included): 409
        and not judge
        and service.eligibility_problem(session, contest, user) is None
    )
    judges = service.list_judges(session, contest.id) if organizer or judge else []
    return ContestOut(
        id=contest.id,
        title=contest.title,
        kind=contest.kind,  # type: ignore[arg-type]
        rules=contest.rules,
        opens_at=contest.opens_at,
        closes_at=contest.closes_at,
        levels=contest.levels,
        criteria=[
            CriterionOut(id=c.id, name=c.name, weight=c.weight, max_score=c.max_score)
            for c in contest.criteria
        ],
        organization_id=contest.organization_id,
        organization_name=contest.organization.name,
        entry_mode=contest.entry_mode,  # type: ignore[arg-type]
        judges_skip_own_school=contest.judges_skip_own_school,
        prizes=[PrizeOut(rank=p.rank_from, rank_to=p.rank_to, name=p.name) for p in contest.prizes],
        state=state,
        results_published_at=contest.results_published_at,
        created_by_id=contest.created_by_id,
        is_organizer=organizer,
        is_judge=judge,
        my_entry_id=mine.id if mine is not None else None,
        can_enter=can_enter,
        judges=[judge_out(j) for j in judges],
    )


def judge_out(judge: Judge) -> JudgeOut:
    return JudgeOut(
        user_id=judge.user_id,
        full_name=judge.user.full_name,
        organization_id=judge.user.organization_id,
        organization_name=judge.user.organization.name,
    )


def file_out(file: EntryFile) -> FileOut:
    return FileOut(
        id=file.id,
        filename=file.filename,
        media_type=file.media_type,
        size=file.size,
        sha256=file.blob_sha256,
        created_at=file.created_at,
        url=f"/api/v1/entries/{file.entry_id}/files/{file.id}",
    )


def entry_out(session: Session, user: User, entry: Entry) -> EntryOut:
    contest = service.get_contest(session, entry.contest_id)
    published = contest.results_published_at is not None
    return EntryOut(
        id=entry.id,
        contest_id=entry.contest_id,
        title=entry.title,
        summary=entry.summary,
        organization_id=entry.organization_id,
        organization_name=entry.organization.name,
        members=[
            MemberOut(
                user_id=m.user_id,
                full_name=m.user.full_name,
                role=m.role,
                organization_name=m.user.organization.name,
            )
            for m in entry.members
        ],
        files=[file_out(f) for f in entry.files],
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        editable=service.is_member(entry, user.id) and service.state(contest) == "open",
        score=entry.score if published else None,
        rank=entry.rank if published else None,
        prize=entry.prize if published else None,
    )


def review_out(session: Session, review: Review) -> ReviewOut:
    entry = service.get_entry(session, review.entry_id)
    contest = service.get_contest(session, entry.contest_id)
    values = {s.criterion_id: s.value for s in review.scores}
    return ReviewOut(
        entry_id=review.entry_id,
        judge_id=review.judge_id,
        scores=values,
        comment=review.comment,
        scored_at=review.scored_at,
        percent=round(service.review_percent(contest.criteria, values), 2),
    )


def results_out(contest: Contest, entries: list[Entry]) -> ResultsOut:
    assert contest.results_published_at is not None
    items = [
        ResultOut(
            entry_id=e.id,
            title=e.title,
            rank=e.rank or 0,
            score=e.score or 0.0,
            prize=e.prize,
            organization_name=e.organization.name,
            members=[m.user.full_name for m in e.members],
        )
        for e in entries
    ]
    return ResultsOut(
        contest_id=contest.id,
        published_at=contest.results_published_at,
        items=items,
        total=len(items),
    )


def award_out(award: Award) -> AwardOut:
    return AwardOut(
        id=award.id,
        title=award.title,
        user_id=award.user_id,
        organization_id=award.organization_id,
        recipient_name=award.recipient_name,
        scope_organization_id=award.scope_organization_id,
        issuer_organization_id=award.issuer_organization_id,
        issuer_name=award.issuer.name,
        reason=award.reason,
        decision_number=award.decision_number,
        awarded_at=award.awarded_at,
        entry_id=award.entry_id,
        created_at=award.created_at,
        certificate_url=f"/awards/{award.id}/certificate",
    )


# --- Contests -----------------------------------------------------------------------------


@router.post("/contests", response_model=ContestOut, status_code=201)
def create_contest(body: ContestIn, session: SessionDep, user: ApiUser) -> ContestOut:
    """A contest with its rubric (answered with the criteria's ids). Administrators, and school
    managers for their own school; ``organization_id`` (default: the caller's) is the subtree
    that may enter, ``levels`` (empty: all) the school levels."""
    contest = service.create_contest(
        session,
        user,
        title=body.title,
        kind=body.kind.value,
        rules=body.rules,
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        levels=[level.value for level in body.levels],
        criteria=[service.CriterionSpec(c.name, c.weight, c.max_score) for c in body.criteria],
        organization_id=body.organization_id,
        entry_mode=body.entry_mode.value,
        judges_skip_own_school=body.judges_skip_own_school,
        prizes=[service.PrizeSpec(p.rank, p.name, p.rank_to) for p in body.prizes],
    )
    return contest_out(session, user, contest)


@router.get("/contests", response_model=ContestPage)
def list_contests(
    session: SessionDep,
    user: ApiUser,
    status: Literal["upcoming", "open", "closed", "published"] | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ContestPage:
    items, total = service.list_contests(session, user, status=status, limit=limit, offset=offset)
    return ContestPage(items=[contest_out(session, user, c) for c in items], total=total)


@router.get("/contests/{contest_id}", response_model=ContestOut)
def get_contest(contest_id: int, session: SessionDep, user: ApiUser) -> ContestOut:
    return contest_out(session, user, service.get_contest(session, contest_id))


@router.post("/contests/{contest_id}/judges", response_model=JudgeOut, status_code=201)
def add_judge(contest_id: int, body: JudgeIn, session: SessionDep, user: ApiUser) -> JudgeOut:
    return judge_out(service.add_judge(session, user, contest_id, body.user_id))


@router.delete("/contests/{contest_id}/judges/{user_id}", status_code=204)
def remove_judge(contest_id: int, user_id: int, session: SessionDep, user: ApiUser) -> Response:
    service.remove_judge(session, user, contest_id, user_id)
    return Response(status_code=204)


@router.post("/contests/{contest_id}/entries", response_model=EntryOut, status_code=201)
def create_entry(contest_id: int, body: EntryIn, session: SessionDep, user: ApiUser) -> EntryOut:
    """Enter the contest (one entry per person; ``member_ids`` for a team contest)."""
    entry = service.create_entry(
        session,
        user,
        contest_id,
        title=body.title,
        summary=body.summary,
        member_ids=body.member_ids,
    )
    return entry_out(session, user, entry)


@router.get("/contests/{contest_id}/entries", response_model=EntryPage)
def list_entries(
    contest_id: int, session: SessionDep, user: ApiUser, limit: Limit = 50, offset: Offset = 0
) -> EntryPage:
    """The entries the caller may see (all for the organiser and the panel; after the results,
    everyone). Scores appear only once the results are published."""
    items, total = service.list_entries(session, user, contest_id, limit=limit, offset=offset)
    return EntryPage(items=[entry_out(session, user, e) for e in items], total=total)


@router.post("/contests/{contest_id}/publish-results", response_model=ResultsOut)
def publish_results(
    contest_id: int, session: SessionDep, user: ApiUser, body: PublishIn | None = None
) -> ResultsOut:
    """Compute, rank (ties share a rank) and publish; awards for the prize winners unless
    ``create_awards`` is false. 409 before the deadline, with unscored entries, or twice."""
    body = body or PublishIn()
    entries = service.publish_results(
        session,
        user,
        contest_id,
        create_awards=body.create_awards,
        decision_number=body.decision_number,
        awarded_at=body.awarded_at,
    )
    return results_out(service.get_contest(session, contest_id), entries)


@router.get("/contests/{contest_id}/results", response_model=ResultsOut)
def get_results(contest_id: int, session: SessionDep, user: ApiUser) -> ResultsOut:
    """Ranks and scores, for every signed-in user once published (409 before)."""
    entries = service.results(session, user, contest_id)
    return results_out(service.get_contest(session, contest_id), entries)


# --- Entries ------------------------------------------------------------------------------


@router.get("/entries/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: int, session: SessionDep, user: ApiUser) -> EntryOut:
    return entry_out(session, user, service.get_entry_for(session, user, entry_id))


@router.patch("/entries/{entry_id}", response_model=EntryOut)
def update_entry(entry_id: int, body: EntryUpdate, session: SessionDep, user: ApiUser) -> EntryOut:
    """Change the entry until the deadline (403 after it)."""
    entry = service.update_entry(
        session,
        user,
        entry_id,
        title=body.title,
        summary=body.summary,
        member_ids=body.member_ids,
    )
    return entry_out(session, user, entry)


async def receive_entry_file(
    request: Request,
    session: Session,
    settings: Settings,
    store: BlobStore,
    user: User,
    entry_id: int,
) -> EntryFile:
    """The upload path shared by the API and the entry page (as ``lcms.api.receive_version``).

    The request's transaction ends before the body is streamed (no lock held during a long
    upload); the deadline is checked before and again when the file is recorded."""
    await run_in_threadpool(service.check_can_edit_entry, session, user, entry_id)
    received = await receive_upload(request, session, store, max_bytes=max_entry_bytes(settings))
    assert received.file is not None
    upload = received.file
    try:
        if upload.size == 0:
            raise InvalidInput(_("The file is empty."))
        # Zip-slip and zip-bomb checks on archives (and office/EPUB containers): 422.
        await run_in_threadpool(check_zip, upload.path)
        sniffed = await run_in_threadpool(sniff_file, upload.path)
        if sniffed is None or sniffed.media_type not in ENTRY_TYPES:
            raise UnsupportedMediaType(
                _("This file is not an accepted type for a contest entry ({accepted}).").format(
                    accepted=", ".join(ENTRY_EXTENSIONS)
                )
            )
        known = await run_in_threadpool(lcms.blob_known, session, upload.sha256)
        await run_in_threadpool(session.commit)
        if not known:
            await run_in_threadpool(store.put, upload.sha256, upload.path)
        return await run_in_threadpool(
            lambda: service.add_entry_file(
                session,
                user,
                entry_id,
                sha256=upload.sha256,
                size=upload.size,
                media_type=sniffed.media_type,
                filename=lcms.clean_filename(upload.filename, extension=sniffed.extension),
            )
        )
    finally:
        received.discard()


def entry_file_response(
    request: Request, store: BlobStore, file: EntryFile, *, download: bool = False
) -> Response:
    """Serve an entry file through the content library's file responses (the same headers,
    Range, ETag and S3 redirects). The version object is transient: never added to a session."""
    version = ContentVersion(
        blob_sha256=file.blob_sha256, media_type=file.media_type, filename=file.filename
    )
    return version_file_response(request, store, version, download=download)


@router.post(
    "/entries/{entry_id}/files",
    response_model=FileOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
@streams_body
async def upload_entry_file(
    entry_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: BlobStoreDep,
    user: ApiUser,
) -> FileOut:
    """Add a file (multipart field ``file``) until the deadline: 403 after it, 413 over the
    size limit, 415 for a type an entry does not take (judged from the bytes)."""
    file = await receive_entry_file(request, session, settings, store, user, entry_id)
    return file_out(file)


@router.get(
    "/entries/{entry_id}/files/{file_id}",
    response_class=Response,
    responses=FILE_RESPONSES,
)
def download_entry_file(
    entry_id: int,
    file_id: int,
    request: Request,
    session: SessionDep,
    store: BlobStoreDep,
    user: ApiUser,
    download: bool = False,
) -> Response:
    file = service.get_entry_file_for(session, user, entry_id, file_id)
    return entry_file_response(request, store, file, download=download)


@router.delete("/entries/{entry_id}/files/{file_id}", status_code=204)
def delete_entry_file(entry_id: int, file_id: int, session: SessionDep, user: ApiUser) -> Response:
    service.remove_entry_file(session, user, entry_id, file_id)
    return Response(status_code=204)


@router.post("/entries/{entry_id}/scores", response_model=ReviewOut)
def score_entry(entry_id: int, body: ScoreIn, session: SessionDep, user: ApiUser) -> ReviewOut:
    """A judge's scores ({criterion_id: value}, every criterion, 0..max_score) and comment;
    scoring again replaces them until the results are published."""
    review = service.score_entry(
        session, user, entry_id, scores=dict(body.scores), comment=body.comment
    )
    return review_out(session, review)


@router.get("/entries/{entry_id}/scores", response_model=ReviewPage)
def list_scores(entry_id: int, session: SessionDep, user: ApiUser) -> ReviewPage:
    """The caller's own review of the entry; after the results, the organiser reads them all.
    Before the results, nobody reads another judge's scores."""
    reviews = service.reviews_for(session, user, entry_id)
    return ReviewPage(items=[review_out(session, r) for r in reviews], total=len(reviews))


# --- Awards -------------------------------------------------------------------------------


@router.post("/awards", response_model=AwardOut, status_code=201)
def create_award(body: AwardIn, session: SessionDep, user: ApiUser) -> AwardOut:
    """An award to exactly one of ``user_id`` or ``organization_id`` (administrators)."""
    award = awards.create_award(
        session,
        user,
        title=body.title,
        user_id=body.user_id,
        organization_id=body.organization_id,
        reason=body.reason,
        decision_number=body.decision_number,
        awarded_at=body.awarded_at,
        entry_id=body.entry_id,
        issuer_organization_id=body.issuer_organization_id,
    )
    return award_out(award)


@router.get("/awards", response_model=AwardPage)
def list_awards(
    session: SessionDep,
    settings: SettingsDep,
    user: ApiUser,
    user_id: int | None = None,
    organization_id: int | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AwardPage:
    """The awards the caller may see: their own; a school manager's school's; all for an
    administrator."""
    items, total = awards.list_awards(
        session,
        user,
        user_id=user_id,
        organization_id=organization_id,
        year=year,
        q=q,
        limit=limit,
        offset=offset,
        timezone=settings.timezone,
    )
    return AwardPage(items=[award_out(a) for a in items], total=total)


@router.get("/awards/{award_id}", response_model=AwardOut)
def get_award(award_id: int, session: SessionDep, user: ApiUser) -> AwardOut:
    return award_out(awards.get_award_for(session, user, award_id))
