"""JSON API of the content library: /api/v1/content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from app.accounts.deps import ApiUser
from app.accounts.models import SchoolLevel, User
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep
from app.core.errors import BadRequest, InvalidInput, UnsupportedMediaType
from app.core.i18n import gettext as _
from app.core.storage import BlobStore
from app.core.web import streams_body
from app.lcms import service
from app.lcms.deps import BlobStoreDep
from app.lcms.files import FILE_RESPONSES, version_file_response
from app.lcms.models import ContentItem, ContentKind, ContentStatus, ContentVersion, LabelKind
from app.lcms.schemas import (
    ContentIn,
    ContentOut,
    ContentPage,
    ContentUpdate,
    HistoryOut,
    PublishEventOut,
    PublishIn,
    VersionOut,
    VersionPage,
)
from app.lcms.sniff import ACCEPTED, KIND_TYPES, allowed_for_kind, sniff_file
from app.lcms.upload import receive_multipart
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
    await run_in_threadpool(session.commit)
    length = request.headers.get("content-length")
    try:
        received = await receive_multipart(
            request.stream(),
            request.headers.get("content-type", ""),
            store=store,
            max_bytes=settings.max_upload_bytes,
            content_length=int(length) if length and length.isdigit() else None,
        )
    except ClientDisconnect:
        raise BadRequest(_("The upload was interrupted. Please try again.")) from None
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
