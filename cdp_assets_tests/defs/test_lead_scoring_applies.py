"""An orders-only brand was shown a lead model that could never train: every weekly training
warned three times 'only 0 known people without a purchase (need 200)' and every scoring
warned that there was no promoted leads model."""

from pathlib import Path

import pytest
import yaml

ORDERS = {
    "name": "orders",
    "kind": "orders",
    "format": "csv",
    "path": "orders/*.csv",
    "columns": {"order_id": "o", "customer_ref": "c", "ordered_at": "t", "amount": "a"},
}
LOYALTY = {
    "name": "loyalty",
    "kind": "customers",
    "format": "csv",
    "path": "loyalty/*.csv",
    "columns": {"source_record_id": "id", "email": "email"},
}


def _asset_keys(tmp_path: Path, sources: list[dict]) -> set[str]:
    config = tmp_path / "cdp.yaml"
    config.write_text(yaml.safe_dump({"landing_dir": "landing", "sources": sources}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_CONFIG", str(config))
        patch.setenv("CDP_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'wh.duckdb'}")
        from cdp_assets.definitions import defs

        graph = defs().resolve_asset_graph()
        return {key.to_user_string() for key in graph.materializable_asset_keys}


def test_an_orders_only_configuration_has_no_lead_scoring(tmp_path: Path) -> None:
    keys = _asset_keys(tmp_path, [ORDERS])
    assert {"ml/churn_model", "ml/churn_scores", "ml/ltv_model"} <= keys
    assert not {"ml/leads_model", "ml/lead_scores"} & keys


def test_a_source_of_people_before_a_purchase_brings_lead_scoring(tmp_path: Path) -> None:
    keys = _asset_keys(tmp_path, [ORDERS, LOYALTY])
    assert {"ml/leads_model", "ml/lead_scores"} <= keys
