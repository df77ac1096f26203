"""Small real files of the accepted types, and helpers to upload and fetch them."""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any

import httpx
from fastapi.testclient import TestClient


def pdf(text: str = "Chuyển đổi số") -> bytes:
    body = text.encode()
    head = b"%PDF-1.4\n1 0 obj<</Length " + str(len(body)).encode() + b">>stream\n"
    return head + body + b"\nendstream endobj\ntrailer<<>>\n%%EOF\n"


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def mp4(payload_size: int = 4096) -> bytes:
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    mdat = struct.pack(">I", 8 + payload_size) + b"mdat" + bytes(range(256)) * (payload_size // 256)
    return ftyp + mdat


EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(
    client: TestClient,
    headers: dict[str, str],
    item_id: int,
    data: bytes,
    filename: str = "tai-lieu.pdf",
    note: str | None = None,
) -> httpx.Response:
    form: dict[str, Any] = {"note": note} if note is not None else {}
    return client.post(
        f"/api/v1/content/{item_id}/versions",
        headers=headers,
        files={"file": (filename, data, "application/octet-stream")},
        data=form,
    )


def fetch(client: TestClient, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET a file through the app; with S3 storage follow the presigned redirect to the
    S3 endpoint itself, as a browser would (Range and If-None-Match headers included)."""
    response = client.get(url, headers=headers or {}, follow_redirects=False)
    if response.status_code == 307:
        location = response.headers["location"]
        assert "X-Amz-Signature" in location
        passed = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        return httpx.get(location, headers=passed)
    return response
