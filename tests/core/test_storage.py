"""One contract suite for both blob stores: ``LocalBlobStore`` on a temp dir and
``S3BlobStore`` against moto in server mode (real HTTP on a loopback port)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from app.core.config import Settings
from app.core.storage import (
    TEMP_PREFIX,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    StoredBlob,
    blob_key,
    content_disposition,
    new_temp_file,
    remove_stale_temp_files,
    s3_client,
)

MiB = 1024 * 1024
HEX64 = re.compile(r"[0-9a-f]{64}")
VIETNAMESE_NAME = "Bài giảng chuyển đổi số.pdf"
# RFC 5987 attr-char plus "%" for the pct-encoded octets.
ATTR_CHARS = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~%]+")
DISPOSITION_RE = re.compile(
    r"(?P<type>[a-z]+); filename=\"(?P<fallback>[^\"]*)\"; filename\*=UTF-8''(?P<encoded>\S+)"
)


# --- Fixtures and helpers --------------------------------------------------------------------


def s3_settings_for(settings: Settings, endpoint: str, data_dir: Path, bucket: str) -> Settings:
    return settings.model_copy(
        update={
            "storage": "s3",
            "s3_endpoint_url": endpoint,
            "s3_bucket": bucket,
            "data_dir": data_dir,
        }
    )


def unique_bucket() -> str:
    return f"hocso-test-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def s3_store(s3_endpoint: str, settings: Settings, tmp_path: Path) -> S3BlobStore:
    """An S3 store on a fresh bucket, its scratch (temp) dir under ``tmp_path``."""
    s3_settings = s3_settings_for(settings, s3_endpoint, tmp_path, unique_bucket())
    s3_client(s3_settings).create_bucket(Bucket=s3_settings.s3_bucket)
    return S3BlobStore(s3_settings)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path)
    s3: S3BlobStore = request.getfixturevalue("s3_store")
    return s3


def write_temp(store: BlobStore, data: bytes) -> tuple[str, Path]:
    """Stream ``data`` to a temp upload the way the app does; return (sha256, temp path)."""
    fh, path = new_temp_file(store)
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    return hashlib.sha256(data).hexdigest(), path


def store_bytes(store: BlobStore, data: bytes) -> str:
    sha, path = write_temp(store, data)
    store.put(sha, path)
    return sha


def read_all(store: BlobStore, sha: str) -> bytes:
    with contextlib.closing(store.open(sha)) as fh:
        return fh.read()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- put / exists / size / open --------------------------------------------------------------


def test_put_then_exists_size_open(store: BlobStore) -> None:
    data = "Xin chào, HọcSố!\n".encode() * 100
    sha, temp = write_temp(store, data)
    assert temp.is_file()
    assert not store.exists(sha)

    store.put(sha, temp)

    assert not temp.exists(), "put must consume the temp file"
    assert store.exists(sha)
    assert store.size(sha) == len(data)
    assert read_all(store, sha) == data


def test_local_path_is_the_blob_file_only_for_local(store: BlobStore) -> None:
    data = b"local or remote"
    sha = store_bytes(store, data)
    path = store.local_path(sha)
    if isinstance(store, LocalBlobStore):
        assert path is not None
        assert path.is_file()
        assert path.read_bytes() == data
        assert path.is_relative_to(store.root)
    else:
        assert path is None


def test_temp_dir_is_local_disk_under_data_dir(store: BlobStore, tmp_path: Path) -> None:
    directory = store.temp_dir()
    assert directory.is_dir()
    assert directory.is_relative_to(tmp_path)

    fh, path = new_temp_file(store)
    fh.close()
    assert path.parent == directory
    assert path.name.startswith(TEMP_PREFIX)
    assert path.is_file()


def test_storing_the_same_bytes_twice_is_harmless(store: BlobStore) -> None:
    data = b"the same lesson, uploaded twice"
    first = store_bytes(store, data)
    sha, temp = write_temp(store, data)
    assert sha == first

    store.put(sha, temp)

    assert not temp.exists()
    assert store.exists(sha)
    assert store.size(sha) == len(data)
    assert read_all(store, sha) == data
    assert [blob.sha256 for blob in store.iter_blobs()] == [sha]


def test_iter_blobs_is_empty_for_a_new_store(store: BlobStore) -> None:
    assert list(store.iter_blobs()) == []


def test_iter_blobs_lists_every_blob_with_aware_utc_time(store: BlobStore) -> None:
    before = datetime.now(UTC)
    shas = {store_bytes(store, b"first blob"), store_bytes(store, b"second blob")}
    assert len(shas) == 2

    blobs = list(store.iter_blobs())

    assert len(blobs) == 2
    assert {blob.sha256 for blob in blobs} == shas
    for blob in blobs:
        assert isinstance(blob, StoredBlob)
        assert HEX64.fullmatch(blob.sha256)
        assert blob.modified_at.tzinfo is not None
        assert blob.modified_at.utcoffset() == timedelta(0)
        # S3 LastModified has one-second resolution; allow generous slack either way.
        assert abs(blob.modified_at - before) < timedelta(minutes=5)


def test_unknown_blob_does_not_exist(store: BlobStore) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    assert store.exists(sha) is False
    assert store.size(sha) is None


def test_delete_removes_and_is_idempotent(store: BlobStore) -> None:
    keep = store_bytes(store, b"keep me")
    sha = store_bytes(store, b"delete me")

    store.delete(sha)

    assert not store.exists(sha)
    assert store.size(sha) is None
    assert [blob.sha256 for blob in store.iter_blobs()] == [keep]
    assert store.exists(keep)
    # Deleting again, or deleting something never stored, does not raise.
    store.delete(sha)
    store.delete(hashlib.sha256(b"never stored").hexdigest())


# --- blob keys ---------------------------------------------------------------------------------


def test_blob_key_shards_by_the_first_two_hex_digits() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    assert blob_key(sha) == f"blobs/{sha[:2]}/{sha}"


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "",
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "A" * 64,
        "../" + "a" * 61,
        "/" + "a" * 63,
        "a" * 62 + "/.",
        "a" * 63 + "\x00",
        " " + "a" * 63,
    ],
)
def test_blob_key_rejects_anything_but_a_sha256_hex_digest(bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        blob_key(bad)


def test_store_rejects_path_traversal(store: BlobStore) -> None:
    evil = "../../etc/passwd"
    with pytest.raises(ValueError, match="sha256"):
        store.exists(evil)
    with pytest.raises(ValueError, match="sha256"):
        store.size(evil)
    with pytest.raises(ValueError, match="sha256"):
        store.open(evil)
    with pytest.raises(ValueError, match="sha256"):
        store.delete(evil)
    # A backend may answer "not applicable" (None) without looking at the key, but it must
    # never hand out a path or URL built from it.
    try:
        path = store.local_path(evil)
    except ValueError:
        path = None
    assert path is None
    try:
        url = store.presigned_url(
            evil, filename="x.pdf", media_type="application/pdf", disposition="inline", expires=60
        )
    except ValueError:
        url = None
    assert url is None
    _, temp = write_temp(store, b"payload")
    with pytest.raises(ValueError, match="sha256"):
        store.put(evil, temp)


# --- large blobs ----------------------------------------------------------------------------


def test_large_blob_round_trips_byte_for_byte(store: BlobStore) -> None:
    data = os.urandom(12 * MiB)
    sha = store_bytes(store, data)

    assert store.size(sha) == len(data)
    assert read_all(store, sha) == data


def test_s3_large_blob_goes_up_in_parts(
    s3_store: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(S3BlobStore, "MULTIPART_THRESHOLD", 5 * MiB)
    monkeypatch.setattr(S3BlobStore, "PART_SIZE", 5 * MiB)
    data = os.urandom(12 * MiB)
    sha, temp = write_temp(s3_store, data)

    s3_store.put(sha, temp)

    assert not temp.exists()
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=blob_key(sha))
    assert head["ContentLength"] == len(data)
    # A multipart object's ETag is "<md5 of part md5s>-<number of parts>": 12 MiB / 5 MiB → 3.
    assert head["ETag"].strip('"').endswith("-3")
    assert s3_store.size(sha) == len(data)
    assert read_all(s3_store, sha) == data


# --- presigned URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize("disposition", ["inline", "attachment"])
def test_presigned_url_serves_exact_bytes_with_headers(store: BlobStore, disposition: str) -> None:
    data = bytes(range(256)) * 8
    sha = store_bytes(store, data)

    url = store.presigned_url(
        sha,
        filename=VIETNAMESE_NAME,
        media_type="application/pdf",
        disposition=disposition,
        expires=300,
    )

    if isinstance(store, LocalBlobStore):
        assert url is None  # the app serves local files itself
        return
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    assert query["response-content-type"] == ["application/pdf"]
    assert query["response-content-disposition"] == [
        content_disposition(disposition, VIETNAMESE_NAME)
    ]

    with httpx.Client(timeout=5) as http:
        full = http.get(url)
        ranged = http.get(url, headers={"Range": "bytes=10-19"})

    assert full.status_code == 200
    assert full.content == data
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]
    assert len(ranged.content) == 10
    assert ranged.headers["content-range"] == f"bytes 10-19/{len(data)}"
    for response in (full, ranged):
        assert response.headers["content-type"] == "application/pdf"
        header = response.headers["content-disposition"]
        assert header.startswith(f"{disposition};")
        assert f"filename*=UTF-8''{quote(VIETNAMESE_NAME, safe='')}" in header
        match = DISPOSITION_RE.fullmatch(header)
        assert match
        assert unquote(match["encoded"]) == VIETNAMESE_NAME


# --- Content-Disposition ---------------------------------------------------------------------


def test_content_disposition_keeps_the_exact_vietnamese_name() -> None:
    header = content_disposition("attachment", VIETNAMESE_NAME)

    match = DISPOSITION_RE.fullmatch(header)
    assert match, header
    assert match["type"] == "attachment"
    fallback = match["fallback"]
    assert fallback == "B_i gi_ng chuy_n __i s_.pdf"
    assert all(32 <= ord(c) < 127 for c in fallback)
    assert ATTR_CHARS.fullmatch(match["encoded"])
    assert unquote(match["encoded"], encoding="utf-8", errors="strict") == VIETNAMESE_NAME
    assert header.isascii()


def test_content_disposition_sanitises_quotes_backslashes_and_control_chars() -> None:
    name = 'bad"name\\with\nnewline\r\tand\x7fdel.pdf'

    header = content_disposition("inline", name)

    match = DISPOSITION_RE.fullmatch(header)
    assert match, header
    assert match["type"] == "inline"
    assert match["fallback"] == "bad_name_with_newline__and_del.pdf"
    assert header.count('"') == 2  # only the ones delimiting the fallback
    assert "\\" not in header
    assert not any(ord(c) < 32 or ord(c) == 127 for c in header)
    assert unquote(match["encoded"]) == name


def test_content_disposition_cannot_smuggle_a_second_filename() -> None:
    name = 'a.pdf"; filename="evil.exe'

    header = content_disposition("attachment", name)

    match = DISPOSITION_RE.fullmatch(header)
    assert match, header
    assert match["fallback"] == "a.pdf_; filename=_evil.exe"
    assert header.count('"') == 2
    assert unquote(match["encoded"]) == name


# --- temp files -------------------------------------------------------------------------------


def test_remove_stale_temp_files(store: BlobStore) -> None:
    _, old = write_temp(store, b"abandoned upload")
    _, fresh = write_temp(store, b"upload in progress")
    other = store.temp_dir() / "not-an-upload.txt"
    other.write_bytes(b"someone else's file")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))

    removed = remove_stale_temp_files(store, older_than_seconds=3600)

    assert removed == 1
    assert not old.exists()
    assert fresh.is_file()
    assert other.is_file()
    assert remove_stale_temp_files(store, older_than_seconds=3600) == 0
    assert fresh.is_file()


# --- health checks ----------------------------------------------------------------------------


def test_check_passes_on_a_good_store(store: BlobStore) -> None:
    store.check()
    # The probe leaves nothing behind that could look like a blob.
    assert list(store.iter_blobs()) == []
    if isinstance(store, LocalBlobStore):
        assert list((store.root / "blobs").iterdir()) == []


def test_local_check_fails_when_data_dir_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_bytes(b"oops")

    with pytest.raises(OSError, match="data"):
        LocalBlobStore(not_a_dir).check()


def test_s3_check_fails_when_bucket_is_missing(
    s3_endpoint: str, settings: Settings, tmp_path: Path
) -> None:
    missing = S3BlobStore(s3_settings_for(settings, s3_endpoint, tmp_path, unique_bucket()))

    with pytest.raises(ClientError) as excinfo:
        missing.check()
    assert excinfo.value.response["Error"]["Code"] in ("404", "NoSuchBucket")


def test_s3_check_fails_when_endpoint_is_down(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{closed_port()}"
    down = S3BlobStore(s3_settings_for(settings, endpoint, tmp_path, unique_bucket()))

    with pytest.raises(EndpointConnectionError):
        down.check()
