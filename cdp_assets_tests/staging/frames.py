"""Small hand-written raw frames and configs for staging tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.contracts.canonical import ISSUE_DTYPES, QUARANTINE_DTYPES, staging_contract

AS_OF = dt.date(2026, 11, 20)
# The wall clock the staging tests stage at: the end of AS_OF (UTC).
STAGED_AT = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
T0 = pd.Timestamp("2026-11-01 02:00", tz="UTC")


def make_config(*sources: dict[str, Any], **settings: Any) -> CDPConfig:
    data: dict[str, Any] = {"base_currency": "USD", "fx_rates": {"EUR": 1.1, "GBP": 1.25}}
    data.update(settings)
    data["sources"] = [{"format": "csv", "path": f"{s['name']}/*.csv", **s} for s in sources]
    return parse_config(data, file=Path("cdp.yaml"), base_dir=Path("."))


def raw_frame(
    rows: list[dict[str, str | None]],
    file: str = "batch_1.csv",
    batch: str = "b1",
    ingested_at: pd.Timestamp = T0,
    first_line: int = 2,
) -> pd.DataFrame:
    """Rows of source text as the raw layer holds them, with lineage."""
    columns = sorted({k for r in rows for k in r})
    frame = pd.DataFrame(
        {c: pd.array([r.get(c) for r in rows], dtype="string") for c in columns},
        index=range(len(rows)),
    )
    frame["_file"] = pd.array([file] * len(rows), dtype="string")
    frame["_line"] = pd.array(range(first_line, first_line + len(rows)), dtype="Int64")
    frame["_batch_id"] = pd.array([batch] * len(rows), dtype="string")
    frame["_ingested_at"] = pd.Series([ingested_at] * len(rows), dtype="datetime64[us, UTC]")
    frame["_row_hash"] = pd.array(range(len(rows)), dtype="Int64")
    return frame


def dtypes_of(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


def assert_contracts(result: Any, kind: str) -> None:
    assert dtypes_of(result.staged) == staging_contract(kind)
    assert dtypes_of(result.quarantine) == QUARANTINE_DTYPES
    assert dtypes_of(result.issues) == ISSUE_DTYPES


def assert_conserved(result: Any, raw: pd.DataFrame) -> None:
    superseded = int((result.issues["action"] == "superseded").sum())
    assert len(raw) == len(result.staged) + len(result.quarantine) + superseded
    assert superseded == result.superseded


def issues_of(result: Any, field: str | None = None) -> list[tuple[str, str, str, str]]:
    """(record_id, field, rule, action) of each issue (optionally of one field)."""
    issues = result.issues
    if field is not None:
        issues = issues[issues["field"] == field]
    return [(r.record_id, r.field, r.rule, r.action) for r in issues.itertuples(index=False)]
