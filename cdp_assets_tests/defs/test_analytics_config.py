"""A bad audience rule stops the code location from loading, with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cdp_assets.config import ConfigError

CONFIG = {
    "landing_dir": "landing",
    "sources": [
        {
            "name": "orders",
            "kind": "orders",
            "format": "csv",
            "path": "orders/*.csv",
            "columns": {"order_id": "id", "customer_ref": "c", "ordered_at": "t", "amount": "a"},
        }
    ],
}


def test_bad_audience_rule_names_the_audience_and_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = CONFIG | {
        "analytics": {
            "audiences": [
                {"name": "big_spenders", "rule": "monetary >= 500"},
                {"name": "broken", "rule": "monetary >= 500 and (recency_days < 30"},
            ]
        }
    }
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("CDP_CONFIG", str(path))
    from cdp_assets.defs.analytics.definitions import analytics

    with pytest.raises(ConfigError, match=r"analytics\.audiences\[1\] \(broken\).*position"):
        analytics()


def test_incomplete_rfm_map_is_a_config_error(tmp_path: Path) -> None:
    from cdp_assets.config import load_config

    config = CONFIG | {
        "analytics": {"rfm_segments": [{"name": "All", "recency": "1-5", "frequency": "1-4"}]}
    }
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no segment covers R1F5, R2F5, R3F5, R4F5, R5F5"):
        load_config(path)
