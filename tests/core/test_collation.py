"""Vietnamese collation keys: tables of real names and properties checked against a reference
comparator built independently (letters, tones and case as separate tuples)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.collation import SORT_KEY_LENGTH, vi_name_key, vi_sort_key

ALPHABET = list("aăâbcdđeêghiklmnoôơpqrstuưvxy")
# Tones in CLDR vi order: none, huyền, hỏi, ngã, sắc, nặng.
TONE_MARKS = ["", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323"]


def ordered(items: list[str], key: Callable[[str], str] = vi_sort_key) -> list[str]:
    return sorted(items, key=key)


def shuffled(items: list[str]) -> list[str]:
    # A fixed permutation that is neither the order nor its reverse.
    return items[1::2] + items[::2]


# --- tables ----------------------------------------------------------------------------------


def test_the_alphabet_is_in_vietnamese_order_with_f_j_w_z_where_latin_has_them() -> None:
    assert ordered(shuffled(ALPHABET)) == ALPHABET
    latin_extra = ordered(["z", "y", "w", "v", "j", "i", "k", "f", "g", "e", "ê"])
    assert latin_extra == ["e", "ê", "f", "g", "i", "j", "k", "v", "w", "y", "z"]


def test_tones_sort_after_the_base_letters_in_cldr_order() -> None:
    assert ordered(shuffled(["Ba", "Bà", "Bả", "Bã", "Bá", "Bạ"])) == [
        "Ba",
        "Bà",
        "Bả",
        "Bã",
        "Bá",
        "Bạ",
    ]
    # A tone never outranks a letter: "Bá" < "Bac" although "á" is "greater" than "a".
    assert ordered(["Bac", "Bá", "Bạn", "Bàn", "Ban"]) == ["Bá", "Bac", "Ban", "Bàn", "Bạn"]
    # The first tone that differs decides, wherever the word has more of them.
    assert ordered(["Ngữ Văn", "Ngừ Vằn", "Ngư Vặn", "Ngư Văn"]) == [
        "Ngư Văn",
        "Ngư Vặn",
        "Ngừ Vằn",
        "Ngữ Văn",
    ]


def test_letters_with_breve_circumflex_horn_and_stroke_are_letters_of_their_own() -> None:
    assert ordered(["Ấn", "Ăn", "Ân", "An", "Ẵn", "Bình"]) == ["An", "Ăn", "Ẵn", "Ân", "Ấn", "Bình"]
    assert ordered(["Đào", "Dung", "Duy", "Dương", "Đức", "Em"]) == [
        "Dung",
        "Duy",
        "Dương",
        "Đào",
        "Đức",
        "Em",
    ]
    assert ordered(["Ơn", "Ôn", "On", "Ốc", "Phú"]) == ["On", "Ốc", "Ôn", "Ơn", "Phú"]
    assert ordered(["Ưng", "Uyên", "Út", "Vân"]) == ["Út", "Uyên", "Ưng", "Vân"]
    assert ordered(["Ê-đê", "Em", "Ếch"]) == ["Em", "Ê-đê", "Ếch"]


def test_case_is_only_the_last_tie_break() -> None:
    assert ordered(["anh", "Anh", "ANH", "an", "AN", "Ánh", "ánh"]) == [
        "an",
        "AN",
        "anh",
        "Anh",
        "ANH",
        "ánh",
        "Ánh",
    ]
    assert vi_sort_key("đức") < vi_sort_key("Đức") < vi_sort_key("ĐỨC") < vi_sort_key("đừng")


def test_nfc_and_nfd_input_give_the_same_key() -> None:
    for name in ["Nguyễn Thị Ánh Tuyết", "Đặng Văn Ơn", "Lê Thị Ấn", "Phạm Hữu Hoàng"]:
        nfd = unicodedata.normalize("NFD", name)
        assert nfd != name
        assert vi_sort_key(nfd) == vi_sort_key(name)
        assert vi_name_key(nfd) == vi_name_key(name)
    # A tone typed before the vowel's hat (a legal but unusual order) is the same letter.
    assert vi_sort_key("a\u0301\u0302") == vi_sort_key("ấ")


def test_empty_and_blank_texts_sort_first_and_whitespace_is_collapsed() -> None:
    assert vi_sort_key("") == "" == vi_name_key("") == vi_name_key("   ")
    assert vi_sort_key("  Trường   Tiểu học\tTân Cương ") == vi_sort_key(
        "Trường Tiểu học Tân Cương"
    )
    assert ordered(["b", "", "a"]) == ["", "a", "b"]
    # A space ends a word before any letter continues one: "Le An" < "Lea".
    assert ordered(["Lea", "Le An", "Le"]) == ["Le", "Le An", "Lea"]


def test_digit_runs_compare_as_numbers_and_punctuation_before_letters() -> None:
    assert ordered(["Lớp 10A", "Lớp 2", "Lớp 1B", "Lớp 1A", "Lớp 9"]) == [
        "Lớp 1A",
        "Lớp 1B",
        "Lớp 2",
        "Lớp 9",
        "Lớp 10A",
    ]
    assert ordered(["Trường số 2", "Trường 12", "Trường A", "Trường (cũ)"]) == [
        "Trường (cũ)",
        "Trường 12",
        "Trường A",
        "Trường số 2",
    ]
    assert vi_sort_key("Lớp ２") == vi_sort_key("Lớp 2")  # full-width digit


def test_other_scripts_sort_after_latin_letters() -> None:
    assert ordered(["Иван", "Zoe", "王", "Ánh"]) == ["Ánh", "Zoe", "Иван", "王"]


def test_person_names_sort_by_given_name_then_family_and_middle_names() -> None:
    names = [
        "Trần Văn An",
        "Lê Thị Bình",
        "Nguyễn Văn Dũng",
        "Phạm Văn Duy",
        "Hoàng Minh Đức",
    ]
    assert ordered(shuffled(names), key=vi_name_key) == names
    # Same given name: family and middle names decide, in Vietnamese order too.
    assert ordered(["Đỗ Thị Lan", "Dương Văn Lan", "Đinh Lan", "Bùi Thị Lan"], key=vi_name_key) == [
        "Bùi Thị Lan",
        "Dương Văn Lan",
        "Đinh Lan",
        "Đỗ Thị Lan",
    ]
    # Every "Ba" before any "Bá", whatever the family name; then the family name.
    assert ordered(["Nguyễn Văn Bá", "Trần Văn Ba", "Ân Bá"], key=vi_name_key) == [
        "Trần Văn Ba",
        "Ân Bá",
        "Nguyễn Văn Bá",
    ]
    # The binary order of the raw strings is wrong on purpose: "Đ" (U+0110) < "L" is false,
    # "Á" sorts after "Z". The keys fix both.
    assert ordered(["Đặng Văn Ánh", "Dương Thị Bé", "Nguyễn Văn An", "Lê Thị Ấn"], vi_name_key) == [
        "Nguyễn Văn An",
        "Đặng Văn Ánh",
        "Lê Thị Ấn",
        "Dương Thị Bé",
    ]
    assert vi_name_key("An") < vi_name_key("Trần An") < vi_name_key("Anh")


def test_keys_fit_the_column_and_never_hold_nul() -> None:
    long_name = " ".join(["Nguyễn Thị Ánh Tuyết"] * 10)
    assert len(vi_name_key(long_name)) < SORT_KEY_LENGTH
    assert "\x00" not in vi_name_key(long_name) + vi_sort_key("a\x00b")


# --- properties against a reference ----------------------------------------------------------

# One letter: (index in ALPHABET, tone 0..5, upper case).
letters = st.tuples(
    st.integers(0, len(ALPHABET) - 1), st.integers(0, len(TONE_MARKS) - 1), st.booleans()
)
words = st.lists(letters, min_size=1, max_size=6)
phrases = st.lists(words, min_size=1, max_size=4)


def render(phrase: list[list[tuple[int, int, bool]]], form: Literal["NFC", "NFD"] = "NFC") -> str:
    def letter(index: int, tone: int, upper: bool) -> str:
        text = ALPHABET[index] + TONE_MARKS[tone]
        return text.upper() if upper else text

    text = " ".join("".join(letter(*c) for c in word) for word in phrase)
    return unicodedata.normalize(form, text)


def reference(phrase: list[list[tuple[int, int, bool]]]) -> tuple[list[int], ...]:
    """Three levels compared one after the other; a space is below every letter."""
    flat = [c for i, word in enumerate(phrase) for c in ([(-1, 0, False)] if i else []) + word]
    return (
        [c[0] for c in flat],
        [c[1] for c in flat],
        [int(c[2]) for c in flat],
    )


def sign(a: object, b: object) -> int:
    return int((a > b) - (a < b))  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(phrases, phrases)
def test_key_order_is_the_reference_order(
    a: list[list[tuple[int, int, bool]]], b: list[list[tuple[int, int, bool]]]
) -> None:
    key_a, key_b = vi_sort_key(render(a)), vi_sort_key(render(b, "NFD"))
    assert sign(key_a, key_b) == sign(reference(a), reference(b))


@settings(max_examples=200, deadline=None)
@given(st.lists(phrases, min_size=2, max_size=8))
def test_sorting_by_key_is_sorting_by_the_reference(
    items: list[list[list[tuple[int, int, bool]]]],
) -> None:
    by_key = sorted(items, key=lambda p: vi_sort_key(render(p)))
    assert [reference(p) for p in by_key] == sorted(reference(p) for p in items)


@settings(max_examples=200, deadline=None)
@given(phrases, phrases)
def test_name_key_compares_given_name_first_then_the_rest(
    a: list[list[tuple[int, int, bool]]], b: list[list[tuple[int, int, bool]]]
) -> None:
    def ref(p: list[list[tuple[int, int, bool]]]) -> tuple[object, object]:
        return reference(p[-1:]), reference(p[:-1])

    assert sign(vi_name_key(render(a)), vi_name_key(render(b))) == sign(ref(a), ref(b))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_has_a_key_the_same_in_every_normal_form(text: str) -> None:
    key = vi_sort_key(text)
    assert "\x00" not in key
    key.encode("utf-8")  # storable: no lone surrogates
    forms: tuple[Literal["NFC", "NFD", "NFKC"], ...] = ("NFC", "NFD", "NFKC")
    for form in forms:
        assert vi_sort_key(unicodedata.normalize(form, text)) == key
    assert vi_name_key(unicodedata.normalize("NFD", text)) == vi_name_key(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_key_order_is_transitive_and_cutting_keys_keeps_it(a: str, b: str, c: str) -> None:
    x, y, z = sorted([vi_sort_key(a), vi_sort_key(b), vi_sort_key(c)])
    assert x <= y <= z
    for n in (0, 1, 3, 10):
        assert x[:n] <= y[:n] <= z[:n]
