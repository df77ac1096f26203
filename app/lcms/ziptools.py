"""Inspection of uploaded zip archives (packages, zip contest entries, and the zip containers of
office and EPUB files) before they are accepted: zip-slip and zip-bomb checks.

Nothing is extracted or decompressed. ``check_upload`` reads the end-of-central-directory record
(the entry count and the directory's size, refused at once when too large, so a crafted archive
cannot make anyone parse millions of entries) and then walks the central directory one record
at a time, keeping no more than one record in memory. An archive is refused (422) when an entry:

- has a path that leaves the archive's folder: a ``..`` component, an absolute path (``/x``,
  ``\\x``, ``C:x``) or a NUL character — extracting it would write outside the target folder;
- is a symbolic link (Unix mode bits in the external attributes) — extracting it and then a
  file through it would write anywhere;

or when the archive has more than ``max_entries`` entries, would unpack to more than
``max_total_bytes``, or compresses too well: an entry above ``RATIO_FLOOR_BYTES`` (or the whole
archive) with an uncompressed/compressed ratio above ``max_ratio`` (deflate reaches ~1000:1 on
the zeros of a zip bomb; real documents and media stay far below 100:1).

The sizes checked are the ones the central directory declares; an extractor that trusts them
stops at the declared size (Python's zipfile, unzip), and a nested archive counts as one entry
of its compressed size — the app never unpacks archives itself.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.core.errors import InvalidInput
from app.core.i18n import gettext as _

__all__ = ["ZipLimits", "check_upload", "inspect_zip"]


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = 10_000
    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 100.0
    # The central directory of 10,000 entries with long names is a few MB; more is an attack.
    max_directory_bytes: int = 32 * 1024 * 1024


DEFAULT_LIMITS = ZipLimits()
# Small entries may compress very well (a blank page's XML): the ratio counts above this size.
RATIO_FLOOR_BYTES = 1024 * 1024

_LOCAL_HEAD = b"PK\x03\x04"
_EMPTY_HEAD = b"PK\x05\x06"
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIG = b"PK\x01\x02"
_ZIP64_EXTRA = 0x0001
_MAX_COMMENT = 0xFFFF
_UTF8_FLAG = 0x800
_S_IFMT = 0o170000
_S_IFLNK = 0o120000
_DRIVE = re.compile(r"^[A-Za-z]:")
_NAME_SHOWN = 80


@dataclass(frozen=True)
class _Directory:
    offset: int  # where the central directory starts in the file
    size: int
    entries: int


def check_upload(path: Path, limits: ZipLimits | None = None) -> None:
    """Inspect the uploaded file at ``path`` if it is a zip archive (by its first bytes);
    anything else passes untouched. Raises InvalidInput (422) for an unsafe archive."""
    with path.open("rb") as f:
        head = f.read(4)
    if head in (_LOCAL_HEAD, _EMPTY_HEAD):
        inspect_zip(path, limits or DEFAULT_LIMITS)


def inspect_zip(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Raise InvalidInput when the archive at ``path`` is unsafe to extract (see the module
    docstring). A file whose directory cannot be read is left to the type check (415)."""
    archive_size = path.stat().st_size
    with path.open("rb") as f:
        directory = _find_directory(f, archive_size)
        if directory is None:
            return
        if directory.entries > limits.max_entries:
            raise _too_many(limits)
        if directory.size > limits.max_directory_bytes:
            raise _too_many(limits)
        f.seek(directory.offset)
        count = total = 0
        remaining = directory.size
        while remaining > 0:
            record = f.read(_CENTRAL.size)
            if len(record) < _CENTRAL.size or record[:4] != _CENTRAL_SIG:
                break
            fields = _CENTRAL.unpack(record)
            flags, compressed, size = fields[5], fields[10], fields[11]
            name_len, extra_len, comment_len = fields[12], fields[13], fields[14]
            external = fields[17]
            raw_name = f.read(name_len)
            extra = f.read(extra_len)
            f.seek(comment_len, 1)
            remaining -= _CENTRAL.size + name_len + extra_len + comment_len
            if size == 0xFFFFFFFF or compressed == 0xFFFFFFFF:
                size, compressed = _zip64_sizes(extra, size, compressed)
            name = raw_name.decode("utf-8" if flags & _UTF8_FLAG else "cp437", "replace")
            count += 1
            if count > limits.max_entries:
                raise _too_many(limits)
            _check_name(name)
            if (external >> 16) & _S_IFMT == _S_IFLNK:
                raise InvalidInput(
                    _("The archive contains a symbolic link, which is not allowed: {name}").format(
                        name=_shown(name)
                    )
                )
            total += size
            if total > limits.max_total_bytes:
                raise InvalidInput(
                    _("The archive would unpack to more than {n} MB.").format(
                        n=limits.max_total_bytes // (1024 * 1024)
                    )
                )
            if size > RATIO_FLOOR_BYTES and size > limits.max_ratio * max(compressed, 1):
                raise _bomb(name)
    if total > RATIO_FLOOR_BYTES and total > limits.max_ratio * max(archive_size, 1):
        raise _bomb("")


def _find_directory(f: BinaryIO, archive_size: int) -> _Directory | None:
    """The central directory as the end record (or its zip64 twin) describes it, found the
    way Python's zipfile finds it (which the type check then uses): the last 22 bytes when the
    archive has no comment, else the last end-record signature in the final 64 KiB."""
    if archive_size < _EOCD.size:
        return None
    f.seek(archive_size - _EOCD.size)
    record = f.read(_EOCD.size)
    eocd_pos = archive_size - _EOCD.size
    if record[:4] != _EOCD_SIG or record[-2:] != b"\x00\x00":
        tail_size = min(archive_size, _EOCD.size + _MAX_COMMENT)
        f.seek(archive_size - tail_size)
        tail = f.read(tail_size)
        at = tail.rfind(_EOCD_SIG)
        if at < 0 or len(tail) - at < _EOCD.size:
            return None
        record = tail[at : at + _EOCD.size]
        eocd_pos = archive_size - tail_size + at
    fields = _EOCD.unpack(record)
    entries, size = fields[4], fields[5]
    end = eocd_pos  # the directory ends where the end record (or the zip64 records) begin
    if eocd_pos >= _ZIP64_LOCATOR.size + _ZIP64_EOCD.size:
        f.seek(eocd_pos - _ZIP64_LOCATOR.size)
        locator = f.read(_ZIP64_LOCATOR.size)
        if locator[:4] == _ZIP64_LOCATOR_SIG:
            end = eocd_pos - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
            f.seek(end)
            z64 = f.read(_ZIP64_EOCD.size)
            if z64[:4] != _ZIP64_EOCD_SIG:
                return None
            z = _ZIP64_EOCD.unpack(z64)
            entries, size = z[7], z[8]
    # Offsets are relative to the archive's start, which data prepended to it (self-extractors)
    # shifts; like zipfile, place the directory just before the end records.
    start = end - size
    if start < 0:
        return None
    return _Directory(offset=start, size=size, entries=entries)


def _zip64_sizes(extra: bytes, size: int, compressed: int) -> tuple[int, int]:
    """The 64-bit sizes from the zip64 extra field; it holds only the fields that overflowed,
    uncompressed size first."""
    pos = 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, pos)
        data = extra[pos + 4 : pos + 4 + length]
        if kind == _ZIP64_EXTRA:
            values = [v for (v,) in struct.iter_unpack("<Q", data[: len(data) // 8 * 8])]
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            break
        pos += 4 + length
    return size, compressed


def _check_name(name: str) -> None:
    path = name.replace("\\", "/")
    if "\x00" in path or path.startswith("/") or _DRIVE.match(path) or ".." in path.split("/"):
        raise InvalidInput(
            _(
                "The archive contains a path that points outside its folder, which is not "
                "allowed: {name}"
            ).format(name=_shown(name))
        )


def _shown(name: str) -> str:
    name = "".join(c if c.isprintable() else "?" for c in name)
    return name if len(name) <= _NAME_SHOWN else name[: _NAME_SHOWN - 1] + "…"


def _too_many(limits: ZipLimits) -> InvalidInput:
    return InvalidInput(
        _("The archive has too many files: at most {n} are allowed.").format(n=limits.max_entries)
    )


def _bomb(name: str) -> InvalidInput:
    if name:
        return InvalidInput(
            _(
                "The archive is refused: {name} would unpack to far more than its compressed "
                "size (a zip bomb)."
            ).format(name=_shown(name))
        )
    return InvalidInput(
        _("The archive is refused: it would unpack to far more than its size (a zip bomb).")
    )
