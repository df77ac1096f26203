"""Demo content for the digital library (idempotent): a small handbook PDF, an infographic
and a link, published by the demo author. Files are generated, so nothing binary is committed."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.storage import BlobStore, new_temp_file
from app.lcms import service
from app.lcms.models import ContentItem


def simple_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF showing ``lines`` (ASCII) in Helvetica."""
    text = (
        "BT /F1 16 Tf 56 780 Td 22 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length "
        + str(len(text)).encode()
        + b" >>\nstream\n"
        + text.encode()
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def simple_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _store(store: BlobStore, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    fh, path = new_temp_file(store)
    with fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    store.put(sha, path)
    return sha


DEMO_ITEMS: tuple[tuple[str, str, str, str, list[str], list[str]], ...] = (
    (
        "Sổ tay Chuyển đổi số trong nhà trường",
        "handbook",
        "application/pdf",
        "So-tay-chuyen-doi-so.pdf",
        ["CĐS", "NQ57"],
        ["preschool", "primary", "lower_secondary"],
    ),
    (
        "Infographic: Nghị quyết 57 trong 5 điểm",
        "image",
        "image/png",
        "Infographic-NQ57.png",
        ["NQ57", "KH-CN"],
        ["primary", "lower_secondary"],
    ),
    ("Cổng thông tin Bộ Giáo dục và Đào tạo", "link", "", "", ["CĐS"], []),
)


def load_demo(session: Session, store: BlobStore, author: User) -> int:
    created = 0
    for title, kind, media_type, filename, topics, levels in DEMO_ITEMS:
        if session.scalar(select(ContentItem.id).where(ContentItem.title == title)):
            continue
        item = service.create_item(
            session,
            author,
            title=title,
            kind=kind,
            topics=topics,
            levels=levels,
            description="Tài liệu mẫu của HọcSố cho kế hoạch 2026–2030 của xã Tân Cương.",
            tags=["Tân Cương"],
            url="https://moet.gov.vn" if kind == "link" else None,
        )
        if kind == "link":
            service.publish(session, author, item.id, version=0)
        else:
            data = (
                simple_pdf(["So tay Chuyen doi so", "Nghi quyet 57-NQ/TW", "Xa Tan Cuong"])
                if media_type == "application/pdf"
                else simple_png(960, 600, (0, 94, 184))
            )
            sha = _store(store, data)
            service.add_version(
                session,
                author,
                item.id,
                sha256=sha,
                size=len(data),
                media_type=media_type,
                filename=filename,
                note="Bản mẫu",
            )
            service.publish(session, author, item.id, version=1)
        created += 1
    return created
