"""The security tests read messages in English (the catalogue translates them to Vietnamese,
the default): API requests carry the language cookie, service calls run in English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.core import i18n


@pytest.fixture(autouse=True)
def english(request: pytest.FixtureRequest) -> Iterator[None]:
    before = i18n.get_locale()
    i18n.set_locale("en")
    if "client" in request.fixturenames:
        client: TestClient = request.getfixturevalue("client")
        client.cookies.set("hocso_lang", "en")
    yield
    i18n.set_locale(before)
