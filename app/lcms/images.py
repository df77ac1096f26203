"""Pixel sizes of the library's raster images, so pages can give ``<img>`` its width and height
and the browser reserves the space before the bytes arrive (no layout shift on a slow link).

Only the image header is read (Pillow opens lazily), once per blob: blobs never change, so the
answer is cached by SHA-256 for the life of the process.
"""

from __future__ import annotations

import logging

from PIL import Image

from app.core.storage import BlobStore

log = logging.getLogger("hocso")

# Pillow refuses absurd sizes (decompression bombs) only when decoding; the header is enough.
_MAX_SIDE = 100_000
_CACHE_SIZE = 1024
# Keyed by content hash alone: the same bytes have the same size in any store.
_sizes: dict[str, tuple[int, int] | None] = {}


def image_size(store: BlobStore, sha256: str) -> tuple[int, int] | None:
    """(width, height) of a stored raster image, or None when it cannot be read."""
    if sha256 in _sizes:
        return _sizes[sha256]
    try:
        size = _read(store, sha256)
    except Exception as exc:  # storage down or blob missing: no size now, maybe next time
        log.warning("image size of %s: %s", sha256[:12], exc.__class__.__name__)
        return None
    if len(_sizes) >= _CACHE_SIZE:
        _sizes.pop(next(iter(_sizes)))  # the oldest entry
    _sizes[sha256] = size
    return size


def _read(store: BlobStore, sha256: str) -> tuple[int, int] | None:
    with store.open(sha256) as body:
        try:
            with Image.open(body) as image:
                width, height = image.size
        except (OSError, ValueError, Image.DecompressionBombError):  # not an image Pillow reads
            return None
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        return None
    return width, height
