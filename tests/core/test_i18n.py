"""Every string the code and templates translate has a Vietnamese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.core import i18n

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extracted_msgids() -> set[str]:
    method_map = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    ids: set[str] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map, options, keywords=KEYWORDS
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_every_translatable_string_has_a_vietnamese_translation() -> None:
    with (ROOT / "app/locale/vi/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="vi")
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(extracted_msgids() - translated)
    assert not missing, f"run `make messages` and translate: {missing[:10]}"


def test_gettext_follows_the_current_locale() -> None:
    i18n.set_locale("vi")
    assert i18n.gettext("Sign in") == "Đăng nhập"
    i18n.set_locale("en")
    assert i18n.gettext("Sign in") == "Sign in"
    i18n.set_locale("xx")
    assert i18n.get_locale() == "vi"


def test_numbers_use_vietnamese_separators() -> None:
    i18n.set_locale("vi")
    assert i18n.format_number(1234.5) == "1.234,5"
    i18n.set_locale("en")
    assert i18n.format_number(1234.5) == "1,234.5"
    i18n.set_locale("vi")
