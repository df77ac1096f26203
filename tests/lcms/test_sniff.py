"""File-type sniffing from bytes, and the content-kind mapping."""

from __future__ import annotations

import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from app.lcms.sniff import (
    ACCEPTED,
    HEAD_BYTES,
    KIND_TYPES,
    Sniffed,
    allowed_for_kind,
    sniff_file,
)

PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODP_TYPE = "application/vnd.oasis.opendocument.presentation"
ODT_TYPE = "application/vnd.oasis.opendocument.text"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def sniff(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Sniffed | None:
    return sniff_file(write(tmp_path, name, data))


# --- sample builders -------------------------------------------------------------------------


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    idat = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def gif_bytes() -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"  # 2-colour palette
        + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def riff(form: bytes, body: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + form + body


def webp_bytes() -> bytes:
    vp8l = b"\x2f\x00\x00\x00\x00"  # signature + 1x1 size bits (enough for the header)
    return riff(b"WEBP", b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l + b"\x00")


def wav_bytes() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)  # PCM mono 8 kHz 8-bit
    samples = bytes(16)
    return riff(
        b"WAVE",
        b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 16) + samples,
    )


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + struct.pack(">I", 0) + b"".join(compatible)
    box = struct.pack(">I", 8 + len(body)) + b"ftyp" + body
    mdat = struct.pack(">I", 16) + b"mdat" + bytes(8)
    return box + mdat


def ebml_element(element_id: bytes, data: bytes) -> bytes:
    assert len(data) < 0x7F
    return element_id + bytes([0x80 | len(data)]) + data


def webm_bytes(doctype: bytes = b"webm") -> bytes:
    header = b"".join(
        [
            ebml_element(b"\x42\x86", b"\x01"),  # EBMLVersion
            ebml_element(b"\x42\xf7", b"\x01"),  # EBMLReadVersion
            ebml_element(b"\x42\xf2", b"\x04"),  # EBMLMaxIDLength
            ebml_element(b"\x42\xf3", b"\x08"),  # EBMLMaxSizeLength
            ebml_element(b"\x42\x82", doctype),  # DocType
            ebml_element(b"\x42\x87", b"\x04"),  # DocTypeVersion
            ebml_element(b"\x42\x85", b"\x02"),  # DocTypeReadVersion
        ]
    )
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff"  # Segment, unknown size
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + segment


# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding, no CRC: frames are 417 bytes long.
MP3_FRAME_HEADER = b"\xff\xfb\x90\x64"
MP3_FRAME = MP3_FRAME_HEADER + bytes(417 - 4)


def id3_mp3_bytes() -> bytes:
    title = b"\x00Bai hat"  # encoding byte + text
    frame = b"TIT2" + struct.pack(">I", len(title)) + b"\x00\x00" + title
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frame + MP3_FRAME


def ogg_bytes() -> bytes:
    vorbis_id = b"\x01vorbis" + bytes(23)
    header = b"OggS\x00\x02" + struct.pack("<qIII", 0, 1, 0, 0) + b"\x01" + bytes([len(vorbis_id)])
    return header + vorbis_id


def pdf_bytes(prefix: bytes = b"") -> bytes:
    return prefix + (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def make_zip(path: Path, entries: list[tuple[str, bytes]], *, stored_first: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            compress = zipfile.ZIP_STORED if stored_first and index == 0 else None
            archive.writestr(name, data, compress_type=compress)
    return path


CONTENT_TYPES = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/"/>'


# --- images ---------------------------------------------------------------------------------


def test_png_built_with_zlib_is_png(tmp_path: Path) -> None:
    found = sniff(tmp_path, png_bytes(), "photo.jpg")
    assert found == Sniffed("image/png", "png", True)


def test_jpeg(tmp_path: Path) -> None:
    found = sniff(tmp_path, jpeg_bytes())
    assert found is not None
    assert (found.media_type, found.extension, found.inline_safe) == ("image/jpeg", "jpg", True)


def test_gif(tmp_path: Path) -> None:
    assert sniff(tmp_path, gif_bytes()) == Sniffed("image/gif", "gif", True)
    assert sniff(tmp_path, b"GIF87a" + gif_bytes()[6:]) == Sniffed("image/gif", "gif", True)


def test_webp(tmp_path: Path) -> None:
    assert sniff(tmp_path, webp_bytes()) == Sniffed("image/webp", "webp", True)


def test_riff_of_another_form_is_refused(tmp_path: Path) -> None:
    assert sniff(tmp_path, riff(b"AVI ", b"LIST" + bytes(20))) is None


SVG_WITH_PROLOGUE = (
    b"\xef\xbb\xbf"
    b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    b"<!-- Created by hand: <svg> in a comment doesn't count -->\n"
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [ <!ENTITY e "x"> ]>\n'
    b'  <svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<title>H\xe1\xbb\x8dc S\xe1\xbb\x91</title><rect width="10" height="10"/></svg>\n'
)


def test_svg_with_declaration_comment_and_doctype(tmp_path: Path) -> None:
    found = sniff(tmp_path, SVG_WITH_PROLOGUE, "drawing.svg")
    assert found == Sniffed("image/svg+xml", "svg", False)


def test_bare_svg(tmp_path: Path) -> None:
    assert sniff(tmp_path, b'<svg xmlns="http://www.w3.org/2000/svg"/>') is not None
    assert sniff(tmp_path, b"\n\t<svg>\n</svg>") is not None


def test_svg_is_never_inline_safe(tmp_path: Path) -> None:
    found = sniff(tmp_path, b"<svg><script>alert(1)</script></svg>")
    assert found is not None
    assert not found.inline_safe


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script><svg></svg></html>",
        b'<?xml version="1.0"?>\n<html><script>alert(1)</script></html>',
        b"<!DOCTYPE html><p><svg></svg></p>",
        b"<svgfoo></svgfoo>",
        b"hello <svg></svg>",
        b"<!-- unterminated comment <svg></svg>",
        b"<svg>\x00\x01</svg>",  # control characters: not text
        b"<svg>\xff\xfe</svg>",  # not UTF-8
        "<svg></svg>".encode("utf-16"),
    ],
    ids=[
        "html-script",
        "xml-html",
        "doctype-html",
        "svgfoo",
        "text-first",
        "unterminated-comment",
        "control-chars",
        "invalid-utf8",
        "utf16",
    ],
)
def test_things_that_are_not_svg_are_refused(tmp_path: Path, data: bytes) -> None:
    assert sniff(tmp_path, data, "evil.svg") is None


def test_svg_root_must_come_within_the_head(tmp_path: Path) -> None:
    padding = b"<!--" + b"x" * HEAD_BYTES + b"-->"
    assert sniff(tmp_path, padding + b"<svg></svg>") is None
    assert sniff(tmp_path, b" " * (HEAD_BYTES - 20) + b"<svg></svg>") is not None


def test_svg_cut_mid_character_at_the_head_boundary_is_still_svg(tmp_path: Path) -> None:
    # A 3-byte character straddling byte HEAD_BYTES must not count as invalid UTF-8.
    text = b"<svg><desc>" + b"a" * (HEAD_BYTES - 12) + "ọ".encode() * 10 + b"</desc></svg>"
    assert sniff(tmp_path, text) is not None


# --- video ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "brands",
    [
        (b"isom", b"isom", b"iso2", b"avc1", b"mp41"),
        (b"mp42", b"mp42", b"isom"),
        (b"M4V ", b"M4V ", b"M4A ", b"mp42", b"isom"),
        (b"dash", b"iso6", b"avc1"),
        (b"xyz1", b"isom", b"avc1"),  # unknown major brand, compatible brands decide
    ],
)
def test_mp4(tmp_path: Path, brands: tuple[bytes, ...]) -> None:
    found = sniff(tmp_path, ftyp(*brands), "film.mov")
    assert found == Sniffed("video/mp4", "mp4", True)


@pytest.mark.parametrize(
    "brands",
    [(b"M4A ", b"M4A ", b"mp42", b"isom"), (b"M4B ", b"M4B ", b"mp42"), (b"xyz1", b"M4A ")],
)
def test_m4a_brands_mean_audio(tmp_path: Path, brands: tuple[bytes, ...]) -> None:
    assert sniff(tmp_path, ftyp(*brands)) == Sniffed("audio/mp4", "m4a", True)


@pytest.mark.parametrize(
    "brands",
    [
        (b"qt  ", b"qt  "),  # QuickTime .mov
        (b"heic", b"mif1", b"heic"),  # HEIF still image
        (b"avif", b"avif", b"mif1", b"miaf"),
        (b"3gp4", b"3gp4"),
    ],
)
def test_other_iso_bmff_files_are_refused(tmp_path: Path, brands: tuple[bytes, ...]) -> None:
    assert sniff(tmp_path, ftyp(*brands)) is None


def test_broken_ftyp_box_is_refused(tmp_path: Path) -> None:
    assert sniff(tmp_path, struct.pack(">I", 8) + b"ftypisom" + bytes(8)) is None
    assert sniff(tmp_path, b"\x00\x00\x00\x18ftyp") is None


def test_webm(tmp_path: Path) -> None:
    assert sniff(tmp_path, webm_bytes()) == Sniffed("video/webm", "webm", True)


def test_matroska_that_is_not_webm_is_refused(tmp_path: Path) -> None:
    assert sniff(tmp_path, webm_bytes(b"matroska")) is None
    assert sniff(tmp_path, b"\x1a\x45\xdf\xa3\x00") is None


# --- audio ----------------------------------------------------------------------------------


def test_mp3_with_id3_tag(tmp_path: Path) -> None:
    assert sniff(tmp_path, id3_mp3_bytes()) == Sniffed("audio/mpeg", "mp3", True)


def test_mp3_bare_frame_sync(tmp_path: Path) -> None:
    assert sniff(tmp_path, MP3_FRAME * 3) == Sniffed("audio/mpeg", "mp3", True)
    assert sniff(tmp_path, MP3_FRAME[:100]) == Sniffed("audio/mpeg", "mp3", True)


@pytest.mark.parametrize(
    "header",
    [
        b"\xff\xf9\x90\x64",  # layer bits 00: reserved
        b"\xff\xeb\x90\x64",  # version bits 01: reserved
        b"\xff\xfb\xf0\x64",  # bitrate index 15
        b"\xff\xfb\x9c\x64",  # sample-rate index 3
    ],
)
def test_invalid_frame_headers_are_not_mp3(tmp_path: Path, header: bytes) -> None:
    assert sniff(tmp_path, header + bytes(500)) is None


def test_a_lone_frame_sync_followed_by_garbage_is_not_mp3(tmp_path: Path) -> None:
    assert sniff(tmp_path, MP3_FRAME + b"\x12\x34" * 300) is None


def test_ogg(tmp_path: Path) -> None:
    assert sniff(tmp_path, ogg_bytes()) == Sniffed("audio/ogg", "ogg", True)


def test_wav(tmp_path: Path) -> None:
    assert sniff(tmp_path, wav_bytes()) == Sniffed("audio/wav", "wav", True)


# --- PDF ------------------------------------------------------------------------------------


def test_pdf(tmp_path: Path) -> None:
    assert sniff(tmp_path, pdf_bytes(), "notes.docx") == Sniffed("application/pdf", "pdf", True)


def test_pdf_magic_after_some_junk_within_1_kib(tmp_path: Path) -> None:
    assert sniff(tmp_path, pdf_bytes(b"\r\n" * 100)) == Sniffed("application/pdf", "pdf", True)
    assert sniff(tmp_path, pdf_bytes(b" " * 2000)) is None


# --- zip-based formats ----------------------------------------------------------------------


def test_pptx(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "deck.pdf",
        [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", b"<Relationships/>"),
            ("ppt/presentation.xml", b"<p:presentation/>"),
            ("ppt/slides/slide1.xml", b"<p:sld/>"),
        ],
    )
    assert sniff_file(path) == Sniffed(PPTX_TYPE, "pptx", False)


def test_docx(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "doc.zip",
        [("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", b"<w:document/>")],
    )
    assert sniff_file(path) == Sniffed(DOCX_TYPE, "docx", False)


def test_ooxml_parts_without_content_types_is_a_plain_zip(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.pptx", [("ppt/presentation.xml", b"<p:presentation/>")])
    assert sniff_file(path) == Sniffed("application/zip", "zip", False)


@pytest.mark.parametrize(
    ("mimetype", "expected"),
    [
        (ODP_TYPE, Sniffed(ODP_TYPE, "odp", False)),
        (ODT_TYPE, Sniffed(ODT_TYPE, "odt", False)),
        ("application/epub+zip", Sniffed("application/epub+zip", "epub", False)),
    ],
)
def test_mimetype_first_formats(tmp_path: Path, mimetype: str, expected: Sniffed) -> None:
    path = make_zip(
        tmp_path / "file.zip",
        [
            ("mimetype", mimetype.encode()),
            ("META-INF/manifest.xml", b"<manifest/>"),
            ("content.xml", b"<office:document-content/>"),
        ],
        stored_first=True,
    )
    assert sniff_file(path) == expected


def test_mimetype_entry_that_is_not_first_does_not_count(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "book.epub",
        [("content.opf", b"<package/>"), ("mimetype", b"application/epub+zip")],
    )
    assert sniff_file(path) == Sniffed("application/zip", "zip", False)


def test_unknown_mimetype_is_a_plain_zip(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "sheet.ods",
        [("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")],
        stored_first=True,
    )
    assert sniff_file(path) == Sniffed("application/zip", "zip", False)


def test_plain_zip(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "package.zip",
        [("imsmanifest.xml", b"<manifest/>"), ("index.html", b"<html></html>")],
    )
    assert sniff_file(path) == Sniffed("application/zip", "zip", False)


def test_empty_zip(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "empty.zip", [])
    assert sniff_file(path) == Sniffed("application/zip", "zip", False)


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    whole = make_zip(tmp_path / "whole.zip", [("a.txt", b"hello " * 1000)]).read_bytes()
    assert sniff(tmp_path, whole[: len(whole) // 2], "cut.zip") is None


def test_zip_with_corrupt_central_directory_is_refused(tmp_path: Path) -> None:
    whole = make_zip(tmp_path / "whole.zip", [("a.txt", b"hello")]).read_bytes()
    directory = whole.rfind(b"PK\x01\x02")
    broken = whole[:directory] + b"XX\x01\x02" + whole[directory + 4 :]
    assert sniff(tmp_path, broken, "broken.zip") is None


def test_corrupt_mimetype_entry_is_refused(tmp_path: Path) -> None:
    whole = make_zip(
        tmp_path / "book.epub", [("mimetype", b"application/epub+zip")], stored_first=True
    ).read_bytes()
    broken = whole.replace(b"application/epub+zip", b"application/epub+zap", 1)  # CRC mismatch
    assert sniff(tmp_path, broken, "broken.epub") is None


def test_zip_appended_to_an_executable_is_refused(tmp_path: Path) -> None:
    # A self-extracting archive: zipfile would open it, but the file is an executable.
    archive = make_zip(tmp_path / "inner.zip", [("a.txt", b"hello")]).read_bytes()
    assert sniff(tmp_path, b"MZ" + bytes(200) + archive, "setup.zip") is None


# --- refused --------------------------------------------------------------------------------


def test_windows_executable_renamed_mp4_is_refused(tmp_path: Path) -> None:
    pe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(46) + b"PE\x00\x00"
    assert sniff(tmp_path, pe + bytes(512), "lesson.mp4") is None


def test_elf_is_refused(tmp_path: Path) -> None:
    assert sniff(tmp_path, b"\x7fELF\x02\x01\x01" + bytes(100), "image.png") is None


def test_empty_file_is_refused(tmp_path: Path) -> None:
    assert sniff(tmp_path, b"", "empty.pdf") is None


def test_html_and_plain_text_are_refused(tmp_path: Path) -> None:
    assert sniff(tmp_path, b"<!DOCTYPE html><html><body>hi</body></html>", "a.svg") is None
    assert sniff(tmp_path, "Bài giảng toán lớp 5\n".encode(), "a.txt") is None


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    rng = random.Random(20240901)
    for attempt in range(50):
        data = bytes(rng.randrange(256) for _ in range(2048))
        if data[0] == 0xFF:  # keep clear of a chance MPEG frame sync
            data = b"\x00" + data[1:]
        assert sniff(tmp_path, data, f"noise{attempt}.bin") is None


def test_only_the_head_of_a_large_file_is_read(tmp_path: Path) -> None:
    # Magic checks look at the head; what follows it does not matter.
    path = tmp_path / "big.mp4"
    with path.open("wb") as f:
        f.write(ftyp(b"isom", b"isom", b"avc1"))
        f.seek(50 * 1024 * 1024)
        f.write(b"\x00")
    assert sniff_file(path) == Sniffed("video/mp4", "mp4", True)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sniff_file(tmp_path / "nope")


# --- kinds ----------------------------------------------------------------------------------


def test_kind_table_is_exactly_as_specified() -> None:
    assert {kind: {ACCEPTED[t].extension for t in types} for kind, types in KIND_TYPES.items()} == {
        "image": {"png", "jpg", "webp", "gif", "svg"},
        "video": {"mp4", "webm"},
        "audio": {"mp3", "m4a", "ogg", "wav"},
        "slides": {"pptx", "odp", "pdf"},
        "document": {"pdf", "docx", "odt"},
        "handbook": {"pdf", "epub", "docx", "odt"},
        "package": {"zip", "epub"},
        "link": set(),
    }


def test_every_accepted_type_fits_some_kind() -> None:
    allowed = set().union(*KIND_TYPES.values())
    assert allowed == set(ACCEPTED)


def test_inline_safety() -> None:
    unsafe = {t.extension for t in ACCEPTED.values() if not t.inline_safe}
    assert unsafe == {"svg", "pptx", "docx", "odp", "odt", "epub", "zip"}


def test_pdf_fits_slides_document_and_handbook_but_not_video() -> None:
    for kind in ("slides", "document", "handbook"):
        assert allowed_for_kind(kind, "application/pdf")
    for kind in ("video", "audio", "image", "package", "link"):
        assert not allowed_for_kind(kind, "application/pdf")


def test_svg_fits_image_only() -> None:
    assert [kind for kind in KIND_TYPES if allowed_for_kind(kind, "image/svg+xml")] == ["image"]


def test_executables_and_unknown_types_never_fit() -> None:
    for kind in KIND_TYPES:
        for media_type in (
            "application/x-msdownload",
            "application/x-executable",
            "text/html",
            "application/octet-stream",
            "",
        ):
            assert not allowed_for_kind(kind, media_type)


def test_link_allows_nothing_and_unknown_kinds_allow_nothing() -> None:
    for media_type in ACCEPTED:
        assert not allowed_for_kind("link", media_type)
        assert not allowed_for_kind("quiz", media_type)


def test_video_and_audio() -> None:
    assert allowed_for_kind("video", "video/mp4")
    assert allowed_for_kind("video", "video/webm")
    assert not allowed_for_kind("video", "audio/mp4")
    assert allowed_for_kind("audio", "audio/mp4")
    assert allowed_for_kind("package", "application/epub+zip")
    assert not allowed_for_kind("package", DOCX_TYPE)
