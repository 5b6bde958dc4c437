"""What each golden profile is a function of, as one 64-bit digest per customer, so that a
nightly run recomputes only the profiles whose inputs changed.

A customer's row of `core.customer_profiles` depends on that customer's rows only: his
customer records (survivorship ranks records within the customer, so a subset of customers
gives each of them the winner the whole file gives), his `core.customer_xref` rows (the
sources of a customer known only from facts), his first and last fact time, and his campaign
opt-outs. The digest of a customer is the sum, modulo 2**64, of a hash of each of those rows,
each kind of row hashed with its kind's name: equal inputs give equal digests in any row
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
import pyarrow as pa

from cdp_assets.identity.consent import apply_campaign_opt_outs
from cdp_assets.identity.golden import PROFILE_RECORD_COLUMNS
from cdp_assets.identity.key_join import query_arrow
from cdp_assets.identity.membership import arrow_strings, string_isin
from cdp_assets.identity.profiles import activity_rows, profiles_of

PROFILE_INPUT_DTYPES: dict[str, str] = {"customer_id": "string", "input_digest": "int64"}
# What a profile reads of core.customer_xref (the match rule and score do not reach it).
XREF_INPUT_COLUMNS: tuple[str, ...] = ("customer_id", "source", "identity_kind", "source_record_id")

# Each kind of row is hashed with its name first, so that a record and an opt-out with equal
# values do not hash alike.
KINDS: tuple[str, ...] = ("records", "xref", "activity", "opt_outs")
_MODULUS = 2**64


def _arrow(rows: pd.DataFrame) -> pa.Table:
    rows = rows[rows["customer_id"].notna()]
    return pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)


def _kind_sql(kind: str, columns: list[str]) -> str:
    hashed = ", ".join(f'"{c}"' for c in sorted(columns) if c != "customer_id")
    return f"SELECT customer_id, CAST(hash('{kind}', {hashed}) AS HUGEINT) AS h FROM {kind}"


def profile_input_digests(parts: dict[str, pd.DataFrame | None], version: str) -> pd.DataFrame:
    """customer_id, input_digest (int64: the bits of the uint64 sum), sorted by customer_id:
    one row per customer found in any part.

    `parts`: by kind (`KINDS`), rows with a `customer_id` column (rows without one are not
    any customer's); every other column is hashed. `version` (the code's digest) is added to
    every customer's sum: other code, other digests, so every profile is computed again.
    The rows are hashed and summed by an in-memory DuckDB over their Arrow columns (in C++,
    on every core: pandas' row hash made a Python string of every value)."""
    unknown = sorted(set(parts) - set(KINDS))
    if unknown:
        raise ValueError(f"profile inputs: unknown kind(s) {', '.join(unknown)}")
    if any(rows is not None and list(rows.columns) == ["customer_id"] for rows in parts.values()):
        raise ValueError("profile inputs: rows with nothing but a customer_id to hash")
    tables = {kind: _arrow(rows) for kind, rows in parts.items() if rows is not None and len(rows)}
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PROFILE_INPUT_DTYPES.items()})
    offset = int.from_bytes(hashlib.sha256(version.encode()).digest()[:8], "little")
    union = " UNION ALL ".join(_kind_sql(k, t.column_names) for k, t in tables.items())
    sql = (
        f"SELECT customer_id, CAST((SUM(h) + {offset}) % {_MODULUS} AS UBIGINT) AS digest "
        f"FROM ({union}) rows GROUP BY customer_id ORDER BY customer_id"
    )
    result = query_arrow(tables, sql)
    digests = result["digest"].to_numpy().astype(np.uint64, copy=False)
    return pd.DataFrame(
        {
            "customer_id": pd.array(result["customer_id"].to_pandas(), dtype="string"),
            "input_digest": digests.view(np.int64),
        }
    )


def _digest_table(digests: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "customer_id": arrow_strings(digests["customer_id"]),
            "digest": pa.array(digests["input_digest"].to_numpy(dtype=np.int64)),
        }
    )


def customers_to_replace(stored: pd.DataFrame | None, current: pd.DataFrame) -> pd.Index | None:
    """The customers whose profiles an incremental run replaces, sorted: those of `current`
    whose digest is new or differs from `stored`'s, and those of `stored` no longer in
    `current` (PROFILE_INPUT_DTYPES frames). None when every profile is to be computed:
    nothing is stored, or more than half of the customers changed (rewriting the table costs
    less than replacing most of its rows). Joined in an in-memory DuckDB: pandas' index
    operations on a million string ids took seconds."""
    if stored is None:
        return None
    replaced = query_arrow(
        {"stored": _digest_table(stored), "current": _digest_table(current)},
        "SELECT COALESCE(c.customer_id, s.customer_id) AS customer_id "
        "FROM current c FULL OUTER JOIN stored s ON s.customer_id = c.customer_id "
        "WHERE c.digest IS DISTINCT FROM s.digest ORDER BY 1",
    )
    if replaced.num_rows > len(current) // 2:
        return None
    return pd.Index(pd.array(replaced["customer_id"].to_pandas(), dtype="string"))


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
        activity = activity_rows(self.span) if self.span is not None else None
        profiles = profiles_of(self.records, self.xref, activity)
        return apply_campaign_opt_outs(profiles, self.opt_outs)
