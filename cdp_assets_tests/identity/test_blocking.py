"""Blocking rules: which pairs are found, by which rule, and oversize blocks."""

from __future__ import annotations

import numpy as np
import pytest

from cdp_assets.identity.blocking import (
    BLOCKING_RULES,
    DEFAULT_BLOCKING_RULES,
    _entries_under,
    candidate_pairs,
    combine_codes,
)
from cdp_assets.identity.comparisons import prepare_features
from cdp_assets_tests.identity.probabilistic_records import make_records


def _pairs(rows: list[dict], rules: tuple[str, ...] | None = None, max_block_size: int = 500):
    return candidate_pairs(prepare_features(make_records(rows)), rules, max_block_size)


def _as_set(pairs) -> set[tuple[int, int]]:
    return set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))


def test_each_default_rule_finds_its_pair() -> None:
    cases = {
        "postal_code_surname_initial": (
            {"last_name": "Smith", "postal_code": "75011"},
            {"last_name": "Smyth", "postal_code": "75 011"},
        ),
        "birth_date_first_initial": (
            {"first_name": "Robert", "birth_date": "1980-02-01"},
            {"first_name": "Rob", "birth_date": "1980-02-01"},
        ),
        "surname_phonetic_city": (
            {"last_name": "Smith", "city": "Paris"},
            {"last_name": "Smyth", "city": "PARIS"},
        ),
        "street_city": (
            {"last_name": "Smith", "street": "12 Main Street", "city": "Paris"},
            {"last_name": "Mith", "street": "12 main st", "city": "PARIS"},
        ),
        "swapped_names": (
            {"first_name": "John", "last_name": "Smith", "birth_date": "1980-02-01"},
            {"first_name": "Smith", "last_name": "Jon", "birth_date": "1980-02-01"},
        ),
        "birth_date_surname_phonetic": (
            {"first_name": "Bob", "last_name": "Smith", "birth_date": "1980-02-01"},
            {"first_name": "Robert", "last_name": "Smyth", "birth_date": "1980-02-01"},
        ),
        "full_name": (
            {"first_name": "王小明", "postal_code": "100000"},
            {"first_name": "Xiaoming", "last_name": "Wang", "postal_code": "100000"},
        ),
    }
    assert set(cases) == set(DEFAULT_BLOCKING_RULES)
    for rule, rows in cases.items():
        pairs = _pairs(list(rows), (rule,))
        assert _as_set(pairs) == {(0, 1)}, rule
        assert pairs.pairs_by_rule == {rule: 1}


def test_street_city_finds_what_no_other_rule_finds_and_does_not_train() -> None:
    # Surname mistyped in its first letter, postal code and birth date missing on one side.
    rows = [
        {
            "first_name": "Ann",
            "last_name": "Smith",
            "street": "12 Main Street",
            "city": "Lyon",
            "postal_code": "69001",
            "birth_date": "1980-02-01",
        },
        {"first_name": "Ann", "last_name": "Mith", "street": "12 Main St", "city": "Lyon"},
        {"first_name": "Ann", "last_name": "Smith", "street": "14 Main Street", "city": "Lyon"},
    ]
    others = tuple(name for name in DEFAULT_BLOCKING_RULES if name != "street_city")
    assert _as_set(_pairs(rows, others)) == {(0, 2)}
    assert _as_set(_pairs(rows)) == {(0, 1), (0, 2)}
    assert not BLOCKING_RULES["street_city"].trains
    assert all(BLOCKING_RULES[name].trains for name in others)


def test_pairs_are_ordered_deduplicated_and_credited_to_the_first_rule() -> None:
    rows = [
        {"first_name": "Ann", "last_name": "Lee", "birth_date": "1990-01-01", "postal_code": "1"},
        {"first_name": "Ann", "last_name": "Lee", "birth_date": "1990-01-01", "postal_code": "1"},
        {"first_name": "Bob", "last_name": "Kim", "birth_date": "1990-01-01", "postal_code": "2"},
    ]
    pairs = _pairs(rows)
    assert _as_set(pairs) == {(0, 1)}
    assert pairs.rule_names[pairs.rule[0]] == "postal_code_surname_initial"
    assert sum(pairs.pairs_by_rule.values()) == len(pairs) == 1
    # Found by several rules: the bits say which.
    found = [name for bit, name in enumerate(pairs.rule_names) if pairs.found_by[0] >> bit & 1]
    assert {"postal_code_surname_initial", "birth_date_first_initial"} <= set(found)
    assert (pairs.left < pairs.right).all()


def test_oversize_block_is_skipped_and_counted() -> None:
    crowd = [{"last_name": "Smith", "postal_code": "75011"} for _ in range(6)]
    small = [{"last_name": "Jones", "postal_code": "75011"} for _ in range(3)]
    pairs = _pairs(crowd + small, ("postal_code_surname_initial",), max_block_size=5)
    assert pairs.blocks_skipped == {"postal_code_surname_initial": 1}
    assert _as_set(pairs) == {(6, 7), (6, 8), (7, 8)}


def test_records_without_keys_are_never_paired() -> None:
    pairs = _pairs([{}, {}, {"last_name": "Smith"}, {"last_name": "Smith"}])
    assert len(pairs) == 0
    assert pairs.left.dtype == np.int32


def test_unknown_rule_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown blocking rule"):
        _pairs([{}, {}], ("no_such_rule",))


def test_every_rule_names_the_fields_it_selects_on() -> None:
    for rule in BLOCKING_RULES.values():
        assert rule.fields and rule.description


def test_combine_codes_is_null_when_any_part_is_null() -> None:
    key = combine_codes(np.array([0, 1, 1, -1]), np.array([2, 3, 3, 0]))
    assert key[3] == -1
    assert key[1] == key[2] != key[0]


def test_block_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    rows = [
        {"last_name": f"N{rng.integers(0, 4)}", "postal_code": f"{rng.integers(0, 5)}"}
        for _ in range(200)
    ]
    pairs = _pairs(rows, ("postal_code_surname_initial",))
    expected = {
        (i, j)
        for i in range(200)
        for j in range(i + 1, 200)
        if rows[i]["postal_code"] == rows[j]["postal_code"]
    }  # every surname starts with "n"
    assert _as_set(pairs) == expected


def test_rule_union_folded_rule_by_rule_equals_the_unique_of_all_codes() -> None:
    from cdp_assets.identity.blocking import _Union

    rng = np.random.default_rng(3)
    n = 2_000
    for _ in range(20):
        by_rule = [
            np.unique(rng.integers(0, n * n // 50, size=int(rng.integers(0, 2_000))))
            for _ in range(int(rng.integers(1, 9)))
        ]
        union = _Union(np.uint8)
        for index, codes in enumerate(by_rule):
            union.add(codes, index)
        expected = np.unique(np.concatenate(by_rule))
        found_by = {int(code): 0 for code in expected}
        for index, codes in enumerate(by_rule):
            for code in codes.tolist():
                found_by[code] |= 1 << index
        assert np.array_equal(union.codes, expected)
        assert union.found_by.tolist() == [found_by[code] for code in expected.tolist()]
        first = [(bits & -bits).bit_length() - 1 for bits in union.found_by.tolist()]
        assert union.rule.tolist() == first  # the first rule that found the pair
        assert union.rule.dtype == np.int8


def test_entries_under_wanted_keys_are_those_np_isin_finds() -> None:
    rng = np.random.default_rng(3)
    key = rng.integers(-1, 10**12, size=5_000)
    key[::7] = -1  # records in no block of the rule
    key[1::5] = key[3]  # a key many entries share
    records = np.arange(len(key))
    for wanted in (
        np.unique(key[key >= 0][::3]),
        np.unique(np.r_[key[:4], 10**13]),  # a key beyond every entry's
        np.zeros(0, dtype=np.int64),
    ):
        got_records, got_key = _entries_under(records, key, wanted)
        hit = np.isin(key, wanted)
        assert np.array_equal(got_records, records[hit])
        assert np.array_equal(got_key, key[hit])
