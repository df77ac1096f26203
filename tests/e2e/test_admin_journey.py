"""The admin's first day, in a real browser: sign in, create a school, import three users
from CSV, find them in the list, switch the language."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.e2e


def test_admin_creates_a_school_imports_users_and_switches_language(
    page: Page, tmp_path: Path
) -> None:
    page.goto("/")
    assert "/login" in page.url  # redirected to sign-in
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", "wrong-password")
    page.click("form.form button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page.locator("main h1")).to_contain_text("Quản Trị E2E")

    # A new primary school under the commune.
    page.goto("/admin/organizations")
    page.fill("input[name=name]", "Trường Tiểu học Tân Cương E2E")
    page.select_option("select[name=kind]", "school")
    page.select_option("select[name=level]", "primary")
    commune = page.locator("select[name=parent_id] option", has_text="Xã Tân Cương")
    page.select_option("select[name=parent_id]", commune.get_attribute("value"))
    page.click("form[action='/admin/organizations'] button[type=submit]")
    node = page.locator(".tree-node", has_text="Trường Tiểu học Tân Cương E2E")
    expect(node).to_be_visible()
    school_id = node.locator("a").get_attribute("href").rsplit("/", 1)[1]  # type: ignore[union-attr]

    # Three users from a CSV with a BOM and Vietnamese names.
    csv_file = tmp_path / "giao-vien.csv"
    csv_file.write_text(
        "email,full_name,role,organization_id\n"
        f"gv.hoa@e2e.edu.vn,Nguyễn Thị Hoa,teacher,{school_id}\n"
        f"gv.dung@e2e.edu.vn,Đỗ Văn Dũng,teacher,{school_id}\n"
        f"hs.an@e2e.edu.vn,Lưu Bảo An,student,{school_id}\n",
        encoding="utf-8-sig",
    )
    page.goto("/admin/users/import")
    page.set_input_files("input[name=file]", str(csv_file))
    page.click("form[action='/admin/users/import'] button[type=submit]")
    for email in ("gv.hoa@e2e.edu.vn", "gv.dung@e2e.edu.vn", "hs.an@e2e.edu.vn"):
        expect(page.locator("main")).to_contain_text(email)

    # They are listed under the new school.
    page.goto(f"/admin/users?organization_id={school_id}")
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(3)
    for name in ("Nguyễn Thị Hoa", "Đỗ Văn Dũng", "Lưu Bảo An"):
        expect(page.locator("main table")).to_contain_text(name)

    # Switch to English; the choice sticks on the next page.
    page.click("a[lang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main h1")).to_contain_text("Users")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    no_sideways = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_sideways
