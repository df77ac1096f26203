"""Concurrent uploads, interrupted uploads and garbage collection, with real commits."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from app.core.config import Settings
from app.core.db import make_sessionmaker, session_scope
from app.core.storage import BlobStore, new_temp_file
from app.lcms import service
from app.lcms.models import Blob, ContentVersion
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples
from tests.support.live import live_server


@pytest.fixture
def live(app: FastAPI, committed: Engine, settings: Settings) -> Iterator[dict[str, object]]:
    """A live server, an author's token and a fresh item (all committed)."""
    factory = make_sessionmaker(committed)
    with session_scope(factory) as session:
        author = make_user(session, settings, role="author", organization=make_org(session))
        item = service.create_item(session, author, title="Tài liệu đồng thời", kind="document")
        email, item_id = author.email, item.id
    with live_server(app) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        ).json()
        yield {
            "base": base,
            "item": item_id,
            "factory": factory,
            "headers": {"Authorization": f"Bearer {token['access_token']}"},
        }


def test_concurrent_uploads_get_consecutive_numbers(live: dict[str, object]) -> None:
    base, item, headers = live["base"], live["item"], live["headers"]
    results: list[int] = []
    barrier = threading.Barrier(4)

    def send(n: int) -> None:
        barrier.wait()
        response = httpx.post(
            f"{base}/api/v1/content/{item}/versions",
            headers=headers,  # type: ignore[arg-type]
            files={"file": (f"v{n}.pdf", samples.pdf(f"bản {n}"))},
            timeout=30,
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 4
    with session_scope(live["factory"]) as session:  # type: ignore[arg-type]
        numbers = sorted(
            session.scalars(select(ContentVersion.number).where(ContentVersion.item_id == item))
        )
    assert numbers == [1, 2, 3, 4]


def test_an_upload_cut_off_midway_leaves_nothing(live: dict[str, object], app: FastAPI) -> None:
    base, item = str(live["base"]), live["item"]
    store: BlobStore = app.state.blob_store
    boundary = "cutcutcut"
    payload = samples.pdf("x" * 200_000)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="cut.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    total = len(head) + len(payload) + len(f"\r\n--{boundary}--\r\n")
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            (
                f"POST /api/v1/content/{item}/versions HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: {live['headers']['Authorization']}\r\n"  # type: ignore[index]
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {total}\r\n\r\n"
            ).encode()
            + head
            + payload[:100_000]
        )
        time.sleep(0.3)  # the server is now streaming into a temp file
    deadline = time.monotonic() + 10
    while list(store.temp_dir().glob("upload-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(store.temp_dir().glob("upload-*")) == []
    with session_scope(live["factory"]) as session:  # type: ignore[arg-type]
        assert (
            session.scalar(
                select(func.count(ContentVersion.id)).where(ContentVersion.item_id == item)
            )
            == 0
        )


def test_gc_removes_leftovers_and_keeps_recorded_blobs(
    committed: Engine, app: FastAPI, settings: Settings
) -> None:
    store: BlobStore = app.state.blob_store
    factory = make_sessionmaker(committed)
    # A temp file of an upload whose server was killed, and a blob stored without a version.
    fh, leftover = new_temp_file(store)
    fh.write(b"half an upload")
    fh.close()
    orphan = samples.pdf("mồ côi")
    fh, path = new_temp_file(store)
    fh.write(orphan)
    fh.close()
    store.put(samples.sha(orphan), path)
    # And a blob that a version records: never collected.
    kept = samples.pdf("giữ lại")
    fh, path = new_temp_file(store)
    fh.write(kept)
    fh.close()
    store.put(samples.sha(kept), path)
    with session_scope(factory) as session:
        author = make_user(session, settings, role="author", organization=make_org(session))
        item = service.create_item(session, author, title="Giữ", kind="document")
        service.add_version(
            session,
            author,
            item.id,
            sha256=samples.sha(kept),
            size=len(kept),
            media_type="application/pdf",
            filename="giu.pdf",
        )
    # Within the grace period nothing goes: an upload may be in flight.
    with session_scope(factory) as session:
        assert service.collect_garbage(session, store, grace_seconds=3600) == service.GcResult(0, 0)
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    if store.local_path(samples.sha(orphan)) is not None:
        for sha in (samples.sha(orphan), samples.sha(kept)):
            os.utime(store.local_path(sha), (old, old))  # type: ignore[arg-type]
        grace = 3600
    else:
        grace = 0  # S3 keeps its own LastModified
    with session_scope(factory) as session:
        result = service.collect_garbage(session, store, grace_seconds=grace)
    assert result.temp_files == 1
    # (On S3 with no grace, orphans left by earlier rolled-back tests go too.)
    assert result.orphan_blobs == 1 if grace else result.orphan_blobs >= 1
    assert not leftover.exists()
    assert not store.exists(samples.sha(orphan))
    assert store.exists(samples.sha(kept))
    with session_scope(factory) as session:
        assert session.get(Blob, samples.sha(kept)) is not None
