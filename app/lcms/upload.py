"""Streaming upload: parse a multipart body as it arrives and write the file part straight to a
temp file in storage's temp directory while hashing it.

The body is never held whole in memory (at most one 1 MiB buffer) and is written to disk
once; the caller then moves the temp file into the blob store (a rename on local disk).
Size limits are enforced while streaming. On any error the temp file is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.i18n import gettext as _
from app.core.storage import BlobStore, new_temp_file

FLUSH_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 16 * 1024
MULTIPART_OVERHEAD = 64 * 1024


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


class _Sink:
    """The file part: buffered writes and hashing off the event loop."""

    def __init__(self, store: BlobStore, filename: str) -> None:
        self.fh, self.path = new_temp_file(store)
        self.filename = filename
        self.hasher = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()

    def _write(self, data: bytes) -> None:
        self.fh.write(data)
        self.hasher.update(data)

    async def flush(self) -> None:
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            await anyio.to_thread.run_sync(self._write, data)

    async def finish(self) -> ReceivedFile:
        await self.flush()

        def _close() -> None:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()

        await anyio.to_thread.run_sync(_close)
        return ReceivedFile(self.path, self.filename, self.size, self.hasher.hexdigest())

    def abort(self) -> None:
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
    fields into memory. Raises InvalidInput (422) or PayloadTooLarge (413)."""
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise InvalidInput(_("Send the file as multipart/form-data in the field 'file'."))
    if content_length is not None and content_length > max_bytes + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(_too_large(max_bytes))

    received = Received()
    sink: _Sink | None = None
    state: dict[str, Any] = {
        "name": None,
        "filename": None,
        "value": bytearray(),
        "headers": {},
        "field": b"",
        "error": None,
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
        chunk = data[start:end]
        if sink is not None and state["name"] == file_field:
            sink.size += len(chunk)
            if sink.size > max_bytes:
                state["error"] = PayloadTooLarge(_too_large(max_bytes))
                return
            sink.buffer += chunk
        else:
            state["value"] += chunk
            if len(state["value"]) > MAX_FIELD_BYTES:
                state["error"] = InvalidInput(_("A form field is too long."))

    def on_part_end() -> None:
        if not (sink is not None and state["name"] == file_field) and state["name"]:
            received.fields[state["name"]] = bytes(state["value"]).decode("utf-8", "replace")
        state["headers"] = {}

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
        max_header_count=16,
        max_header_size=8192,
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
            if state["error"] is not None:
                raise state["error"]
            if sink is not None and len(sink.buffer) >= FLUSH_BYTES:
                await sink.flush()
            if sink is not None and state["name"] != file_field and received.file is None:
                received.file = await sink.finish()
        parser.finalize()
        if state["error"] is not None:
            raise state["error"]
        if sink is not None and received.file is None:
            received.file = await sink.finish()
    except MultipartParseError:
        _abort(sink, received)
        raise InvalidInput(_("The upload is not valid multipart/form-data.")) from None
    except BaseException:
        _abort(sink, received)
        raise
    if received.file is None:
        raise InvalidInput(_("No file was sent: choose a file in the field 'file'."))
    return received


def _abort(sink: _Sink | None, received: Received) -> None:
    if sink is not None:
        sink.abort()
    received.discard()


def _too_large(max_bytes: int) -> str:
    return _("The file is larger than the limit of {n} MB.").format(n=max_bytes // (1024 * 1024))
