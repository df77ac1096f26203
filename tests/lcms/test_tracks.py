"""Captions, subtitles and transcripts of audio and video versions (decision 11): the API, the
checks on the bytes, who may add, delete and fetch them, the copy to the next version, and the
players of the library, the studio and the lesson page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.config import Settings
from app.core.storage import BlobStore
from app.lcms import service as lcms
from app.lcms import tracks
from app.lcms.models import Blob, ContentItem, TextTrack
from app.lms import service as lms
from tests.accounts.test_auth_api import token_for
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples
from tests.lms.helpers import build_world, published_item

H = dict[str, str]
Login = Callable[[str, str], TestClient]

CAPTIONS = (
    "WEBVTT\n\n"
    "1\n00:00:00.000 --> 00:00:02.500\nXin chào các thầy cô.\n\n"
    "NOTE người biên tập: kiểm tra lại\n\n"
    "2\n00:00:02.500 --> 00:00:05.000 line:90%\n"
    "<v Cô giáo>Hôm nay chúng ta học về <b>chuyển đổi số</b> &amp; AI.</v>\n"
).encode()
ENGLISH = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello, teachers.\n"
TRANSCRIPT = "Bài 1. Chuyển đổi số\r\n\r\nXin chào các thầy cô.\r\nHôm nay chúng ta học.\r\n"
SRT = b"1\n00:00:00,000 --> 00:00:02,500\nXin chao\n"


@dataclass
class People:
    admin: User
    author: User
    author2: User
    teacher: User
    student: User

    def h(self, client: TestClient, who: str) -> H:
        return token_for(client, getattr(self, who).email)


@pytest.fixture
def people(db: Session, settings: Settings) -> People:
    school = make_org(db)
    return People(
        *(
            make_user(db, settings, role=role, organization=school)
            for role in ("admin", "author", "author", "teacher", "student")
        )
    )


@pytest.fixture
def english(client: TestClient) -> TestClient:
    """Messages in English, so the tests read the msgids, whatever the catalogue says."""
    client.cookies.set("hocso_lang", "en")
    return client


def video_item(client: TestClient, h: H, *, title: str = "Video: Chuyển đổi số") -> int:
    made = client.post("/api/v1/content", headers=h, json={"title": title, "kind": "video"})
    assert made.status_code == 201, made.text
    item_id: int = made.json()["id"]
    up = samples.upload(client, h, item_id, samples.mp4(), filename="bai-giang.mp4")
    assert up.status_code == 201, up.text
    return item_id


def add_track(
    client: TestClient,
    h: H,
    item_id: int,
    data: bytes,
    *,
    number: int = 1,
    kind: str = "captions",
    language: str = "vi",
    label: str | None = None,
    filename: str = "phu-de.vtt",
) -> tuple[int, dict[str, object]]:
    fields = {"kind": kind, "language": language} | ({"label": label} if label else {})
    response = client.post(
        f"/api/v1/content/{item_id}/versions/{number}/tracks",
        headers=h,
        files={"file": (filename, data, "application/octet-stream")},
        data=fields,
    )
    return response.status_code, response.json()


def publish(client: TestClient, h: H, item_id: int, number: int = 1) -> None:
    response = client.post(
        f"/api/v1/content/{item_id}/publish", headers=h, json={"version": number}
    )
    assert response.status_code == 200, response.text


def track_files(db: Session, store: BlobStore, version_id: int) -> list[tuple[str, str, bytes]]:
    """(kind, language, stored bytes) of a version's tracks, read back from storage."""
    out = []
    for t in tracks.tracks_of_version(db, version_id):
        body = store.open(t.blob_sha256)
        try:
            out.append((t.kind, t.language, body.read()))
        finally:
            body.close()
    return out


# --- The API ------------------------------------------------------------------------------


def test_author_adds_captions_and_a_transcript_and_a_student_fetches_them(
    client: TestClient, people: People
) -> None:
    author = people.h(client, "author")
    item_id = video_item(client, author)
    status, captions = add_track(client, author, item_id, CAPTIONS)
    assert status == 201, captions
    assert (captions["kind"], captions["language"], captions["label"]) == (
        "captions",
        "vi",
        "Tiếng Việt",  # the language's own name when no label is given
    )
    assert (captions["size"], captions["sha256"]) == (len(CAPTIONS), samples.sha(CAPTIONS))
    assert (captions["media_type"], captions["filename"]) == ("text/vtt", "phu-de.vtt")
    status, english = add_track(client, author, item_id, ENGLISH, language="EN-us", label="Eng")
    assert status == 201, english
    assert (english["language"], english["label"]) == ("en-US", "Eng")
    status, transcript = add_track(
        client,
        author,
        item_id,
        TRANSCRIPT.encode(),
        kind="transcript",
        filename="ban-ghi-loi.txt",
    )
    assert status == 201, transcript
    assert transcript["media_type"] == "text/plain"

    listed = client.get(f"/api/v1/content/{item_id}/versions/1/tracks", headers=author).json()
    assert listed["total"] == 3
    # Captions before transcripts, Vietnamese first.
    assert [(t["kind"], t["language"]) for t in listed["items"]] == [
        ("captions", "vi"),
        ("captions", "en-US"),
        ("transcript", "vi"),
    ]

    student = people.h(client, "student")
    url = str(captions["url"])
    # A draft's tracks are as invisible as its file.
    assert client.get(url, headers=student).status_code == 404
    assert (
        client.get(f"/api/v1/content/{item_id}/versions/1/tracks", headers=student).status_code
        == 404
    )
    publish(client, author, item_id)
    got = client.get(url, headers=student, follow_redirects=False)
    # Served by the app on both storages (never a presigned redirect): <track> is same-origin.
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/vtt; charset=utf-8"
    assert got.content == CAPTIONS
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["etag"] == f'"{samples.sha(CAPTIONS)}"'
    again = client.get(url, headers={**student, "If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    text = client.get(str(transcript["url"]), headers=student, params={"download": "1"})
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    # Stored as normalised text: line feeds, no trailing blanks.
    assert (
        text.content.decode()
        == "Bài 1. Chuyển đổi số\n\nXin chào các thầy cô.\nHôm nay chúng ta học.\n"
    )
    disposition = text.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert unquote(disposition.split("UTF-8''", 1)[1]) == "ban-ghi-loi.txt"
    assert (
        client.get(f"/api/v1/content/{item_id}/versions/1/tracks", headers=student).json()["total"]
        == 3
    )


def test_a_webvtt_transcript_keeps_only_the_words(client: TestClient, people: People) -> None:
    author = people.h(client, "author")
    item_id = video_item(client, author)
    status, body = add_track(
        client, author, item_id, CAPTIONS, kind="transcript", filename="loi.vtt"
    )
    assert status == 201, body
    assert body["filename"] == "loi.txt"
    text = client.get(str(body["url"]), headers=author).text
    assert text == "Xin chào các thầy cô.\nHôm nay chúng ta học về chuyển đổi số & AI.\n"


BAD_FILES = [
    pytest.param(SRT, "captions", 415, "WebVTT", id="srt-is-not-webvtt"),
    pytest.param(b"webvtt\n\n00:00.000 --> 00:01.000\nx\n", "captions", 415, "WebVTT", id="case"),
    pytest.param(b"WEBVTTX\n\n00:00.000 --> 00:01.000\nx\n", "captions", 415, "WebVTT", id="sig"),
    pytest.param(
        "WEBVTT\n\n00:00.000 --> 00:01.000\nXin chào\n".encode("utf-16"),
        "captions",
        415,
        "not a text file",
        id="utf-16",
    ),
    pytest.param(
        "WEBVTT\n\n00:00.000 --> 00:01.000\nThây cô\n".encode("cp1258"),
        "captions",
        422,
        "UTF-8",
        id="windows-1258",
    ),
    pytest.param(
        "Thây cô giáo".encode("cp1258"), "transcript", 422, "UTF-8", id="transcript-not-utf8"
    ),
    pytest.param(samples.png(), "transcript", 415, "not a text file", id="binary"),
    pytest.param(b"", "captions", 422, "empty", id="empty"),
    pytest.param(b"WEBVTT\n\nNOTE nothing yet\n", "captions", 422, "no cues", id="no-cues"),
    pytest.param(b"  \n\n \n", "transcript", 422, "no text", id="blank-transcript"),
]


@pytest.mark.parametrize(("data", "kind", "status", "words"), BAD_FILES)
def test_files_that_are_not_webvtt_or_utf8_text_are_refused(
    english: TestClient, people: People, data: bytes, kind: str, status: int, words: str
) -> None:
    client = english
    author = people.h(client, "author")
    item_id = video_item(client, author)
    got, body = add_track(client, author, item_id, data, kind=kind)
    assert got == status, body
    assert words in str(body["detail"])
    assert (
        client.get(f"/api/v1/content/{item_id}/versions/1/tracks", headers=author).json()["total"]
        == 0
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "karaoke", "language": "vi"}, "kind of track"),
        ({"language": "vi"}, "kind of track"),
        ({"kind": "captions"}, "language"),
        ({"kind": "captions", "language": "tiếng việt"}, "not a language tag"),
        ({"kind": "captions", "language": "vi_VN!"}, "not a language tag"),
        ({"kind": "captions", "language": "vi", "label": "x" * 101}, "longer than 100"),
        ({"kind": "captions", "language": "vi", "label": "Phụ\x07đề"}, "control characters"),
    ],
)
def test_kind_language_and_label_are_checked(
    english: TestClient, people: People, fields: dict[str, str], words: str
) -> None:
    client = english
    author = people.h(client, "author")
    item_id = video_item(client, author)
    response = client.post(
        f"/api/v1/content/{item_id}/versions/1/tracks",
        headers=author,
        files={"file": ("a.vtt", CAPTIONS, "text/vtt")},
        data=fields,
    )
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


def test_a_track_larger_than_1_mb_is_413(english: TestClient, people: People) -> None:
    client = english
    author = people.h(client, "author")
    item_id = video_item(client, author)
    cue = "00:00:00.000 --> 00:00:01.000\nXin chào các thầy cô giáo.\n\n"
    big = ("WEBVTT\n\n" + cue * (tracks.MAX_TRACK_BYTES // len(cue.encode()) + 1)).encode()
    assert len(big) > tracks.MAX_TRACK_BYTES
    status, body = add_track(client, author, item_id, big)
    assert status == 413, body
    assert body["error"] == "payload_too_large"
    assert "1 MB" in str(body["detail"])
    # Just under the limit is fine.
    fits = big[: tracks.MAX_TRACK_BYTES].rsplit(b"\n\n", 1)[0] + b"\n"
    assert add_track(client, author, item_id, fits)[0] == 201


def test_only_audio_and_video_versions_have_tracks(
    english: TestClient, people: People, db: Session, settings: Settings
) -> None:
    client = english
    author = people.h(client, "author")
    made = client.post(
        "/api/v1/content", headers=author, json={"title": "Sổ tay", "kind": "document"}
    )
    item_id = made.json()["id"]
    assert samples.upload(client, author, item_id, samples.pdf()).status_code == 201
    status, body = add_track(client, author, item_id, CAPTIONS)
    assert status == 422
    assert "Only audio and video" in str(body["detail"])
    # An audio version takes them.
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    audio = published_item(
        db, store, people.author, title="Podcast", kind="audio", media_type="audio/mpeg"
    )
    assert add_track(client, author, audio.id, TRANSCRIPT.encode(), kind="transcript")[0] == 201


def test_one_track_per_kind_and_language_and_delete_frees_the_place(
    english: TestClient, people: People, db: Session
) -> None:
    client = english
    author = people.h(client, "author")
    item_id = video_item(client, author)
    status, first = add_track(client, author, item_id, CAPTIONS)
    assert status == 201
    status, again = add_track(client, author, item_id, ENGLISH)
    assert status == 409, again
    assert "delete it first" in str(again["detail"])
    # Another language, or subtitles in the same language, are other places.
    assert add_track(client, author, item_id, ENGLISH, language="en")[0] == 201
    assert add_track(client, author, item_id, ENGLISH, kind="subtitles")[0] == 201
    url = f"/api/v1/content/{item_id}/versions/1/tracks/{first['id']}"
    assert client.delete(url, headers=author).status_code == 204
    assert client.delete(url, headers=author).status_code == 404
    assert client.get(f"{url}/file", headers=author).status_code == 404
    status, _body = add_track(client, author, item_id, ENGLISH)
    assert status == 201
    # The old bytes stay stored (blobs are registered once, never deleted by a track).
    assert db.get(Blob, samples.sha(CAPTIONS)) is not None


def test_unknown_item_version_and_track_are_404(client: TestClient, people: People) -> None:
    author = people.h(client, "author")
    item_id = video_item(client, author)
    assert add_track(client, author, 999999, CAPTIONS)[0] == 404
    assert add_track(client, author, item_id, CAPTIONS, number=7)[0] == 404
    assert (
        client.get(f"/api/v1/content/{item_id}/versions/7/tracks", headers=author).status_code
        == 404
    )
    base = f"/api/v1/content/{item_id}/versions/1/tracks/999999"
    assert client.get(f"{base}/file", headers=author).status_code == 404
    assert client.delete(base, headers=author).status_code == 404
    # A track of another item's version is not found through this one.
    other = video_item(client, author, title="Video khác")
    _status, track = add_track(client, author, other, CAPTIONS)
    wrong = f"/api/v1/content/{item_id}/versions/1/tracks/{track['id']}"
    assert client.get(f"{wrong}/file", headers=author).status_code == 404
    assert client.delete(wrong, headers=author).status_code == 404


def test_only_the_owner_or_an_admin_changes_tracks(client: TestClient, people: People) -> None:
    author = people.h(client, "author")
    item_id = video_item(client, author)
    publish(client, author, item_id)
    for who in ("author2", "teacher", "student"):
        status, body = add_track(client, people.h(client, who), item_id, CAPTIONS)
        assert (status, body["error"]) == (403, "permission_denied"), who
    status, track = add_track(client, people.h(client, "admin"), item_id, CAPTIONS)
    assert status == 201
    url = f"/api/v1/content/{item_id}/versions/1/tracks/{track['id']}"
    for who in ("author2", "teacher", "student"):
        assert client.delete(url, headers=people.h(client, who)).status_code == 403, who
    # Everyone who may see the version reads its tracks.
    for who in ("author2", "teacher", "student"):
        assert client.get(f"{url}/file", headers=people.h(client, who)).status_code == 200
    assert client.delete(url, headers=author).status_code == 204


def test_learners_get_the_published_versions_tracks_only_and_nothing_once_archived(
    english: TestClient, people: People
) -> None:
    client = english
    author = people.h(client, "author")
    item_id = video_item(client, author)
    publish(client, author, item_id)
    assert samples.upload(client, author, item_id, samples.mp4(8192)).status_code == 201
    _status, v1 = add_track(client, author, item_id, CAPTIONS)
    _status, v2 = add_track(client, author, item_id, ENGLISH, number=2, language="en")
    student = people.h(client, "student")
    assert client.get(str(v1["url"]), headers=student).status_code == 200
    assert client.get(str(v2["url"]), headers=student).status_code == 404  # v2 is a draft
    assert client.get(str(v2["url"]), headers=author).status_code == 200
    assert client.delete(f"/api/v1/content/{item_id}", headers=author).status_code == 200
    assert client.get(str(v1["url"]), headers=student).status_code == 404
    status, body = add_track(client, author, item_id, ENGLISH, language="en")
    assert status == 409
    assert "archived" in str(body["detail"])


def test_a_new_version_starts_with_a_copy_of_the_previous_versions_tracks(
    client: TestClient, people: People, db: Session
) -> None:
    author = people.h(client, "author")
    item_id = video_item(client, author)
    add_track(client, author, item_id, CAPTIONS)
    add_track(client, author, item_id, TRANSCRIPT.encode(), kind="transcript")
    assert samples.upload(client, author, item_id, samples.mp4(8192)).status_code == 201
    v1, v2 = (
        client.get(f"/api/v1/content/{item_id}/versions/{n}/tracks", headers=author).json()["items"]
        for n in (1, 2)
    )
    assert [(t["kind"], t["language"], t["sha256"]) for t in v2] == [
        (t["kind"], t["language"], t["sha256"]) for t in v1
    ]
    assert {t["id"] for t in v1}.isdisjoint(t["id"] for t in v2)
    # Rows of their own: deleting v2's captions leaves v1's.
    first = v2[0]
    assert (
        client.delete(
            f"/api/v1/content/{item_id}/versions/2/tracks/{first['id']}", headers=author
        ).status_code
        == 204
    )
    assert (
        len(
            client.get(f"/api/v1/content/{item_id}/versions/1/tracks", headers=author).json()[
                "items"
            ]
        )
        == 2
    )
    got = client.get(str(v2[1]["url"]), headers=author)
    assert got.status_code == 200
    assert got.text.startswith("Bài 1.")
    # One blob per distinct content, shared by both versions.
    shas = db.scalars(select(TextTrack.blob_sha256).where(TextTrack.kind == "transcript")).all()
    assert len(set(shas)) == 1


# --- Pages --------------------------------------------------------------------------------


def sign_in(client: TestClient, page_login: Login, user: User) -> TestClient:
    client.cookies.clear()
    return page_login(user.email, PASSWORD)


def stored_track(
    db: Session, store: BlobStore, user: User, item: ContentItem, data: bytes, **fields: str
) -> TextTrack:
    """A track added through the service, its bytes stored directly (no HTTP upload)."""
    prepared = tracks.prepare_track(
        data,
        fields.pop("filename", "phu-de.vtt"),
        kind=fields.get("kind", "captions"),
        language=fields.get("language", "vi"),
        label=fields.get("label"),
    )
    sha = tracks.store_bytes(store, prepared.data)
    return tracks.add_track(db, user, item.id, 1, prepared=prepared, sha256=sha)


def test_the_library_page_plays_the_captions_and_shows_the_transcript(
    client: TestClient, page_login: Login, db: Session, people: People
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    item = published_item(db, store, people.author)
    vi = stored_track(db, store, people.author, item, CAPTIONS)
    en = stored_track(db, store, people.author, item, ENGLISH, language="en")
    text = stored_track(db, store, people.author, item, TRANSCRIPT.encode(), kind="transcript")
    c = sign_in(client, page_login, people.teacher)
    html = c.get(f"/library/{item.id}").text
    base = f"/library/{item.id}/versions/1/tracks"
    video = html[html.index("<video") : html.index("</video>")]
    assert (
        f'<track kind="captions" srclang="vi" label="Tiếng Việt" src="{base}/{vi.id}" default>'
        in video
    )
    assert f'<track kind="captions" srclang="en" label="English" src="{base}/{en.id}">' in video
    assert "transcript" not in video  # the transcript is not a <track>
    details = html[html.index('<details class="transcript">') : html.index("</details>")]
    assert html.index("</video>") < html.index('<details class="transcript">')
    assert '<div class="transcript-text" lang="vi">' in details
    assert "<p>Xin chào các thầy cô.<br>Hôm nay chúng ta học.</p>" in details
    assert f'href="{base}/{text.id}?download=1"' in details
    assert f"{text.size} bytes" in details or f"{text.size} byte" in details
    # The routes behind them.
    vtt = c.get(f"{base}/{vi.id}")
    assert (vtt.status_code, vtt.headers["content-type"]) == (200, "text/vtt; charset=utf-8")
    assert vtt.content == CAPTIONS
    assert (
        c.get(f"{base}/{text.id}?download=1")
        .headers["content-disposition"]
        .startswith("attachment")
    )
    # Someone signed out gets nothing.
    client.cookies.clear()
    assert client.get(f"{base}/{vi.id}", follow_redirects=False).status_code == 303


def test_players_without_tracks_show_nothing_extra(
    client: TestClient, page_login: Login, db: Session, people: People
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    video = published_item(db, store, people.author)
    audio = published_item(
        db, store, people.author, title="Podcast", kind="audio", media_type="audio/mpeg"
    )
    c = sign_in(client, page_login, people.teacher)
    for item in (video, audio):
        html = c.get(f"/library/{item.id}").text
        assert "<track" not in html
        assert "<details" not in html
    # Audio with captions only: the <track> inside <audio>, still no transcript box.
    stored_track(db, store, people.author, audio, CAPTIONS)
    html = c.get(f"/library/{audio.id}").text
    assert '<track kind="captions"' in html[html.index("<audio") : html.index("</audio>")]
    assert "<details" not in html


def test_an_unpublished_versions_track_is_404_to_a_teacher_on_the_library_route(
    client: TestClient, page_login: Login, db: Session, people: People
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    item = published_item(db, store, people.author, publish=False)
    track = stored_track(db, store, people.author, item, CAPTIONS)
    url = f"/library/{item.id}/versions/1/tracks/{track.id}"
    c = sign_in(client, page_login, people.teacher)
    assert c.get(url).status_code == 404
    c = sign_in(client, page_login, people.author2)
    assert c.get(url).status_code == 200


def test_the_studio_adds_lists_and_deletes_tracks(
    english: TestClient, page_login: Login, db: Session, people: People
) -> None:
    store = english.app.state.blob_store  # type: ignore[attr-defined]
    item = published_item(db, store, people.author)
    c = sign_in(english, page_login, people.author)
    c.cookies.set("hocso_lang", "en")
    page = f"/studio/items/{item.id}"
    html = c.get(page).text
    assert "No captions or transcripts yet." in html
    action = re.search(r'action="(/studio/items/\d+/tracks\?csrf_token=[^"]+)"', html)
    assert action, "the track form carries its token in the action URL"
    assert "At most 1 MB." in html
    form = {"version": "1", "kind": "captions", "language": "vi", "label": ""}
    ok = c.post(
        action.group(1),
        files={"file": ("Phụ đề.vtt", CAPTIONS, "text/vtt")},
        data=form,
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    assert ok.headers["location"] == page
    html = c.get(page).text
    (track,) = tracks.tracks_of_version(db, lcms.get_version_for(db, people.author, item.id, 1).id)
    assert track.filename == "Phụ đề.vtt"
    assert f'src="/library/{item.id}/versions/1/tracks/{track.id}" default>' in html  # preview
    assert f"{len(CAPTIONS)} bytes" in html
    refused = c.post(
        action.group(1),
        files={"file": ("phu-de.srt", SRT, "application/x-subrip")},
        data={**form, "language": "en"},
        follow_redirects=False,
    )
    assert refused.status_code == 415
    assert 'id="track-error"' in refused.text
    assert "WebVTT" in refused.text
    no_token = c.post(
        page + "/tracks",
        files={"file": ("a.vtt", ENGLISH, "text/vtt")},
        data={**form, "language": "en"},
        follow_redirects=False,
    )
    assert no_token.status_code == 403
    delete = f"/studio/items/{item.id}/versions/1/tracks/{track.id}/delete"
    assert f'action="{delete}"' in html
    gone = c.post(delete, data={"csrf_token": csrf_from(html)}, follow_redirects=False)
    assert gone.status_code == 303
    assert tracks.tracks_of_version(db, track.version_id) == []


def test_the_studio_shows_no_track_form_to_another_author(
    client: TestClient, page_login: Login, db: Session, people: People
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    item = published_item(db, store, people.author)
    track = stored_track(db, store, people.author, item, CAPTIONS)
    c = sign_in(client, page_login, people.author2)
    html = c.get(f"/studio/items/{item.id}").text
    assert 'id="tracks-title"' in html
    assert "/tracks?csrf_token=" not in html
    assert f"/tracks/{track.id}/delete" not in html
    refused = c.post(
        f"/studio/items/{item.id}/versions/1/tracks/{track.id}/delete",
        data={"csrf_token": csrf_from(html)},
        follow_redirects=False,
    )
    assert refused.status_code == 303  # back to the page with the error
    assert tracks.tracks_of_version(db, track.version_id) != []


def test_the_lesson_player_plays_the_pinned_versions_tracks_even_once_archived(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    world = build_world(db, settings, store)
    captions = stored_track(db, store, world.author, world.item, CAPTIONS)
    transcript = stored_track(
        db, store, world.author, world.item, TRANSCRIPT.encode(), kind="transcript"
    )
    lms.enroll_self(db, world.teacher, world.course.id)
    lesson = world.video.id
    c = sign_in(client, page_login, world.teacher)
    html = c.get(f"/lessons/{lesson}").text
    video = html[html.index("<video") : html.index("</video>")]
    assert (
        f'<track kind="captions" srclang="vi" label="Tiếng Việt" '
        f'src="/lessons/{lesson}/tracks/{captions.id}" default>'
    ) in video
    assert '<details class="transcript">' in html
    assert f'href="/lessons/{lesson}/tracks/{transcript.id}?download=1"' in html
    url = f"/lessons/{lesson}/tracks/{captions.id}"
    got = c.get(url)
    assert (got.status_code, got.headers["content-type"]) == (200, "text/vtt; charset=utf-8")
    assert got.content == CAPTIONS
    # The library item is archived: the enrolled learner keeps the lesson's captions.
    lcms.archive(db, world.author, world.item.id)
    assert c.get(url).status_code == 200
    assert c.get(f"/library/{world.item.id}/versions/1/tracks/{captions.id}").status_code == 404
    # A track of another version is not this lesson's.
    other = published_item(db, store, world.author, title="Video khác")
    foreign = stored_track(db, store, world.author, other, ENGLISH, language="en")
    assert c.get(f"/lessons/{lesson}/tracks/{foreign.id}").status_code == 404
    # Not enrolled: no captions either.
    outsider = sign_in(client, page_login, world.outsider)
    assert outsider.get(url, follow_redirects=False).status_code in (403, 404)


def test_a_lesson_without_tracks_shows_no_track_or_transcript(
    client: TestClient, page_login: Login, db: Session, settings: Settings
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    world = build_world(db, settings, store)
    lms.enroll_self(db, world.teacher, world.course.id)
    html = sign_in(client, page_login, world.teacher).get(f"/lessons/{world.video.id}").text
    assert "<video" in html
    assert "<track" not in html
    assert "<details" not in html


# --- The checks on their own --------------------------------------------------------------


def test_language_tags_are_normalised() -> None:
    assert tracks.clean_language(" VI ") == "vi"
    assert tracks.clean_language("en_us") == "en-US"
    assert tracks.clean_language("zh-hant-tw") == "zh-Hant-TW"
    assert tracks.clean_language("es-419") == "es-419"


def test_webvtt_signature_follows_the_specification() -> None:
    assert tracks.is_webvtt("WEBVTT")
    assert tracks.is_webvtt("WEBVTT - Phụ đề tiếng Việt\n\n")
    assert tracks.is_webvtt("WEBVTT\tx")
    assert not tracks.is_webvtt("WEBVTT-x")
    assert not tracks.is_webvtt(" WEBVTT")
