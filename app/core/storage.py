"""Where content bytes live: ``LocalBlobStore`` (files under HOCSO_DATA_DIR) or
``S3BlobStore`` (an S3-compatible bucket through boto3).

A blob is stored once per SHA-256 under ``blobs/ab/abcdef...``. Uploads are first streamed to a
temporary file under ``<data dir>/tmp`` (the same filesystem as local blobs, so storing is an
atomic rename); the caller computes the hash while writing and then calls ``put``. Blobs are
immutable: nothing ever rewrites one in place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlsplit

from app.core.config import Settings
from app.core.errors import InsufficientStorage, ServiceUnavailable
from app.core.i18n import gettext as _

TEMP_PREFIX = "upload-"

log = logging.getLogger("hocso")


def storage_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        _(
            "The file storage is unavailable: files cannot be uploaded or opened right now. "
            "Please try again in a few minutes."
        ),
        headers={"Retry-After": "10"},
    )


def disk_full() -> InsufficientStorage:
    return InsufficientStorage(
        _("The server's disk is full: nothing was saved. Please tell the administrator.")
    )


def blob_key(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return f"blobs/{sha256[:2]}/{sha256}"


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266 / 5987: an ASCII fallback plus the exact UTF-8 name (Vietnamese kept)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    modified_at: datetime


class BlobStore(Protocol):
    """What the content library needs from storage; both backends pass one contract suite."""

    def check(self) -> None:
        """Raise when the storage cannot be written (local) or reached (S3)."""

    def temp_dir(self) -> Path:
        """Where uploads are streamed before ``put`` (local disk in both backends)."""

    def put(self, sha256: str, source: Path) -> None:
        """Store the finished temp file ``source`` as blob ``sha256``; ``source`` is consumed
        (moved or deleted). Storing bytes that are already there is harmless."""

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int | None: ...

    def open(self, sha256: str) -> BinaryIO:
        """A readable binary file for the blob (local) or a streaming body (S3)."""

    def local_path(self, sha256: str) -> Path | None:
        """The blob's file when it is on local disk (served with sendfile), else None."""

    def presigned_url(
        self, sha256: str, *, filename: str, media_type: str, disposition: str, expires: int
    ) -> str | None:
        """A short-lived direct URL (S3), or None when the app serves the bytes itself."""

    def media_origin(self) -> str | None:
        """The origin pages must allow for images, media and frames (S3), else None."""

    def delete(self, sha256: str) -> None: ...

    def iter_blobs(self) -> Iterator[StoredBlob]:
        """Every stored blob with its modification time (for garbage collection)."""

    def abort_stale_transfers(self, older_than_seconds: int) -> int:
        """Drop partial transfers a killed process left behind (S3: multipart uploads never
        completed, whose parts the bucket would keep forever); how many. None on local disk."""


def new_temp_file(store: BlobStore) -> tuple[BinaryIO, Path]:
    """An open temp file for an upload; its name marks it as ours for ``hocso gc``."""
    directory = store.temp_dir()
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    return os.fdopen(fd, "wb"), Path(name)


def remove_stale_temp_files(store: BlobStore, *, older_than_seconds: int) -> int:
    """Temp files of interrupted uploads, and the store's partial transfers, older than that."""
    cutoff = time.time() - older_than_seconds
    removed = store.abort_stale_transfers(older_than_seconds)
    for path in store.temp_dir().glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


# --- Local disk ----------------------------------------------------------------------------


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    def check(self) -> None:
        directory = self.root / "blobs"
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".health-", dir=directory)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(name)

    def temp_dir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, sha256: str, source: Path) -> None:
        target = self._path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The writer fsynced the temp file; the rename is atomic on one filesystem, so a crash
        # leaves either no blob or the whole blob, never a partial one under the final name.
        os.replace(source, target)
        # Refresh the time so a concurrent gc treats a re-stored orphan as new.
        os.utime(target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> BinaryIO:
        return self._path(sha256).open("rb")

    def local_path(self, sha256: str) -> Path | None:
        return self._path(sha256)

    def presigned_url(
        self, sha256: str, *, filename: str, media_type: str, disposition: str, expires: int
    ) -> str | None:
        return None

    def media_origin(self) -> str | None:
        return None

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(sha256).unlink()

    def abort_stale_transfers(self, older_than_seconds: int) -> int:
        return 0  # a local put is a rename: nothing is ever half-stored

    def iter_blobs(self) -> Iterator[StoredBlob]:
        base = self.root / "blobs"
        if not base.is_dir():
            return
        for path in base.glob("??/*"):
            name = path.name
            if len(name) == 64 and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    mtime = path.stat().st_mtime
                    yield StoredBlob(name, datetime.fromtimestamp(mtime, UTC))


# --- S3 ------------------------------------------------------------------------------------


def s3_client(settings: Settings, *, public: bool = False, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = settings.s3_endpoint_url
    if public and settings.s3_public_endpoint_url:
        endpoint = settings.s3_public_endpoint_url
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.s3_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=3,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
            **config,
        ),
    )


@contextlib.contextmanager
def _s3_reachable() -> Iterator[None]:
    """S3 refusing connections, timing out or failing (5xx) is a 503 naming the storage, not a
    500 with a traceback; its other answers (403, 404...) pass through unchanged."""
    from boto3.exceptions import S3UploadFailedError
    from botocore import exceptions as boto

    try:
        yield
    except (boto.ConnectionError, boto.HTTPClientError, S3UploadFailedError) as exc:
        log.warning("storage unavailable: %s", exc.__class__.__name__)
        raise storage_unavailable() from exc
    except boto.ClientError as exc:
        if int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500:
            log.warning("storage unavailable: %s", exc.__class__.__name__)
            raise storage_unavailable() from exc
        raise


class S3BlobStore:
    # Large files go up in parts (parallel, resumable per part) instead of one PUT.
    MULTIPART_THRESHOLD = 16 * 1024 * 1024
    PART_SIZE = 16 * 1024 * 1024

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.client = s3_client(settings)
        self.presigner = (
            s3_client(settings, public=True) if settings.s3_public_endpoint_url else self.client
        )
        self.scratch = settings.data_dir

    def _key(self, sha256: str) -> str:
        return blob_key(sha256)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def temp_dir(self) -> Path:
        path = self.scratch / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def put(self, sha256: str, source: Path) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self.MULTIPART_THRESHOLD,
            multipart_chunksize=self.PART_SIZE,
            max_concurrency=4,
        )
        try:
            with _s3_reachable():
                self.client.upload_file(
                    str(source),
                    self.bucket,
                    self._key(sha256),
                    Config=config,
                    ExtraArgs={"ContentType": "application/octet-stream"},
                )
        finally:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        with _s3_reachable():
            try:
                head: dict[str, Any] = self.client.head_object(
                    Bucket=self.bucket, Key=self._key(sha256)
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return head

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int | None:
        head = self._head(sha256)
        return int(head["ContentLength"]) if head else None

    def open(self, sha256: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        with _s3_reachable():
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise FileNotFoundError(sha256) from None
                raise
        body: BinaryIO = response["Body"]
        return body

    def local_path(self, sha256: str) -> Path | None:
        return None

    def presigned_url(
        self, sha256: str, *, filename: str, media_type: str, disposition: str, expires: int
    ) -> str | None:
        url: str = self.presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(sha256),
                "ResponseContentDisposition": content_disposition(disposition, filename),
                "ResponseContentType": media_type,
            },
            ExpiresIn=expires,
        )
        return url

    def media_origin(self) -> str | None:
        sample = self.presigned_url(
            "0" * 64,
            filename="x",
            media_type="application/octet-stream",
            disposition="inline",
            expires=60,
        )
        parts = urlsplit(sample or "")
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None

    def delete(self, sha256: str) -> None:
        with _s3_reachable():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))

    def iter_blobs(self) -> Iterator[StoredBlob]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_reachable():
            for page in paginator.paginate(Bucket=self.bucket, Prefix="blobs/"):
                for obj in page.get("Contents", []):
                    name = str(obj["Key"]).rsplit("/", 1)[-1]
                    if len(name) == 64:
                        yield StoredBlob(name, obj["LastModified"].astimezone(UTC))

    def abort_stale_transfers(self, older_than_seconds: int) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        with _s3_reachable():
            for page in paginator.paginate(Bucket=self.bucket, Prefix="blobs/"):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted


def make_blob_store(settings: Settings) -> BlobStore:
    if settings.storage == "s3":
        return S3BlobStore(settings)
    return LocalBlobStore(settings.data_dir)
