"""Figures that look wrong without a word say why in the asset metadata."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdp_assets.config import parse_config
from cdp_assets.defs.identity.profiles import _ads_note, _metadata

ACCOUNTS = {
    "name": "shop_accounts",
    "kind": "customers",
    "format": "csv",
    "path": "accounts/*.csv",
    "columns": {"source_record_id": "id", "email": "email"},
}


def _config(tmp_path: Path, **extra_columns: str):
    source = ACCOUNTS | {"columns": ACCOUNTS["columns"] | extra_columns}
    return parse_config({"sources": [source]}, file=tmp_path / "cdp.yaml", base_dir=tmp_path)


def test_ads_consent_says_it_is_an_opt_out_and_why_everyone_has_it(tmp_path: Path) -> None:
    unmapped = _ads_note(140, 140, _config(tmp_path))
    assert "opt-out" in unmapped and "no customers source maps ads_opt_out" in unmapped
    assert "all 140 are true" in unmapped
    mapped = _ads_note(130, 140, _config(tmp_path, ads_opt_out="no_ads"))
    assert "mapped in shop_accounts" in mapped and "10 opted out" in mapped


def test_records_per_customer_is_sorted_and_explains_zero(tmp_path: Path) -> None:
    figures = pd.DataFrame(
        {
            "records": [0, 1, 2, 10],
            "customers": [1, 2, 1, 1],
            "email_consent": [0, 1, 1, 0],
            "sms_consent": [0, 0, 0, 0],
            "ads_consent": [1, 2, 1, 1],
            "with_email": [0, 1, 1, 0],
            "with_phone": [0, 0, 0, 0],
        }
    )
    metadata = _metadata(figures, pd.DataFrame({"customer_id": ["C1"]}), _config(tmp_path))
    table = metadata["records_per_customer"].md_str
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == [
        "| customer records | customers |",
        "| 0 | 1 |",
        "| 1 | 2 |",
        "| 2 | 1 |",
        "| 10 or more | 1 |",
    ]
    assert "0 customer records: a customer known only from facts" in table
    assert metadata["dagster/row_count"] == 5
    assert (metadata["email_consent"], metadata["with_email"], metadata["ads_consent"]) == (2, 2, 5)
