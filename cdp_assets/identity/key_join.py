"""Which rows of two tables hold the same key, by row position: the outer join an incremental
resolution makes of the current records and fact identity combinations with the stored ones.

pandas merges string keys by factorising every key column of both sides (seconds per million
rows, more with six columns of combinations), and even a merge on a 64-bit hash of each row's
key spends most of its time hashing the strings in Python's objects (2.7 s for 1.3 million
two-column keys). `outer_join_rows` hands the key columns to an in-memory DuckDB as Arrow
arrays (no copy) and lets its hash join, in C++ on every core, pair the rows (0.3 s for the
same keys). The join is on the key values themselves, so the answer is the exact join's.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from cdp_assets.identity.membership import arrow_strings


def _key_table(frame: pd.DataFrame, on: list[str], rows: bool = True) -> pa.Table:
    """`frame`'s `on` columns as Arrow text columns k0, k1, … (and its row positions)."""
    columns = {f"k{i}": arrow_strings(frame[column]) for i, column in enumerate(on)}
    if rows:
        columns["row"] = pa.array(np.arange(len(frame), dtype=np.int64))
    return pa.table(columns)


def _key_tables(
    left: pd.DataFrame, right: pd.DataFrame, on: list[str]
) -> tuple[dict[str, pa.Table], str]:
    """Both sides' key columns and row positions as Arrow tables, and the join condition
    (nulls equal nulls, as in `merge`)."""
    tables = {"left_rows": _key_table(left, on), "right_rows": _key_table(right, on)}
    same = " AND ".join(f"l.k{i} IS NOT DISTINCT FROM r.k{i}" for i in range(len(on)))
    return tables, same


def query_arrow(tables: dict[str, pa.Table], sql: str) -> pa.Table:
    """`sql` run by a fresh in-memory DuckDB over the Arrow `tables` (by name), as Arrow."""
    connection = duckdb.connect()
    try:
        for name, table in tables.items():
            connection.register(name, table)
        return connection.sql(sql).to_arrow_table()
    finally:
        connection.close()


def _positions(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy().astype(np.int64, copy=False)


def outer_join_rows(left: pd.DataFrame, right: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """One row per pair of rows of `left` and `right` with equal `on` columns (nulls equal
    nulls, as in `merge`) and per row of either side without one: `left` and `right`, the
    row positions (-1: none), ordered by `left` then `right` (the rows without a left one
    last)."""
    tables, same = _key_tables(left, right, on)
    joined = query_arrow(
        tables,
        "SELECT coalesce(l.row, -1) AS left_row, coalesce(r.row, -1) AS right_row "
        f"FROM left_rows AS l FULL OUTER JOIN right_rows AS r ON {same} "
        "ORDER BY l.row NULLS LAST, r.row",
    )
    return pd.DataFrame(
        {"left": _positions(joined["left_row"]), "right": _positions(joined["right_row"])}
    )


def first_positions(frame: pd.DataFrame, keys: pd.DataFrame, on: list[str]) -> np.ndarray:
    """Per row of `frame`, the position of the first row of `keys` with equal `on` columns
    (nulls equal nulls), or -1: a lookup of many rows in a keyed table, without building a
    pandas MultiIndex of either (seconds per million string pairs)."""
    tables, same = _key_tables(frame, keys, on)
    found = query_arrow(
        tables,
        "SELECT l.row AS row, coalesce(min(r.row), -1) AS found "
        f"FROM left_rows AS l LEFT JOIN right_rows AS r ON {same} "
        "GROUP BY l.row ORDER BY l.row",
    )
    return _positions(found["found"])


def distinct_sorted(frame: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """The distinct rows of `frame`'s `on` columns (text) in ascending order, nulls last, as
    `drop_duplicates` then `sort_values` give them (strings compare by code point)."""
    order = ", ".join(f"k{i} NULLS LAST" for i in range(len(on)))
    found = query_arrow(
        {"keys": _key_table(frame, on, rows=False)}, f"SELECT DISTINCT * FROM keys ORDER BY {order}"
    )
    return pd.DataFrame(
        {
            column: found[f"k{i}"].to_pandas(types_mapper=pd.ArrowDtype).astype("string")
            for i, column in enumerate(on)
        }
    )
