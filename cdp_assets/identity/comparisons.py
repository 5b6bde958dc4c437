"""Graded comparison levels of record pairs, in the style of Splink's comparison levels.

`prepare_features` turns identity records into integer-coded matching features once; then
`compare_pairs` gives, for arrays of record-index pairs, one level per field (int8; level 0
is always "null": at least one side is missing, no evidence either way). String similarities
(Jaro-Winkler, token-set ratio) are computed with `rapidfuzz.process.cpdist` on the distinct
value pairs only, in chunks, so millions of pairs cost seconds and bounded memory.

Names are also compared as a whole: when the first and last names are exchanged
("Smith, John" typed into first/last) or split differently ("王小明" as a single first name
vs last="Wang", first="Xiaoming"), both name comparisons are lifted to "exact" and the pair's
`name_order` tells why. Exchanged names with a typo or nickname are compared crossed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import jellyfish
import numpy as np
import pandas as pd
from anyascii import anyascii
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from cdp_assets.identity.name_keys import NicknameIndex, map_distinct, match_key

FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "birth_date",
    "postal_code",
    "city",
    "street",
    "email_key",
    "phone",
)

LEVELS: dict[str, tuple[str, ...]] = {
    "first_name": ("null", "exact", "nickname", "jw_0.92", "jw_0.80", "different"),
    "last_name": ("null", "exact", "jw_0.92", "jw_0.80", "different"),
    "birth_date": ("null", "exact", "transposed", "one_part_differs", "different"),
    "postal_code": ("null", "exact", "prefix_3", "different"),
    "city": ("null", "exact", "jw_0.90", "different"),
    "street": ("null", "token_set_90", "token_set_70", "different"),
    "email_key": ("null", "exact", "different"),
    "phone": ("null", "exact", "different"),
}

LEVEL_DESCRIPTIONS: dict[str, str] = {
    "null": "missing on at least one side: no evidence",
    "exact": "equal after normalisation",
    "nickname": "nickname of the same formal name (Bob/Robert, Bill/William)",
    "jw_0.92": "Jaro-Winkler similarity >= 0.92",
    "jw_0.90": "Jaro-Winkler similarity >= 0.90",
    "jw_0.80": "Jaro-Winkler similarity >= 0.80",
    "transposed": "day and month exchanged (1990-03-04 / 1990-04-03)",
    "one_part_differs": "exactly one of year, month, day differs",
    "prefix_3": "same first three characters",
    "token_set_90": "token-set ratio >= 90 (word order and repeats ignored)",
    "token_set_70": "token-set ratio >= 70",
    "different": "none of the above",
}

NULL_LEVEL = 0
NAME_ORDER = ("as_entered", "swapped", "full_name")
"""Why the name levels of a pair are what they are: 1 = first/last exchanged, 2 = the full
names are equal but split differently; both lift first_name and last_name to "exact"."""

CHUNK_PAIRS = 500_000
STREET_THRESHOLDS = (90.0, 70.0)  # token_set_90, token_set_70
WORD_BITS = 256  # bits of a value's word set; more bits, fewer pairs thought to share a word
FIRST_WEAK = 4  # first_name levels from jw_0.80 down are weak (null excepted)
LAST_WEAK = 3  # last_name levels from jw_0.80 down

_STREET_WORDS = {
    "st": "street",
    "str": "strasse",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "blvd": "boulevard",
    "bd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "hwy": "highway",
}
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_POSTAL_NOISE = re.compile(r"[^0-9A-Z]+")
_PHONE_KEPT = re.compile(r"[0-9+]*")  # ASCII digits and "+": what `_phone_key` keeps


@dataclass(frozen=True)
class CodedValues:
    """A normalised string column as integer codes per record (-1 = null) into `values`."""

    codes: np.ndarray
    values: np.ndarray
    # the values' word sets once built, shared by copies with other codes (`replace`)
    _words: list[WordSets] = dataclasses.field(default_factory=list, compare=False, repr=False)

    @classmethod
    def of(cls, keys: pd.Series) -> CodedValues:
        codes, uniques = pd.factorize(keys, use_na_sentinel=True)
        return cls(codes.astype(np.int32), np.asarray(uniques, dtype=object))

    @property
    def words(self) -> WordSets:
        """The values' word sets (streets), their rows built as comparisons need them."""
        if not self._words:
            self._words.append(WordSets(self.values))
        return self._words[0]


class WordSets:
    """Per value: its distinct words, sorted and joined by a space (`sorted_words`), and which
    of `WORD_BITS` bits its words hash to (`bits`, one row of uint64 per value), so that two
    values whose bits do not meet share no word; `empty` marks a value of no words. Rows are
    built on demand (`build`): a nightly resolution compares the streets of a few records, a
    full one nearly all of them. A word's bit is a fixed hash of its text, the same whichever
    rows are built together."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.sorted_words = np.empty(len(values), dtype=object)
        self.bits = np.zeros((len(values), WORD_BITS // 64), dtype=np.uint64)
        self.empty = np.zeros(len(values), dtype=bool)
        self._built = np.zeros(len(values), dtype=bool)

    @classmethod
    def of(cls, values: np.ndarray) -> WordSets:
        words = cls(values)
        words.build(np.arange(len(values)))
        return words

    def build(self, codes: np.ndarray) -> None:
        """Build the rows of `codes` not built yet."""
        todo = codes[~self._built[codes]]
        if len(todo) == 0:
            return
        todo = np.unique(todo)
        words = pd.Series(self.values[todo], dtype=object).str.split()
        counts = words.str.len().to_numpy(np.int64)
        exploded = words.explode().to_numpy(dtype=object)
        present = np.flatnonzero(pd.notna(exploded))  # a value without words explodes to NaN
        bit = np.zeros(len(exploded), dtype=np.uint64)
        bit[present] = pd.util.hash_array(exploded[present]) % np.uint64(WORD_BITS)
        rows = np.zeros((len(exploded), WORD_BITS // 64), dtype=np.uint64)
        rows[present, (bit[present] // 64).astype(np.int64)] = np.uint64(1) << (bit[present] % 64)
        starts = np.concatenate([[0], np.cumsum(np.maximum(counts, 1))[:-1]]).astype(np.int64)
        self.bits[todo] = np.bitwise_or.reduceat(rows, starts, axis=0)
        self.sorted_words[todo] = [" ".join(sorted(set(w))) for w in words]
        self.empty[todo] = counts == 0
        self._built[todo] = True


@dataclass(frozen=True)
class MatchFeatures:
    """Integer-coded matching features of n records (row i = record index i).

    First and last names share one vocabulary (`names`) so that a first name of one record
    can be compared with the last name of another; `full_name` / `reversed_name` code the
    first+last / last+first keys in one code space; `birth_date` is days since the earliest
    birth date (-1 = null), with its year, month and day alongside. `name_phonetic` and `name_initial` map a
    name code to the code of its Metaphone key / first letter (lookup tables end with -1 so
    that looking up the null code -1 gives -1).
    """

    names: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    name_phonetic: np.ndarray
    name_initial: np.ndarray
    full_name: np.ndarray
    reversed_name: np.ndarray
    name_parts: np.ndarray
    birth_date: np.ndarray
    birth_year: np.ndarray
    birth_month: np.ndarray
    birth_day: np.ndarray
    postal_code: CodedValues
    postal_prefix: np.ndarray
    city: CodedValues
    street: CodedValues
    email_key: CodedValues
    phone: CodedValues

    @property
    def size(self) -> int:
        return len(self.first_name)

    @cached_property
    def nicknames(self) -> NicknameIndex:
        """Nickname relations of `names`, built on first use."""
        return NicknameIndex.of(self.names)


@dataclass(frozen=True)
class PairLevels:
    """Comparison levels of pairs: `levels[i, j]` is the level of FIELDS[j] for pair i."""

    levels: np.ndarray
    name_order: np.ndarray

    def __len__(self) -> int:
        return len(self.levels)


def lookup(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map codes through a lookup table whose last entry is -1 (so -1 stays -1)."""
    return table[codes]


def prepare_features(records: pd.DataFrame, identifiers: bool = True) -> MatchFeatures:
    """Normalise and integer-code the matching fields of identity records.

    Missing columns count as all-null, so a customers source without emails or phones (or
    without birth dates) is matched on what it has. `identifiers=False` leaves email and
    phone out (all null): what blocking reads, which no blocking rule keys on — the
    incremental matcher blocks all records with these and compares its candidate pairs on
    the features of their records alone (a pair's levels depend on its two records' values,
    not on the other records coded with them).
    """
    _identifier = _column if identifiers else _null_column
    first = match_key(_column(records, "first_name"))
    last = match_key(_column(records, "last_name"))
    name_codes, names = pd.factorize(pd.concat([first, last], ignore_index=True))
    names = np.asarray(names, dtype=object)
    n = len(records)
    first_codes = name_codes[:n].astype(np.int32)
    last_codes = name_codes[n:].astype(np.int32)
    full, reversed_ = _full_names(first, last)
    postal = CodedValues.of(map_distinct(_column(records, "postal_code"), _postal_key))
    births = _birth_dates(_column(records, "birth_date"))
    return MatchFeatures(
        names=names,
        first_name=first_codes,
        last_name=last_codes,
        name_phonetic=_derived_codes(names, jellyfish.metaphone),
        name_initial=_derived_codes(names, lambda key: key[:1]),
        full_name=full,
        reversed_name=reversed_,
        name_parts=(first.notna().to_numpy(np.int8) + last.notna().to_numpy(np.int8)),
        birth_date=births[0],
        birth_year=births[1],
        birth_month=births[2],
        birth_day=births[3],
        postal_code=postal,
        postal_prefix=_derived_codes(postal.values, lambda key: key[:3] if len(key) >= 3 else ""),
        city=CodedValues.of(match_key(_column(records, "city"))),
        street=CodedValues.of(map_distinct(_column(records, "street"), _street_key)),
        email_key=CodedValues.of(map_distinct(_identifier(records, "email_key"), _plain_key)),
        phone=CodedValues.of(map_distinct(_identifier(records, "phone"), _phone_key)),
    )


def features_of_rows(
    features: MatchFeatures, rows: np.ndarray, records: pd.DataFrame
) -> MatchFeatures:
    """The `rows` of `features` (as `prepare_features` of those records would code them, in
    other code numbers: the vocabularies stay whole), with emails and phones normalised from
    `records`, the records of `rows` — what compares the pairs of a few records of features
    prepared for blocking (`identifiers=False`) without normalising their names and
    addresses again."""
    return replace(
        features,
        first_name=features.first_name[rows],
        last_name=features.last_name[rows],
        full_name=features.full_name[rows],
        reversed_name=features.reversed_name[rows],
        name_parts=features.name_parts[rows],
        birth_date=features.birth_date[rows],
        birth_year=features.birth_year[rows],
        birth_month=features.birth_month[rows],
        birth_day=features.birth_day[rows],
        postal_code=CodedValues(features.postal_code.codes[rows], features.postal_code.values),
        city=CodedValues(features.city.codes[rows], features.city.values),
        street=replace(features.street, codes=features.street.codes[rows]),
        email_key=CodedValues.of(map_distinct(_column(records, "email_key"), _plain_key)),
        phone=CodedValues.of(map_distinct(_column(records, "phone"), _phone_key)),
    )


def compare_pairs(
    features: MatchFeatures, left: np.ndarray, right: np.ndarray, chunk_size: int = CHUNK_PAIRS
) -> PairLevels:
    """Comparison levels of the pairs (left[i], right[i]) of record indexes."""
    left, right = np.asarray(left), np.asarray(right)  # cast per chunk: no int64 copy of all
    levels = np.zeros((len(left), len(FIELDS)), dtype=np.int8)
    name_order = np.zeros(len(left), dtype=np.int8)
    for start in range(0, len(left), chunk_size):
        stop = start + chunk_size
        levels[start:stop], name_order[start:stop] = _compare_chunk(
            features,
            left[start:stop].astype(np.int64),
            right[start:stop].astype(np.int64),
        )
    return PairLevels(levels, name_order)


def describe_levels(levels: np.ndarray, name_order: int) -> tuple[str, str]:
    """Readable `levels` ("first_name=nickname; last_name=exact") and `fields` of one pattern."""
    parts: list[str] = []
    fields: list[str] = []
    for field, level in zip(FIELDS, levels, strict=True):
        if level == NULL_LEVEL:
            continue
        name = LEVELS[field][level]
        if name_order and field in ("first_name", "last_name"):
            name = f"{name}({NAME_ORDER[name_order]})"
        parts.append(f"{field}={name}")
        fields.append(field)
    return "; ".join(parts), ",".join(fields)


# --- comparison of one chunk ---------------------------------------------------------------


def _compare_chunk(f: MatchFeatures, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, last, name_order = _name_levels(f, a, b)
    columns = [
        first,
        last,
        _birth_date_levels(f, a, b),
        _postal_levels(f, a, b),
        _graded(
            f.city.values,
            f.city.codes[a],
            f.city.codes[b],
            JaroWinkler.normalized_similarity,
            (0.90,),
        ),
        _street_levels(f, a, b),
        _exact_levels(f.email_key.codes[a], f.email_key.codes[b]),
        _exact_levels(f.phone.codes[a], f.phone.codes[b]),
    ]
    return np.column_stack(columns).astype(np.int8), name_order


def _name_levels(
    f: MatchFeatures, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """first_name and last_name levels, and the name order they were read in.

    Exchanged or differently split names are lifted to exact; when both names compare weakly
    as entered but well crossed (first of one vs last of the other, e.g. exchanged and then
    mistyped), the crossed levels are used.
    """
    fa, fb, la, lb = f.first_name[a], f.first_name[b], f.last_name[a], f.last_name[b]
    first = _first_name_levels(f, fa, fb)
    last = _last_name_levels(f.names, la, lb)
    name_order = _name_order(f, a, b, first, last)
    lifted = name_order > 0
    first[lifted] = 1
    last[lifted] = 1
    weak = np.flatnonzero((first >= FIRST_WEAK) & (last >= LAST_WEAK))
    crossed_first = _first_name_levels(f, fa[weak], lb[weak])
    crossed_last = _last_name_levels(f.names, la[weak], fb[weak])
    crossed = (crossed_first < FIRST_WEAK) & (crossed_last < LAST_WEAK)
    weak = weak[crossed]
    first[weak], last[weak] = crossed_first[crossed], crossed_last[crossed]
    name_order[weak] = 1
    return first, last, name_order


def _first_name_levels(f: MatchFeatures, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """null, exact, nickname, jw >= 0.92, jw >= 0.80, different."""
    level = np.full(len(ca), 5, dtype=np.int8)
    null = (ca < 0) | (cb < 0)
    level[null] = NULL_LEVEL
    level[~null & (ca == cb)] = 1
    rest = np.flatnonzero(~null & (ca != cb))
    nickname = f.nicknames.equivalent(ca[rest], cb[rest])
    level[rest[nickname]] = 2
    rest = rest[~nickname]
    similarity = _pair_similarity(f.names, ca[rest], cb[rest], JaroWinkler.normalized_similarity)
    level[rest[similarity >= 0.92]] = 3
    level[rest[(similarity >= 0.80) & (similarity < 0.92)]] = 4
    return level


def _last_name_levels(names: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """null, exact, jw >= 0.92, jw >= 0.80, different."""
    return _graded(names, ca, cb, JaroWinkler.normalized_similarity, (0.92, 0.80))


def _graded(
    values: np.ndarray,
    ca: np.ndarray,
    cb: np.ndarray,
    scorer: Callable[..., float],
    thresholds: tuple[float, ...],
) -> np.ndarray:
    """null, exact, one level per similarity threshold (descending), different."""
    level = np.full(len(ca), len(thresholds) + 2, dtype=np.int8)
    null = (ca < 0) | (cb < 0)
    level[null] = NULL_LEVEL
    level[~null & (ca == cb)] = 1
    rest = np.flatnonzero(~null & (ca != cb))
    similarity = _pair_similarity(values, ca[rest], cb[rest], scorer)
    upper = np.inf
    for offset, threshold in enumerate(thresholds):
        level[rest[(similarity >= threshold) & (similarity < upper)]] = 2 + offset
        upper = threshold
    return level


def _name_order(
    f: MatchFeatures, a: np.ndarray, b: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """1 where first and last names are exchanged, 2 where only the full names agree."""
    fa, fb, la, lb = f.first_name[a], f.first_name[b], f.last_name[a], f.last_name[b]
    swapped = (fa >= 0) & (la >= 0) & (fa == lb) & (la == fb)
    full_a, full_b = f.full_name[a], f.full_name[b]
    reversed_a, reversed_b = f.reversed_name[a], f.reversed_name[b]
    joined = (
        (full_a >= 0)
        & (
            (full_a == full_b)
            | (full_a == reversed_b)
            | (reversed_a == full_b)
            | (reversed_a == reversed_b)
        )
        & ((f.name_parts[a] == 2) | (f.name_parts[b] == 2))
    )
    already_exact = (first == 1) & (last == 1)
    order = np.zeros(len(a), dtype=np.int8)
    order[joined & ~already_exact] = 2
    order[swapped & ~already_exact] = 1
    return order


def _birth_date_levels(f: MatchFeatures, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """null, exact, day/month transposed, exactly one of year/month/day differs, different."""
    ya, yb = f.birth_year[a], f.birth_year[b]
    ma, mb = f.birth_month[a], f.birth_month[b]
    da, db = f.birth_day[a], f.birth_day[b]
    level = np.full(len(a), 4, dtype=np.int8)
    same_parts = (ya == yb).astype(np.int8) + (ma == mb) + (da == db)
    level[same_parts == 2] = 3
    level[(ya == yb) & (ma == db) & (da == mb) & (ma != da)] = 2
    level[same_parts == 3] = 1
    level[(f.birth_date[a] < 0) | (f.birth_date[b] < 0)] = NULL_LEVEL
    return level


def _postal_levels(f: MatchFeatures, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """null, exact, same first three characters, different."""
    ca, cb = f.postal_code.codes[a], f.postal_code.codes[b]
    pa, pb = lookup(ca, f.postal_prefix), lookup(cb, f.postal_prefix)
    level = np.full(len(a), 3, dtype=np.int8)
    level[(pa >= 0) & (pa == pb)] = 2
    level[ca == cb] = 1
    level[(ca < 0) | (cb < 0)] = NULL_LEVEL
    return level


def _street_levels(f: MatchFeatures, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """null, token-set ratio >= 90 (exact included), >= 70, different."""
    ca, cb = f.street.codes[a], f.street.codes[b]
    level = np.full(len(a), 3, dtype=np.int8)
    null = (ca < 0) | (cb < 0)
    level[~null & (ca == cb)] = 1
    rest = np.flatnonzero(~null & (ca != cb))
    ratio = _token_set_similarity(f.street, ca[rest], cb[rest])
    level[rest[ratio >= STREET_THRESHOLDS[0]]] = 1
    level[rest[(ratio >= STREET_THRESHOLDS[1]) & (ratio < STREET_THRESHOLDS[0])]] = 2
    level[null] = NULL_LEVEL
    return level


def _exact_levels(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """null, exact, different: a conflicting strong identifier is evidence against a match."""
    level = np.where(ca == cb, 1, 2).astype(np.int8)
    level[(ca < 0) | (cb < 0)] = NULL_LEVEL
    return level


def _pair_similarity(
    values: np.ndarray, ca: np.ndarray, cb: np.ndarray, scorer: Callable[..., float]
) -> np.ndarray:
    """Similarity of values[ca[i]] and values[cb[i]], computed once per distinct pair."""
    if len(ca) == 0:
        return np.zeros(0, dtype=np.float64)
    inverse, first, second = _distinct_pairs(len(values), ca, cb)
    scores = cpdist(values[first], values[second], scorer=scorer, workers=-1)
    return scores.astype(np.float64)[inverse]


def _distinct_pairs(
    size: int, ca: np.ndarray, cb: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct unordered pairs of codes below `size` (first <= second), and each input
    pair's index among them."""
    low = np.minimum(ca, cb).astype(np.int64)
    high = np.maximum(ca, cb).astype(np.int64)
    inverse, distinct = pd.factorize(low * size + high)
    return inverse, distinct // size, distinct % size


def _token_set_similarity(values: CodedValues, ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """`fuzz.token_set_ratio` of values[ca[i]] and values[cb[i]], once per distinct pair.

    Of two values that share no word, the token-set ratio is by its definition the plain
    ratio of their sorted words (no common words: rapidfuzz compares the two sides' own
    words, which are all of them, over their lengths), which costs a fifth as much: most
    candidate pairs' streets are different streets. Pairs whose word bits meet (a shared
    word, or two words on one bit), with a value without words, or whose plain ratio lies
    within float rounding of a level's threshold are scored by token_set_ratio itself."""
    if len(ca) == 0:
        return np.zeros(0, dtype=np.float64)
    inverse, first, second = _distinct_pairs(len(values.values), ca, cb)
    words = values.words
    words.build(first)
    words.build(second)
    meet = (words.bits[first] & words.bits[second]).any(axis=1)
    exact = meet | words.empty[first] | words.empty[second]
    apart = np.flatnonzero(~exact)
    scores = np.zeros(len(first), dtype=np.float64)
    scores[apart] = cpdist(
        words.sorted_words[first[apart]],
        words.sorted_words[second[apart]],
        scorer=fuzz.ratio,
        workers=-1,
    )
    near = np.zeros(len(first), dtype=bool)
    for threshold in STREET_THRESHOLDS:
        near[apart] |= np.abs(scores[apart] - threshold) < 1e-3
    scored = np.flatnonzero(exact | near)
    scores[scored] = cpdist(
        values.values[first[scored]],
        values.values[second[scored]],
        scorer=fuzz.token_set_ratio,
        workers=-1,
    )
    return scores[inverse]


# --- feature preparation -------------------------------------------------------------------


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    if name in records.columns:
        return records[name]
    return pd.Series(None, index=records.index, dtype=object)


def _null_column(records: pd.DataFrame, name: str) -> pd.Series:
    return pd.Series(None, index=records.index, dtype=object)


def _derived_codes(values: np.ndarray, func: Callable[[str], str]) -> np.ndarray:
    """Lookup table: code of `func(value)` per value code, ending with -1 for null."""
    derived = pd.Series([func(value) or None for value in values], dtype=object)
    codes, _ = pd.factorize(derived, use_na_sentinel=True)
    return np.append(codes, -1).astype(np.int32)


def _full_names(first: pd.Series, last: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of first+last and last+first match keys, in one code space (-1 = no name)."""
    first_text, last_text = first.fillna(""), last.fillna("")
    has_name = first.notna() | last.notna()
    full = (first_text + last_text).where(has_name)
    reversed_ = (last_text + first_text).where(has_name)
    codes, _ = pd.factorize(pd.concat([full, reversed_], ignore_index=True))
    return codes[: len(first)].astype(np.int32), codes[len(first) :].astype(np.int32)


def _birth_dates(
    values: pd.Series,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Days since the earliest birth date (-1 = null), year, month, day."""
    dates = pd.to_datetime(values, errors="coerce")
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)
    null = dates.isna().to_numpy(bool)
    days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    if (~null).any():
        days = days - days[~null].min()
    days[null] = -1
    year = dates.dt.year.fillna(0).to_numpy(np.int16)
    month = dates.dt.month.fillna(0).to_numpy(np.int8)
    day = dates.dt.day.fillna(0).to_numpy(np.int8)
    return days.astype(np.int32), year, month, day


def _postal_key(value: str) -> str:
    return _POSTAL_NOISE.sub("", anyascii(value).upper())


def _street_key(value: str) -> str:
    words = _NOT_ALNUM.split(anyascii(value).casefold())
    return " ".join(_STREET_WORDS.get(word, word) for word in words if word)


def _plain_key(value: str) -> str:
    return value.strip().casefold()


def _phone_key(value: str) -> str:
    if _PHONE_KEPT.fullmatch(value):  # E.164 as staged: every character is kept
        return value
    return "".join(ch for ch in value if ch.isdigit() or ch == "+")
