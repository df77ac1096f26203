"""Streaming upload: parse a multipart body as it arrives and write the file part straight to a
temp file in storage's temp directory while hashing it.

The body is never held whole in memory (at most one 1 MiB buffer) and is written to disk
once; the caller then moves the temp file into the blob store (a rename on local disk).
Size limits are enforced while streaming. On any error the temp file is removed. Before the
body is read, the storage must answer (S3 down: 503) and the temp disk must have room for the
declared length (507), so nobody sends 500 MB to learn that; a disk that fills up while the
body streams is a 507 too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import logging
import os
import queue
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.errors import BadRequest, InvalidInput, PayloadTooLarge, is_disk_full
from app.core.i18n import gettext as _
from app.core.storage import BlobStore, disk_full, new_temp_file, storage_unavailable

log = logging.getLogger("hocso")

FLUSH_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024
# The upload forms send the file and a note: more parts than this is a flood.
MAX_PARTS = 16
# Left free by an upload (checked against Content-Length before reading): the database and its
# journal often share the disk, and must still be able to commit.
DISK_RESERVE_BYTES = 16 * 1024 * 1024


@dataclass
class ReceivedFile:
    path: Path
    filename: str
    size: int
    sha256: str


@dataclass
class Received:
    file: ReceivedFile | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        if self.file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.file.path.unlink()


WRITEBACK_BYTES = 32 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return function


_sync_file_range = _load_sync_file_range()


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Linux sync_file_range(SYNC_FILE_RANGE_WRITE): start writeback, do not wait."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


class _Sink:
    """The file part. A worker thread writes and hashes while the event loop keeps receiving
    and parsing (hashlib and file writes release the GIL), so the two overlap on two cores.
    At most ``QUEUE_BATCHES`` batches of about ``FLUSH_BYTES`` are in flight: memory stays
    bounded whatever the file size."""

    QUEUE_BATCHES = 4

    def __init__(self, store: BlobStore, filename: str) -> None:
        self.fh, self.path = new_temp_file(store)
        self.filename = filename
        self.hasher = hashlib.sha256()
        self.size = 0
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=self.QUEUE_BATCHES)
        self.failed: BaseException | None = None
        self.aborted = threading.Event()
        self.worker = threading.Thread(target=self._work, name="upload-sink", daemon=True)
        self.worker.start()

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.pending.append(chunk)
        self.pending_size += len(chunk)

    def _work(self) -> None:
        written = synced = 0
        while not self.aborted.is_set():
            try:
                batch = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if batch is None:
                return
            try:
                for chunk in batch:
                    self.fh.write(chunk)
                    self.hasher.update(chunk)
                    written += len(chunk)
                if written - synced >= WRITEBACK_BYTES:
                    # Start writing the finished part to disk now, so the final fsync has
                    # little left to wait for (the disk works while the body still arrives).
                    self.fh.flush()
                    _start_writeback(self.fh.fileno(), synced, written - synced)
                    synced = written
            except BaseException as exc:  # disk full, I/O error: reported by finish()
                self.failed = exc
                self.aborted.set()

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending, self.pending_size = self.pending, [], 0
        await self._put(batch)

    async def _put(self, item: list[bytes] | None) -> None:
        if self.failed is not None:
            raise self.failed
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            await anyio.to_thread.run_sync(self.queue.put, item)

    async def finish(self) -> ReceivedFile:
        await self.flush()
        await self._put(None)
        await anyio.to_thread.run_sync(self.worker.join)
        if self.failed is not None:
            raise self.failed

        def _close() -> None:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()

        await anyio.to_thread.run_sync(_close)
        return ReceivedFile(self.path, self.filename, self.size, self.hasher.hexdigest())

    def abort(self) -> None:
        self.aborted.set()
        self.worker.join(timeout=5)
        with contextlib.suppress(Exception):
            self.fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def receive_multipart(
    stream: AsyncIterator[bytes],
    content_type: str,
    *,
    store: BlobStore,
    max_bytes: int,
    content_length: int | None = None,
    file_field: str = "file",
) -> Received:
    """Read a multipart/form-data body: the ``file_field`` part to a temp file, small text
    fields into memory. Raises InvalidInput (422), BadRequest (400: a body cut off before
    its end, too many parts) or PayloadTooLarge (413)."""
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise InvalidInput(_("Send the file as multipart/form-data in the field 'file'."))
    if content_length is not None and content_length > max_bytes + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(_too_large(max_bytes))
    await anyio.to_thread.run_sync(_preflight, store, content_length)

    received = Received()
    sink: _Sink | None = None
    state: dict[str, Any] = {
        "name": None,
        "filename": None,
        "value": bytearray(),
        "headers": {},
        "field": b"",
        "error": None,
        "parts": 0,
        "ended": False,
    }

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        key = state["field"].lower()
        state["headers"][key] = state["headers"].get(key, b"") + data[start:end]

    def on_header_end() -> None:
        state["field"] = b""

    def on_headers_finished() -> None:
        nonlocal sink
        state["parts"] += 1
        if state["parts"] > MAX_PARTS:
            state["error"] = state["error"] or BadRequest(_("The upload has too many form fields."))
        if state["error"] is not None:
            return  # the rest of the chunk is skipped: nothing more is kept
        disposition = state["headers"].get(b"content-disposition", b"")
        _kind, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        state["name"] = name
        state["value"] = bytearray()
        if name == file_field and filename is not None:
            if sink is not None or received.file is not None:
                state["error"] = InvalidInput(_("Send exactly one file."))
                return
            sink = _Sink(store, filename.decode("utf-8", "replace"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["error"] is not None:
            return
        chunk = data[start:end]
        if sink is not None and state["name"] == file_field:
            if sink.size + len(chunk) > max_bytes:
                state["error"] = PayloadTooLarge(_too_large(max_bytes))
                return
            sink.add(chunk)
        else:
            state["value"] += chunk
            if len(state["value"]) > MAX_FIELD_BYTES:
                state["error"] = InvalidInput(_("A form field is too long."))

    def on_part_end() -> None:
        if state["error"] is not None:
            return
        if not (sink is not None and state["name"] == file_field) and state["name"]:
            received.fields[state["name"]] = bytes(state["value"]).decode("utf-8", "replace")
        state["headers"] = {}

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        },
        max_header_count=16,
        max_header_size=8192,
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
            if state["error"] is not None:
                raise state["error"]
            if sink is not None and sink.pending_size >= FLUSH_BYTES:
                await sink.flush()
            if sink is not None and state["name"] != file_field and received.file is None:
                received.file = await sink.finish()
        parser.finalize()
        if state["error"] is not None:
            raise state["error"]
        if not state["ended"]:
            # The body stopped before the closing boundary (a lying Content-Length, a cut
            # connection): what arrived is not the whole file.
            raise BadRequest(_("The upload was interrupted. Please try again."))
        if sink is not None and received.file is None:
            received.file = await sink.finish()
    except MultipartParseError:
        _abort(sink, received)
        raise InvalidInput(_("The upload is not valid multipart/form-data.")) from None
    except BaseException as exc:
        _abort(sink, received)
        if is_disk_full(exc):
            raise disk_full() from exc
        raise
    if received.file is None:
        raise InvalidInput(_("No file was sent: choose a file in the field 'file'."))
    return received


def _preflight(store: BlobStore, content_length: int | None) -> None:
    """Storage reachable and writable (else 503, or 507 for a full disk), and room on the temp
    disk for the declared length (507)."""
    try:
        store.check()
        free = shutil.disk_usage(store.temp_dir()).free
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full() from exc
        log.warning("storage unavailable: %s", exc.__class__.__name__)
        raise storage_unavailable() from exc
    if content_length is not None and free < content_length + DISK_RESERVE_BYTES:
        raise disk_full()


def _abort(sink: _Sink | None, received: Received) -> None:
    if sink is not None:
        sink.abort()
    received.discard()


def _too_large(max_bytes: int) -> str:
    return _("The file is larger than the limit of {n} MB.").format(n=max_bytes // (1024 * 1024))
