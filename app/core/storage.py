"""Where content files live: local disk under HOCSO_DATA_DIR, or an S3-compatible bucket.

The content library (issue #3) builds the BlobStore on this; for now it answers the health
check for either backend.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from app.core.config import Settings


def s3_client(settings: Settings, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=3,
            read_timeout=10,
            retries={"max_attempts": 1},
            **config,
        ),
    )


def check_storage(settings: Settings) -> None:
    """Raise when the configured storage cannot be written (local) or reached (S3)."""
    if settings.storage == "s3":
        s3_client(settings).head_bucket(Bucket=settings.s3_bucket)
        return
    root = settings.data_dir / "blobs"
    root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".health-", dir=root)
    try:
        os.write(fd, b"ok")
    finally:
        os.close(fd)
        os.unlink(name)


def temp_dir(settings: Settings) -> Path:
    path = settings.data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def collect_garbage(settings: Settings, *, older_than_seconds: int = 3600) -> int:
    """Delete temporary upload files older than ``older_than_seconds``; return the count."""
    import time

    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in temp_dir(settings).iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
