"""Text folding for search: Vietnamese without accents, lower case, one space between words.

Search compares folded text with folded queries, in Python and in the database alike, so the
results are the same on SQLite and PostgreSQL ("chuyen doi so", "CHUYỂN ĐỔI SỐ" and
"Chuyển đổi số" all fold to "chuyen doi so"; "đ" folds to "d").
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.lower()).strip()


def search_terms(query: str, *, limit: int = 8) -> list[str]:
    """The distinct folded words of a query (at most ``limit``), longest first."""
    words = {w for w in fold(query).split(" ") if w}
    return sorted(words, key=lambda w: (-len(w), w))[:limit]


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
