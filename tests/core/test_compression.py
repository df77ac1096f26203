"""Compression: page text is gzipped; files, ranges and downloads are not; streams stay
streams."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message

from app.core.compression import CompressionMiddleware, accepts_gzip

TEXT = "Nghị quyết 57 và chuyển đổi số trong nhà trường. " * 40  # ≈ 2 KB, compresses well
GZIP = {"Accept-Encoding": "gzip"}


def _typed(media_type: str, **headers: str) -> Any:
    def endpoint(request: Request) -> Response:
        return Response(TEXT.encode(), media_type=media_type, headers=headers)

    return endpoint


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(3):
        yield TEXT.encode()


def _stream(request: Request) -> Response:
    return StreamingResponse(_chunks(), media_type="text/html")


def _small(request: Request) -> Response:
    return PlainTextResponse("ok")


def _tagged(request: Request) -> Response:
    return Response(TEXT, media_type="text/css", headers={"ETag": '"abc"'})


APP = CompressionMiddleware(
    Starlette(
        routes=[
            Route("/html", _typed("text/html")),
            Route("/css", _typed("text/css")),
            Route("/js", _typed("text/javascript")),
            Route("/json", _typed("application/json")),
            Route("/svg", _typed("image/svg+xml")),
            Route("/png", _typed("image/png")),
            Route("/pdf", _typed("application/pdf")),
            Route("/mp4", _typed("video/mp4")),
            Route("/xlsx", _typed("application/vnd.ms-excel")),
            Route("/download", _typed("text/csv", **{"Content-Disposition": "attachment"})),
            Route("/inline-svg-file", _typed("image/svg+xml", **{"Content-Disposition": "inline"})),
            Route("/partial", _typed("text/html", **{"Content-Range": "bytes 0-9/20"})),
            Route("/encoded", _typed("text/html", **{"Content-Encoding": "br"})),
            Route("/stream", _stream),
            Route("/small", _small),
            Route("/tagged", _tagged),
        ]
    )
)


@pytest.fixture
def plain() -> TestClient:
    return TestClient(APP)


@pytest.mark.parametrize("path", ["/html", "/css", "/js", "/json", "/svg"])
def test_page_text_is_gzipped(plain: TestClient, path: str) -> None:
    response = plain.get(path, headers=GZIP)
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"]
    assert int(response.headers["content-length"]) < len(TEXT.encode()) / 3
    assert response.text == TEXT  # httpx decodes it


@pytest.mark.parametrize(
    "path",
    ["/png", "/pdf", "/mp4", "/xlsx", "/download", "/inline-svg-file", "/partial", "/encoded"],
)
def test_media_files_ranges_and_downloads_pass_untouched(plain: TestClient, path: str) -> None:
    response = plain.get(path, headers=GZIP)
    assert response.headers.get("content-encoding") in (None, "br")
    assert "vary" not in response.headers


def test_no_compression_without_accept_encoding_or_for_a_range_request(
    plain: TestClient,
) -> None:
    for headers in (
        {"Accept-Encoding": "identity"},
        {"Accept-Encoding": "gzip;q=0"},
        {**GZIP, "Range": "bytes=0-99"},
    ):
        response = plain.get("/html", headers=headers)
        assert "content-encoding" not in response.headers, headers
        assert response.content == TEXT.encode()


def test_small_bodies_are_not_worth_it(plain: TestClient) -> None:
    response = plain.get("/small", headers=GZIP)
    assert "content-encoding" not in response.headers
    assert response.text == "ok"


def test_a_compressed_body_gets_a_weak_etag(plain: TestClient) -> None:
    assert plain.get("/tagged", headers=GZIP).headers["etag"] == 'W/"abc"'
    identity = plain.get("/tagged", headers={"Accept-Encoding": "identity"})
    assert identity.headers["etag"] == '"abc"'


def test_accepts_gzip_reads_quality_values() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, gzip;q=0.8")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("br, deflate")
    assert not accepts_gzip("")


def test_a_stream_stays_a_stream() -> None:
    """Each chunk leaves compressed and flushed as it comes, not gathered at the end."""
    sent: list[Message] = []
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep(3600)  # the client stays connected (cancelled when the body ends)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/stream",
        "raw_path": b"/stream",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"accept-encoding", b"gzip"), (b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "http_version": "1.1",
    }
    anyio.run(APP, scope, receive, send)
    start = sent[0]
    headers = dict(start["headers"])
    assert headers[b"content-encoding"] == b"gzip"
    assert b"content-length" not in headers
    bodies = [m for m in sent[1:] if m["type"] == "http.response.body"]
    assert len(bodies) >= 3  # not gathered into one
    assert all(m["body"] for m in bodies[:3])  # every chunk flushed, none held back
    assert gzip.decompress(b"".join(m["body"] for m in bodies)) == TEXT.encode() * 3
