"""The content API: items, streamed uploads, versions, publishing, download, permissions."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.lcms.models import Blob, ContentVersion
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user
from tests.lcms import samples

H = dict[str, str]


@pytest.fixture
def people(client: TestClient, db: Session, settings: Settings) -> dict[str, H]:
    school = make_org(db)
    return {
        role: token_for(client, make_user(db, settings, role=role, organization=school).email)
        for role in ("admin", "author", "teacher", "student", "school_manager")
    } | {
        "author2": token_for(
            client, make_user(db, settings, role="author", organization=school).email
        )
    }


def new_item(client: TestClient, h: H, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "title": "Chuyển đổi số trong trường học",
        "kind": "document",
        "description": "Tài liệu bồi dưỡng",
        "tags": ["Nghị quyết 57"],
        "levels": ["primary"],
        "topics": ["CĐS"],
    }
    body.update(extra)
    response = client.post("/api/v1/content", headers=h, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_author_uploads_publishes_and_a_student_downloads(
    client: TestClient, people: dict[str, H], db: Session
) -> None:
    item = new_item(client, people["author"])
    assert (item["status"], item["published_version"], item["latest_version"]) == (
        "draft",
        None,
        None,
    )
    data = samples.pdf()
    up = samples.upload(
        client,
        people["author"],
        item["id"],
        data,  # type: ignore[arg-type]
        filename="Bài giảng chuyển đổi số.pdf",
        note="Bản đầu tiên",
    )
    assert up.status_code == 201, up.text
    version = up.json()
    assert version["number"] == 1
    assert version["sha256"] == samples.sha(data)
    assert (version["size"], version["media_type"]) == (len(data), "application/pdf")
    assert version["filename"] == "Bài giảng chuyển đổi số.pdf"
    assert version["note"] == "Bản đầu tiên"
    url = f"/api/v1/content/{item['id']}/versions/1/file"
    # A draft is invisible to learners: the item and its file are 404.
    assert client.get(f"/api/v1/content/{item['id']}", headers=people["student"]).status_code == 404
    assert client.get(url, headers=people["student"], follow_redirects=False).status_code == 404
    published = client.post(
        f"/api/v1/content/{item['id']}/publish", headers=people["author"], json={"version": 1}
    )
    assert published.json()["status"] == "published"
    assert published.json()["published_version"] == 1
    got = samples.fetch(client, url, people["student"])
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "application/pdf"
    disposition = got.headers["content-disposition"]
    assert unquote(disposition.split("UTF-8''", 1)[1]) == "Bài giảng chuyển đổi số.pdf"


def test_range_etag_and_conditional_requests(client: TestClient, people: dict[str, H]) -> None:
    item = new_item(client, people["author"], kind="video", title="Video STEM")
    data = samples.mp4(64 * 1024)
    assert (
        samples.upload(
            client,
            people["author"],
            item["id"],
            data,  # type: ignore[arg-type]
            filename="stem.mp4",
        ).status_code
        == 201
    )
    url = f"/api/v1/content/{item['id']}/versions/1/file"
    h = people["author"]
    partial = samples.fetch(client, url, {**h, "Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == data[100:200]
    assert partial.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = samples.fetch(client, url, {**h, "Range": "bytes=-10"})
    assert tail.content == data[-10:]
    past = samples.fetch(client, url, {**h, "Range": f"bytes={len(data) + 10}-"})
    assert past.status_code == 416
    # With S3 the bucket answers Range itself; the app's own handling is checked locally.
    served_by_app = client.get(url, headers=h, follow_redirects=False).status_code != 307
    for malformed in ("bytes=abc", "bytes=50-10", "items=0-5", "bytes=-") if served_by_app else ():
        whole = samples.fetch(client, url, {**h, "Range": malformed})
        assert whole.status_code in (200, 416), malformed  # ignored (200), never a 5xx or 400
        if whole.status_code == 200:
            assert whole.content == data
    first = client.get(url, headers=h, follow_redirects=False)  # the file, or the S3 redirect
    etag = first.headers["etag"]
    assert etag.strip('"') == samples.sha(data)
    assert client.get(url, headers={**h, "If-None-Match": etag}).status_code == 304
    if served_by_app:  # an S3 bucket is another origin: its headers are its own
        assert first.headers["x-content-type-options"] == "nosniff"


def test_svg_is_never_served_inline(client: TestClient, people: dict[str, H]) -> None:
    item = new_item(client, people["author"], kind="image", title="Infographic")
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)'
        b"</script></svg>"
    )
    assert (
        samples.upload(
            client,
            people["author"],
            item["id"],
            svg,  # type: ignore[arg-type]
            filename="info.svg",
        ).status_code
        == 201
    )
    got = samples.fetch(client, f"/api/v1/content/{item['id']}/versions/1/file", people["author"])
    assert got.headers["content-type"].startswith("image/svg+xml")
    assert got.headers["content-disposition"].startswith("attachment")
    if "content-security-policy" in got.headers:  # local storage: the app serves it
        assert "sandbox" in got.headers["content-security-policy"]


def test_same_bytes_are_stored_once(client: TestClient, people: dict[str, H], db: Session) -> None:
    data = samples.pdf("Cùng một tệp")
    one = new_item(client, people["author"])
    two = new_item(client, people["author2"], title="Bản sao")
    for item, h in ((one, people["author"]), (two, people["author2"]), (one, people["author"])):
        assert samples.upload(client, h, item["id"], data).status_code == 201  # type: ignore[arg-type]
    assert (
        db.scalar(select(func.count()).select_from(Blob).where(Blob.sha256 == samples.sha(data)))
        == 1
    )
    assert (
        db.scalar(
            select(func.count(ContentVersion.id)).where(
                ContentVersion.blob_sha256 == samples.sha(data)
            )
        )
        == 3
    )
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    assert [b.sha256 for b in store.iter_blobs()].count(samples.sha(data)) == 1


def test_bad_uploads_are_refused_and_store_nothing(
    client: TestClient, people: dict[str, H], db: Session, settings: Settings
) -> None:
    item = new_item(client, people["author"], kind="video", title="Video")
    h = people["author"]
    blobs_before = db.scalar(select(func.count()).select_from(Blob))
    exe = samples.upload(client, h, item["id"], samples.EXE, filename="bai-giang.mp4")  # type: ignore[arg-type]
    assert exe.status_code == 415
    assert exe.json()["error"] == "unsupported_media_type"
    pdf_as_video = samples.upload(client, h, item["id"], samples.pdf(), filename="x.mp4")  # type: ignore[arg-type]
    assert pdf_as_video.status_code == 415
    empty = samples.upload(client, h, item["id"], b"", filename="empty.mp4")  # type: ignore[arg-type]
    assert empty.status_code == 422
    no_file = client.post(
        f"/api/v1/content/{item['id']}/versions",
        headers=h,
        data={"note": "quên tệp"},
        files={"other": ("x.txt", b"abc", "text/plain")},
    )
    assert no_file.status_code == 422
    not_multipart = client.post(
        f"/api/v1/content/{item['id']}/versions",
        headers=h,
        content=b"raw",
    )
    assert not_multipart.status_code == 422
    assert client.get(f"/api/v1/content/{item['id']}/versions", headers=h).json()["total"] == 0
    assert db.scalar(select(func.count()).select_from(Blob)) == blobs_before
    temp = client.app.state.blob_store.temp_dir()  # type: ignore[attr-defined]
    assert list(temp.glob("upload-*")) == []


def test_oversize_uploads_are_413(
    client: TestClient, people: dict[str, H], settings: Settings
) -> None:
    item = new_item(client, people["author"], kind="video", title="Video lớn")
    small = settings.model_copy(update={"max_upload_mb": 1})
    client.app.state.settings = small  # type: ignore[attr-defined]
    try:
        big = samples.mp4(2 * 1024 * 1024)
        response = samples.upload(client, people["author"], item["id"], big)  # type: ignore[arg-type]
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        # A lying (small) Content-Length does not get past the streaming check either.
        boundary = "b0undary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="v.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
            ).encode()
            + big
            + f"\r\n--{boundary}--\r\n".encode()
        )

        def chunks() -> object:
            for i in range(0, len(body), 65536):
                yield body[i : i + 65536]

        streamed = client.post(
            f"/api/v1/content/{item['id']}/versions",
            headers={
                **people["author"],
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
            content=chunks(),  # type: ignore[arg-type]
        )
        assert streamed.status_code == 413
    finally:
        client.app.state.settings = settings  # type: ignore[attr-defined]
    temp = client.app.state.blob_store.temp_dir()  # type: ignore[attr-defined]
    assert list(temp.glob("upload-*")) == []


def test_filenames_are_sanitised(client: TestClient, people: dict[str, H]) -> None:
    item = new_item(client, people["author"])
    for raw, expected in (
        ("../../etc/Bài 1.pdf", "Bài 1.pdf"),
        ("C:\\Users\\gv\\Giáo án.pdf", "Giáo án.pdf"),
        ("ten\x01\x07xau\t.pdf", "tenxau.pdf"),
        ("...", "file.pdf"),
    ):
        # Written by hand: HTTP clients would percent-encode the control characters.
        boundary = "xYz"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{raw}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
            + samples.pdf(raw)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = client.post(
            f"/api/v1/content/{item['id']}/versions",
            headers={
                **people["author"],
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
            content=body,
        )
        assert response.status_code == 201, (raw, response.text)
        assert response.json()["filename"] == expected


def test_versions_rollback_archive_restore_and_log(
    client: TestClient, people: dict[str, H]
) -> None:
    h = people["author"]
    item = new_item(client, h)
    iid = item["id"]
    for n in (1, 2):
        assert samples.upload(client, h, iid, samples.pdf(f"v{n}")).status_code == 201  # type: ignore[arg-type]
    assert (
        client.post(f"/api/v1/content/{iid}/publish", headers=h, json={"version": 2}).json()[
            "published_version"
        ]
        == 2
    )
    back = client.post(f"/api/v1/content/{iid}/publish", headers=h, json={"version": 1})
    assert back.json()["published_version"] == 1
    assert back.json()["latest_version"] == 2
    missing = client.post(f"/api/v1/content/{iid}/publish", headers=h, json={"version": 9})
    assert missing.status_code == 404
    archived = client.delete(f"/api/v1/content/{iid}", headers=h)
    assert archived.json()["status"] == "archived"
    # Archived: gone from the library and from learners, everything kept for the author.
    assert client.get(f"/api/v1/content/{iid}", headers=people["teacher"]).status_code == 404
    listing = client.get("/api/v1/content", headers=people["teacher"]).json()
    assert iid not in [i["id"] for i in listing["items"]]
    assert client.get(f"/api/v1/content/{iid}/versions", headers=h).json()["total"] == 2
    restored = client.post(f"/api/v1/content/{iid}/restore", headers=h)
    assert restored.json()["status"] == "published"
    assert restored.json()["published_version"] == 1
    log = client.get(f"/api/v1/content/{iid}/history", headers=h).json()["items"]
    assert [(e["action"], e["from_version"], e["to_version"]) for e in reversed(log)] == [
        ("publish", None, 2),
        ("rollback", 2, 1),
        ("archive", 1, None),
        ("restore", None, 1),
    ]
    assert (
        client.get(f"/api/v1/content/{iid}/history", headers=people["student"]).status_code == 404
    )


def test_learners_see_only_the_published_version(client: TestClient, people: dict[str, H]) -> None:
    h = people["author"]
    item = new_item(client, h)
    iid = item["id"]
    for n in (1, 2):
        samples.upload(client, h, iid, samples.pdf(f"bản {n}"))  # type: ignore[arg-type]
    client.post(f"/api/v1/content/{iid}/publish", headers=h, json={"version": 1})
    versions = client.get(f"/api/v1/content/{iid}/versions", headers=people["student"]).json()
    assert [v["number"] for v in versions["items"]] == [1]
    assert (
        samples.fetch(
            client, f"/api/v1/content/{iid}/versions/2/file", people["student"]
        ).status_code
        == 404
    )
    assert (
        samples.fetch(
            client, f"/api/v1/content/{iid}/versions/1/file", people["student"]
        ).status_code
        == 200
    )
    assert client.get(f"/api/v1/content/{iid}/versions/7/file", headers=h).status_code == 404
    assert client.get("/api/v1/content/999999", headers=h).status_code == 404


def test_only_owner_or_admin_changes_an_item(client: TestClient, people: dict[str, H]) -> None:
    item = new_item(client, people["author"])
    iid = item["id"]
    samples.upload(client, people["author"], iid, samples.pdf())  # type: ignore[arg-type]
    other = people["author2"]
    assert (
        client.post(
            f"/api/v1/content/{iid}/publish", headers=other, json={"version": 1}
        ).status_code
        == 403
    )
    assert samples.upload(client, other, iid, samples.pdf("x")).status_code == 403  # type: ignore[arg-type]
    assert client.delete(f"/api/v1/content/{iid}", headers=other).status_code == 403
    assert (
        client.patch(f"/api/v1/content/{iid}", headers=other, json={"title": "Chiếm"}).status_code
        == 403
    )
    for role in ("teacher", "student", "school_manager"):
        assert (
            client.post(
                "/api/v1/content", headers=people[role], json={"title": "x", "kind": "document"}
            ).status_code
            == 403
        )
    assert (
        client.post(
            f"/api/v1/content/{iid}/publish", headers=people["admin"], json={"version": 1}
        ).status_code
        == 200
    )


def test_links_hold_only_http_urls(client: TestClient, people: dict[str, H]) -> None:
    h = people["author"]
    for bad in (
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://x.vn/a",
        "http://",
        "data:text/html,hi",
        "https://exa mple.vn/",
    ):
        response = client.post(
            "/api/v1/content", headers=h, json={"title": "Liên kết", "kind": "link", "url": bad}
        )
        assert response.status_code == 422, bad
    assert (
        client.post(
            "/api/v1/content", headers=h, json={"title": "Không có URL", "kind": "link"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/content",
            headers=h,
            json={"title": "Tệp có URL", "kind": "document", "url": "https://x.vn"},
        ).status_code
        == 422
    )
    link = new_item(client, h, kind="link", url="https://moet.gov.vn/tin-tuc")
    assert link["url"] == "https://moet.gov.vn/tin-tuc"
    assert samples.upload(client, h, link["id"], samples.pdf()).status_code == 422  # type: ignore[arg-type]
    published = client.post(f"/api/v1/content/{link['id']}/publish", headers=h, json={"version": 0})
    assert published.json()["status"] == "published"


def test_item_validation(client: TestClient, people: dict[str, H]) -> None:
    h = people["author"]
    for body in (
        {"title": "", "kind": "video"},
        {"title": "x" * 301, "kind": "video"},
        {"title": "x", "kind": "hologram"},
        {"title": "x", "kind": "video", "levels": ["university"]},
        {"title": "x", "kind": "video", "tags": ["t" * 61]},
        {"title": "x", "kind": "video", "tags": [f"t{i}" for i in range(21)]},
        {"title": "x", "kind": "video", "owner_id": 1},
    ):
        assert client.post("/api/v1/content", headers=h, json=body).status_code == 422, body
