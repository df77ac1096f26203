"""Gzip for the text the pages are made of (HTML, CSS, JS, JSON, SVG, plain text), and for
nothing else.

Starlette's GZipMiddleware compresses every type it does not know to be compressed already;
this one works from an allow-list instead, and leaves alone every response that names a file
(``Content-Disposition``: library and lesson files, exports, entry files), every partial or
ranged response and every response that already has an encoding. So Range requests, strong
ETags and ``Content-Length`` on content files keep their meaning, and an export that streams
keeps streaming unchanged. A compressed body gets a weak ETag (the bytes differ from the
identity representation; ``If-None-Match`` still matches because validators compare weakly).
"""

from __future__ import annotations

import zlib

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMPRESSIBLE_TYPES = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "text/plain",
        "text/xml",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "application/manifest+json",
        "application/xml",
        "image/svg+xml",
    }
)
MINIMUM_SIZE = 500  # below this the gzip header and the CPU are not worth it
_LEVEL = 6  # zlib's default: most of level 9's ratio at a fraction of the CPU
_THREAD_SIZE = 128 * 1024  # compress bigger chunks off the event loop


def accepts_gzip(accept_encoding: str) -> bool:
    """``gzip`` is listed and not refused with ``q=0``."""
    for part in accept_encoding.lower().split(","):
        coding, *params = part.split(";")
        if coding.strip() not in ("gzip", "x-gzip", "*"):
            continue
        for param in params:
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def compressible(status: int, headers: Headers) -> bool:
    """Whether a response may be gzipped: a full, unencoded page-text body that is no file."""
    if status < 200 or status in (204, 206, 304):
        return False
    if "content-encoding" in headers or "content-range" in headers:
        return False
    if "content-disposition" in headers:  # a file: download, inline content or export
        return False
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type in COMPRESSIBLE_TYPES


class CompressionMiddleware:
    """Pure ASGI, so streamed bodies stay streamed (each chunk is flushed as it is sent)."""

    def __init__(self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE) -> None:
        self.app = app
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        if "range" in request_headers or not accepts_gzip(
            request_headers.get("accept-encoding", "")
        ):
            await self.app(scope, receive, send)
            return
        await _GzipResponder(self.app, self.minimum_size)(scope, receive, send)


class _GzipResponder:
    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.send: Send
        self.start: Message | None = None
        self.passthrough = False
        self.compressor: zlib._Compress | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        await self.app(scope, receive, self.send_wrapper)

    async def send_wrapper(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            if compressible(message["status"], headers):
                self.start = message  # held until the first body chunk decides
            else:
                self.passthrough = True
                await self.send(message)
            return
        if self.passthrough or kind != "http.response.body":
            if self.start is not None:  # e.g. pathsend: send the held start untouched
                await self.send(self.start)
                self.start = None
            await self.send(message)
            return
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        if self.start is not None:
            start, self.start = self.start, None
            if not more_body and len(body) < self.minimum_size:
                MutableHeaders(scope=start).add_vary_header("Accept-Encoding")
                await self.send(start)
                await self.send(message)
                return
            self.compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            compressed = await self._compress(body, more_body)
            headers = MutableHeaders(scope=start)
            headers.add_vary_header("Accept-Encoding")
            headers["Content-Encoding"] = "gzip"
            etag = headers.get("etag")
            if etag and not etag.startswith("W/"):
                headers["ETag"] = f"W/{etag}"
            if more_body:
                del headers["Content-Length"]
            else:
                headers["Content-Length"] = str(len(compressed))
            await self.send(start)
            await self.send({**message, "body": compressed})
            return
        await self.send({**message, "body": await self._compress(body, more_body)})

    async def _compress(self, body: bytes, more_body: bool) -> bytes:
        if len(body) >= _THREAD_SIZE:
            return await anyio.to_thread.run_sync(self._compress_now, body, more_body)
        return self._compress_now(body, more_body)

    def _compress_now(self, body: bytes, more_body: bool) -> bytes:
        assert self.compressor is not None
        out = self.compressor.compress(body)
        return out + self.compressor.flush(zlib.Z_SYNC_FLUSH if more_body else zlib.Z_FINISH)
