"""Golden customer profiles (`core.customer_profiles`): one row per customer, each field
group taken whole from that customer's best record, plus consent and activity span.

Survivorship, per field group (`FIELD_GROUPS`): among the customer's records where at least
one field of the group is non-null (blank strings count as null), the winner is the record
with the highest source `trust`, then the most recent `seen_at` (null is oldest), then the
most complete group (most non-null fields), then the smallest (`source`, `record_id`), so
the result never depends on row order. All fields of a group come from its winner -- an
address is never mixed from two records -- and `<group>_source` / `<group>_record_id` name it.

`full_name` is "first last"; for names written in Han characters only it is family name then
given name without a space ("王" + "小明" -> "王小明"). Consent columns: see `consent.py`.

Vectorised: customers and records are ranked once, each group's winner is a minimum of one
int64 key per customer (`numpy.minimum.at`); no Python loop runs per customer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.contracts.golden_profile import FIELD_GROUPS, GOLDEN_PROFILE_DTYPES
from cdp_assets.identity.consent import CONSENT_INPUT_COLUMNS, consent_columns, epoch_micros
from cdp_assets.identity.records import RECORD_DTYPES
from cdp_assets.warehouse import coerce_frame

ACTIVITY_DTYPES: dict[str, str] = {"customer_id": "string", "occurred_at": "datetime64[us, UTC]"}

# Every column of a record that golden profiles read.
PROFILE_RECORD_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "created_at",
    *CONSENT_INPUT_COLUMNS,
    *(field for fields in FIELD_GROUPS.values() for field in fields),
)
_NEVER = np.iinfo(np.int64).min  # NaT as int64
_LAST = np.iinfo(np.int64).max
# Han ideographs (radicals, CJK unified + extensions, compatibility) and the iteration mark.
_HAN_NAME = (
    "[\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+"
)


def empty_profiles() -> pd.DataFrame:
    """A profile frame with no rows, typed as GOLDEN_PROFILE_DTYPES."""
    return coerce_frame(pd.DataFrame(), GOLDEN_PROFILE_DTYPES)


def _check_columns(records: pd.DataFrame) -> None:
    missing = [c for c in PROFILE_RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"golden profiles: records lack column(s) {', '.join(missing)}")


def _typed_records(records: pd.DataFrame) -> pd.DataFrame:
    """The columns golden profiles read, typed, positionally indexed, blank strings as null."""
    dtypes = {c: RECORD_DTYPES.get(c, "string") for c in PROFILE_RECORD_COLUMNS}
    for column in ("customer_id", "source", "record_id", "trust"):
        if records[column].isna().any():
            raise ValueError(f"golden profiles: records with a null {column}")
    typed = records[list(PROFILE_RECORD_COLUMNS)].reset_index(drop=True)
    for column, dtype in dtypes.items():
        if dtype.endswith("UTC]"):
            typed[column] = pd.to_datetime(typed[column], utc=True)
    typed = typed.astype(dtypes)
    for column, dtype in dtypes.items():
        if dtype == "string" and column not in ("customer_id", "source", "record_id"):
            blank = (typed[column].str.strip() == "").fillna(False)
            if blank.any():
                typed[column] = typed[column].mask(blank)
    return typed


@dataclass(frozen=True)
class _Customers:
    """Dense customer codes: `ids[codes[i]]` is record i's customer, ids sorted."""

    ids: pd.Index
    codes: np.ndarray

    @classmethod
    def of(cls, customer_id: pd.Series) -> _Customers:
        codes, ids = pd.factorize(customer_id, sort=True)
        return cls(ids=pd.Index(ids, dtype="string"), codes=codes.astype(np.int64))

    def positions(self, customer_id: pd.Series) -> np.ndarray:
        """Customer code of each id; -1 for ids not among the customers."""
        found = pc.index_in(pa.array(customer_id.astype("string")), value_set=pa.array(self.ids))
        return pc.fill_null(found, -1).to_numpy().astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def minimum(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Per customer minimum of int64 `values` (where `mask`); int64 max when none."""
        out = np.full(len(self), _LAST, dtype=np.int64)
        codes = self.codes if mask is None else self.codes[mask]
        np.minimum.at(out, codes, values if mask is None else values[mask])
        return out

    def maximum(self, values: np.ndarray) -> np.ndarray:
        """Per customer maximum of int64 `values`; int64 min (NaT) when none."""
        out = np.full(len(self), _NEVER, dtype=np.int64)
        np.maximum.at(out, self.codes, values)
        return out


@dataclass(frozen=True)
class _Precedence:
    """Record ranks for survivorship.

    `standing`: dense rank by (trust desc, seen_at desc), 0 = best. `order`: rank by
    (source, record_id) ascending, a permutation of 0..n-1; `by_order` is its inverse.
    """

    standing: np.ndarray
    order: np.ndarray
    by_order: np.ndarray

    @classmethod
    def of(cls, records: pd.DataFrame) -> _Precedence:
        trust = records["trust"].to_numpy(dtype=np.int64)
        seen = epoch_micros(records["seen_at"])
        sort = np.lexsort((seen, trust))  # ascending: worst first
        trust_sorted, seen_sorted = trust[sort], seen[sort]
        changed = (trust_sorted[1:] != trust_sorted[:-1]) | (seen_sorted[1:] != seen_sorted[:-1])
        step = np.concatenate(([0], changed.cumsum()))
        standing = np.empty(len(records), dtype=np.int64)
        standing[sort] = step[-1] - step
        table = pa.table({"s": pa.array(records["source"]), "r": pa.array(records["record_id"])})
        by_order = pc.sort_indices(
            table, sort_keys=[("s", "ascending"), ("r", "ascending")]
        ).to_numpy()
        order = np.empty(len(records), dtype=np.int64)
        order[by_order] = np.arange(len(records), dtype=np.int64)
        return cls(standing=standing, order=order, by_order=by_order.astype(np.int64))

    def key(self, missing: np.ndarray, width: int) -> np.ndarray:
        """One int64 per record, smaller = better: (standing, missing fields, order).

        `missing` counts the group's null fields (0..width)."""
        n = len(self.order)
        if (int(self.standing.max(initial=0)) + 1) * (width + 1) * max(n, 1) >= 2**63:
            raise ValueError("golden profiles: too many records for the survivorship key")
        return (self.standing * (width + 1) + missing) * n + self.order

    def record_of(self, key: np.ndarray) -> np.ndarray:
        """Record positions encoded in `key` values; -1 where key is int64 max (none)."""
        n = max(len(self.order), 1)
        found = key != _LAST
        return np.where(found, self.by_order[np.where(found, key % n, 0)], -1)


def _winners(
    records: pd.DataFrame, fields: tuple[str, ...], customers: _Customers, ranks: _Precedence
) -> np.ndarray:
    """Per customer, the position of the record whose `fields` survive; -1 if all null."""
    filled = np.zeros(len(records), dtype=np.int64)
    for field in fields:
        filled += records[field].notna().to_numpy(dtype=np.int64)
    eligible = filled > 0
    key = ranks.key(len(fields) - filled, len(fields))
    return ranks.record_of(customers.minimum(key, eligible))


def _take(values: pd.Series, positions: np.ndarray) -> pd.Series:
    """values at positions (-1 gives null), as a new positionally indexed Series."""
    return pd.Series(values.array.take(positions, allow_fill=True), dtype=values.dtype)


def full_name(first: pd.Series, last: pd.Series) -> pd.Series:
    """'first last'; family name first without a space when every given part is Han script.

    Only one part given -> that part; neither -> null.
    """
    first = first.astype("string")
    last = last.astype("string")
    han = (first.isna() | first.str.fullmatch(_HAN_NAME)) & (
        last.isna() | last.str.fullmatch(_HAN_NAME)
    )
    han = han.fillna(False)
    joined = (first + " " + last).where(~han, last + first)
    return joined.fillna(first).fillna(last).astype("string")


def _group_columns(
    records: pd.DataFrame,
    group: str,
    fields: tuple[str, ...],
    customers: _Customers,
    ranks: _Precedence,
) -> dict[str, pd.Series]:
    winner = _winners(records, fields, customers, ranks)
    columns = {field: _take(records[field], winner) for field in fields}
    if group == "name":
        columns["full_name"] = full_name(columns["first_name"], columns["last_name"])
    columns[f"{group}_source"] = _take(records["source"], winner)
    columns[f"{group}_record_id"] = _take(records["record_id"], winner)
    return columns


def _typed_activity(activity: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ACTIVITY_DTYPES if c not in activity.columns]
    if missing:
        raise ValueError(f"golden profiles: activity lacks column(s) {', '.join(missing)}")
    return activity[list(ACTIVITY_DTYPES)].reset_index(drop=True)


def _instants(micros: np.ndarray) -> pd.Series:
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def _seen_span(
    records: pd.DataFrame, activity: pd.DataFrame | None, customers: _Customers
) -> dict[str, pd.Series]:
    """first_seen / last_seen: earliest and latest created_at, seen_at and activity time."""
    times = [epoch_micros(records["created_at"]), epoch_micros(records["seen_at"])]
    first = np.full(len(customers), _LAST, dtype=np.int64)
    last = np.full(len(customers), _NEVER, dtype=np.int64)
    for micros in times:
        known = micros != _NEVER
        first = np.minimum(first, customers.minimum(micros, known))
        last = np.maximum(last, customers.maximum(micros))
    if activity is not None and len(activity):
        activity = _typed_activity(activity)
        codes = customers.positions(activity["customer_id"])
        micros = epoch_micros(activity["occurred_at"])
        use = (codes >= 0) & (micros != _NEVER)
        np.minimum.at(first, codes[use], micros[use])
        np.maximum.at(last, codes[use], micros[use])
    first = np.where(first == _LAST, _NEVER, first)
    return {"first_seen": _instants(first), "last_seen": _instants(last)}


def _source_summary(records: pd.DataFrame, customers: _Customers) -> dict[str, pd.Series]:
    """sources (sorted, comma-separated, distinct), source_count and record_count."""
    source_codes, source_names = pd.factorize(records["source"], sort=True)
    width = max(len(source_names), 1)
    pairs = np.sort(customers.codes * width + source_codes)
    pairs = pairs[np.concatenate(([True], np.diff(pairs) != 0))]
    pair_customer = pairs // width
    counts = np.bincount(pair_customer, minlength=len(customers))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    names = pa.array(np.asarray(source_names, dtype=object)[pairs % width], type=pa.string())
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), names), ",")
    return {
        "sources": pd.Series(joined.to_pandas(), dtype="string"),
        "source_count": pd.Series(counts, dtype="int64"),
        "record_count": pd.Series(np.bincount(customers.codes, minlength=len(customers))),
    }


def golden_profiles(records: pd.DataFrame, activity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Golden profiles: one row per `customer_id`, sorted by it, typed GOLDEN_PROFILE_DTYPES.

    `records`: identity records (records.RECORD_DTYPES) plus `customer_id` (non-null).
    `activity`: optional rows (`customer_id`, `occurred_at` UTC) from orders, events, tickets
    or surveys; they widen first_seen/last_seen of customers present in `records` (others are
    ignored).
    """
    _check_columns(records)
    if len(records) == 0:
        return empty_profiles()
    records = _typed_records(records)
    customers = _Customers.of(records["customer_id"])
    ranks = _Precedence.of(records)
    columns: dict[str, pd.Series] = {"customer_id": pd.Series(customers.ids.array)}
    for group, fields in FIELD_GROUPS.items():
        columns.update(_group_columns(records, group, fields, customers, ranks))
    columns.update(consent_columns(records, customers.codes, len(customers)))
    columns.update(_seen_span(records, activity, customers))
    columns.update(_source_summary(records, customers))
    profiles = pd.DataFrame({c: columns[c].reset_index(drop=True) for c in GOLDEN_PROFILE_DTYPES})
    return profiles.astype(GOLDEN_PROFILE_DTYPES)
