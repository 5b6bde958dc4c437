"""What each golden profile is a function of, as one 64-bit digest per customer, so that a
nightly run recomputes only the profiles whose inputs changed.

A customer's row of `core.customer_profiles` depends on that customer's rows only: his
customer records (survivorship ranks records within the customer, so a subset of customers
gives each of them the winner the whole file gives), his `core.customer_xref` rows (the
sources of a customer known only from facts), his first and last fact time, and his campaign
opt-outs. The digest of a customer is the sum, modulo 2**64, of a hash of each of those rows,
each kind of row hashed under a key of its own: equal inputs give equal digests in any row
order, and a changed, added or removed row changes the digest (but for a 64-bit collision).
Settings that shape the profiles (source trust, consent rules) reach them through the records'
columns (`trust`) or through the code, whose change makes the step compute everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.identity.consent import apply_campaign_opt_outs
from cdp_assets.identity.golden import PROFILE_RECORD_COLUMNS
from cdp_assets.identity.membership import string_isin
from cdp_assets.identity.profiles import activity_rows, profiles_of

PROFILE_INPUT_DTYPES: dict[str, str] = {"customer_id": "string", "input_digest": "int64"}
# What a profile reads of core.customer_xref (the match rule and score do not reach it).
XREF_INPUT_COLUMNS: tuple[str, ...] = ("customer_id", "source", "identity_kind", "source_record_id")

# pandas' row hash takes a 16-character key: one per kind of row, so that a record and an
# opt-out with equal values do not hash alike.
_KEYS: dict[str, str] = {
    "records": "cdp-profile-rec1",
    "xref": "cdp-profile-xrf1",
    "activity": "cdp-profile-act1",
    "opt_outs": "cdp-profile-opt1",
}


def _row_hashes(rows: pd.DataFrame, kind: str) -> np.ndarray:
    columns = sorted(c for c in rows.columns if c != "customer_id")
    hashed = pd.util.hash_pandas_object(rows[columns], index=False, hash_key=_KEYS[kind])
    return hashed.to_numpy(dtype=np.uint64)


def profile_input_digests(parts: dict[str, pd.DataFrame | None], version: str) -> pd.DataFrame:
    """customer_id, input_digest (int64: the uint64 sum's bits), sorted by customer_id: one row
    per customer found in any part.

    `parts`: by kind (`records`, `xref`, `activity`, `opt_outs`), rows with a `customer_id`
    column (rows without one are not any customer's); every other column is hashed.
    `version` (the code's digest) is added to every customer's sum: other code, other digests,
    so every profile is computed again."""
    ids: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    for kind, rows in parts.items():
        if rows is None or rows.empty:
            continue
        rows = rows[rows["customer_id"].notna()]
        ids.append(rows["customer_id"].astype("string").to_numpy(dtype=object))
        hashes.append(_row_hashes(rows, kind))
    if not ids:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PROFILE_INPUT_DTYPES.items()})
    codes, customers = pd.factorize(np.concatenate(ids), sort=True)
    order = np.argsort(codes, kind="stable")
    row_hashes = np.concatenate(hashes)[order]
    starts = np.flatnonzero(np.concatenate(([True], np.diff(codes[order]) != 0)))
    offset = np.uint64(int.from_bytes(hashlib.sha256(version.encode()).digest()[:8], "little"))
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(row_hashes, starts, dtype=np.uint64) + offset
    return pd.DataFrame(
        {
            "customer_id": pd.array(customers, dtype="string"),
            "input_digest": sums.view(np.int64),
        }
    )


def customers_to_replace(stored: pd.DataFrame | None, current: pd.DataFrame) -> pd.Index | None:
    """The customers whose profiles an incremental run replaces, sorted: those of `current`
    whose digest is new or differs from `stored`'s, and those of `stored` no longer in
    `current` (PROFILE_INPUT_DTYPES frames). None when every profile is to be computed:
    nothing is stored, or more than half of the customers changed (rewriting the table costs
    less than replacing most of its rows)."""
    if stored is None:
        return None
    before = pd.Series(
        stored["input_digest"].to_numpy(dtype=np.int64),
        index=pd.Index(stored["customer_id"].astype("string")),
    )
    now = pd.Series(
        current["input_digest"].to_numpy(dtype=np.int64),
        index=pd.Index(current["customer_id"].astype("string")),
    )
    known = now.index.isin(before.index)
    same = np.zeros(len(now), dtype=bool)
    same[known] = before.reindex(now.index[known]).to_numpy() == now.to_numpy()[known]
    replaced = now.index[~same].union(before.index.difference(now.index))
    return None if len(replaced) > len(now) // 2 else replaced.sort_values()


def rows_of(rows: pd.DataFrame | None, customers: Iterable[str]) -> pd.DataFrame | None:
    """The rows of `rows` whose customer_id is one of `customers` (None stays None)."""
    if rows is None:
        return None
    return rows[string_isin(rows["customer_id"], customers)]


@dataclass(frozen=True)
class ProfileInputs:
    """Everything `core.customer_profiles` is computed from.

    `records`: identity records with their customer_id (`records_with_customers`; only their
    PROFILE_RECORD_COLUMNS count: a record's `node` is renumbered as records come); `xref`:
    core.customer_xref rows; `span`: customer_id, first_at, last_at of the facts (None without
    fact tables); `opt_outs`: customer_id, channel, occurred_at of campaign opt-outs."""

    records: pd.DataFrame
    xref: pd.DataFrame
    span: pd.DataFrame | None
    opt_outs: pd.DataFrame

    def digests(self, version: str) -> pd.DataFrame:
        """One input digest per customer (`profile_input_digests`)."""
        return profile_input_digests(
            {
                "records": self.records[list(PROFILE_RECORD_COLUMNS)],
                "xref": self.xref[list(XREF_INPUT_COLUMNS)],
                "activity": self.span,
                "opt_outs": self.opt_outs,
            },
            version,
        )

    def of(self, customers: pd.Index) -> ProfileInputs:
        """The rows of `customers` only."""
        return ProfileInputs(
            records=rows_of(self.records, customers),
            xref=rows_of(self.xref, customers),
            span=rows_of(self.span, customers),
            opt_outs=rows_of(self.opt_outs, customers),
        )

    def profiles(self) -> pd.DataFrame:
        """The golden profiles of every customer of `xref`, campaign opt-outs applied."""
        span = self.span if self.span is not None and len(self.span) else pd.DataFrame()
        profiles = profiles_of(self.records, self.xref, activity_rows(span))
        return apply_campaign_opt_outs(profiles, self.opt_outs)
