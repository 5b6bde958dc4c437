"""Name keys: transliteration, phonetic codes and nickname equivalence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.identity.name_keys import (
    canonical_first_names,
    match_key,
    nickname_equivalent,
    phonetic_key,
)


def test_match_key_transliterates_casefolds_and_strips() -> None:
    names = pd.Series(["王小明", "Wang Xiaoming", "  O'Brien-Smith ", "Müller", "ß", "", None])
    assert match_key(names).tolist() == [
        "wangxiaoming",
        "wangxiaoming",
        "obriensmith",
        "muller",
        "ss",
        pd.NA,
        pd.NA,
    ]


def test_match_key_keeps_index_and_string_dtype() -> None:
    names = pd.Series(["Ann", "ANN"], index=[10, 20])
    keys = match_key(names)
    assert keys.index.tolist() == [10, 20]
    assert keys.dtype == "string"


def test_phonetic_key_is_metaphone_of_the_match_key() -> None:
    keys = phonetic_key(pd.Series(["Smith", "Smyth", "SMITH-", None]))
    assert keys.tolist()[:3] == ["SM0", "SM0", "SM0"]
    assert keys.isna().tolist() == [False, False, False, True]


def test_canonical_first_names_maps_nicknames_to_formal_names() -> None:
    canon = canonical_first_names(pd.Series(["Bob", "Bill", "Robert", "Xiaoming", None]))
    assert "robert" in canon[0]
    assert {"william", "robert"} <= canon[1]  # Bill is ambiguous: a set
    assert canon[2] == frozenset({"robert"})
    assert canon[3] == frozenset({"xiaoming"})
    assert canon[4] is None


def test_nickname_equivalence() -> None:
    left = pd.Series(["Bob", "Bill", "Bobby", "Liz", "Robert", "Alan", "Anna", None, "Jo"])
    right = pd.Series(
        ["Robert", "William", "Rob", "Beth", "William", "Albert", "Anna", "Bob", "Jo"]
    )
    expected = [True, True, True, True, False, False, True, False, True]
    assert nickname_equivalent(left, right).tolist() == expected


def test_nickname_equivalence_is_symmetric() -> None:
    left = pd.Series(["Bob", "Bill", "Peggy", "Kate", "Dick"])
    right = pd.Series(["Robert", "William", "Margaret", "Katherine", "Richard"])
    forward = nickname_equivalent(left, right)
    assert forward.all()
    assert np.array_equal(forward, nickname_equivalent(right, left))
