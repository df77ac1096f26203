"""Vietnamese collation as plain strings: sort keys whose binary order is dictionary order.

A key is compared code point by code point — by Python's ``sorted``, by SQLite's default
BINARY collation and by PostgreSQL under ``COLLATE "C"`` (UTF-8 byte order is code-point
order) — so the same key sorts a Python list and paginates a SQL query identically, with no
ICU and no operating-system locale (decision 10).

The key has three levels, as in CLDR's Vietnamese tailoring:

1. base letters, case-insensitive: a ă â b c d đ e ê (f) g h i (j) k l m n o ô ơ p q r s t u ư
   v (w) x y (z); breve, circumflex, horn and the stroke make letters of their own. Spaces and
   punctuation sort before digits, digit runs compare as numbers (2 < 10), Latin letters before
   any other script;
2. tones, compared only when the letters are equal: none < huyền < hỏi < ngã < sắc < nặng
   (other accents, as on foreign names, after those);
3. case: lower before upper.

``vi_name_key`` orders person names the way Vietnamese class and staff lists do: by the given
name (the last word, "tên"), then by family and middle names.
"""

from __future__ import annotations

import unicodedata

# Key layout: LEVEL1 _LEVEL LEVEL2 _LEVEL LEVEL3. Both separators sort below every weight, so a
# shorter level (a prefix) sorts first; _PART joins the parts of a name key and sorts lower still.
# No NUL: PostgreSQL text cannot hold it.
_PART = "\x01"
_LEVEL = "\x02"

_SPACE = " "  # 0x20: a run of whitespace, below punctuation, digits and letters
_PUNCT_BASE = 0x21  # ASCII punctuation and symbols, in code-point order: 0x21..0x40
_PUNCTUATION = [chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum()]
_PUNCT_WEIGHT = {c: chr(_PUNCT_BASE + i) for i, c in enumerate(_PUNCTUATION)}
_OTHER_PUNCT = chr(_PUNCT_BASE + len(_PUNCTUATION))  # non-ASCII punctuation and symbols
# A run of digits: one character for its length (numbers with more digits are larger), then
# the digits. Runs longer than _MAX_DIGITS compare by their first digits only.
_DIGITS_BASE = _PUNCT_BASE + len(_PUNCTUATION) + 1
_MAX_DIGITS = 20
_LETTERS_BASE = _DIGITS_BASE + _MAX_DIGITS
_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_LETTER_WEIGHT = {c: chr(_LETTERS_BASE + i) for i, c in enumerate(_ALPHABET)}
assert _LETTERS_BASE + len(_ALPHABET) <= 0x7F  # level 1 stays ASCII; other scripts sort after

_BREVE, _CIRCUMFLEX, _HORN = "\u0306", "\u0302", "\u031b"
# Marks that make a Vietnamese letter: level 1, not accents.
_LETTER_MARKS = {
    ("a", _BREVE): "ă",
    ("a", _CIRCUMFLEX): "â",
    ("e", _CIRCUMFLEX): "ê",
    ("o", _CIRCUMFLEX): "ô",
    ("o", _HORN): "ơ",
    ("u", _HORN): "ư",
}
# Tones, in CLDR vi order: huyền (grave), hỏi (hook), ngã (tilde), sắc (acute), nặng (dot below).
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_MAX_ACCENT = 31

# Levels 2 and 3 are sparse: one character per accented (or capital) letter, coding its
# position in level 1 *descending* — an accent earlier in the word must outrank any later one,
# and a letter without accent must sort below an accented one at the same place.
_SPARSE_BASE = 0x100
_MAX_POSITION = 1023  # accents and capitals beyond this position of level 1 are not compared

SORT_KEY_LENGTH = 400
"""Length of the persisted key columns; keys are cut there (only ties are lost, never order)."""


def _accent_weight(mark: str) -> int:
    tone = _TONES.get(mark)
    if tone is not None:
        return tone
    # Other combining diacritics (diaeresis, cedilla, caron, ...) after the five tones, each
    # its own weight as far as they fit.
    offset = ord(mark) - 0x300
    return 6 + offset if 0 <= offset < _MAX_ACCENT - 6 else _MAX_ACCENT


def _digit(char: str) -> str | None:
    """The ASCII digit a decimal digit of any script stands for."""
    value = unicodedata.decimal(char, None)
    return None if value is None else str(value)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def vi_sort_key(text: str) -> str:
    """A key whose code-point order is Vietnamese dictionary order (see the module docstring).

    Equal keys for texts differing only in normalisation (NFC/NFD, compatibility forms) or in
    surrounding and repeated whitespace. The empty text has the empty key.
    """
    chars = unicodedata.normalize("NFKD", text)
    letters: list[str] = []
    accents: list[str] = []
    capitals: list[str] = []
    space_pending = False
    i, n = 0, len(chars)
    while i < n:
        char = chars[i]
        i += 1
        if char.isspace():
            space_pending = bool(letters)
            continue
        if _is_mark(char) or (ord(char) < 0x20 or ord(char) == 0x7F):
            continue  # a mark with no letter to carry it, or a control character
        if space_pending:
            letters.append(_SPACE)
            space_pending = False
        if _digit(char) is not None:
            run = [_digit(char)]
            while i < n and _digit(chars[i]) is not None:
                run.append(_digit(chars[i]))
                i += 1
            digits = "".join(d for d in run if d is not None).lstrip("0") or "0"
            letters.append(chr(_DIGITS_BASE + min(len(digits), _MAX_DIGITS) - 1))
            letters.extend(digits[:_MAX_DIGITS])
            continue
        marks: list[str] = []
        while i < n and _is_mark(chars[i]):
            marks.append(chars[i])
            i += 1
        lower = char.lower()
        if len(lower) != 1:
            lower = char
        capital = lower != char
        for mark in marks:
            formed = _LETTER_MARKS.get((lower, mark))
            if formed is not None:
                lower = formed
                marks.remove(mark)
                break
        weight = _LETTER_WEIGHT.get(lower) or _PUNCT_WEIGHT.get(lower)
        if weight is None and unicodedata.category(lower)[0] in "PSZ":
            weight = _OTHER_PUNCT  # dashes, typographic quotes, ... with the ASCII ones
        # Letters of other scripts keep their own code point: above every ASCII weight.
        letters.append(weight if weight is not None else lower)
        position = len(letters) - 1
        if position > _MAX_POSITION:
            continue
        for accent in sorted(_accent_weight(m) for m in marks):
            accents.append(chr(_SPARSE_BASE + (_MAX_POSITION - position) * 32 + accent))
        if capital:
            capitals.append(chr(_SPARSE_BASE + _MAX_POSITION - position))
    key = "".join(letters) + _LEVEL + "".join(accents) + _LEVEL + "".join(capitals)
    return key.rstrip(_LEVEL)


def vi_name_key(full_name: str) -> str:
    """A key for a person's name: the given name (last word) first, then the rest of the name.

    "Trần Văn An" < "Lê Thị Bình" < "Nguyễn Văn Dũng" < "Phạm Văn Duy" < "Hoàng Minh Đức".
    Each part is compared at every level (so "Ba" names come before "Bá" names, whatever
    the family name) before the next part is looked at.
    """
    words = unicodedata.normalize("NFC", full_name).split()
    if not words:
        return ""
    return vi_sort_key(words[-1]) + _PART + vi_sort_key(" ".join(words[:-1]))
