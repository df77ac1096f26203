"""HTML pages of the content library: the studio (authors) and the digital library.

Forms post and redirect (303); errors re-render the form with the error's status. The upload
route streams the multipart body itself (``receive_version``), so it checks the CSRF token from
the ``X-CSRF-Token`` header or the ``csrf_token`` query parameter, never from the body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import SchoolLevel, User
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep
from app.core.errors import AppError, CSRFFailed
from app.core.i18n import gettext as _
from app.core.security import csrf_valid
from app.core.storage import BlobStore
from app.core.web import (
    CSRF_COOKIE,
    CSRF_FIELD,
    Pagination,
    flash,
    redirect,
    render,
    streams_body,
)
from app.lcms import policy, service, tracks
from app.lcms.api import receive_track, receive_version
from app.lcms.deps import BlobStoreDep
from app.lcms.files import track_file_response, version_file_response, version_tracks
from app.lcms.images import image_size
from app.lcms.models import ContentItem, ContentKind, ContentStatus, ContentVersion, LabelKind
from app.lcms.sniff import ACCEPTED, KIND_TYPES

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20

KINDS = [k.value for k in ContentKind]
LEVELS = [lv.value for lv in SchoolLevel]
STATUSES = [s.value for s in ContentStatus]
# Extensions a file picker should also offer besides the canonical one.
EXTENSION_ALIASES = {"jpg": ("jpeg",)}
# Short names of the accepted media types for the version table, e.g. "PDF".
TYPE_NAMES = {media_type: s.extension.upper() for media_type, s in ACCEPTED.items()}

Text = Annotated[str, Form(max_length=1000)]
LongText = Annotated[str, Form(max_length=10000)]
Levels = Annotated[list[str] | None, Form()]


def _author(user: PageUser) -> User:
    policy.require_author(user)
    return user


AuthorUser = Annotated[User, Depends(_author)]


def _choice(value: str | None, allowed: list[str]) -> str | None:
    return value if value in allowed else None


def _split(value: str | None) -> list[str]:
    """A comma-separated text field as a list (the service drops blanks and duplicates)."""
    return [part for part in (value or "").split(",") if part.strip()]


def _file_url(item_id: int, number: int) -> str:
    return f"/library/{item_id}/versions/{number}/file"


def _tracks_url(item_id: int, number: int) -> str:
    """Where the players fetch a version's tracks: ``<this>/<track id>``."""
    return f"/library/{item_id}/versions/{number}/tracks"


def _is_media(version: ContentVersion | None) -> bool:
    return version is not None and version.media_type.startswith(("video/", "audio/"))


def accept_for_kind(kind: str) -> str:
    """The ``accept`` attribute of the upload field: the extensions the item's kind allows."""
    extensions: set[str] = set()
    for media_type in KIND_TYPES.get(kind, frozenset()):
        sniffed = ACCEPTED.get(media_type)
        if sniffed is not None:
            extensions.add(sniffed.extension)
            extensions.update(EXTENSION_ALIASES.get(sniffed.extension, ()))
    return ",".join(f".{ext}" for ext in sorted(extensions))


def accepted_names(kind: str) -> str:
    """Human names of the accepted file types, e.g. "DOCX, ODT, PDF"."""
    names = {ACCEPTED[t].extension.upper() for t in KIND_TYPES.get(kind, ()) if t in ACCEPTED}
    return ", ".join(sorted(names))


def _form_context() -> dict[str, Any]:
    return {
        "kinds": KINDS,
        "levels": LEVELS,
        "statuses": STATUSES,
        "suggested_topics": service.SUGGESTED_TOPICS,
    }


def _item_form(item: ContentItem) -> dict[str, Any]:
    return {
        "title": item.title,
        "kind": item.kind,
        "description": item.description,
        "tags": ", ".join(item.values(LabelKind.tag)),
        "levels": item.values(LabelKind.level),
        "topics": ", ".join(item.values(LabelKind.topic)),
        "url": item.url or "",
    }


# --- The digital library (every signed-in user) -------------------------------------------


@router.get("/library")
def library_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=50)] = None,
    level: Annotated[str | None, Query(max_length=50)] = None,
    topic: Annotated[str | None, Query(max_length=60)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    kind_filter = _choice(kind, KINDS)
    level_filter = _choice(level, LEVELS)
    topic_filter = (topic or "").strip() or None
    page = service.list_items(
        session,
        user,
        q=q,
        kind=kind_filter,
        level=level_filter,
        topic=topic_filter,
        library=True,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render(
        request,
        "lcms/library.html",
        {
            "page": page,
            "pagination": Pagination(total=page.total, limit=PAGE_SIZE, offset=offset),
            "q": q or "",
            "kind": kind_filter or "",
            "level": level_filter or "",
            "topic": topic_filter or "",
            "filtered": bool((q or "").strip() or kind_filter or level_filter or topic_filter),
            **_form_context(),
        },
    )


@router.get("/library/{item_id}")
def library_item_page(
    request: Request, item_id: int, session: SessionDep, store: BlobStoreDep, user: PageUser
) -> Response:
    item = service.get_item_for(session, user, item_id)
    published, _latest = service.version_numbers(session, [item.id])[item.id]
    version = None
    if item.status == ContentStatus.published and published is not None:
        version = service.get_version_for(session, user, item.id, published)
    return render(
        request,
        "lcms/item.html",
        {
            "item": item,
            # Not "version": base.html shows the app's version under that name.
            "shown_version": version,
            "file_url": _file_url(item.id, version.number) if version else None,
            "image_size": _image_size(store, version),
            "tracks": version_tracks(request, session, version.id)
            if version and _is_media(version)
            else None,
            "tracks_url": _tracks_url(item.id, version.number) if version else None,
            "is_author": policy.is_author(user),
        },
    )


def _image_size(store: BlobStore, version: ContentVersion | None) -> tuple[int, int] | None:
    """Width and height for the preview's <img> (raster images only: SVG scales)."""
    if version is None or not version.media_type.startswith("image/"):
        return None
    if version.media_type == "image/svg+xml":
        return None
    return image_size(store, version.blob_sha256)


@router.get("/library/{item_id}/versions/{number}/file")
def library_version_file(
    request: Request,
    item_id: int,
    number: int,
    session: SessionDep,
    store: BlobStoreDep,
    user: PageUser,
    download: bool = False,
) -> Response:
    version = service.get_version_for(session, user, item_id, number)
    return version_file_response(request, store, version, download=download)


@router.get("/library/{item_id}/versions/{number}/tracks/{track_id}")
def library_track_file(
    request: Request,
    item_id: int,
    number: int,
    track_id: int,
    session: SessionDep,
    store: BlobStoreDep,
    user: PageUser,
    download: bool = False,
) -> Response:
    """A version's captions (text/vtt) or transcript (text/plain), on the file's terms."""
    track = tracks.get_track_for(session, user, item_id, number, track_id)
    return track_file_response(request, store, track, download=download)


# --- The studio (authors and administrators) ----------------------------------------------


@router.get("/studio")
def studio_page(
    request: Request,
    session: SessionDep,
    user: AuthorUser,
    show_all: Annotated[bool, Query(alias="all")] = False,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    return _render_studio(
        request, session, user, show_all=show_all, q=q, status=status, offset=offset
    )


def _render_studio(
    request: Request,
    session: Session,
    user: User,
    *,
    show_all: bool = False,
    q: str | None = None,
    status: str | None = None,
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    status_filter = _choice(status, STATUSES)
    page = service.list_items(
        session,
        user,
        q=q,
        status=status_filter,
        owner_id=None if show_all else user.id,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render(
        request,
        "lcms/studio.html",
        {
            "page": page,
            "numbers": service.version_numbers(session, [i.id for i in page.items]),
            "pagination": Pagination(total=page.total, limit=PAGE_SIZE, offset=offset),
            "show_all": show_all,
            "q": q or "",
            "status": status_filter or "",
            "form": {},
            **_form_context(),
            **extra,
        },
        status_code=status_code,
    )


@router.post("/studio/items", dependencies=[CSRFChecked])
def studio_create(
    request: Request,
    session: SessionDep,
    user: AuthorUser,
    title: Text = "",
    kind: Annotated[str, Form(max_length=50)] = "",
    description: LongText = "",
    tags: Text = "",
    levels: Levels = None,
    topics: Text = "",
    url: Annotated[str, Form(max_length=3000)] = "",
) -> Response:
    form = {
        "title": title,
        "kind": kind,
        "description": description,
        "tags": tags,
        "levels": levels or [],
        "topics": topics,
        "url": url,
    }
    try:
        item = service.create_item(
            session,
            user,
            title=title,
            kind=kind,
            description=description,
            tags=_split(tags),
            levels=levels or [],
            topics=_split(topics),
            url=url if kind == ContentKind.link else None,
        )
    except AppError as exc:
        session.rollback()
        return _render_studio(
            request, session, user, status_code=exc.status_code, form=form, error=exc.detail
        )
    return redirect(
        request,
        f"/studio/items/{item.id}",
        message=_("Item '{title}' created.").format(title=item.title),
    )


def _item_context(session: Session, user: User, item_id: int, **extra: Any) -> dict[str, Any]:
    item = service.get_item_for(session, user, item_id)
    versions = service.list_versions(session, user, item.id)
    published, latest = service.version_numbers(session, [item.id])[item.id]
    newest = versions[0] if versions else None
    context: dict[str, Any] = {
        "item": item,
        "versions": versions,
        "events": service.history(session, user, item.id),
        "published_number": published,
        "latest_number": latest,
        "newest": newest,
        "newest_url": _file_url(item.id, newest.number) if newest else None,
        "can_edit": policy.is_owner(user, item),
        "accept": accept_for_kind(item.kind),
        "accepted_names": accepted_names(item.kind),
        "type_names": TYPE_NAMES,
        "form": _item_form(item),
        **_form_context(),
    }
    context.update(extra)
    return context


def _render_item(
    request: Request,
    session: Session,
    user: User,
    item_id: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    settings = request.app.state.settings
    context = _item_context(session, user, item_id, **extra)
    context["max_upload_mb"] = settings.max_upload_mb
    # Captions and transcripts: the tracks of every audio or video version, and the newest
    # version's as its preview plays them.
    media_versions = [v for v in context["versions"] if _is_media(v)]
    newest: ContentVersion | None = context["newest"]
    context["track_versions"] = media_versions
    context["version_tracks"] = tracks.tracks_of_versions(session, [v.id for v in media_versions])
    context["newest_tracks"] = (
        version_tracks(request, session, newest.id) if newest and _is_media(newest) else None
    )
    context["newest_tracks_url"] = _tracks_url(item_id, newest.number) if newest else None
    context["max_track_mb"] = tracks.MAX_TRACK_BYTES // (1024 * 1024)
    return render(request, "lcms/studio_item.html", context, status_code=status_code)


@router.get("/studio/items/{item_id}")
def studio_item_page(
    request: Request, item_id: int, session: SessionDep, user: AuthorUser
) -> Response:
    return _render_item(request, session, user, item_id)


@router.post("/studio/items/{item_id}", dependencies=[CSRFChecked])
def studio_update(
    request: Request,
    item_id: int,
    session: SessionDep,
    user: AuthorUser,
    title: Text = "",
    description: LongText = "",
    tags: Text = "",
    levels: Levels = None,
    topics: Text = "",
    url: Annotated[str | None, Form(max_length=3000)] = None,
) -> Response:
    item = service.get_item_for(session, user, item_id)
    form = {
        "title": title,
        "kind": item.kind,
        "description": description,
        "tags": tags,
        "levels": levels or [],
        "topics": topics,
        "url": url or "",
    }
    try:
        service.update_item(
            session,
            user,
            item_id,
            title=title,
            description=description,
            tags=_split(tags),
            levels=levels or [],
            topics=_split(topics),
            url=url if item.kind == ContentKind.link else None,
        )
    except AppError as exc:
        session.rollback()
        return _render_item(
            request,
            session,
            user,
            item_id,
            status_code=exc.status_code,
            form=form,
            error=exc.detail,
        )
    return redirect(request, f"/studio/items/{item_id}", message=_("Changes saved."))


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _streamed_form_csrf(request: Request, settings: Settings) -> CSRFFailed | None:
    """The CSRF check of a streamed studio form: its token comes in a header (studio.js) or the
    query string, because reading the body to find it would parse the whole upload."""
    token = request.headers.get("x-csrf-token") or request.query_params.get(CSRF_FIELD)
    if csrf_valid(settings, request.cookies.get(CSRF_COOKIE), token):
        return None
    return CSRFFailed(_("The form has expired or did not come from this site. Please try again."))


async def _studio_form_error(
    request: Request, session: Session, user: User, item_id: int, exc: AppError, field: str
) -> Response:
    """A refused studio upload: the item's studio page again, the error beside the form named by
    ``field``; the error page for someone without a studio page for this item."""
    await run_in_threadpool(session.rollback)
    if not policy.is_author(user) or exc.status_code == 404:
        raise exc
    return await run_in_threadpool(
        lambda: _render_item(
            request, session, user, item_id, status_code=exc.status_code, **{field: exc.detail}
        )
    )


@router.post("/studio/items/{item_id}/versions")
@streams_body
async def studio_upload(
    request: Request,
    item_id: int,
    session: SessionDep,
    settings: SettingsDep,
    store: BlobStoreDep,
    user: PageUser,
) -> Response:
    """The upload, streamed to storage. No ``CSRFChecked``: that would parse the whole body.
    JSON for studio.js (``Accept: application/json``); a redirect for a plain form post."""
    wants_json = _wants_json(request)
    error = _streamed_form_csrf(request, settings)
    if error is not None:
        if wants_json:
            return JSONResponse(error.payload(), status_code=error.status_code)
        raise error
    try:
        policy.require_author(user)
        version = await receive_version(request, session, settings, store, user, item_id)
    except AppError as exc:
        if wants_json:
            await run_in_threadpool(session.rollback)
            return JSONResponse(exc.payload(), status_code=exc.status_code)
        return await _studio_form_error(request, session, user, item_id, exc, "upload_error")
    message = _("Version {n} uploaded.").format(n=version.number)
    if wants_json:
        response = JSONResponse(
            {"number": version.number, "url": f"/studio/items/{item_id}"}, status_code=201
        )
        flash(response, request, message)
        return response
    return redirect(request, f"/studio/items/{item_id}", message=message)


@router.post("/studio/items/{item_id}/publish", dependencies=[CSRFChecked])
def studio_publish(
    request: Request,
    item_id: int,
    session: SessionDep,
    user: AuthorUser,
    version: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    back = f"/studio/items/{item_id}"
    try:
        item = service.get_item_for(session, user, item_id)
        before, _latest = service.version_numbers(session, [item.id])[item.id]
        was_published = item.status == ContentStatus.published
        service.publish(session, user, item_id, version=version)
    except AppError as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail, level="error")
    if item.kind == ContentKind.link:
        message = _("The link is published.")
    elif was_published and before == version:
        message = _("Version {n} is already published.").format(n=version)
    elif before is not None and version < before:
        message = _("Rolled back to version {n}.").format(n=version)
    else:
        message = _("Version {n} published.").format(n=version)
    return redirect(request, back, message=message)


@router.post("/studio/items/{item_id}/archive", dependencies=[CSRFChecked])
def studio_archive(
    request: Request, item_id: int, session: SessionDep, user: AuthorUser
) -> Response:
    back = f"/studio/items/{item_id}"
    try:
        service.archive(session, user, item_id)
    except AppError as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail, level="error")
    return redirect(request, back, message=_("Item archived: it is no longer in the library."))


@router.post("/studio/items/{item_id}/restore", dependencies=[CSRFChecked])
def studio_restore(
    request: Request, item_id: int, session: SessionDep, user: AuthorUser
) -> Response:
    back = f"/studio/items/{item_id}"
    try:
        item = service.restore(session, user, item_id)
    except AppError as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail, level="error")
    message = (
        _("Item restored: it is back in the library.")
        if item.status == ContentStatus.published
        else _("Item restored as a draft.")
    )
    return redirect(request, back, message=message)


# --- Captions, subtitles and transcripts (decision 11) -------------------------------------


@router.post("/studio/items/{item_id}/tracks")
async def studio_add_track(
    request: Request,
    item_id: int,
    session: SessionDep,
    settings: SettingsDep,
    store: BlobStoreDep,
    user: PageUser,
) -> Response:
    """Add a track to the version chosen in the form (multipart, at most 1 MB). Like the
    version upload, the CSRF token comes in the query string, not the body."""
    error = _streamed_form_csrf(request, settings)
    if error is not None:
        raise error
    try:
        policy.require_author(user)
        track, number = await receive_track(request, session, store, user, item_id)
    except AppError as exc:
        return await _studio_form_error(request, session, user, item_id, exc, "track_error")
    message = _("“{label}” added to version {n}.").format(label=track.label, n=number)
    return redirect(request, f"/studio/items/{item_id}", message=message)


@router.post(
    "/studio/items/{item_id}/versions/{number}/tracks/{track_id}/delete",
    dependencies=[CSRFChecked],
)
def studio_delete_track(
    request: Request,
    item_id: int,
    number: int,
    track_id: int,
    session: SessionDep,
    user: AuthorUser,
) -> Response:
    back = f"/studio/items/{item_id}"
    try:
        tracks.delete_track(session, user, item_id, number, track_id)
    except AppError as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail, level="error")
    return redirect(request, back, message=_("Track deleted from version {n}.").format(n=number))
