"""JSON API of the content library: /api/v1/content."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import ApiUser
from app.accounts.models import SchoolLevel, User
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep
from app.core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from app.core.i18n import gettext as _
from app.core.storage import BlobStore
from app.core.web import streams_body
from app.lcms import policy, service, tracks
from app.lcms.deps import BlobStoreDep, receive_upload
from app.lcms.files import (
    FILE_RESPONSES,
    TRACK_RESPONSES,
    track_file_response,
    version_file_response,
)
from app.lcms.models import (
    ContentItem,
    ContentKind,
    ContentStatus,
    ContentVersion,
    LabelKind,
    TextTrack,
    TrackKind,
)
from app.lcms.schemas import (
    ContentIn,
    ContentOut,
    ContentPage,
    ContentUpdate,
    HistoryOut,
    PublishEventOut,
    PublishIn,
    TrackOut,
    TrackPage,
    VersionOut,
    VersionPage,
)
from app.lcms.sniff import ACCEPTED, KIND_TYPES, allowed_for_kind, sniff_file
from app.lcms.ziptools import check_upload as check_zip

router = APIRouter(prefix="/api/v1", tags=["content"])

Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0)]


def content_out(item: ContentItem, numbers: dict[int, tuple[int | None, int | None]]) -> ContentOut:
    published, latest = numbers.get(item.id, (None, None))
    return ContentOut(
        id=item.id,
        uuid=item.uuid,
        title=item.title,
        kind=ContentKind(item.kind),
        description=item.description,
        tags=item.values(LabelKind.tag),
        levels=item.values(LabelKind.level),
        topics=item.values(LabelKind.topic),
        url=item.url,
        status=ContentStatus(item.status),
        published_version=published,
        latest_version=latest,
        owner_id=item.owner_id,
        owner_name=item.owner.full_name,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def one_out(session: Session, item: ContentItem) -> ContentOut:
    return content_out(item, service.version_numbers(session, [item.id]))


def version_out(version: ContentVersion, item: ContentItem) -> VersionOut:
    return VersionOut(
        number=version.number,
        sha256=version.blob_sha256,
        size=version.size,
        media_type=version.media_type,
        filename=version.filename,
        note=version.note,
        created_at=version.created_at,
        created_by=version.created_by.full_name,
        published=version.id == item.published_version_id,
    )


@router.post("/content", response_model=ContentOut, status_code=201)
def create_content(body: ContentIn, session: SessionDep, user: ApiUser) -> ContentOut:
    item = service.create_item(
        session,
        user,
        title=body.title,
        kind=body.kind.value,
        description=body.description,
        tags=body.tags,
        levels=body.levels,
        topics=body.topics,
        url=body.url,
    )
    return one_out(session, item)


@router.get("/content", response_model=ContentPage)
def list_content(
    session: SessionDep,
    user: ApiUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: ContentKind | None = None,
    tag: Annotated[str | None, Query(max_length=60)] = None,
    level: SchoolLevel | None = None,
    topic: Annotated[str | None, Query(max_length=60)] = None,
    status: ContentStatus | None = None,
    mine: bool = False,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ContentPage:
    """The library. Learners see published items; authors and admins see every item.
    ``q`` ignores accents and case: "chuyen doi so" finds "Chuyển đổi số"."""
    page = service.list_items(
        session,
        user,
        q=q,
        kind=kind.value if kind else None,
        tag=tag,
        level=level.value if level else None,
        topic=topic,
        status=status.value if status else None,
        owner_id=user.id if mine else None,
        limit=limit,
        offset=offset,
    )
    numbers = service.version_numbers(session, [i.id for i in page.items])
    return ContentPage(items=[content_out(i, numbers) for i in page.items], total=page.total)


@router.get("/content/{item_id}", response_model=ContentOut)
def get_content(item_id: int, session: SessionDep, user: ApiUser) -> ContentOut:
    return one_out(session, service.get_item_for(session, user, item_id))


@router.patch("/content/{item_id}", response_model=ContentOut)
def update_content(
    item_id: int, body: ContentUpdate, session: SessionDep, user: ApiUser
) -> ContentOut:
    item = service.update_item(
        session,
        user,
        item_id,
        title=body.title,
        description=body.description,
        tags=body.tags,
        levels=body.levels,
        topics=body.topics,
        url=body.url,
    )
    return one_out(session, item)


@router.delete("/content/{item_id}", response_model=ContentOut)
def archive_content(item_id: int, session: SessionDep, user: ApiUser) -> ContentOut:
    """Archive: the item leaves the library; every version and the log are kept."""
    return one_out(session, service.archive(session, user, item_id))


@router.post("/content/{item_id}/restore", response_model=ContentOut)
def restore_content(item_id: int, session: SessionDep, user: ApiUser) -> ContentOut:
    return one_out(session, service.restore(session, user, item_id))


@router.post("/content/{item_id}/publish", response_model=ContentOut)
def publish_content(
    item_id: int, body: PublishIn, session: SessionDep, user: ApiUser
) -> ContentOut:
    """Publish a version; an older version than the published one is a rollback.
    Links have no versions: publish them with ``version: 0``."""
    return one_out(session, service.publish(session, user, item_id, version=body.version))


@router.get("/content/{item_id}/history", response_model=HistoryOut)
def content_history(item_id: int, session: SessionDep, user: ApiUser) -> HistoryOut:
    events = service.history(session, user, item_id)
    return HistoryOut(
        items=[
            PublishEventOut(
                action=e.action,
                from_version=e.from_version,
                to_version=e.to_version,
                actor=e.actor.full_name,
                at=e.at,
            )
            for e in events
        ],
        total=len(events),
    )


@router.get("/content/{item_id}/versions", response_model=VersionPage)
def list_content_versions(item_id: int, session: SessionDep, user: ApiUser) -> VersionPage:
    item = service.get_item_for(session, user, item_id)
    versions = service.list_versions(session, user, item_id)
    return VersionPage(items=[version_out(v, item) for v in versions], total=len(versions))


async def receive_version(
    request: Request,
    session: Session,
    settings: Settings,
    store: BlobStore,
    user: User,
    item_id: int,
) -> ContentVersion:
    """The upload path shared by the API and the studio page.

    The request's read transaction ends before the body is streamed, so a long upload holds
    no database snapshot or lock; the version is recorded in a short transaction at the end."""
    item = await run_in_threadpool(service.check_can_upload, session, user, item_id)
    kind = item.kind
    received = await receive_upload(request, session, store, max_bytes=settings.max_upload_bytes)
    assert received.file is not None
    upload = received.file
    try:
        if upload.size == 0:
            raise InvalidInput(_("The file is empty."))
        # Zip-slip and zip-bomb checks on archives (and office/EPUB containers): 422.
        await run_in_threadpool(check_zip, upload.path)
        sniffed = await run_in_threadpool(sniff_file, upload.path)
        if sniffed is None or not allowed_for_kind(kind, sniffed.media_type):
            accepted = ", ".join(sorted(ACCEPTED[t].extension for t in KIND_TYPES.get(kind, ())))
            raise UnsupportedMediaType(
                _("This file is not an accepted type for this kind of item ({accepted}).").format(
                    accepted=accepted
                )
            )
        known = await run_in_threadpool(service.blob_known, session, upload.sha256)
        await run_in_threadpool(session.commit)
        if not known:
            await run_in_threadpool(store.put, upload.sha256, upload.path)
        return await run_in_threadpool(
            lambda: service.add_version(
                session,
                user,
                item_id,
                sha256=upload.sha256,
                size=upload.size,
                media_type=sniffed.media_type,
                filename=service.clean_filename(upload.filename, extension=sniffed.extension),
                note=received.fields.get("note"),
            )
        )
    finally:
        received.discard()


@router.post(
    "/content/{item_id}/versions",
    response_model=VersionOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "note": {"type": "string", "maxLength": 1000},
                        },
                    }
                }
            },
        }
    },
)
@streams_body
async def upload_version(
    item_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: BlobStoreDep,
    user: ApiUser,
) -> VersionOut:
    """Upload a new version (multipart ``file`` and optional ``note``), streamed to storage.
    The type is detected from the bytes and must fit the item's kind (else 415)."""
    version = await receive_version(request, session, settings, store, user, item_id)
    item = await run_in_threadpool(service.get_item, session, item_id)
    return version_out(version, item)


@router.get(
    "/content/{item_id}/versions/{number}/file",
    response_class=Response,
    responses=FILE_RESPONSES,
)
def version_file(
    item_id: int,
    number: int,
    request: Request,
    session: SessionDep,
    store: BlobStoreDep,
    user: ApiUser,
    download: bool = False,
) -> Response:
    version = service.get_version_for(session, user, item_id, number)
    return version_file_response(request, store, version, download=download)


# --- Text tracks: captions, subtitles, transcripts (decision 11) ---------------------------


def track_url(item_id: int, number: int, track_id: int) -> str:
    return f"/api/v1/content/{item_id}/versions/{number}/tracks/{track_id}/file"


def track_out(track: TextTrack, item_id: int, number: int) -> TrackOut:
    return TrackOut(
        id=track.id,
        kind=TrackKind(track.kind),
        language=track.language,
        label=track.label,
        size=track.size,
        sha256=track.blob_sha256,
        filename=track.filename,
        media_type=tracks.media_type_of(track),
        created_at=track.created_at,
        created_by=track.created_by.full_name,
        url=track_url(item_id, number, track.id),
    )


def _version_number(value: str | None) -> int:
    text = (value or "").strip()
    if not text.isdecimal() or not 1 <= int(text) <= 2**31 - 1:
        raise InvalidInput(_("Choose the version the track belongs to."))
    return int(text)


async def receive_track(
    request: Request,
    session: Session,
    store: BlobStore,
    user: User,
    item_id: int,
    number: int | None = None,
) -> tuple[TextTrack, int]:
    """The track upload shared by the API and the studio page: multipart ``file``, ``kind``,
    ``language``, ``label`` (and ``version`` when ``number`` is None). Who may add tracks is
    checked before the body is read; the bytes are checked whole (at most 1 MB), stored as a
    blob, then recorded. Returns the track and its version's number."""
    if number is None:
        item = await run_in_threadpool(service.get_item_for, session, user, item_id)
        policy.require_owner(user, item)
    else:
        await run_in_threadpool(tracks.check_can_edit_tracks, session, user, item_id, number)
    try:
        received = await receive_upload(request, session, store, max_bytes=tracks.MAX_TRACK_BYTES)
    except PayloadTooLarge:
        raise tracks.too_large() from None
    assert received.file is not None
    upload = received.file
    fields = received.fields
    try:
        target = number if number is not None else _version_number(fields.get("version"))
        data = await run_in_threadpool(upload.path.read_bytes)
        prepared = tracks.prepare_track(
            data,
            upload.filename,
            kind=fields.get("kind"),
            language=fields.get("language"),
            label=fields.get("label"),
        )
        await run_in_threadpool(tracks.check_can_add, session, user, item_id, target, prepared)
        sha256 = hashlib.sha256(prepared.data).hexdigest()
        known = await run_in_threadpool(service.blob_known, session, sha256)
        await run_in_threadpool(session.commit)
        if not known:
            await run_in_threadpool(tracks.store_bytes, store, prepared.data)
        track = await run_in_threadpool(
            lambda: tracks.add_track(
                session, user, item_id, target, prepared=prepared, sha256=sha256
            )
        )
        return track, target
    finally:
        received.discard()


TRACK_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind", "language"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": [k.value for k in TrackKind]},
                        "language": {"type": "string", "maxLength": tracks.MAX_LANGUAGE},
                        "label": {"type": "string", "maxLength": tracks.MAX_TRACK_LABEL},
                    },
                }
            }
        },
    }
}


@router.post(
    "/content/{item_id}/versions/{number}/tracks",
    response_model=TrackOut,
    status_code=201,
    openapi_extra=TRACK_UPLOAD_BODY,
)
async def upload_track(
    item_id: int,
    number: int,
    request: Request,
    session: SessionDep,
    store: BlobStoreDep,
    user: ApiUser,
) -> TrackOut:
    """Add captions or subtitles (WebVTT, UTF-8) or a transcript (UTF-8 text, or WebVTT whose
    words are kept) to an audio or video version; at most 1 MB (413). One track per kind and
    language: another is a 409 (delete the old one first). The version's next versions start
    with a copy of its tracks."""
    track, target = await receive_track(request, session, store, user, item_id, number)
    return track_out(track, item_id, target)


@router.get("/content/{item_id}/versions/{number}/tracks", response_model=TrackPage)
def list_version_tracks(item_id: int, number: int, session: SessionDep, user: ApiUser) -> TrackPage:
    """The tracks of a version, for whoever may fetch the version's file."""
    found = tracks.list_tracks(session, user, item_id, number)
    return TrackPage(items=[track_out(t, item_id, number) for t in found], total=len(found))


@router.delete("/content/{item_id}/versions/{number}/tracks/{track_id}", status_code=204)
def delete_version_track(
    item_id: int, number: int, track_id: int, session: SessionDep, user: ApiUser
) -> Response:
    tracks.delete_track(session, user, item_id, number, track_id)
    return Response(status_code=204)


@router.get(
    "/content/{item_id}/versions/{number}/tracks/{track_id}/file",
    response_class=Response,
    responses=TRACK_RESPONSES,
)
def version_track_file(
    item_id: int,
    number: int,
    track_id: int,
    request: Request,
    session: SessionDep,
    store: BlobStoreDep,
    user: ApiUser,
    download: bool = False,
) -> Response:
    """The track's bytes (``text/vtt`` or ``text/plain``), on the version file's terms."""
    track = tracks.get_track_for(session, user, item_id, number, track_id)
    return track_file_response(request, store, track, download=download)
