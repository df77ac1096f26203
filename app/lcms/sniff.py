"""What an uploaded file really is, judged from its bytes alone.

The filename and the client's Content-Type are never trusted. ``sniff_file`` reads a few KiB
from the head of the file for the magic-number checks (uploads may be gigabytes); only zip-based
formats go further, and then only through the zip central directory (plus the tiny ``mimetype``
entry of OpenDocument and EPUB files). Anything that is not one of the accepted types, including
executables, HTML and plain text, is refused (``None``).

``allowed_for_kind`` then says whether a sniffed media type fits a content item's kind.
"""

from __future__ import annotations

import codecs
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACCEPTED",
    "HEAD_BYTES",
    "KIND_TYPES",
    "Sniffed",
    "allowed_for_kind",
    "sniff_file",
]

# How much of the file the magic checks look at (the SVG root must appear within it).
HEAD_BYTES = 4096
# "%PDF-" may be preceded by junk, but only within this many bytes (as browsers allow).
PDF_WINDOW = 1024


@dataclass(frozen=True)
class Sniffed:
    """A recognised file type."""

    media_type: str  # e.g. "video/mp4"
    extension: str  # canonical extension without dot, e.g. "mp4"
    inline_safe: bool  # may be shown inline on the app's origin (never for scriptable types)


PNG = Sniffed("image/png", "png", True)
JPEG = Sniffed("image/jpeg", "jpg", True)
WEBP = Sniffed("image/webp", "webp", True)
GIF = Sniffed("image/gif", "gif", True)
SVG = Sniffed("image/svg+xml", "svg", False)
MP4 = Sniffed("video/mp4", "mp4", True)
WEBM = Sniffed("video/webm", "webm", True)
MP3 = Sniffed("audio/mpeg", "mp3", True)
M4A = Sniffed("audio/mp4", "m4a", True)
OGG = Sniffed("audio/ogg", "ogg", True)
WAV = Sniffed("audio/wav", "wav", True)
PDF = Sniffed("application/pdf", "pdf", True)
PPTX = Sniffed(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx", False
)
DOCX = Sniffed(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", False
)
ODP = Sniffed("application/vnd.oasis.opendocument.presentation", "odp", False)
ODT = Sniffed("application/vnd.oasis.opendocument.text", "odt", False)
EPUB = Sniffed("application/epub+zip", "epub", False)
ZIP = Sniffed("application/zip", "zip", False)

# Every accepted type, by media type.
ACCEPTED: dict[str, Sniffed] = {
    t.media_type: t
    for t in (
        PNG,
        JPEG,
        WEBP,
        GIF,
        SVG,
        MP4,
        WEBM,
        MP3,
        M4A,
        OGG,
        WAV,
        PDF,
        PPTX,
        DOCX,
        ODP,
        ODT,
        EPUB,
        ZIP,
    )
}

# Content kind -> the media types a file of that kind may have.
KIND_TYPES: dict[str, frozenset[str]] = {
    "image": frozenset(
        {PNG.media_type, JPEG.media_type, WEBP.media_type, GIF.media_type, SVG.media_type}
    ),
    "video": frozenset({MP4.media_type, WEBM.media_type}),
    "audio": frozenset({MP3.media_type, M4A.media_type, OGG.media_type, WAV.media_type}),
    "slides": frozenset({PPTX.media_type, ODP.media_type, PDF.media_type}),
    "document": frozenset({PDF.media_type, DOCX.media_type, ODT.media_type}),
    "handbook": frozenset({PDF.media_type, EPUB.media_type, DOCX.media_type, ODT.media_type}),
    "package": frozenset({ZIP.media_type, EPUB.media_type}),
    "link": frozenset(),
}


def allowed_for_kind(kind: str, media_type: str) -> bool:
    """Whether a file of ``media_type`` may be the file of a content item of ``kind``."""
    return media_type in KIND_TYPES.get(kind, frozenset())


def sniff_file(path: Path) -> Sniffed | None:
    """The type of the file at path, or None when it is not one of the accepted types.

    Raises OSError when the file cannot be opened or read.
    """
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        at_eof = not f.read(1)
    if not head:
        return None
    if _is_zip_head(head):
        return _sniff_zip(path)
    return _sniff_head(head, complete=at_eof)


def _sniff_head(head: bytes, *, complete: bool) -> Sniffed | None:
    """The non-zip type of a file whose first bytes are ``head``; ``complete`` says ``head`` is
    the whole file (so a UTF-8 character cut at its end is an error, not truncation)."""
    for check in _MAGIC_CHECKS:
        found = check(head)
        if found is not None:
            return found
    if PDF_MAGIC in head[:PDF_WINDOW]:
        return PDF
    if _is_mpeg_audio(head):
        return MP3
    if _is_svg(head, complete=complete):
        return SVG
    return None


# --- fixed magic numbers --------------------------------------------------------------------

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def _png(head: bytes) -> Sniffed | None:
    return PNG if head.startswith(PNG_MAGIC) and head[12:16] == b"IHDR" else None


def _jpeg(head: bytes) -> Sniffed | None:
    return JPEG if head.startswith(b"\xff\xd8\xff") else None


def _gif(head: bytes) -> Sniffed | None:
    return GIF if head[:6] in (b"GIF87a", b"GIF89a") else None


def _riff(head: bytes) -> Sniffed | None:
    if head[:4] != b"RIFF" or len(head) < 12:
        return None
    form = head[8:12]
    if form == b"WAVE":
        return WAV
    if form == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return WEBP
    return None


def _ogg(head: bytes) -> Sniffed | None:
    # "OggS" then stream structure version 0.
    return OGG if head[:5] == b"OggS\x00" else None


def _webm(head: bytes) -> Sniffed | None:
    if not head.startswith(EBML_MAGIC):
        return None
    return WEBM if _ebml_doctype(head) == b"webm" else None


def _iso_bmff(head: bytes) -> Sniffed | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    (size,) = struct.unpack(">I", head[:4])
    if size == 1 and len(head) >= 16:  # 64-bit "largesize" follows the type
        (size,) = struct.unpack(">Q", head[8:16])
        body = head[16:size]
    else:
        body = head[8:size]
    if size < 16 or len(body) < 8:
        return None
    major = body[:4]
    compatible = {body[i : i + 4] for i in range(8, len(body) - 3, 4)}
    if major in _AUDIO_BRANDS:
        return M4A
    if major in _VIDEO_BRANDS:
        return MP4
    # An unfamiliar major brand: trust the compatible brands, unless the file is a still image
    # (HEIF/AVIF) or QuickTime.
    if major in _OTHER_BRANDS or compatible & _OTHER_BRANDS:
        return None
    if compatible & _AUDIO_BRANDS:
        return M4A
    if compatible & _VIDEO_BRANDS:
        return MP4
    return None


def _id3(head: bytes) -> Sniffed | None:
    # ID3v2: "ID3", major version 2-4, revision, flags, then a 4-byte "syncsafe" size.
    if len(head) < 10 or head[:3] != b"ID3":
        return None
    if head[3] not in (2, 3, 4) or head[4] == 0xFF:
        return None
    if any(b & 0x80 for b in head[6:10]):
        return None
    return MP3


_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})
_VIDEO_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"dash",
        b"M4V ",
        b"M4VH",
        b"M4VP",
        b"mmp4",
        b"MSNV",
        b"f4v ",
    }
)
_OTHER_BRANDS = frozenset(
    {b"qt  ", b"mif1", b"msf1", b"heic", b"heix", b"hevc", b"hevx", b"avif", b"avis", b"crx "}
)

_MAGIC_CHECKS = (_png, _jpeg, _gif, _riff, _ogg, _webm, _iso_bmff, _id3)


# --- EBML (WebM) ----------------------------------------------------------------------------


def _ebml_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at pos: (value, position after it), or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first == 0:
        return None
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, pos + length


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType of the EBML header at the start of head, if it can be read."""
    size = _ebml_vint(head, len(EBML_MAGIC), keep_marker=False)
    if size is None:
        return None
    header_size, pos = size
    end = min(len(head), pos + header_size)
    while pos < end:
        element = _ebml_vint(head, pos, keep_marker=True)
        if element is None:
            return None
        element_id, pos = element
        length = _ebml_vint(head, pos, keep_marker=False)
        if length is None:
            return None
        data_size, pos = length
        if pos + data_size > end:
            return None
        if element_id == 0x4282:  # DocType
            return head[pos : pos + data_size].rstrip(b"\x00")
        pos += data_size
    return None


# --- MPEG audio frames (MP3 without an ID3 tag) ---------------------------------------------

# kbit/s by [version is MPEG-1][layer 1..3][bitrate index]; index 0 ("free") and 15 are refused.
_BITRATES: dict[tuple[bool, int], tuple[int, ...]] = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Hz by version bits (0 = MPEG-2.5, 2 = MPEG-2, 3 = MPEG-1) and sample-rate index.
_SAMPLE_RATES: dict[int, tuple[int, int, int]] = {
    0: (11025, 12000, 8000),
    2: (22050, 24000, 16000),
    3: (44100, 48000, 32000),
}


def _mpeg_frame_length(head: bytes, pos: int) -> int | None:
    """The length of the MPEG audio frame whose header is at pos, or None if it isn't one."""
    if pos + 4 > len(head):
        return None
    b0, b1, b2, b3 = head[pos : pos + 4]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:  # 11-bit frame sync
        return None
    version_bits = (b1 >> 3) & 0b11
    layer = 4 - ((b1 >> 1) & 0b11)  # bits 11/10/01 -> layer 1/2/3; 00 (-> 4) is reserved
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 0b11
    padding = (b2 >> 1) & 1
    if version_bits == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    if b3 & 0b11 == 0b10:  # reserved emphasis
        return None
    mpeg1 = version_bits == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version_bits][rate_index]
    if layer == 1:
        return (12 * bitrate // sample_rate + padding) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // sample_rate + padding
    return 144 * bitrate // sample_rate + padding


def _is_mpeg_audio(head: bytes) -> bool:
    """A valid MPEG audio frame header at the start; when the next frame's header falls within
    head, it must be valid too (one stray 0xFFE bit pattern is too weak a signal)."""
    length = _mpeg_frame_length(head, 0)
    if length is None:
        return False
    if length + 4 <= len(head):
        return _mpeg_frame_length(head, length) is not None
    return True


# --- SVG --------------------------------------------------------------------------------------

_UTF8_BOM = "\ufeff"
_SVG_ROOT = re.compile(r"<svg[\s/>]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_svg(head: bytes, *, complete: bool) -> bool:
    """UTF-8 text whose root element is <svg>, reached within head through only an optional
    BOM, whitespace, an XML declaration, processing instructions, comments and a DOCTYPE."""
    try:
        text = codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    if _CONTROL_CHARS.search(text):
        return False
    text = text.removeprefix(_UTF8_BOM)
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end < 0:
                return False
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return False
            pos = end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            end = _doctype_end(text, pos + 9)
            if end < 0:
                return False
            pos = end
        else:
            return _SVG_ROOT.match(text, pos) is not None


def _doctype_end(text: str, pos: int) -> int:
    """The position after a DOCTYPE declaration whose keyword ends at pos, or -1."""
    close = text.find(">", pos)
    bracket = text.find("[", pos)
    if 0 <= bracket < close:  # an internal subset: [ ... ] then >
        end_subset = text.find("]", bracket + 1)
        if end_subset < 0:
            return -1
        close = text.find(">", end_subset + 1)
    return close + 1 if close >= 0 else -1


# --- zip-based formats ----------------------------------------------------------------------

_OOXML_TYPES = "[Content_Types].xml"
_MIMETYPE_TYPES: dict[bytes, Sniffed] = {
    ODP.media_type.encode(): ODP,
    ODT.media_type.encode(): ODT,
    EPUB.media_type.encode(): EPUB,
}
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,  # encrypted member
    NotImplementedError,  # unsupported compression
    zlib.error,
)


def _is_zip_head(head: bytes) -> bool:
    # A local file header, or the end-of-central-directory record of an empty archive.
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _sniff_zip(path: Path) -> Sniffed | None:
    """The zip-based type of the archive at path, judged from its central directory (and the
    small ``mimetype`` entry, if any); None for a corrupt archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if entries and entries[0].filename == "mimetype" and entries[0].file_size <= 256:
                found = _MIMETYPE_TYPES.get(archive.read(entries[0]).strip())
                if found is not None:
                    return found
            names = {entry.filename for entry in entries}
            if _OOXML_TYPES in names:
                if any(name.startswith("ppt/") for name in names):
                    return PPTX
                if any(name.startswith("word/") for name in names):
                    return DOCX
            return ZIP
    except _ZIP_ERRORS:
        return None
