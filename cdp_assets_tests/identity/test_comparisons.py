"""Comparison levels of record pairs, with known right answers per field."""

from __future__ import annotations

import numpy as np

from cdp_assets.identity.comparisons import (
    FIELDS,
    LEVELS,
    _phone_key,
    compare_pairs,
    describe_levels,
    prepare_features,
)
from cdp_assets_tests.identity.probabilistic_records import make_records


def _levels(left: dict, right: dict) -> dict[str, str]:
    """Level names of one pair of partial records."""
    features = prepare_features(make_records([left, right]))
    compared = compare_pairs(features, np.array([0]), np.array([1]))
    return {
        field: LEVELS[field][level] for field, level in zip(FIELDS, compared.levels[0], strict=True)
    }


def test_every_field_is_null_without_data() -> None:
    levels = _levels({}, {"first_name": "Ann", "birth_date": "1990-01-01"})
    assert set(levels.values()) == {"null"}


def test_first_name_levels() -> None:
    assert _levels({"first_name": "Anne"}, {"first_name": " ANNE "})["first_name"] == "exact"
    assert _levels({"first_name": "Bob"}, {"first_name": "Robert"})["first_name"] == "nickname"
    assert _levels({"first_name": "Bill"}, {"first_name": "William"})["first_name"] == "nickname"
    assert _levels({"first_name": "Martha"}, {"first_name": "Marhta"})["first_name"] == "jw_0.92"
    assert _levels({"first_name": "Dwayne"}, {"first_name": "Duane"})["first_name"] == "jw_0.80"
    assert _levels({"first_name": "Anne"}, {"first_name": "Zoe"})["first_name"] == "different"


def test_last_name_levels() -> None:
    assert _levels({"last_name": "Smith"}, {"last_name": "smith"})["last_name"] == "exact"
    assert _levels({"last_name": "Johnson"}, {"last_name": "Jonhson"})["last_name"] == "jw_0.92"
    assert _levels({"last_name": "Smith"}, {"last_name": "Jones"})["last_name"] == "different"


def test_han_name_matches_its_pinyin_split_in_first_and_last() -> None:
    pinyin = {"first_name": "Xiaoming", "last_name": "Wang"}
    split = _levels({"first_name": "小明", "last_name": "王"}, pinyin)
    assert (split["first_name"], split["last_name"]) == ("exact", "exact")
    whole = _levels({"first_name": "王小明"}, pinyin)  # one field, family name first
    assert (whole["first_name"], whole["last_name"]) == ("exact", "exact")


def test_swapped_first_and_last_names_are_lifted_to_exact() -> None:
    features = prepare_features(
        make_records(
            [
                {"first_name": "John", "last_name": "Smith"},
                {"first_name": "Smith", "last_name": "John"},
                {"first_name": "Smiht", "last_name": "Jon"},
            ]
        )
    )
    compared = compare_pairs(features, np.array([0, 0]), np.array([1, 2]))
    exact, crossed = compared.levels
    assert LEVELS["first_name"][exact[0]] == LEVELS["last_name"][exact[1]] == "exact"
    assert compared.name_order.tolist() == [1, 1]
    assert LEVELS["first_name"][crossed[0]] == "nickname"  # John vs Jon
    assert LEVELS["last_name"][crossed[1]] == "jw_0.92"  # Smith vs Smiht
    text, fields = describe_levels(exact, 1)
    assert text == "first_name=exact(swapped); last_name=exact(swapped)"
    assert fields == "first_name,last_name"


def test_birth_date_levels() -> None:
    def level(a: str, b: str) -> str:
        return _levels({"birth_date": a}, {"birth_date": b})["birth_date"]

    assert level("1990-03-04", "1990-03-04") == "exact"
    assert level("1990-03-04", "1990-04-03") == "transposed"
    assert level("1990-03-04", "1991-03-04") == "one_part_differs"
    assert level("1990-03-04", "1990-03-14") == "one_part_differs"
    assert level("1990-03-04", "1985-07-21") == "different"
    assert level("1990-03-03", "1990-03-03") == "exact"


def test_postal_code_levels() -> None:
    def level(a: str, b: str) -> str:
        return _levels({"postal_code": a}, {"postal_code": b})["postal_code"]

    assert level("SW1A 1AA", "sw1a1aa") == "exact"
    assert level("75011", "75018") == "prefix_3"
    assert level("75011", "13001") == "different"


def test_city_and_street_levels() -> None:
    same = _levels(
        {"city": "Saint-Étienne", "street": "12 Main Street"},
        {"city": "saint etienne", "street": "Main St. 12"},
    )
    assert (same["city"], same["street"]) == ("exact", "token_set_90")
    near = _levels(
        {"city": "Springfield", "street": "12 Main Street"},
        {"city": "Springfeild", "street": "12 Main Street Apt 4"},
    )
    assert (near["city"], near["street"]) == ("jw_0.90", "token_set_90")
    far = _levels(
        {"city": "Paris", "street": "12 Main Street"}, {"city": "Lyon", "street": "7 Oak Road"}
    )
    assert (far["city"], far["street"]) == ("different", "different")


def test_conflicting_email_and_phone_are_different() -> None:
    levels = _levels(
        {"email_key": "ann@example.com", "phone": "+33612345678"},
        {"email_key": "bob@example.com", "phone": "+33612345678"},
    )
    assert (levels["email_key"], levels["phone"]) == ("different", "exact")


def test_distinct_pairs_are_compared_once_in_chunks() -> None:
    records = make_records(
        [{"first_name": name, "last_name": "Smith"} for name in ("Anne", "Ann", "Zoe")] * 50
    )
    features = prepare_features(records)
    left = np.repeat(np.arange(150), 3)[:400]
    right = (left + 1) % 150
    whole = compare_pairs(features, left, right)
    chunked = compare_pairs(features, left, right, chunk_size=7)
    assert np.array_equal(whole.levels, chunked.levels)


def test_phone_keys_keep_digits_and_plus_only() -> None:
    cases = {
        "+441130496000": "+441130496000",
        "+44 113 049-6000": "+441130496000",
        "(0113) 496 000\n": "0113496000",
        "+٤٤١١٣": "+٤٤١١٣",  # other scripts' digits are digits too
        "": "",
        "ext.": "",
    }
    for value, key in cases.items():
        assert _phone_key(value) == key


def _street_like(rng: np.random.Generator, count: int) -> np.ndarray:
    """Street keys as `_street_key` writes them: numbers, names, types, flats, typos."""
    names = ["main", "mian", "oak", "oaks", "church", "chruch", "de", "la", "rue", "victor", "hugo"]
    kinds = ["street", "road", "avenue", "lane", "strasse", "st", "apt", "flat", "2nd", "b"]
    out = []
    for _ in range(count):
        words = [str(rng.integers(1, 40))] if rng.random() < 0.8 else []
        words += list(rng.choice(names, rng.integers(0, 4)))
        words += list(rng.choice(kinds, rng.integers(0, 3)))
        out.append(" ".join(words))
    return np.array(sorted(set(out)), dtype=object)


def test_street_similarity_equals_token_set_ratio_on_every_pair() -> None:
    """The shortcut for streets that share no word gives rapidfuzz's token_set_ratio to the
    bit, for pairs with and without common words, repeated words and a value of no words."""
    from rapidfuzz import fuzz
    from rapidfuzz.process import cpdist

    from cdp_assets.identity.comparisons import CodedValues, _token_set_similarity

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [_street_like(rng, 3_000), np.array(["", "main main", "main", "x y z", "z y x"], object)]
    )
    coded = CodedValues(np.arange(len(values), dtype=np.int32), values)
    ca = rng.integers(0, len(values), 300_000)
    cb = rng.integers(0, len(values), 300_000)
    ca[:5], cb[:5] = len(values) - 5, np.arange(len(values) - 5, len(values))
    expected = cpdist(values[ca], values[cb], scorer=fuzz.token_set_ratio).astype(np.float64)
    got = _token_set_similarity(coded, ca, cb)
    np.testing.assert_array_equal(got, expected)
    shares_word = np.array(
        [bool(set(values[a].split()) & set(values[b].split())) for a, b in zip(ca, cb, strict=True)]
    )
    assert 0.05 < shares_word.mean() < 0.95  # both kinds of pair are tested
    assert ((expected >= 70) & ~shares_word).any()  # typos only: near without a common word


def test_word_bits_meet_whenever_two_values_share_a_word() -> None:
    from cdp_assets.identity.comparisons import WordSets

    values = np.array(["12 main street", "main", "7 oak road", "", "road 7 oak oak"], object)
    words = WordSets.of(values)
    meets = (words.bits[:, None, :] & words.bits[None, :, :]).any(axis=2)
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if set(a.split()) & set(b.split()):
                assert meets[i, j], (a, b)
    assert list(words.sorted_words) == ["12 main street", "main", "7 oak road", "", "7 oak road"]
    assert list(words.empty) == [False, False, False, True, False]
    assert not words.bits[3].any()
    # Built a few rows at a time (as the comparisons of a nightly run need them): same rows.
    piecemeal = WordSets(values)
    piecemeal.build(np.array([4, 0]))
    piecemeal.build(np.array([0, 1, 2, 3]))
    np.testing.assert_array_equal(piecemeal.bits, words.bits)
    assert list(piecemeal.sorted_words) == list(words.sorted_words)
    assert list(piecemeal.empty) == list(words.empty)
