"""Serving version files: Range (206/416), ETag = SHA-256 with If-None-Match (304), RFC 5987
filenames, and never rendering uploaded markup on the app's origin. With S3 storage the client
is redirected to a short-lived presigned URL instead of the app proxying the bytes."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.core.openapi import file_response
from app.core.storage import BlobStore, content_disposition
from app.lcms import tracks
from app.lcms.models import ContentVersion, TextTrack
from app.lcms.service import get_version
from app.lcms.sniff import ACCEPTED

PRESIGN_SECONDS = 300
INLINE_TYPES = frozenset(t for t, s in ACCEPTED.items() if s.inline_safe)
# Inline PDFs need the browser's viewer, which a sandboxed document cannot run.
FILE_CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)
SANDBOX_CSP = f"sandbox; {FILE_CSP}"
# The answers of ``version_file_response``, for the ``responses=`` of the routes serving files.
FILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: file_response(),
    206: file_response(description="Partial content"),
    304: {"description": "Not modified"},
    307: {"description": "Redirect to a presigned URL (S3)"},
    416: {"description": "Range not satisfiable"},
}
_RANGE = re.compile(r"^bytes=\s*(\d*)-(\d*)\s*((,\s*\d*-\d*\s*)*)$")
_SPEC = re.compile(r"^\s*(\d*)-(\d*)\s*$")


def range_is_well_formed(header: str) -> bool:
    """RFC 9110 §14.2: a Range the server cannot parse is ignored (full 200), not an error."""
    if not _RANGE.match(header):
        return False
    for spec in header.split("=", 1)[1].split(","):
        match = _SPEC.match(spec)
        if match is None:
            return False
        start, end = match.groups()
        if not start and not end:
            return False
        if start and end and int(start) > int(end):
            return False
    return True


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return etag in candidates


class _RangeSafeFileResponse(FileResponse):
    """FileResponse that drops a malformed Range header instead of answering 400."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k != b"range"]
        for key, value in scope["headers"]:
            if key == b"range" and range_is_well_formed(value.decode("latin-1")):
                headers.append((key, value))
        await super().__call__({**scope, "headers": headers}, receive, send)


def version_file_response(
    request: Request, store: BlobStore, version: ContentVersion, *, download: bool = False
) -> Response:
    etag = f'"{version.blob_sha256}"'
    inline = not download and version.media_type in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        # The studio and library pages embed previews (PDF viewer) from the same origin.
        "X-Frame-Options": "SAMEORIGIN",
        "Content-Security-Policy": FILE_CSP
        if inline and version.media_type == "application/pdf"
        else SANDBOX_CSP,
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    url = store.presigned_url(
        version.blob_sha256,
        filename=version.filename,
        media_type=version.media_type,
        disposition=disposition,
        expires=PRESIGN_SECONDS,
    )
    if url is not None:
        return RedirectResponse(
            url, status_code=307, headers={"Cache-Control": "no-store", "ETag": etag}
        )
    path = store.local_path(version.blob_sha256)
    if path is not None:
        return _RangeSafeFileResponse(
            path,
            media_type=version.media_type,
            headers={
                **headers,
                "Content-Disposition": content_disposition(disposition, version.filename),
            },
        )
    # A store with neither local files nor presigned URLs: stream it through.
    body = store.open(version.blob_sha256)
    return StreamingResponse(
        iter(lambda: body.read(1024 * 1024), b""),
        media_type=version.media_type,
        headers={
            **headers,
            "Content-Disposition": content_disposition(disposition, version.filename),
        },
    )


def serve_version(
    request: Request, session: Session, version_id: int, *, download: bool = False
) -> Response:
    """Serve a content version by id, for other packages (a course's pinned file): they name
    the version, the library decides how its bytes are delivered."""
    store: BlobStore = request.app.state.blob_store
    return version_file_response(
        request, store, get_version(session, version_id), download=download
    )


# --- Text tracks (decision 11) -------------------------------------------------------------

# The answers of ``track_file_response``.
TRACK_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The track: WebVTT (captions, subtitles) or plain text (transcript)",
        "content": {
            "text/vtt": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    304: {"description": "Not modified"},
}


def track_file_response(
    request: Request, store: BlobStore, track: TextTrack, *, download: bool = False
) -> Response:
    """A track's bytes, always through the app (never a presigned redirect): a <track> must
    come from the page's own origin, since a cross-origin one needs CORS on the bucket and a
    ``crossorigin`` media element. Tracks are small (``MAX_TRACK_BYTES``)."""
    etag = f'"{track.blob_sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_CSP,
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    body = store.open(track.blob_sha256)
    try:
        data = body.read()
    finally:
        body.close()
    disposition = "attachment" if download else "inline"
    return Response(
        data,
        media_type=f"{tracks.media_type_of(track)}; charset=utf-8",
        headers={
            **headers,
            "Content-Disposition": content_disposition(disposition, track.filename),
        },
    )


def serve_track(
    request: Request, session: Session, version_id: int, track_id: int, *, download: bool = False
) -> Response:
    """Serve a track of a version by ids, for other packages (a lesson's pinned version)."""
    store: BlobStore = request.app.state.blob_store
    track = tracks.get_version_track(session, version_id, track_id)
    return track_file_response(request, store, track, download=download)


def version_tracks(
    request: Request, session: Session, version_id: int
) -> tracks.PlayerTracks | None:
    """The player's tracks of a version (transcripts read from storage), or None."""
    store: BlobStore = request.app.state.blob_store
    return tracks.player_tracks(session, store, version_id)
