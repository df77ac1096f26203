"""Library search: accent- and case-insensitive Vietnamese, filters, ranking, pagination."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.config import Settings
from app.core.text import fold
from app.lcms import service
from app.lcms.models import ContentItem
from tests.factories import make_org, make_user


@pytest.fixture
def library(db: Session, settings: Settings) -> tuple[User, User, dict[str, ContentItem]]:
    school = make_org(db)
    author = make_user(db, settings, role="author", organization=school)
    teacher = make_user(db, settings, role="teacher", organization=school)
    specs = {
        "cds": ("Chuyển đổi số trong nhà trường", "link", ["CĐS", "NQ57"], ["primary"]),
        "stem": ("Giáo dục STEM cho học sinh", "link", ["STEM"], ["lower_secondary"]),
        "dao": ("Đạo đức số và an toàn mạng", "link", ["CĐS"], ["primary", "preschool"]),
        "cds_desc": ("Sổ tay giáo viên", "link", ["NQ57"], []),
        "draft": ("Chuyển đổi số bản nháp", "link", ["CĐS"], []),
    }
    items: dict[str, ContentItem] = {}
    for key, (title, kind, topics, levels) in specs.items():
        description = "Hướng dẫn chuyển đổi số cho thầy cô" if key == "cds_desc" else ""
        item = service.create_item(
            db,
            author,
            title=title,
            kind=kind,
            topics=topics,
            levels=levels,
            description=description,
            url="https://truong.edu.vn/tai-lieu",
            tags=["Tân Cương"],
        )
        if key != "draft":
            service.publish(db, author, item.id, version=0)
        items[key] = item
    return author, teacher, items


def titles(page: service.ItemPage) -> list[str]:
    return [i.title for i in page.items]


def test_fold() -> None:
    assert fold("  CHUYỂN   ĐỔI SỐ ") == "chuyen doi so"
    assert fold("Đạo đức") == "dao duc"
    assert fold("Nghị quyết 57-NQ/TW") == "nghi quyet 57-nq/tw"


@pytest.mark.parametrize(
    "query", ["chuyen doi so", "CHUYỂN ĐỔI SỐ", "Chuyển đổi số", "chuyển doi SO", "so doi chuyen"]
)
def test_accents_and_case_do_not_matter(
    db: Session, library: tuple[User, User, dict[str, ContentItem]], query: str
) -> None:
    _author, teacher, _items = library
    found = titles(service.list_items(db, teacher, q=query, library=True))
    assert set(found) == {"Chuyển đổi số trong nhà trường", "Sổ tay giáo viên"}


def test_d_matches_đ_and_title_matches_rank_first(
    db: Session, library: tuple[User, User, dict[str, ContentItem]]
) -> None:
    _author, teacher, _items = library
    assert titles(service.list_items(db, teacher, q="dao duc", library=True)) == [
        "Đạo đức số và an toàn mạng"
    ]
    ranked = titles(service.list_items(db, teacher, q="chuyen doi so", library=True))
    # The title match outranks the description match, whatever the dates.
    assert ranked == ["Chuyển đổi số trong nhà trường", "Sổ tay giáo viên"]


def test_learners_never_find_drafts_but_authors_do(
    db: Session, library: tuple[User, User, dict[str, ContentItem]]
) -> None:
    author, teacher, _items = library
    assert "Chuyển đổi số bản nháp" not in titles(service.list_items(db, teacher, q="nhap"))
    assert titles(service.list_items(db, author, q="nhap")) == ["Chuyển đổi số bản nháp"]
    assert titles(service.list_items(db, author, q="nhap", library=True)) == []


def test_filters_and_pagination(
    db: Session, library: tuple[User, User, dict[str, ContentItem]]
) -> None:
    _author, teacher, _items = library
    assert set(titles(service.list_items(db, teacher, topic="cđs", library=True))) == {
        "Chuyển đổi số trong nhà trường",
        "Đạo đức số và an toàn mạng",
    }
    assert titles(service.list_items(db, teacher, level="lower_secondary", library=True)) == [
        "Giáo dục STEM cho học sinh"
    ]
    assert service.list_items(db, teacher, tag="tân cương", library=True).total == 4
    assert service.list_items(db, teacher, kind="video", library=True).total == 0
    first = service.list_items(db, teacher, library=True, limit=3, offset=0)
    rest = service.list_items(db, teacher, library=True, limit=3, offset=3)
    assert first.total == rest.total == 4
    assert len(first.items) == 3
    assert len(rest.items) == 1
    assert not {i.id for i in first.items} & {i.id for i in rest.items}


def test_like_wildcards_are_literal(
    db: Session, library: tuple[User, User, dict[str, ContentItem]]
) -> None:
    _author, teacher, _items = library
    assert service.list_items(db, teacher, q="%", library=True).total == 0
    assert service.list_items(db, teacher, q="_", library=True).total == 0
    assert service.list_items(db, teacher, q="' OR 1=1 --", library=True).total == 0
