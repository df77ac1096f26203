"""Attack drills on uploads (content versions and contest entry files): hostile filenames,
zip-slip and zip bombs, a lying Content-Length, truncated bodies and multipart floods.

Each drill checks the answer and that nothing was kept: no version or entry file recorded, no
temp file left, no file written outside the data directory."""

from __future__ import annotations

import io
import itertools
import os
import re
import select as io_select
import socket
import stat
import time
import tracemalloc
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.accounts import auth
from app.community.contests import service as contests
from app.community.contests.models import EntryFile
from app.community.contests.service import CriterionSpec
from app.core import web
from app.core.config import Settings
from app.core.db import make_sessionmaker, session_scope
from app.core.storage import BlobStore
from app.lcms import service as lcms
from app.lcms import ziptools
from app.lcms.models import ContentVersion
from tests.factories import make_org, make_user
from tests.lcms import samples
from tests.support.live import live_server

H = dict[str, str]
BOUNDARY = "hocso-attack-boundary"
# How long a drill waits for something that should happen (an answer, a cleanup) before it
# calls it a hang: a guard that turns a hang into a clear failure, never a claim about speed.
HANG_GUARD_SECONDS = 60


@dataclass
class Targets:
    author: H
    student: H
    document: int  # a document item of the author
    package: int  # a package item (zip, EPUB)
    entry: int  # the student's entry in an open contest


def build_targets(db: Session, settings: Settings) -> Targets:
    commune = make_org(db, kind="commune", level=None)
    school = make_org(db, parent=commune, level="lower_secondary")
    admin = make_user(db, settings, role="admin", organization=commune, password=None)
    author = make_user(db, settings, role="author", organization=commune, password=None)
    student = make_user(db, settings, role="student", organization=school, password=None)
    document = lcms.create_item(db, author, title="Tài liệu", kind="document")
    package = lcms.create_item(db, author, title="Gói học liệu", kind="package")
    now = datetime.now(UTC)
    contest = contests.create_contest(
        db,
        admin,
        title="Ý tưởng STEM",
        kind="stem",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=7),
        criteria=[CriterionSpec(name="Sáng tạo", weight=1, max_score=10)],
        organization_id=commune.id,
    )
    entry = contests.create_entry(db, student, contest.id, title="Máy lọc nước")
    db.flush()
    return Targets(
        author={"Authorization": f"Bearer {auth.issue_token(settings, author)}"},
        student={"Authorization": f"Bearer {auth.issue_token(settings, student)}"},
        document=document.id,
        package=package.id,
        entry=entry.id,
    )


@pytest.fixture
def targets(client: TestClient, db: Session, settings: Settings) -> Targets:
    return build_targets(db, settings)


def multipart(filename: bytes, data: bytes, *, boundary: str = BOUNDARY) -> bytes:
    """A body written by hand: HTTP clients would percent-encode or refuse odd filenames."""
    return (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


def post_raw(client: TestClient, url: str, h: H, body: bytes) -> Any:
    return client.post(
        url,
        headers={**h, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        content=body,
    )


def upload_url(targets: Targets, where: str) -> tuple[str, H]:
    if where == "version":
        return f"/api/v1/content/{targets.document}/versions", targets.author
    if where == "package":
        return f"/api/v1/content/{targets.package}/versions", targets.author
    return f"/api/v1/entries/{targets.entry}/files", targets.student


def stored_count(db: Session) -> int:
    versions = db.scalar(select(func.count()).select_from(ContentVersion)) or 0
    files = db.scalar(select(func.count()).select_from(EntryFile)) or 0
    return versions + files


def temp_files(store: BlobStore) -> list[Path]:
    return list(store.temp_dir().glob("upload-*"))


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def disposition_of(response: Any) -> str:
    """Content-Disposition of a download: the header, or on S3 the one the presigned URL asks
    the bucket to send."""
    if response.status_code == 307:
        query = parse_qs(urlsplit(str(response.headers["location"])).query)
        return query["response-content-disposition"][0]
    assert response.status_code == 200, response.text
    return str(response.headers["content-disposition"])


# --- Hostile filenames ----------------------------------------------------------------------

HOSTILE_NAMES: list[bytes] = [
    b"../../etc/passwd",
    b"..\\..\\x",
    b"/etc/cron.d/hocso",
    b"C:\\Windows\\System32\\evil.pdf",
    b"\\\\server\\share\\evil.pdf",
    b"ok\x00.pdf",
    b"a" * 1000 + b".pdf",
    b"x." + b"b" * 300,
    "bài\u202efdp.exe".encode(),  # right-to-left override: shows as "bàiexe.pdf"
    "\u200b\u2066..\u2069/\ufeffnăm.pdf".encode(),
    b"..",
    b"...pdf",
    b"evil\r\nX-Injected: 1.pdf",
    b'quote"semi;colon.pdf',
]


def assert_safe_name(name: str, raw: bytes) -> None:
    assert name, raw
    assert "/" not in name, (raw, name)
    assert "\\" not in name, (raw, name)
    assert not name.startswith("."), (raw, name)
    assert len(name) <= lcms.MAX_FILENAME, (raw, len(name))
    assert all(unicodedata.category(c)[0] != "C" for c in name), (raw, name)


def assert_safe_disposition(value: str, name: str) -> None:
    assert "\r" not in value, value
    assert "\n" not in value, value
    match = re.fullmatch(
        r"attachment; filename=\"([^\"\\]*)\"; filename\*=UTF-8''([^\s;\"]*)", value
    )
    assert match, value
    fallback, encoded = match.groups()
    assert all(32 <= ord(c) < 127 for c in fallback), value
    assert "/" not in fallback, value
    assert "\\" not in fallback, value
    assert unquote(encoded) == name, value


def test_hostile_filenames_are_sanitised_and_downloads_are_safe(
    client: TestClient, db: Session, settings: Settings, targets: Targets, tmp_path: Path
) -> None:
    store: BlobStore = client.app.state.blob_store  # type: ignore[attr-defined]
    root = settings.data_dir.parent  # the run's temporary base: data dir and its siblings
    before = files_under(root)
    etc_passwd = Path("/etc/passwd").stat().st_mtime_ns
    for where in ("version", "entry"):
        url, h = upload_url(targets, where)
        for n, raw in enumerate(HOSTILE_NAMES):
            data = samples.pdf(f"{where} {n}")  # distinct bytes: every upload is stored
            response = post_raw(client, url, h, multipart(raw, data))
            assert response.status_code == 201, (raw, response.text)
            body = response.json()
            assert_safe_name(body["filename"], raw)
            if where == "version":
                download = f"{url}/{body['number']}/file?download=1"
            else:
                download = f"{body['url']}?download=1"
            got = client.get(download, headers=h, follow_redirects=False)
            assert_safe_disposition(disposition_of(got), body["filename"])
            if where == "entry":  # an entry holds 10 files at most
                assert client.delete(body["url"], headers=h).status_code == 204
    # Files are stored by their SHA-256, whatever their names: nothing new outside the data
    # directory, no "passwd" anywhere, /etc/passwd untouched, no temp file left.
    created = files_under(root) - before
    assert all(settings.data_dir in p.parents for p in created), created
    assert not [p for p in files_under(root) if p.name in ("passwd", "x", "hocso")]
    assert Path("/etc/passwd").stat().st_mtime_ns == etc_passwd
    assert temp_files(store) == []


# --- Zip archives: zip-slip and zip bombs --------------------------------------------------


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode bits in the external attributes count
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def docx(*extra: tuple[str, bytes]) -> bytes:
    return make_zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
            *extra,
        ]
    )


BAD_ZIPS: dict[str, tuple[bytes, str]] = {
    "dot-dot": (make_zip([("../../evil.sh", b"#!/bin/sh")]), "outside its folder"),
    "dot-dot-deep": (make_zip([("a/b/../../../evil.sh", b"x")]), "outside its folder"),
    "backslashes": (make_zip([("..\\..\\evil.bat", b"x")]), "outside its folder"),
    "absolute": (make_zip([("/etc/cron.d/evil", b"x")]), "outside its folder"),
    "drive": (make_zip([("C:/Windows/evil.bat", b"x")]), "outside its folder"),
    "symlink": (make_zip([symlink("lesson/data", "/etc/passwd")]), "symbolic link"),
    "bomb": (make_zip([("zeros.bin", bytes(24 * 1024 * 1024))]), "zip bomb"),
    "bomb-of-small-files": (
        make_zip([(f"part{i}.bin", bytes(900 * 1024)) for i in range(40)]),
        "zip bomb",
    ),
    "too-many-entries": (
        make_zip([(f"f{i}.txt", b"") for i in range(ziptools.DEFAULT_LIMITS.max_entries + 1)]),
        "too many files",
    ),
}


def test_zip_slip_symlinks_and_bombs_are_refused_without_a_trace(
    client: TestClient, db: Session, targets: Targets
) -> None:
    store: BlobStore = client.app.state.blob_store  # type: ignore[attr-defined]
    for where in ("package", "entry"):
        url, h = upload_url(targets, where)
        ok = client.post(url, headers=h, files={"file": ("goi.zip", make_zip([("a.txt", b"a")]))})
        assert ok.status_code == 201, ok.text  # zips are accepted here: the refusals are real
        count = stored_count(db)
        for name, (data, message) in BAD_ZIPS.items():
            response = client.post(url, headers=h, files={"file": (f"{name}.zip", data)})
            assert response.status_code == 422, (where, name, response.text)
            assert message in response.json()["detail"], (name, response.json())
            assert stored_count(db) == count, name
        assert temp_files(store) == []
    # Office files are zip containers too.
    url, h = upload_url(targets, "version")
    slipped = client.post(
        url, headers=h, files={"file": ("bai.docx", docx(("../../evil.xml", b"<x/>")))}
    )
    assert slipped.status_code == 422, slipped.text
    assert client.post(url, headers=h, files={"file": ("bai.docx", docx())}).status_code == 201


def test_the_total_unpacked_size_is_limited(
    client: TestClient, targets: Targets, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Random bytes do not compress: only the total, not the ratio, is over the (lowered) limit.
    limits = ziptools.ZipLimits(max_total_bytes=1024 * 1024)
    monkeypatch.setattr(ziptools, "DEFAULT_LIMITS", limits)
    url, h = upload_url(targets, "package")
    big = make_zip([("a.bin", os.urandom(600 * 1024)), ("b.bin", os.urandom(600 * 1024))])
    response = client.post(url, headers=h, files={"file": ("big.zip", big)})
    assert response.status_code == 422, response.text
    assert "unpack to more than 1 MB" in response.json()["detail"]
    small = make_zip([("a.bin", os.urandom(600 * 1024))])
    assert client.post(url, headers=h, files={"file": ("ok.zip", small)}).status_code == 201


def test_a_zip_is_inspected_without_being_extracted(tmp_path: Path) -> None:
    archive = tmp_path / "slip.zip"
    archive.write_bytes(make_zip([("../../escaped.txt", b"x"), symlink("l", "/")]))
    before = files_under(tmp_path.parent)
    with pytest.raises(Exception, match="outside its folder"):
        ziptools.check_upload(archive)
    assert files_under(tmp_path.parent) == before
    # Not a zip: nothing to inspect.
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(samples.pdf())
    ziptools.check_upload(pdf)


# --- Lying Content-Length and truncated bodies (a live server, raw sockets) -----------------


@pytest.fixture
def live(app: FastAPI, committed: Engine, settings: Settings) -> Iterator[dict[str, object]]:
    factory = make_sessionmaker(committed)
    with session_scope(factory) as session:
        targets = build_targets(session, settings)
    with live_server(app) as base:
        yield {"base": base, "targets": targets, "factory": factory}


def raw_request(base: str, head: str, body: bytes, *, shut: bool = False) -> bytes:
    """Send a request as bytes and read what comes back until the server closes (or 5 s)."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        sock.settimeout(5)
        sock.sendall(head.encode() + body)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and not shut:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def status_of(reply: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3})", reply)
    return int(match.group(1)) if match else None


def live_counts(live: dict[str, object]) -> int:
    with session_scope(live["factory"]) as session:  # type: ignore[arg-type]
        return stored_count(session)


def wait_for_no_temp_files(store: BlobStore) -> list[Path]:
    """The temp files the server leaves once it has finished with a cut-off upload (it cleans
    up after the connection ends, so the test may see them for a moment)."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while temp_files(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    return temp_files(store)


def test_lying_content_length_and_truncated_bodies_store_nothing(
    live: dict[str, object], app: FastAPI
) -> None:
    store: BlobStore = app.state.blob_store
    targets: Targets = live["targets"]  # type: ignore[assignment]
    base = str(live["base"])
    data = samples.pdf("x" * 50_000)
    body = multipart(b"bai.pdf", data)
    for where in ("version", "entry"):
        url, h = upload_url(targets, where)
        auth_header = h["Authorization"]
        stored = live_counts(live)

        def head(length: int, url: str = url, auth_header: str = auth_header) -> str:
            return (
                f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth_header}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
            )

        # Smaller than the body: the server reads a body cut before its closing boundary.
        reply = raw_request(base, head(len(body) - 1000), body)
        assert status_of(reply) == 400, reply[:300]
        # Larger than the body, then the client stops sending: an interrupted upload.
        reply = raw_request(base, head(len(body) + 1000), body, shut=True)
        assert status_of(reply) in (400, None), reply[:300]
        # Honest length, but the body itself is cut in the middle of the file.
        cut = body[: len(body) // 2]
        reply = raw_request(base, head(len(cut)), cut)
        assert status_of(reply) == 400, reply[:300]
        assert b'"error":"bad_request"' in reply
        assert live_counts(live) == stored, where
        assert wait_for_no_temp_files(store) == []
        # The same upload, whole and honest, is accepted (the drills above are meaningful).
        reply = raw_request(base, head(len(body)), body)
        assert status_of(reply) == 201, reply[:300]
        assert live_counts(live) == stored + 1


# --- Multipart floods ---------------------------------------------------------------------


def flood(parts: int, value: bytes, *, boundary: str = BOUNDARY) -> bytes:
    chunks = [field_part(i, value, boundary=boundary) for i in range(parts)]
    return b"".join(chunks) + multipart(b"bai.pdf", samples.pdf(), boundary=boundary)


def field_part(i: int, value: bytes, *, boundary: str = BOUNDARY) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
        + value
        + b"\r\n"
    )


# The openings of two attacks on a part's headers; the file part they open never starts.
LONG_HEADER = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
    f"X-Long: {'a' * 200_000}\r\n\r\n"
).encode()
MANY_HEADERS = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
    + "".join(f"X-H{i}: v\r\n" for i in range(5000))
    + "\r\n"
).encode()


def with_a_file(opening: bytes) -> bytes:
    return opening + samples.pdf() + f"\r\n--{BOUNDARY}--\r\n".encode()


def test_thousands_of_parts_are_refused_with_bounded_memory(
    client: TestClient, db: Session, targets: Targets
) -> None:
    """(That such a body is cut off before the attacker has sent it is the live drill below.)"""
    url, h = upload_url(targets, "version")
    body = flood(4000, b"v" * 8000)  # 32 MB of small fields before the file
    tracemalloc.start()
    try:
        response = post_raw(client, url, h, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code in (400, 413), response.text
    # Kept fields would be 32 MB; what a request needs besides (an S3 client...) is far less.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while refusing the flood"
    assert stored_count(db) == 0
    # The page forms (parsed by Starlette): thousands of fields are a 400 as well.
    page = client.post(
        "/login",
        content=flood(2000, b"v"),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert page.status_code == 400, page.status_code


def test_huge_or_numerous_part_headers_are_refused(
    client: TestClient, db: Session, targets: Targets
) -> None:
    url, h = upload_url(targets, "version")
    for body in (with_a_file(LONG_HEADER), with_a_file(MANY_HEADERS)):
        response = post_raw(client, url, h, body)
        assert response.status_code in (400, 413, 422), response.text
        for form_url in ("/login",):
            page = client.post(
                form_url,
                content=body,
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
            assert page.status_code in (400, 403, 413), page.status_code
    assert stored_count(db) == 0


# An attack body far larger than the kernel's socket buffers can hold in flight (a loopback
# receive buffer grows to net.ipv4.tcp_rmem's maximum: a few MB, 32 MB on some hosts), so the
# answer of a server that reads it all first cannot overtake the attacker's last byte.
ATTACK_BYTES = 160 * 1024 * 1024
PIECE = 64 * 1024


@dataclass
class Cutoff:
    """How an attacker streaming a body fared: what the server answered and how much of the
    body had been sent by the time it answered (or closed the connection)."""

    reply: bytes
    sent: int
    finished: bool  # the attacker got to send its whole body


def stream_attack(base: str, url: str, h: H, pieces: Iterator[bytes]) -> Cutoff:
    """POST a chunked multipart body (no Content-Length: only the parser can stop it) piece by
    piece as a steady attacker would, looking for an answer before each send."""
    address = urlsplit(base)
    head = (
        f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    frames = itertools.chain(
        (b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece), [b"0\r\n\r\n"]
    )
    with socket.create_connection((address.hostname, address.port)) as sock:
        # Little of the body waits in our own buffer: what is sent is what the server can get.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIECE)
        sock.sendall(head)
        sock.setblocking(False)
        sent, answered = 0, False
        for frame in frames:
            view = memoryview(frame)
            while view and not answered:
                readable, writable, _ = io_select.select([sock], [sock], [], HANG_GUARD_SECONDS)
                assert readable or writable, "the server neither read nor answered: a hang"
                if readable:
                    answered = True
                    break
                try:
                    n = sock.send(view)
                except (BrokenPipeError, ConnectionResetError):
                    answered = True
                    break
                view, sent = view[n:], sent + n
            if answered:
                break
        sock.setblocking(True)
        sock.settimeout(HANG_GUARD_SECONDS)
        reply = b""
        try:
            while b"\r\n\r\n" not in reply and (chunk := sock.recv(65536)):
                reply += chunk
        except ConnectionResetError:
            pass
        return Cutoff(reply, sent, finished=not answered)


def flood_pieces(parts: int, value: bytes) -> Iterator[bytes]:
    batch = PIECE // (len(value) + 64) or 1
    for first in range(0, parts, batch):
        yield b"".join(field_part(i, value) for i in range(first, min(first + batch, parts)))
    yield multipart(b"bai.pdf", samples.pdf())


def opening_then_filler(opening: bytes) -> Iterator[bytes]:
    yield opening
    filler = b"\0" * PIECE
    for _ in range((ATTACK_BYTES - len(opening)) // PIECE):
        yield filler
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


ATTACKS = {
    "many parts": lambda: flood_pieces(ATTACK_BYTES // 8_100, b"v" * 8000),
    "a huge part header": lambda: opening_then_filler(LONG_HEADER),
    "numerous part headers": lambda: opening_then_filler(MANY_HEADERS),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_floods_are_refused_before_the_attacker_has_sent_them(
    live: dict[str, object], app: FastAPI, attack: str
) -> None:
    """The parser's limits cut the request off as soon as they are crossed: the answer comes
    while the attacker is still sending (a server that read the whole body first could only
    answer after the last byte), and nothing is kept."""
    store: BlobStore = app.state.blob_store
    targets: Targets = live["targets"]  # type: ignore[assignment]
    stored = live_counts(live)
    url, h = upload_url(targets, "version")
    cut = stream_attack(str(live["base"]), url, h, ATTACKS[attack]())
    assert status_of(cut.reply) in (400, 413, 422), cut.reply[:300]
    assert not cut.finished, f"answered only after the whole body ({cut.sent} bytes)"
    assert cut.sent < ATTACK_BYTES // 2, f"{cut.sent} bytes were sent before the answer"
    assert live_counts(live) == stored
    assert wait_for_no_temp_files(store) == []


def test_big_bodies_are_refused_before_they_are_parsed(
    client: TestClient, db: Session, targets: Targets
) -> None:
    """Forms and JSON are parsed in memory: a body beyond the limit is a 413 before any of it
    is kept. Uploads stream to disk and keep their own, larger limit."""
    size = web.MAX_BODY_BYTES + 4 * 1024 * 1024
    fields = size // 40_000  # under the parsers' own 1,000-field limit
    cases = [
        (
            "/login",
            "application/x-www-form-urlencoded",
            b"&".join(b"f%d=%s" % (i, b"v" * 40_000) for i in range(fields)),
        ),
        ("/login", f"multipart/form-data; boundary={BOUNDARY}", flood(fields, b"v" * 40_000)),
        ("/api/v1/content", "application/json", b'{"title": "' + b"x" * size + b'"}'),
    ]
    for url, kind, body in cases:
        tracemalloc.start()
        try:
            response = client.post(
                url, content=body, headers={**targets.author, "Content-Type": kind}
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert response.status_code == 413, (url, kind, response.status_code)
        assert peak < 8 * 1024 * 1024, f"{url} {kind}: peak {peak / 1e6:.1f} MB"
    # A file above that limit still uploads: uploads stream, with their own limit.
    url, h = upload_url(targets, "version")
    big_pdf = samples.pdf("x" * size)
    response = client.post(url, headers=h, files={"file": ("lon.pdf", big_pdf)})
    assert response.status_code == 201, response.text
    assert stored_count(db) == 1
