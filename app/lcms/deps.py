"""FastAPI dependencies of the content library, and the streamed upload every upload route uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from app.core.errors import BadRequest
from app.core.i18n import gettext as _
from app.core.storage import BlobStore
from app.lcms.upload import Received, receive_multipart


def blob_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blob_store
    return store


BlobStoreDep = Annotated[BlobStore, Depends(blob_store)]


async def receive_upload(
    request: Request, session: Session, store: BlobStore, *, max_bytes: int
) -> Received:
    """Stream the request's multipart body (the file to a temporary file in ``store``).

    The request's read transaction ends first, so a long upload holds no database snapshot or
    lock while the body arrives; callers record what they received in a short transaction at
    the end. A client that goes away mid-body is a 400; the limits are ``receive_multipart``'s."""
    await run_in_threadpool(session.commit)
    length = request.headers.get("content-length")
    try:
        return await receive_multipart(
            request.stream(),
            request.headers.get("content-type", ""),
            store=store,
            max_bytes=max_bytes,
            content_length=int(length) if length and length.isdecimal() else None,
        )
    except ClientDisconnect:
        raise BadRequest(_("The upload was interrupted. Please try again.")) from None
