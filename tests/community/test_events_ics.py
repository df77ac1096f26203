"""iCalendar output (RFC 5545): folding without cutting UTF-8 characters, TEXT escaping, UTC
times; the event file and the personal feeds (bearer, secret address, rotation, revocation)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.community.events import ics
from app.core.db import utcnow
from tests.community.test_events_api import body, create, h, world  # noqa: F401
from tests.lms.helpers import World

VIETNAMESE = (
    "Hội thảo “Chuyển đổi số trong giáo dục”; ứng dụng AI, STEM \\ đổi mới sáng tạo — "
    "Trường Tiểu học Tân Cương, xã Tân Cương, tỉnh Thái Nguyên"
)


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def properties(data: bytes) -> dict[str, list[str]]:
    text = ics.unfold(data.decode("utf-8"))
    props: dict[str, list[str]] = {}
    for line in text.split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            props.setdefault(name, []).append(value)
    return props


def check_wire_format(data: bytes) -> None:
    """CRLF only, every physical line at most 75 octets, each one valid UTF-8 by itself."""
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    for raw in data.split(b"\r\n")[:-1]:
        assert len(raw) <= 75, raw
        raw.decode("utf-8")  # a fold never cuts a multi-byte character


@pytest.mark.parametrize("prefix", ["", "x", "xx", "xxx", "SUMMARY:", "DESCRIPTION:ab"])
def test_folding_never_splits_a_character_and_unfolds_to_the_original(prefix: str) -> None:
    line = prefix + "Đổi mới sáng tạo ở trường học " * 9 + "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
    folded = ics.fold(line)
    physical = folded.split("\r\n")
    assert len(physical) > 3
    for n, part in enumerate(physical):
        encoded = part.encode("utf-8")
        assert len(encoded) <= 75
        if n:
            assert part.startswith(" ")
        # Each physical line is whole characters: either full (75) or the next char would
        # not have fitted.
    assert ics.unfold(folded) == line
    short = "SUMMARY:Họp"
    assert ics.fold(short) == short


def test_text_escaping() -> None:
    assert ics.escape_text("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"
    assert unescape(ics.escape_text(VIETNAMESE + "\nDòng 2")) == VIETNAMESE + "\nDòng 2"


def test_a_calendar_round_trips_vietnamese_text() -> None:
    start = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    event = ics.CalendarEvent(
        uid="abc@hocso",
        title=VIETNAMESE,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        updated_at=start,
        location="Phòng họp, tầng 2; nhà A",
        description="Mang theo máy tính.\nTrực tuyến: https://meet.example.vn/x",
        url="https://hocso.example.vn/events/1",
    )
    data = ics.calendar([event], name="Lịch HọcSố", stamp=start)
    check_wire_format(data)
    props = properties(data)
    assert unescape(props["SUMMARY"][0]) == VIETNAMESE
    assert unescape(props["LOCATION"][0]) == "Phòng họp, tầng 2; nhà A"
    assert unescape(props["DESCRIPTION"][0]).endswith("\nTrực tuyến: https://meet.example.vn/x")
    assert props["DTSTART"] == ["20261201T013000Z"]
    assert props["DTEND"] == ["20261201T033000Z"]
    assert props["UID"] == ["abc@hocso"]
    assert props["DTSTAMP"] == ["20261201T013000Z"]
    assert props["BEGIN"] == ["VCALENDAR", "VEVENT"]


def test_the_event_file(client: TestClient, world: World) -> None:  # noqa: F811
    a = h(client, world.admin)
    event = create(
        client,
        a,
        body(world, title=VIETNAMESE, location="Hội trường, UBND xã", description="Dòng 1\nDòng 2"),
    )
    response = client.get(f"/api/v1/events/{event['id']}.ics", headers=a)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    check_wire_format(response.content)
    props = properties(response.content)
    assert unescape(props["SUMMARY"][0]) == VIETNAMESE
    assert unescape(props["LOCATION"][0]) == "Hội trường, UBND xã"
    assert unescape(props["DESCRIPTION"][0]).startswith("Dòng 1\nDòng 2")
    assert "https://meet.example.vn/hoi-thao" in unescape(props["DESCRIPTION"][0])
    assert props["UID"] == [f"{event['uuid']}@hocso"]
    assert props["URL"] == [f"http://testserver/events/{event['id']}"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", props["DTSTART"][0])
    starts = datetime.fromisoformat(event["starts_at"]).astimezone(UTC)
    assert props["DTSTART"] == [starts.strftime("%Y%m%dT%H%M%SZ")]
    hidden = client.get(f"/api/v1/events/{event['id']}.ics", headers=h(client, world.outsider))
    assert hidden.status_code == 404
    assert client.get(f"/api/v1/events/{event['id']}.ics").status_code == 401


def test_personal_feeds(client: TestClient, db: Session, world: World) -> None:  # noqa: F811
    a = h(client, world.admin)
    t = h(client, world.teacher)
    mine = create(client, a, body(world, title="Tập huấn của tôi"))
    create(client, a, body(world, title="Không đăng ký"))
    client.post(f"/api/v1/events/{mine['id']}/register", headers=t)
    feed = client.get("/api/v1/me/calendar.ics", headers=t)
    assert feed.status_code == 200
    summaries = properties(feed.content).get("SUMMARY", [])
    assert summaries == ["Tập huấn của tôi"]
    assert client.get("/api/v1/me/calendar.ics").status_code == 401

    assert client.get("/api/v1/me/calendar-feed", headers=t).json()["url"] is None
    url = client.post("/api/v1/me/calendar-feed", headers=t).json()["url"]
    assert url.startswith("http://testserver/api/v1/calendar/")
    assert url.endswith(".ics")
    assert client.get("/api/v1/me/calendar-feed", headers=t).json()["url"] == url
    path = url.removeprefix("http://testserver")
    secret = client.get(path)  # no bearer header: the address is the credential
    assert secret.status_code == 200
    assert properties(secret.content)["SUMMARY"] == ["Tập huấn của tôi"]

    rotated = client.post("/api/v1/me/calendar-feed", headers=t).json()["url"]
    assert rotated != url
    assert client.get(path).status_code == 404
    assert client.get(rotated.removeprefix("http://testserver")).status_code == 200
    assert client.delete("/api/v1/me/calendar-feed", headers=t).status_code == 204
    assert client.get(rotated.removeprefix("http://testserver")).status_code == 404
    assert client.get("/api/v1/calendar/guessed-token.ics").status_code == 404


def test_past_events_leave_the_feed_after_ninety_days(
    client: TestClient,
    db: Session,
    world: World,  # noqa: F811
) -> None:
    a = h(client, world.admin)
    now = utcnow()
    old = create(
        client,
        a,
        body(
            world,
            title="Cũ",
            starts_at=(now - timedelta(days=100)).isoformat(),
            ends_at=(now - timedelta(days=100) + timedelta(hours=1)).isoformat(),
        ),
    )
    create(client, a, body(world, title="Mới"))
    feed = client.get("/api/v1/me/calendar.ics", headers=a)  # the organiser's own events
    assert properties(feed.content)["SUMMARY"] == ["Mới"]
    assert old["id"]
