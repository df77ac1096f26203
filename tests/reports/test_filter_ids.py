"""Id filters of the report and audit pages: digits that are not decimal digits ('²', '①'
pass str.isdigit but not int()) are a clear 422, like any other text, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from tests.factories import PASSWORD, make_org, make_user


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/reports", "organization_id"),
        ("/reports/completion", "course_id"),
        ("/reports/completion/learners", "organization_id"),
        ("/admin/audit", "organization_id"),
    ],
)
@pytest.mark.parametrize("value", ["abc", "²", "①", "1²"])
def test_an_id_filter_that_is_not_a_number_is_a_422(
    client: TestClient,
    db: Session,
    settings: Settings,
    page_login: Callable[[str, str], TestClient],
    path: str,
    param: str,
    value: str,
) -> None:
    admin = make_user(db, settings, role="admin", organization=make_org(db))
    db.commit()
    page_login(admin.email, PASSWORD)
    client._transport.raise_server_exceptions = False  # type: ignore[attr-defined]
    response = client.get(path, params={param: value})
    assert response.status_code == 422, (path, value, response.status_code)
