"""Pages of the content library: the digital library (everyone) and the studio (authors)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import __version__
from app.accounts.models import User
from app.core.config import Settings
from app.core.storage import new_temp_file
from app.lcms import service
from app.lcms.models import ContentItem, ContentVersion
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples

Login = Callable[[str, str], TestClient]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_1PX = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def store_version(
    client: TestClient,
    db: Session,
    user: User,
    item_id: int,
    data: bytes = PDF,
    *,
    filename: str = "Bài 1.pdf",
    media_type: str = "application/pdf",
    note: str | None = None,
) -> ContentVersion:
    """A version whose bytes are stored directly (no HTTP upload)."""
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    fh, path = new_temp_file(store)
    with fh:
        fh.write(data)
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, path)
    return service.add_version(
        db,
        user,
        item_id,
        sha256=sha,
        size=len(data),
        media_type=media_type,
        filename=filename,
        note=note,
    )


def make_item(db: Session, author: User, title: str = "Bài giảng", **kwargs: object) -> ContentItem:
    kwargs.setdefault("kind", "document")
    return service.create_item(db, author, title=title, **kwargs)  # type: ignore[arg-type]


def sign_in_as(page_login: Login, client: TestClient, user: User) -> TestClient:
    client.cookies.clear()
    return page_login(user.email, PASSWORD)


def token_of(client: TestClient, page: str) -> str:
    return csrf_from(client.get(page).text)


def people(db: Session, settings: Settings) -> tuple[User, User]:
    school = make_org(db)
    author = make_user(db, settings, role="author", organization=school, full_name="Tác Giả")
    teacher = make_user(db, settings, role="teacher", organization=school, full_name="Giáo Viên")
    return author, teacher


# --- The library --------------------------------------------------------------------------


def test_teacher_finds_a_published_item_typed_without_accents(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    item = make_item(
        db,
        author,
        "Chuyển đổi số trong trường học",
        description="Dòng một\nDòng hai",
        levels=["primary"],
        topics=["CĐS"],
    )
    store_version(client, db, author, item.id)
    service.publish(db, author, item.id, version=1)
    draft = make_item(db, author, "Chuyển đổi số: bản nháp")
    c = sign_in_as(page_login, client, teacher)

    home = c.get("/")
    assert 'href="/library"' in home.text
    assert 'href="/studio"' not in home.text

    found = c.get("/library", params={"q": "chuyen doi so"})
    assert found.status_code == 200
    assert f'href="/library/{item.id}"' in found.text
    assert "Chuyển đổi số trong trường học" in found.text
    assert "Tiểu học" in found.text  # the level label
    assert "CĐS" in found.text
    assert f'href="/library/{draft.id}"' not in found.text

    by_level = c.get("/library", params={"level": "lower_secondary"})
    assert f'href="/library/{item.id}"' not in by_level.text
    assert "Không có học liệu nào phù hợp." in by_level.text
    by_topic = c.get("/library", params={"topic": "cđs", "kind": "document"})
    assert f'href="/library/{item.id}"' in by_topic.text
    # Unknown filter values are ignored rather than failing.
    assert c.get("/library", params={"kind": "nope", "level": "x"}).status_code == 200


def test_an_empty_library_says_so(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    _author, teacher = people(db, settings)
    c = sign_in_as(page_login, client, teacher)
    page = c.get("/library")
    assert page.status_code == 200
    # Other tests' items are rolled back: either the empty state or a list, never an error.
    assert "Thư viện chưa có học liệu nào." in page.text or 'class="cards"' in page.text


def test_library_needs_sign_in(client: TestClient) -> None:
    response = client.get("/library", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Flibrary")


def test_teacher_gets_404_for_a_draft_item_and_its_file(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    item = make_item(db, author, "Bản nháp bí mật")
    store_version(client, db, author, item.id)
    c = sign_in_as(page_login, client, teacher)
    assert c.get(f"/library/{item.id}").status_code == 404
    assert c.get(f"/library/{item.id}/versions/1/file").status_code == 404
    assert "Bản nháp bí mật" not in c.get("/library").text


def test_teacher_gets_only_the_published_version_file(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    item = make_item(db, author)
    store_version(client, db, author, item.id)
    store_version(client, db, author, item.id, PDF + b"% v2\n", filename="Bài 2.pdf")
    service.publish(db, author, item.id, version=1)
    c = sign_in_as(page_login, client, teacher)
    assert samples.fetch(c, f"/library/{item.id}/versions/1/file").status_code == 200
    assert c.get(f"/library/{item.id}/versions/2/file").status_code == 404


def test_item_page_shows_the_preview_file_size_and_download_link(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    item = make_item(db, author, "Sổ tay <script>", description="Dòng một\nDòng hai")
    store_version(client, db, author, item.id)
    service.publish(db, author, item.id, version=1)
    c = sign_in_as(page_login, client, teacher)
    page = c.get(f"/library/{item.id}")
    assert page.status_code == 200
    html = page.text
    assert "Sổ tay &lt;script&gt;" in html
    assert "<script>" not in html
    assert 'class="description"' in html
    assert "Dòng một\nDòng hai" in html
    url = f"/library/{item.id}/versions/1/file"
    assert f'<iframe class="pdf-frame" src="{url}"' in html
    assert "Mở tệp PDF" in html
    size = f"{len(PDF)} byte"
    assert size in html
    # Name and size come before the download link.
    assert html.index("Bài 1.pdf") < html.index(f'href="{url}?download=1"')
    assert html.index(size) < html.index(f'href="{url}?download=1"')
    assert "/studio/items/" not in html  # no studio link for a teacher
    assert f"HọcSố {__version__} ·" in html  # the page frame's own "version" is intact

    inline = samples.fetch(c, url)
    assert inline.status_code == 200
    assert inline.headers["content-type"] == "application/pdf"
    assert inline.headers["content-disposition"].startswith("inline")
    if c.app.state.settings.storage == "local":  # type: ignore[attr-defined]  # (S3 is another origin)
        assert inline.headers["x-frame-options"] == "SAMEORIGIN"
    assert inline.content == PDF
    download = samples.fetch(c, url + "?download=1")
    assert download.headers["content-disposition"].startswith("attachment")


def test_item_page_previews_by_media_type_and_sizes_in_kb(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    image = make_item(db, author, "Infographic", kind="image")
    store_version(client, db, author, image.id, PNG_1PX, filename="anh.png", media_type="image/png")
    service.publish(db, author, image.id, version=1)
    big = make_item(db, author, "Gói lớn", kind="package")
    data = b"PK\x05\x06" + b"\x00" * (1536 - 4)
    store_version(
        client, db, author, big.id, data, filename="goi.zip", media_type="application/zip"
    )
    service.publish(db, author, big.id, version=1)
    link = make_item(db, author, "Cổng Bộ", kind="link", url="https://moet.gov.vn/")
    service.publish(db, author, link.id, version=0)
    c = sign_in_as(page_login, client, teacher)

    img = c.get(f"/library/{image.id}").text
    assert re.search(
        r'<img class="media" src="[^"]+/file" alt="Infographic" loading="lazy"[^>]*'
        r'width="1" height="1">',
        img,
    )
    pkg = c.get(f"/library/{big.id}").text
    assert "1,5 KB" in pkg  # Vietnamese decimal comma
    assert "<iframe" not in pkg
    assert "<img" not in pkg
    assert f'href="/library/{big.id}/versions/1/file?download=1"' in pkg
    english = c.get(f"/library/{big.id}", params={"lang": "en"}).text
    assert "1.5 KB" in english
    ext = c.get(f"/library/{link.id}").text
    assert 'href="https://moet.gov.vn/" rel="noopener noreferrer"' in ext


def test_authors_see_drafts_in_the_library_with_a_studio_link(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author, "Chưa xuất bản")
    c = sign_in_as(page_login, client, author)
    page = c.get(f"/library/{item.id}")
    assert page.status_code == 200
    assert "Chưa được xuất bản." in page.text
    assert f'href="/studio/items/{item.id}"' in page.text


# --- The studio ---------------------------------------------------------------------------


def test_studio_is_403_for_a_teacher(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    item = make_item(db, author)
    c = sign_in_as(page_login, client, teacher)
    for path in ("/studio", f"/studio/items/{item.id}"):
        response = c.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
    token = token_of(c, "/library")
    created = c.post(
        "/studio/items",
        data={"title": "X", "kind": "document", "csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 403


def test_author_creates_an_item_through_the_form_and_sees_it_in_the_studio(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    c = sign_in_as(page_login, client, author)
    studio = c.get("/studio")
    assert studio.status_code == 200
    assert 'href="/studio"' in studio.text  # the nav link for authors
    response = c.post(
        "/studio/items",
        data={
            "title": "Video STEM lớp 5",
            "kind": "video",
            "description": "Mô tả",
            "tags": "thí nghiệm, , STEM",
            "levels": ["primary", "lower_secondary"],
            "topics": "STEM, KH-CN",
            "url": "https://ignored.example/",
            "csrf_token": csrf_from(studio.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/studio/items/(\d+)", response.headers["location"])
    assert match
    item = service.get_item(db, int(match.group(1)))
    assert (item.title, item.kind, item.status, item.url) == (
        "Video STEM lớp 5",
        "video",
        "draft",
        None,
    )
    assert sorted(item.values("level")) == ["lower_secondary", "primary"]  # type: ignore[arg-type]
    assert item.values("topic") == ["STEM", "KH-CN"]  # type: ignore[arg-type]
    assert item.values("tag") == ["thí nghiệm", "STEM"]  # type: ignore[arg-type]

    page = c.get(response.headers["location"])
    assert page.status_code == 200
    assert "Video STEM lớp 5" in page.text  # the flash and the heading
    assert 'accept=".mp4,.webm"' in page.text
    assert re.search(r'<script src="/static/js/studio\.\w{10}\.js" defer></script>', page.text)
    mine = c.get("/studio")
    assert f'href="/studio/items/{item.id}"' in mine.text
    assert "Bản nháp" in mine.text


def test_studio_lists_own_items_by_default_and_all_items_on_request(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    other = make_user(db, settings, role="author")
    mine = make_item(db, author, "Của tôi")
    theirs = make_item(db, other, "Của người khác")
    store_version(client, db, other, theirs.id)
    store_version(client, db, other, theirs.id)
    service.publish(db, other, theirs.id, version=1)
    c = sign_in_as(page_login, client, author)
    own = c.get("/studio").text
    assert f'href="/studio/items/{mine.id}"' in own
    assert f'href="/studio/items/{theirs.id}"' not in own
    everything = c.get("/studio", params={"all": "1"}).text
    assert f'href="/studio/items/{theirs.id}"' in everything
    assert "bản 1" in everything  # published
    assert "bản 2" in everything  # latest
    # Someone else's item: visible, but read-only.
    page = c.get(f"/studio/items/{theirs.id}").text
    assert 'id="upload-form"' not in page
    assert "Chỉ chủ sở hữu" in page


def test_invalid_new_item_form_is_rerendered_with_422(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    c = sign_in_as(page_login, client, author)
    response = c.post(
        "/studio/items",
        data={
            "title": "  ",
            "kind": "document",
            "description": "Mô tả được giữ lại",
            "levels": ["preschool"],
            "csrf_token": token_of(c, "/studio"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert "Mô tả được giữ lại" in response.text
    assert re.search(r'value="preschool" checked', response.text)
    bad_link = c.post(
        "/studio/items",
        data={
            "title": "Liên kết",
            "kind": "link",
            "url": "javascript:alert(1)",
            "csrf_token": token_of(c, "/studio"),
        },
        follow_redirects=False,
    )
    assert bad_link.status_code == 422
    assert db.query(ContentItem).filter_by(owner_id=author.id).count() == 0


def test_author_edits_the_details(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author, levels=["primary"])
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{item.id}"
    saved = c.post(
        page,
        data={
            "title": "Tên mới",
            "description": "",
            "topics": "ĐMST",
            "tags": "",
            "csrf_token": token_of(c, page),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    db.refresh(item)
    assert item.title == "Tên mới"
    assert item.values("level") == []  # type: ignore[arg-type]
    assert item.values("topic") == ["ĐMST"]  # type: ignore[arg-type]
    bad = c.post(page, data={"title": "", "csrf_token": token_of(c, page)}, follow_redirects=False)
    assert bad.status_code == 422
    db.refresh(item)
    assert item.title == "Tên mới"


# --- Uploads ------------------------------------------------------------------------------


def test_upload_with_the_header_token_creates_version_1_as_json(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author)
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{item.id}"
    token = token_of(c, page)
    response = c.post(
        f"{page}/versions",
        files={"file": ("Bài giảng.pdf", PDF, "application/pdf")},
        data={"note": "Bản đầu"},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"number": 1, "url": page}
    versions = service.list_versions(db, author, item.id)
    assert [(v.number, v.filename, v.note) for v in versions] == [(1, "Bài giảng.pdf", "Bản đầu")]
    shown = c.get(page).text
    assert "Đã tải lên phiên bản 1." in shown  # the flash set with the JSON answer
    assert "Bài giảng.pdf" in shown
    assert f'src="/library/{item.id}/versions/1/file"' in shown  # preview of the newest


def test_upload_without_the_csrf_token_is_403_and_creates_nothing(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author)
    c = sign_in_as(page_login, client, author)
    url = f"/studio/items/{item.id}/versions"
    files = {"file": ("Bài giảng.pdf", PDF, "application/pdf")}
    missing = c.post(url, files=files, headers={"Accept": "application/json"})
    assert missing.status_code == 403
    assert missing.json()["error"] == "csrf_failed"
    wrong = c.post(url, files=files, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert "text/html" in wrong.headers["content-type"]
    assert service.list_versions(db, author, item.id) == []


def test_upload_errors_answer_json_for_the_script(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author, kind="video")
    c = sign_in_as(page_login, client, author)
    token = token_of(c, f"/studio/items/{item.id}")
    response = c.post(
        f"/studio/items/{item.id}/versions",
        files={"file": ("Bài giảng.pdf", PDF, "application/pdf")},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert response.status_code == 415
    body = response.json()
    assert body["error"] == "unsupported_media_type"
    assert "mp4" in body["detail"]
    assert service.list_versions(db, author, item.id) == []


def test_upload_without_javascript_redirects_or_rerenders(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author)
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{item.id}"
    html = c.get(page).text
    action = re.search(r'action="(/studio/items/\d+/versions\?csrf_token=[0-9a-f]+)"', html)
    assert action, "the upload form carries its token in the action URL"
    assert 'data-csrf="' in html
    assert 'id="upload-progress"' in html
    assert 'id="upload-status"' in html
    assert 'id="upload-retry"' in html
    ok = c.post(
        action.group(1),
        files={"file": ("Bài giảng.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == page
    refused = c.post(
        action.group(1),
        files={"file": ("trống.pdf", b"", "application/pdf")},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert 'id="upload-error"' in refused.text
    assert [v.number for v in service.list_versions(db, author, item.id)] == [1]


# --- Publishing ---------------------------------------------------------------------------


def test_publishing_through_the_page_puts_the_item_in_the_library(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    item = make_item(db, author, "Tài liệu xuất bản qua trang")
    store_version(client, db, author, item.id)
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{item.id}"
    published = c.post(
        f"{page}/publish",
        data={"version": "1", "csrf_token": token_of(c, page)},
        follow_redirects=False,
    )
    assert published.status_code == 303
    assert published.headers["location"] == page
    assert "Đã xuất bản phiên bản 1." in c.get(page).text
    c = sign_in_as(page_login, client, teacher)
    listing = c.get("/library", params={"q": "tai lieu xuat ban"})
    assert f'href="/library/{item.id}"' in listing.text
    assert c.get(f"/library/{item.id}").status_code == 200


def test_rollback_through_the_page_is_logged(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author)
    store_version(client, db, author, item.id)
    store_version(client, db, author, item.id, PDF + b"% v2\n", filename="Bài 2.pdf")
    service.publish(db, author, item.id, version=2)
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{item.id}"
    html = c.get(page).text
    assert "Quay lại phiên bản này" in html
    rolled = c.post(
        f"{page}/publish",
        data={"version": "1", "csrf_token": csrf_from(html)},
        follow_redirects=False,
    )
    assert rolled.status_code == 303
    events = service.history(db, author, item.id)
    assert (events[0].action, events[0].from_version, events[0].to_version) == ("rollback", 2, 1)
    after = c.get(page).text
    assert "Đã quay lại phiên bản 1." in after
    assert "Đã quay lại phiên bản cũ" in after  # the log row


def test_publish_errors_flash_and_redirect_back(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, _teacher = people(db, settings)
    item = make_item(db, author)
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{item.id}"
    missing = c.post(
        f"{page}/publish",
        data={"version": "7", "csrf_token": token_of(c, page)},
        follow_redirects=False,
    )
    assert missing.status_code == 303
    shown = c.get(page).text
    assert "flash-error" in shown
    assert service.history(db, author, item.id) == []


def test_archive_restore_and_links_through_the_page(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    author, teacher = people(db, settings)
    link = make_item(db, author, "Liên kết hay", kind="link", url="https://example.edu.vn/bai")
    c = sign_in_as(page_login, client, author)
    page = f"/studio/items/{link.id}"
    html = c.get(page).text
    assert 'id="upload-form"' not in html
    assert 'name="version" value="0"' in html
    assert (
        c.post(
            f"{page}/publish",
            data={"version": "0", "csrf_token": csrf_from(html)},
            follow_redirects=False,
        ).status_code
        == 303
    )
    assert (
        c.post(
            f"{page}/archive", data={"csrf_token": token_of(c, page)}, follow_redirects=False
        ).status_code
        == 303
    )
    db.refresh(link)
    assert link.status == "archived"
    c = sign_in_as(page_login, client, teacher)
    assert c.get(f"/library/{link.id}").status_code == 404
    c = sign_in_as(page_login, client, author)
    assert (
        c.post(
            f"{page}/restore", data={"csrf_token": token_of(c, page)}, follow_redirects=False
        ).status_code
        == 303
    )
    db.refresh(link)
    assert link.status == "published"
    actions = [e.action for e in service.history(db, author, link.id)]
    assert actions == ["restore", "archive", "publish"]
    forged = c.post(f"{page}/archive", data={"csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 403
