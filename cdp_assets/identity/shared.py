"""Over-merge protection: identifier values that several different people share.

A value is *shared*, and never used for linking, when
- it matches a configured blocked pattern (`identity.blocked_values`: test addresses,
  placeholder phones);
- more customer records carry it than `identity.identifier_limits` allows for its type;
- two customer records carrying it describe different people: birth dates that differ other
  than by a day/month transposition, or first names that are neither similar, nickname
  equivalents nor the same name swapped with the family name (a household's landline);
- fact rows carry it implausibly densely: more than `identity.max_fact_rows_per_day` on one
  day (a store's own phone number typed at the till for customers who give none).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cdp_assets.config import IdentityConfig
from cdp_assets.identity.people import first_names_compatible

SHARED_DTYPES: dict[str, str] = {
    "type": "string",
    "value": "string",
    "records": "int64",  # customer records carrying the value
    "rule": "string",  # blocked_value | too_many_records | conflicting_people | dense_facts
    "reason": "string",
}
DENSITY_DTYPES: dict[str, str] = {"type": "string", "value": "string", "max_rows_per_day": "int64"}


def _blocked(values: pd.DataFrame, config: IdentityConfig) -> pd.Series:
    hit = pd.Series(False, index=values.index)
    for kind, patterns in config.blocked_values.items():
        if not patterns:
            continue
        compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
        of_kind = (values["type"] == kind).to_numpy()
        matched = [any(rx.search(v) for rx in compiled) for v in values["value"][of_kind]]
        hit[of_kind] = np.asarray(matched, dtype=bool)
    return hit


def _birth_dates_conflict(a: pd.Series, b: pd.Series) -> np.ndarray:
    both = a.notna() & b.notna()
    same = a == b
    transposed = (a.dt.year == b.dt.year) & (a.dt.month == b.dt.day) & (a.dt.day == b.dt.month)
    return (both & ~same.fillna(False) & ~transposed.fillna(False)).to_numpy(dtype=bool)


def _conflicting_values(occ: pd.DataFrame, records: pd.DataFrame, limit: pd.Series) -> pd.Index:
    """(type, value) pairs whose customer records describe two different people."""
    small = occ[occ["records"].between(2, limit.reindex(occ["type"]).to_numpy())]
    if small.empty:
        return pd.MultiIndex.from_arrays([[], []], names=["type", "value"])
    people = records.set_index("node")[["first_name", "last_name", "birth_date"]]
    left = small[["type", "value", "node"]]
    pairs = left.merge(left, on=["type", "value"], suffixes=("_a", "_b"))
    pairs = pairs[pairs["node_a"] < pairs["node_b"]]
    a = people.reindex(pairs["node_a"].to_numpy())
    b = people.reindex(pairs["node_b"].to_numpy())
    dates = _birth_dates_conflict(
        a["birth_date"].reset_index(drop=True), b["birth_date"].reset_index(drop=True)
    )
    names = ~first_names_compatible(
        a["first_name"].reset_index(drop=True),
        b["first_name"].reset_index(drop=True),
        a["last_name"].reset_index(drop=True),
        b["last_name"].reset_index(drop=True),
    )
    conflict = pairs[dates | names]
    return pd.MultiIndex.from_frame(conflict[["type", "value"]].drop_duplicates())


def shared_identifiers(
    occurrences: pd.DataFrame,
    records: pd.DataFrame,
    density: pd.DataFrame,
    config: IdentityConfig,
) -> pd.DataFrame:
    """The shared values (SHARED_DTYPES), one row per value with the first rule it trips.

    `occurrences`: node, type, value (nodes < len(records) are customer records);
    `density`: type, value, max_rows_per_day over the fact sources.
    """
    record_occ = occurrences[occurrences["node"] < len(records)]
    counts = record_occ.groupby(["type", "value"]).size().rename("records")
    values = occurrences[["type", "value"]].drop_duplicates().set_index(["type", "value"])
    values = values.join(counts).fillna({"records": 0}).reset_index()
    values["records"] = values["records"].astype("int64")
    limit = pd.Series(config.identifier_limits, dtype="int64")

    rule = pd.Series(pd.NA, index=values.index, dtype="string")
    reason = pd.Series(pd.NA, index=values.index, dtype="string")

    def mark(mask: pd.Series, name: str, why: pd.Series | str) -> None:
        fresh = mask.fillna(False) & rule.isna()
        rule[fresh] = name
        reason[fresh] = why[fresh] if isinstance(why, pd.Series) else why

    mark(_blocked(values, config), "blocked_value", "matches identity.blocked_values")
    over = values["records"] > limit.reindex(values["type"]).to_numpy()
    mark(
        pd.Series(over, index=values.index),
        "too_many_records",
        values["records"].astype("string") + " customer records carry it",
    )
    record_occ = record_occ.merge(values[["type", "value", "records"]], on=["type", "value"])
    conflicting = _conflicting_values(record_occ, records, limit)
    in_conflict = pd.MultiIndex.from_frame(values[["type", "value"]]).isin(conflicting)
    mark(
        pd.Series(in_conflict, index=values.index),
        "conflicting_people",
        "records with different birth dates or first names carry it",
    )
    if len(density):
        dense = values.merge(density, on=["type", "value"], how="left")["max_rows_per_day"]
        too_dense = dense.fillna(0).to_numpy() > config.max_fact_rows_per_day
        mark(
            pd.Series(too_dense, index=values.index),
            "dense_facts",
            "up to " + dense.fillna(0).astype("int64").astype("string") + " fact rows in one day",
        )
    shared = values.assign(rule=rule, reason=reason)[rule.notna()]
    return shared[list(SHARED_DTYPES)].astype(SHARED_DTYPES).reset_index(drop=True)
