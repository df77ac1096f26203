"""Image sizes for ``<img width height>``: read from the stored header, shown on the library
item page, never an error for a file that is not an image."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.lcms.images import image_size
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.lcms import samples
from tests.lms.helpers import build_world, published_item, store_bytes


def test_the_size_comes_from_the_image_header(client: TestClient) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    assert image_size(store, store_bytes(store, samples.png(37, 21))) == (37, 21)
    assert image_size(store, store_bytes(store, samples.pdf())) is None
    assert image_size(store, "0" * 64) is None  # no such blob: no size, no error


def test_the_library_page_gives_the_image_its_size_and_loads_it_lazily(
    client: TestClient, db: Session, settings: Settings
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    world = build_world(db, settings, store)
    item = published_item(
        db,
        store,
        world.author,
        title="Infographic 5 điểm",
        data=samples.png(640, 360),
        kind="image",
        media_type="image/png",
    )
    token = csrf_from(client.get("/login").text)
    client.post(
        "/login",
        data={"email": world.teacher.email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    page = client.get(f"/library/{item.id}")
    assert page.status_code == 200
    assert 'loading="lazy"' in page.text
    assert 'width="640" height="360"' in page.text
