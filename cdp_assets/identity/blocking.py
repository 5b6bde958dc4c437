"""Blocking: which record pairs are worth comparing at all.

A blocking rule groups records by a key (e.g. postal code + first letter of the surname);
every pair of records inside a group is a candidate pair. Rules are unioned: a pair found by
several rules is kept once, credited to the first rule that found it (as Splink does). Birth
dates are blocked with day and month in either order, so transposed dates meet. A group
larger than `max_block_size` records is skipped and counted instead of compared: it would
cost n^2/2 comparisons and is almost never a useful group (every "Smith" in London).

All work is numpy on integer codes: sort by key, then generate the pairs of each group with
repeat/cumsum arithmetic, in batches of at most `BATCH_PAIRS` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.identity.comparisons import MatchFeatures, lookup

BATCH_PAIRS = 5_000_000
_INT64_SAFE = 1 << 62


@dataclass(frozen=True)
class BlockKeys:
    """Record indexes and their block key (-1 = the record is not in any block of this key).

    With `right_records`/`right_key` set, the join is a cross join: a record in `records`
    pairs with the records in `right_records` that have the same key, not with its own side.
    """

    records: np.ndarray
    key: np.ndarray
    right_records: np.ndarray | None = None
    right_key: np.ndarray | None = None


@dataclass(frozen=True)
class BlockingRule:
    """A named way to group records; `fields` are the compared fields its keys select on.

    `trains`: whether EM learns m from the rule's pairs. A rule whose pairs are mostly people
    who are not one person but alike on what the rule leaves free (a shared address: mostly
    households) would teach EM that household members match; such a rule only finds pairs.
    """

    name: str
    description: str
    fields: tuple[str, ...]
    keys: Callable[[MatchFeatures], list[BlockKeys]]
    trains: bool = True


@dataclass(frozen=True)
class CandidatePairs:
    """Candidate pairs of record indexes, left < right, sorted.

    `rule` is the index (into `rule_names`) of the first rule that found the pair; bit r of
    `found_by` is set when rule r found it.
    """

    left: np.ndarray
    right: np.ndarray
    rule: np.ndarray
    found_by: np.ndarray
    rule_names: tuple[str, ...]
    pairs_by_rule: dict[str, int]
    blocks_skipped: dict[str, int]

    def __len__(self) -> int:
        return len(self.left)


def candidate_pairs(
    features: MatchFeatures,
    rules: Sequence[str] | None = None,
    max_block_size: int = 500,
) -> CandidatePairs:
    """Union of the pairs of the named blocking rules (default: `DEFAULT_BLOCKING_RULES`)."""
    names = tuple(rules if rules is not None else DEFAULT_BLOCKING_RULES)
    unknown = [name for name in names if name not in BLOCKING_RULES]
    if unknown:
        raise ValueError(
            f"unknown blocking rule(s) {unknown}; known rules: {sorted(BLOCKING_RULES)}"
        )
    if len(names) > 64:
        raise ValueError("at most 64 blocking rules")
    n = features.size
    union = _Union(_bits_dtype(len(names)))
    skipped: dict[str, int] = {}
    for index, name in enumerate(names):
        codes, skipped[name] = _rule_pair_codes(BLOCKING_RULES[name], features, max_block_size)
        union.add(codes, index)
        del codes  # each rule's codes are folded in and freed before the next rule's are made
    return _candidate_pairs(union, n, names, skipped)


def _candidate_pairs(
    union: _Union, n: int, names: tuple[str, ...], skipped: dict[str, int]
) -> CandidatePairs:
    """The pairs the rules found, each credited to the first rule that found it."""
    counts = np.bincount(union.rule, minlength=len(names)) if len(names) else np.zeros(0, np.int64)
    left, right = _split_codes(union.codes, n)
    return CandidatePairs(
        left=left,
        right=right,
        rule=union.rule,
        found_by=union.found_by,
        rule_names=names,
        pairs_by_rule={name: int(count) for name, count in zip(names, counts, strict=True)},
        blocks_skipped=skipped,
    )


class _Union:
    """Distinct pair codes (sorted) of the rules added so far, with the index of the first
    rule that found each and the bits of all the rules that did.

    Rules are added in order, each once: a code already present keeps its rule and gains a
    bit; new codes are inserted in order with the rule's index. Only the union and one
    rule's codes are in memory at a time, not every rule's codes and their concatenation
    (GBs at a million records).
    """

    def __init__(self, bits: type[np.unsignedinteger]) -> None:
        self.codes = np.zeros(0, np.int64)
        self.rule = np.zeros(0, np.int8)
        self.found_by = np.zeros(0, bits)

    def add(self, codes: np.ndarray, index: int) -> None:
        """Fold in one rule's sorted distinct codes."""
        bit = self.found_by.dtype.type(1 << index)
        position = np.searchsorted(self.codes, codes)
        present = position < len(self.codes)
        present[present] = self.codes[position[present]] == codes[present]
        self.found_by[position[present]] |= bit
        new = ~present
        del present
        position, codes = position[new], codes[new]
        # New codes go before the union's code at their position, in order (positions and
        # codes are both sorted): code k lands at position[k] + k of the merged arrays.
        position += np.arange(len(position))
        old = np.ones(len(self.codes) + len(codes), dtype=bool)
        old[position] = False
        self.codes = _merged(self.codes, old, position, codes)
        self.rule = _merged(self.rule, old, position, np.int8(index))
        self.found_by = _merged(self.found_by, old, position, bit)


def _merged(
    current: np.ndarray, old: np.ndarray, position: np.ndarray, added: np.ndarray | np.generic
) -> np.ndarray:
    merged = np.empty(len(old), dtype=current.dtype)
    merged[old] = current
    merged[position] = added
    return merged


def _split_codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair codes (left * n + right) as int32 left and right, `BATCH_PAIRS` at a time: no
    int64 quotient of every pair."""
    left = np.empty(len(codes), dtype=np.int32)
    right = np.empty(len(codes), dtype=np.int32)
    for start in range(0, len(codes), BATCH_PAIRS):
        quotient, remainder = np.divmod(codes[start : start + BATCH_PAIRS], max(n, 1))
        left[start : start + BATCH_PAIRS] = quotient
        right[start : start + BATCH_PAIRS] = remainder
    return left, right


def _bits_dtype(rules: int) -> type[np.unsignedinteger]:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if rules <= np.iinfo(dtype).bits:
            return dtype
    return np.uint64


def rule_descriptions() -> dict[str, str]:
    """Name -> description of every available blocking rule."""
    return {name: rule.description for name, rule in BLOCKING_RULES.items()}


# --- the rules -----------------------------------------------------------------------------


def _all(features: MatchFeatures) -> np.ndarray:
    return np.arange(features.size, dtype=np.int64)


def birth_date_key(f: MatchFeatures) -> np.ndarray:
    """Birth date with day and month in either order (-1 = null), so that a transposed date
    (1990-03-04 / 1990-04-03) lands in the same block."""
    year = f.birth_year.astype(np.int64)
    month = f.birth_month.astype(np.int64)
    day = f.birth_day.astype(np.int64)
    key = year * 10_000 + np.minimum(month, day) * 100 + np.maximum(month, day)
    return np.where(f.birth_date >= 0, key, -1)


def _postal_surname_initial(f: MatchFeatures) -> list[BlockKeys]:
    initial = lookup(f.last_name, f.name_initial)
    return [BlockKeys(_all(f), combine_codes(f.postal_code.codes, initial))]


def _birth_date_first_initial(f: MatchFeatures) -> list[BlockKeys]:
    initial = lookup(f.first_name, f.name_initial)
    return [BlockKeys(_all(f), combine_codes(birth_date_key(f), initial))]


def _surname_phonetic_city(f: MatchFeatures) -> list[BlockKeys]:
    phonetic = lookup(f.last_name, f.name_phonetic)
    return [BlockKeys(_all(f), combine_codes(phonetic, f.city.codes))]


def _birth_date_surname_phonetic(f: MatchFeatures) -> list[BlockKeys]:
    phonetic = lookup(f.last_name, f.name_phonetic)
    return [BlockKeys(_all(f), combine_codes(birth_date_key(f), phonetic))]


def _street_city(f: MatchFeatures) -> list[BlockKeys]:
    """Same street (number and name, normalised) in the same city: finds a record whose
    surname is missing or mistyped in its first letter and whose postal code is missing."""
    return [BlockKeys(_all(f), combine_codes(f.street.codes, f.city.codes))]


def _swapped_names(f: MatchFeatures) -> list[BlockKeys]:
    """Surname of one record = first name of the other, plus birth date or postal code."""
    keys = []
    for extra in (birth_date_key(f), f.postal_code.codes):
        # Both sides are coded together so that their keys share one code space.
        both = combine_codes(
            np.concatenate([f.last_name, f.first_name]), np.concatenate([extra, extra])
        )
        keys.append(BlockKeys(_all(f), both[: f.size], _all(f), both[f.size :]))
    return keys


def _full_name(f: MatchFeatures) -> list[BlockKeys]:
    """Whole name (first+last or last+first keys) plus birth date or postal code."""
    records = np.concatenate([_all(f), _all(f)])
    names = np.concatenate([f.full_name, f.reversed_name])
    return [
        BlockKeys(records, combine_codes(names, np.concatenate([extra, extra])))
        for extra in (birth_date_key(f), f.postal_code.codes)
    ]


BLOCKING_RULES: dict[str, BlockingRule] = {
    rule.name: rule
    for rule in (
        BlockingRule(
            "postal_code_surname_initial",
            "same postal code and first letter of the surname",
            ("postal_code", "last_name"),
            _postal_surname_initial,
        ),
        BlockingRule(
            "birth_date_first_initial",
            "same birth date (day/month in either order) and first letter of the first name",
            ("birth_date", "first_name"),
            _birth_date_first_initial,
        ),
        BlockingRule(
            "surname_phonetic_city",
            "same Metaphone code of the surname and same city",
            ("last_name", "city"),
            _surname_phonetic_city,
        ),
        BlockingRule(
            "street_city",
            "same street address (number and street, normalised) and same city",
            ("street", "city"),
            _street_city,
            trains=False,
        ),
        BlockingRule(
            "swapped_names",
            "surname of one = first name of the other, and same birth date or postal code",
            ("first_name", "last_name", "birth_date", "postal_code"),
            _swapped_names,
        ),
        BlockingRule(
            "birth_date_surname_phonetic",
            "same birth date (day/month in either order) and Metaphone code of the surname",
            ("birth_date", "last_name"),
            _birth_date_surname_phonetic,
        ),
        BlockingRule(
            "full_name",
            "same whole name in either order (split differently, e.g. a single-field Han "
            "name vs its pinyin in first/last), and same birth date or postal code",
            ("first_name", "last_name", "birth_date", "postal_code"),
            _full_name,
        ),
    )
}
DEFAULT_BLOCKING_RULES: tuple[str, ...] = tuple(BLOCKING_RULES)


# --- keys and pair generation --------------------------------------------------------------


def combine_codes(*columns: np.ndarray) -> np.ndarray:
    """One int64 key per row from integer code columns (each >= 0, -1 = null).

    -1 where any column is null. Keys are compacted to dense codes whenever the next mixed
    radix product could overflow int64.
    """
    valid = np.logical_and.reduce([np.asarray(column) >= 0 for column in columns])
    key = np.zeros(len(columns[0]), dtype=np.int64)
    bound = 1
    for column in columns:
        column = np.where(valid, column, 0).astype(np.int64)
        radix = int(column.max(initial=0)) + 1
        if bound * radix >= _INT64_SAFE:
            key, distinct = pd.factorize(key)
            bound = len(distinct)
        key = key * radix + column
        bound *= radix
    key[~valid] = -1
    return key


def _rule_pair_codes(
    rule: BlockingRule, features: MatchFeatures, max_block_size: int
) -> tuple[np.ndarray, int]:
    """Distinct pair codes (left * n + right) of one rule, and the number of skipped blocks."""
    parts: list[np.ndarray] = []
    skipped = 0
    for keys in rule.keys(features):
        if keys.right_key is None:
            codes, skipped_here = _self_join(keys.records, keys.key, features.size, max_block_size)
        else:
            codes, skipped_here = _cross_join(keys, features.size, max_block_size)
        parts.append(codes)
        skipped += skipped_here
    return _sorted_distinct(np.concatenate(parts)) if parts else np.zeros(0, np.int64), skipped


def _groups(key: np.ndarray, *tie_breakers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order by key (then tie breakers, last one most significant first) and group starts."""
    order = np.lexsort((*tie_breakers, key))
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    return order, starts


def _self_join(
    records: np.ndarray, key: np.ndarray, n: int, max_block_size: int
) -> tuple[np.ndarray, int]:
    valid = key >= 0
    records, key = records[valid], key[valid]
    if len(key) == 0:
        return np.zeros(0, np.int64), 0
    order, _ = _groups(key, records)
    records, key = records[order], key[order]
    # A record listed twice under one key (e.g. a one-part name's two orders) counts once.
    first = np.r_[True, (key[1:] != key[:-1]) | (records[1:] != records[:-1])]
    records, key = records[first], key[first]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    oversize = sizes > max_block_size
    used = (sizes >= 2) & ~oversize
    # Each member pairs with the members after it in its (record-sorted) group.
    members = np.flatnonzero(np.repeat(used, sizes))
    group_end = np.repeat(starts + sizes, sizes)[members]
    later = group_end - members - 1
    codes = [
        records[left_pos] * n + records[right_pos]
        for left_pos, right_pos in _expand(members, later, lambda pos, k: pos + 1 + k)
    ]
    return _concat(codes), int(oversize.sum())


def _cross_join(keys: BlockKeys, n: int, max_block_size: int) -> tuple[np.ndarray, int]:
    assert keys.right_records is not None and keys.right_key is not None
    records = np.concatenate([keys.records, keys.right_records])
    key = np.concatenate([keys.key, keys.right_key])
    side = np.r_[np.zeros(len(keys.key), np.int8), np.ones(len(keys.right_key), np.int8)]
    valid = key >= 0
    records, key, side = records[valid], key[valid], side[valid]
    if len(key) == 0:
        return np.zeros(0, np.int64), 0
    order, starts = _groups(key, records, side)
    records, side = records[order], side[order]
    sizes = np.diff(np.r_[starts, len(key)])
    right_counts = np.add.reduceat(side.astype(np.int64), starts)
    oversize = sizes > max_block_size
    used = (right_counts > 0) & (right_counts < sizes) & ~oversize
    # Left members come first in each group (side 0), then the right members.
    right_start = starts + sizes - right_counts
    per_member_used = np.repeat(used, sizes) & (side == 0)
    members = np.flatnonzero(per_member_used)
    group_of_member = np.repeat(np.arange(len(starts)), sizes)[members]
    counts = right_counts[group_of_member]
    first_right = right_start[group_of_member]
    codes = []
    for left_pos, right_pos in _expand(
        np.arange(len(members)), counts, lambda index, k: first_right[index] + k
    ):
        a, b = records[members[left_pos]], records[right_pos]
        distinct = a != b
        a, b = a[distinct], b[distinct]
        codes.append(np.minimum(a, b) * n + np.maximum(a, b))
    return _concat(codes), int(oversize.sum())


def _expand(
    members: np.ndarray,
    counts: np.ndarray,
    partner: Callable[[np.ndarray, np.ndarray], np.ndarray],
):
    """Yield (member positions, partner positions) for all pairs, in bounded batches.

    Member i has `counts[i]` partners, `partner(member, k)` for k in 0..counts[i]-1.
    """
    counts = counts.astype(np.int64)
    ends = np.cumsum(counts)
    start = 0
    while start < len(members):
        done = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, done + BATCH_PAIRS, side="right")), start + 1)
        batch_counts = counts[start:stop]
        left = np.repeat(members[start:stop], batch_counts)
        k = np.arange(len(left)) - np.repeat(np.cumsum(batch_counts) - batch_counts, batch_counts)
        yield left, partner(left, k)
        start = stop


def _sorted_distinct(codes: np.ndarray) -> np.ndarray:
    codes = np.sort(codes)
    return codes[np.r_[True, codes[1:] != codes[:-1]]] if len(codes) else codes


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


# --- incremental blocking: only the pairs of some records ----------------------------------


def candidate_pairs_touching(
    features: MatchFeatures,
    touched: np.ndarray,
    rows: np.ndarray,
    rules: Sequence[str] | None = None,
    max_block_size: int = 500,
) -> CandidatePairs:
    """The candidate pairs of `candidate_pairs` over the records `rows` (bool per feature
    row) that have at least one record in `touched` (bool per row), with the same rule
    credited: each rule joins only its blocks that hold a touched record, but those blocks
    whole, so a block's size (and whether it is skipped) is what the full blocking sees."""
    names = tuple(rules if rules is not None else DEFAULT_BLOCKING_RULES)
    n = features.size
    union = _Union(_bits_dtype(len(names)))
    skipped: dict[str, int] = {}
    for index, name in enumerate(names):
        parts: list[np.ndarray] = []
        skipped[name] = 0
        for keys in BLOCKING_RULES[name].keys(features):
            keys = _blocks_holding(keys, touched, rows)
            if keys.right_key is None:
                codes, skipped_here = _self_join(keys.records, keys.key, n, max_block_size)
            else:
                codes, skipped_here = _cross_join(keys, n, max_block_size)
            left, right = np.divmod(codes, max(n, 1))
            parts.append(codes[touched[left] | touched[right]])
            skipped[name] += skipped_here
        union.add(_sorted_distinct(_concat(parts)), index)
    return _candidate_pairs(union, n, names, skipped)


def _blocks_holding(keys: BlockKeys, touched: np.ndarray, rows: np.ndarray) -> BlockKeys:
    """`keys` limited to `rows`, and to the blocks (keys) holding a touched record."""
    sides = [(keys.records, keys.key)]
    if keys.right_records is not None and keys.right_key is not None:
        sides.append((keys.right_records, keys.right_key))
    sides = [(records[rows[records]], key[rows[records]]) for records, key in sides]
    wanted = np.unique(
        np.concatenate([key[touched[records] & (key >= 0)] for records, key in sides])
    )
    limited = [_entries_under(records, key, wanted) for records, key in sides]
    if len(limited) == 1:
        return BlockKeys(*limited[0])
    return BlockKeys(*limited[0], *limited[1])


def _under(key: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Bool per entry: is its key one of `wanted` (sorted, distinct)? A binary search of each
    key, without sorting the keys as `np.isin` does (a million entries per rule and side)."""
    if len(wanted) == 0:
        return np.zeros(len(key), dtype=bool)
    position = np.minimum(np.searchsorted(wanted, key), len(wanted) - 1)
    return wanted[position] == key


def _entries_under(
    records: np.ndarray, key: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The entries (record, key) whose key is one of `wanted` (sorted, distinct)."""
    hit = _under(key, wanted)
    return records[hit], key[hit]


@dataclass(frozen=True)
class SuspectBlocks:
    """Blocks whose skip by `max_block_size` may differ between two sets of records, and
    the records in them (bool per feature row): re-matching those records whole finds, for
    every pair of theirs, what the full blocking of the present records finds."""

    blocks: int
    records: np.ndarray


def blocks_changing_skip(
    features: MatchFeatures,
    before: np.ndarray,
    after: np.ndarray,
    rules: Sequence[str] | None = None,
    max_block_size: int = 500,
) -> SuspectBlocks:
    """The blocks over `max_block_size` (skipped) with the records `before` (bool per feature
    row) but not with those `after`, or the other way round. Sizes count as the joins count
    them: distinct records per key (self joins), entries of both sides (cross joins). None
    means every pair of records present in both is found by the same rules."""
    names = tuple(rules if rules is not None else DEFAULT_BLOCKING_RULES)
    changed = before != after
    count, marked = 0, np.zeros(features.size, dtype=bool)
    for name in names:
        for keys in BLOCKING_RULES[name].keys(features):
            crossing = _skip_changes(keys, before, after, changed, max_block_size)
            count += len(crossing)
            _mark(keys, crossing, marked)
    return SuspectBlocks(count, marked)


def _sides(keys: BlockKeys) -> list[tuple[np.ndarray, np.ndarray]]:
    sides = [(keys.records, keys.key)]
    if keys.right_records is not None and keys.right_key is not None:
        sides.append((keys.right_records, keys.right_key))
    return sides


def _mark(keys: BlockKeys, wanted: np.ndarray, marked: np.ndarray) -> None:
    """Marks every record listed under one of the `wanted` keys (either side)."""
    if len(wanted):
        for records, key in _sides(keys):
            marked[records[_under(key, np.unique(wanted))]] = True


def _skip_changes(
    keys: BlockKeys,
    before: np.ndarray,
    after: np.ndarray,
    changed: np.ndarray,
    max_block_size: int,
) -> np.ndarray:
    """The keys of the blocks crossing `max_block_size` between `before` and `after`."""
    sides = _sides(keys)
    cross = len(sides) == 2
    wanted = np.unique(
        np.concatenate([key[changed[records] & (key >= 0)] for records, key in sides])
    )
    if len(wanted) == 0:
        return wanted
    entries = [_entries_under(records, key, wanted) for records, key in sides]
    records = np.concatenate([r for r, _ in entries])
    key = np.concatenate([k for _, k in entries])
    if not cross:
        records, key = _once_per_key(records, key)
    position = np.searchsorted(wanted, key)
    size_before = np.bincount(position, weights=before[records], minlength=len(wanted))
    size_after = np.bincount(position, weights=after[records], minlength=len(wanted))
    return wanted[(size_before > max_block_size) != (size_after > max_block_size)]


def blocks_near_limit(
    features: MatchFeatures,
    rows: np.ndarray,
    vanished: int,
    rules: Sequence[str] | None = None,
    max_block_size: int = 500,
) -> SuspectBlocks:
    """The blocks of the records `rows` (bool per feature row) so close to `max_block_size`
    that `vanished` records, gone without a trace (erasure deletes their match view too), may
    have held them over it — skipped by the full blocking then, joined now — and the present
    records in them. A record counts once in a block of a self join (distinct records) and at
    most twice in one of a cross join (once per side), so the blocks suspected are those of
    size in (max_block_size - window, max_block_size] with window `vanished` or twice that."""
    marked = np.zeros(features.size, dtype=bool)
    if vanished <= 0:
        return SuspectBlocks(0, marked)
    names = tuple(rules if rules is not None else DEFAULT_BLOCKING_RULES)
    count = 0
    for name in names:
        for keys in BLOCKING_RULES[name].keys(features):
            window = vanished * (1 if keys.right_key is None else 2)
            key, sizes = _block_sizes(keys, rows)
            near = key[(sizes > max_block_size - window) & (sizes <= max_block_size)]
            count += len(near)
            _mark(keys, near, marked)
    return SuspectBlocks(count, marked & rows)


def _block_sizes(keys: BlockKeys, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each block key of the records `rows` and its entries: distinct records (self joins),
    entries of both sides (cross joins)."""
    sides = _sides(keys)
    records = np.concatenate([r[rows[r]] for r, _ in sides])
    key = np.concatenate([k[rows[r]] for r, k in sides])
    valid = key >= 0
    records, key = records[valid], key[valid]
    if len(sides) == 1:
        records, key = _once_per_key(records, key)
    return np.unique(key, return_counts=True)


def _once_per_key(records: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A self join's entries with a record listed twice under one key (a one-part name's
    two orders) counted once, as the join counts them."""
    distinct = pd.DataFrame({"r": records, "k": key}).drop_duplicates()
    return distinct["r"].to_numpy(), distinct["k"].to_numpy()
