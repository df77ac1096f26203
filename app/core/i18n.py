"""Translations and locale-aware formatting.

Source strings are English; Vietnamese is the default locale. Catalogs are the Babel ``.po``
files under ``app/locale`` and are compiled in memory at start-up, so there is no build step
and no binary file in the repository. The current locale lives in a context variable set per
request (or left at the default in the CLI), so services can translate their error messages.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = ("vi", "en")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

_current_locale: ContextVar[str] = ContextVar("hocso_locale", default="vi")
_timezone: ContextVar[str] = ContextVar("hocso_timezone", default="Asia/Ho_Chi_Minh")


@lru_cache
def translations(locale: str) -> NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return GNUTranslations(buf)


def set_locale(locale: str) -> None:
    _current_locale.set(locale if locale in LOCALES else "vi")


def get_locale() -> str:
    return _current_locale.get()


def set_timezone(name: str) -> None:
    _timezone.set(name)


def gettext(message: str) -> str:
    return translations(get_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_locale()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated where shown)."""
    return message


def format_datetime(value: datetime | None) -> str:
    """dd/mm/yyyy HH:MM in the configured time zone (Vietnamese and English alike)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(_timezone.get())).strftime("%d/%m/%Y %H:%M")


def format_date(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(_timezone.get())).strftime("%d/%m/%Y")


def format_number(value: float | int) -> str:
    return format_decimal(value, locale="vi_VN" if get_locale() == "vi" else "en_US")
