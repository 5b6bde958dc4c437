"""Small hand-built identity inputs for the resolution tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.identity.nodes import COMBO_DTYPES, FACT_KEY_COLUMNS
from cdp_assets.identity.records import RECORD_DTYPES
from cdp_assets.identity.shared import DENSITY_DTYPES
from cdp_assets.identity.stable_ids import ALIAS_DTYPES, ASSIGNMENT_DTYPES

SOURCES: list[dict[str, Any]] = [
    {
        "name": "shop",
        "kind": "customers",
        "format": "csv",
        "path": "s/*.csv",
        "trust": 80,
        "columns": {"source_record_id": "id"},
    },
    {
        "name": "crm",
        "kind": "customers",
        "format": "csv",
        "path": "c/*.csv",
        "trust": 60,
        "columns": {"source_record_id": "id"},
    },
    {
        "name": "orders",
        "kind": "orders",
        "format": "csv",
        "path": "o/*.csv",
        "customer_ref_source": "shop",
        "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
    },
    {
        "name": "pos",
        "kind": "orders",
        "format": "csv",
        "path": "p/*.csv",
        "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
    },
    {
        "name": "web",
        "kind": "events",
        "format": "jsonl",
        "path": "w/*.jsonl",
        "customer_ref_source": "shop",
        "columns": {"event_id": "id", "event_type": "t", "occurred_at": "ts"},
    },
]


def config(identity: dict[str, Any] | None = None) -> CDPConfig:
    data: dict[str, Any] = {"sources": SOURCES}
    if identity is not None:
        data["identity"] = identity
    return CDPConfig.model_validate(data)


def records(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Identity records from partial rows (source, record_id, and any fields)."""
    frame = pd.DataFrame(rows)
    for column, dtype in RECORD_DTYPES.items():
        if column not in frame.columns and dtype != "int64":  # node, trust: set below
            frame[column] = pd.Series(
                pd.NA if not dtype.startswith("datetime") else pd.NaT,
                index=frame.index,
                dtype=dtype,
            )
    frame["trust"] = frame["source"].map({"shop": 80, "crm": 60}).fillna(1)
    frame["birth_date"] = pd.to_datetime(frame["birth_date"])
    frame = frame.sort_values(["source", "record_id"], ignore_index=True)
    frame["node"] = range(len(frame))
    return frame[list(RECORD_DTYPES)].astype(RECORD_DTYPES)


def combos(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["source", *FACT_KEY_COLUMNS])
    return frame.astype(COMBO_DTYPES)


def no_density() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in DENSITY_DTYPES.items()})


def no_previous() -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        pd.DataFrame({c: pd.Series(dtype=t) for c, t in ASSIGNMENT_DTYPES.items()}),
        pd.DataFrame({c: pd.Series(dtype=t) for c, t in ALIAS_DTYPES.items()}),
    )


SEEN = pd.Timestamp("2025-01-01", tz="UTC")


def typed_records(*rows: dict[str, Any], **defaults: Any) -> pd.DataFrame:
    """Identity records typed as RECORD_DTYPES plus customer_id; unspecified fields null.
    Rows default to source "shop", trust 1, seen and created at SEEN, record ids 0, 1, ..."""
    base = {"source": "shop", "trust": 1, "seen_at": SEEN, "created_at": SEEN} | defaults
    full = [{**base, "record_id": str(i), **row} for i, row in enumerate(rows)]
    columns = {"customer_id": "string", **RECORD_DTYPES}
    frame = pd.DataFrame({c: [r.get(c) for r in full] for c in columns})
    for column, dtype in columns.items():
        if dtype.startswith("datetime64"):
            frame[column] = pd.to_datetime(frame[column], utc=dtype.endswith("UTC]"))
    frame["node"] = range(len(frame))
    return frame.astype(columns)
