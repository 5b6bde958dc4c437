"""Name normalisation for matching: match keys, phonetic keys and nickname equivalence.

Every function works on the distinct values of its input (a few hundred thousand names at most,
even for millions of records) and maps the result back, so the per-value Python work never
scales with the number of records.

- `match_key`: transliterated to ASCII (anyascii: "王小明" -> "wangxiaoming", "Müller" ->
  "muller"), case-folded, everything but letters and digits removed.
- `phonetic_key`: Metaphone of the match key ("Smith" and "Smyth" -> "SM0").
- `canonical_first_names` / `nickname_equivalent`: nickname knowledge from the `nicknames`
  package ("Bob" -> robert, "Bill" -> robert, william, willis).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

import jellyfish
import numpy as np
import pandas as pd
from anyascii import anyascii
from nicknames import NickNamer

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def key_of(value: str) -> str:
    """The match key of one name ("" when nothing is left)."""
    return _NOT_ALNUM.sub("", anyascii(value).casefold())


def map_distinct(values: pd.Series, func: Callable[[str], str]) -> pd.Series:
    """Apply `func` once per distinct non-null value; empty results become null.

    Returns a `string` Series aligned with `values`.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # An object array: iterating an arrow-backed array makes a Python scalar per item, slowly.
    uniques = np.asarray(uniques, dtype=object)
    mapped = np.array([func(str(value)) or None for value in uniques], dtype=object)
    out = np.full(len(values), None, dtype=object)
    present = codes >= 0
    out[present] = mapped[codes[present]]
    return pd.Series(out, index=values.index, dtype="string")


def match_key(names: pd.Series) -> pd.Series:
    """Matching key of each name: ASCII transliteration, case-folded, letters and digits only.

    "王小明" -> "wangxiaoming", "  O'Brien-Smith " -> "obriensmith"; null or empty -> <NA>.
    """
    return map_distinct(names, key_of)


def phonetic_key(names: pd.Series) -> pd.Series:
    """Metaphone code of each name's match key ("Smith", "Smyth" -> "SM0"); null -> <NA>."""
    return map_distinct(match_key(names), jellyfish.metaphone)


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=1 << 20)
def listed_canonicals(key: str) -> frozenset[str]:
    """Every name the nicknames list gives as a canonical (formal) name of `key`, as match keys.

    The list is noisy in both directions ("bob has nickname robert" as well as "robert has
    nickname bob"), so this raw set is only used for direct links between two names.
    """
    return frozenset(filter(None, (key_of(name) for name in _nicknamer().canonicals_of(key))))


@lru_cache(maxsize=1 << 20)
def formal_names(key: str) -> frozenset[str]:
    """The listed canonicals of `key` that are longer than `key` itself.

    Formal names are longer than their nicknames; keeping only those stops a shared nickname
    ("bill", listed for both) from making Robert and William equivalent.
    """
    return frozenset(name for name in listed_canonicals(key) if len(name) > len(key))


def canonical_first_names(names: pd.Series) -> pd.Series:
    """The formal first names each name may stand for, as a frozenset of match keys.

    "Bob" -> {robert, bobby, bert}; "Bill" -> {robert, william, willis}; a name that is no
    known nickname maps to itself ("Robert" -> {robert}); null -> None.
    """
    keys = match_key(names)
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    sets = np.array([formal_names(key) or frozenset({key}) for key in uniques], dtype=object)
    out = np.full(len(keys), None, dtype=object)
    present = codes >= 0
    out[present] = sets[codes[present]]
    return pd.Series(out, index=names.index, dtype=object)


def nickname_equivalent(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Element-wise: may the two first names be the same person's name (nickname or equal)?

    True when the names' match keys are equal, when one is a listed canonical of the other
    (Bob/Robert, Bill/William), or when both are nicknames of a common formal name
    (Bobby/Rob via Robert). False when either is null.
    """
    keys = pd.concat([match_key(left), match_key(right)], ignore_index=True)
    codes, vocabulary = pd.factorize(keys, use_na_sentinel=True)
    left_codes, right_codes = codes[: len(left)], codes[len(left) :]
    present = (left_codes >= 0) & (right_codes >= 0)
    result = present & (left_codes == right_codes)
    result[present] |= nickname_equivalent_codes(
        left_codes[present], right_codes[present], np.asarray(vocabulary, dtype=object)
    )
    return result


def nickname_equivalent_codes(
    left: np.ndarray, right: np.ndarray, vocabulary: Sequence[str] | np.ndarray
) -> np.ndarray:
    """`nickname_equivalent` on integer codes into `vocabulary` (match keys; codes >= 0).

    Only the distinct codes involved are looked up; to compare many batches against one
    vocabulary, build a `NicknameIndex` once instead.
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    if len(left) == 0:
        return np.zeros(0, dtype=bool)
    involved = np.unique(np.concatenate([left, right]))
    index = NicknameIndex.of([str(vocabulary[code]) for code in involved])
    return index.equivalent(np.searchsorted(involved, left), np.searchsorted(involved, right))


class NicknameIndex:
    """Nickname relations of a vocabulary of match keys, for vectorised pair tests.

    Holds the exploded (name, canonical) relations as sorted int64 keys, so that testing
    millions of code pairs is a few sorted-array membership tests.
    """

    def __init__(self, table: _NicknameTable) -> None:
        self._table = table

    @classmethod
    def of(cls, vocabulary: Sequence[str] | np.ndarray) -> NicknameIndex:
        return cls(_NicknameTable.build([str(name) for name in vocabulary]))

    def equivalent(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Element-wise nickname equivalence of two arrays of vocabulary codes (>= 0)."""
        left = np.asarray(left, dtype=np.int64)
        right = np.asarray(right, dtype=np.int64)
        if len(left) == 0:
            return np.zeros(0, dtype=bool)
        return (left == right) | self._table.equivalent(left, right)


class _NicknameTable:
    """Exploded (name, canonical) relations for a list of names, as sorted int64 keys."""

    def __init__(
        self, direct: np.ndarray, formal_offsets: np.ndarray, formal_ids: np.ndarray, width: int
    ) -> None:
        self.direct = direct  # sorted name_index * width + canonical_id
        self.formal_offsets = formal_offsets  # CSR offsets into formal_ids per name index
        self.formal_ids = formal_ids
        self.formal_keys = np.sort(
            np.repeat(np.arange(len(formal_offsets) - 1), np.diff(formal_offsets)) * width
            + formal_ids
        )
        self.width = width

    @classmethod
    def build(cls, names: list[str]) -> _NicknameTable:
        ids: dict[str, int] = {name: index for index, name in enumerate(names)}
        direct: list[int] = []
        offsets = [0]
        formal: list[int] = []
        for name in names:
            for canonical in listed_canonicals(name):
                ids.setdefault(canonical, len(ids))
        width = len(ids)
        for index, name in enumerate(names):
            direct.extend(index * width + ids[c] for c in listed_canonicals(name))
            formal.extend(ids[c] for c in formal_names(name))
            offsets.append(len(formal))
        return cls(
            np.sort(np.array(direct, dtype=np.int64)),
            np.array(offsets, dtype=np.int64),
            np.array(formal, dtype=np.int64),
            width,
        )

    def equivalent(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Direct canonical link either way, or a shared formal name."""
        result = _member(left * self.width + right, self.direct)
        result |= _member(right * self.width + left, self.direct)
        counts = self.formal_offsets[left + 1] - self.formal_offsets[left]
        pair = np.repeat(np.arange(len(left)), counts)
        starts = np.repeat(self.formal_offsets[left], counts)
        within = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        canonical = self.formal_ids[starts + within]
        shared = _member(right[pair] * self.width + canonical, self.formal_keys)
        result[pair[shared]] = True
        return result


def _member(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership of each value in a sorted key array."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[position] == values
