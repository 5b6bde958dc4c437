"""The `make summary` lines about erasure requests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdp_assets.privacy.erasure import ERASURE_LOG, ERASURE_LOG_DTYPES
from cdp_assets.reporting.summary import activation_lines
from cdp_assets.warehouse import Warehouse, coerce_frame


def _log_row(request_id: str, status: str, day: int, people: int, hint: str | None) -> dict:
    return {
        "request_id": request_id,
        "request_source": "erasure_requests",
        "identifier_hashes": "[]",
        "identifiers": 1,
        "customers_erased": 1 if status == "erased" else 0,
        "requested_at": pd.Timestamp("2026-11-01", tz="UTC"),
        "completed_at": pd.Timestamp(f"2026-11-{day:02d}", tz="UTC"),
        "status": status,
        "rows_deleted": 9 if status == "erased" else 0,
        "tables_touched": "{}",
        "export_rows_removed": 0,
        "run_id": f"run-{day}",
        "people_matched": people,
        "resolution_hint": hint,
    }


def test_the_summary_lists_requests_still_ambiguous_with_what_would_settle_them(
    tmp_path: Path,
) -> None:
    hint = "add the customer's customer_id or their own email"
    rows = [
        _log_row("R1", "ambiguous", 2, 2, hint),  # re-sent with an email, then erased
        _log_row("R1", "erased", 3, 1, None),
        _log_row("R2", "ambiguous", 2, 3, hint),  # still waiting: logged on every run
        _log_row("R2", "ambiguous", 3, 3, hint),
    ]
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    frame = coerce_frame(pd.DataFrame(rows), ERASURE_LOG_DTYPES)
    warehouse.replace_table(ERASURE_LOG, frame[list(ERASURE_LOG_DTYPES)])
    lines = activation_lines(warehouse)
    start = lines.index(
        "Ambiguous erasure requests (nobody erased; they wait for one more identifier):"
    )
    assert lines[start + 1 :] == [f"  R2: matches 3 people; {hint}"]
