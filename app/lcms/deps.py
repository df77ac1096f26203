"""FastAPI dependencies of the content library."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.storage import BlobStore


def blob_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blob_store
    return store


BlobStoreDep = Annotated[BlobStore, Depends(blob_store)]
