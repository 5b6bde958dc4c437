"""Every asset of a configuration depends only on assets the same configuration builds.

`activation/customer_360` used to list its inputs whatever the configuration: an orders-only
brand's graph then held `ml/lead_scores` and `ml/product_recommendations` as external assets
nobody could materialize, and the 360 reported them as missing inputs at every run."""

from pathlib import Path

import pytest
import yaml

from cdp_assets_tests.defs.test_lead_scoring_applies import LOYALTY, ORDERS

ORDER_ITEMS = {
    "name": "order_lines",
    "kind": "order_items",
    "format": "csv",
    "path": "lines/*.csv",
    "columns": {"order_id": "o", "product_id": "p", "quantity": "q", "unit_price": "u"},
}
REPO = Path(__file__).resolve().parents[2]


def _unbuilt_dependencies(config: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Asset key -> the keys depending on it, for every key in the graph nobody builds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_CONFIG", str(config))
        patch.setenv("CDP_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'wh.duckdb'}")
        from cdp_assets.definitions import defs

        graph = defs().resolve_asset_graph()
    unbuilt = set(graph.get_all_asset_keys()) - set(graph.materializable_asset_keys)
    return {
        key.to_user_string(): sorted(child.to_user_string() for child in graph.get(key).child_keys)
        for key in unbuilt
    }


@pytest.mark.parametrize(
    "sources",
    [[ORDERS], [LOYALTY], [ORDERS, LOYALTY], [ORDERS, ORDER_ITEMS], [ORDERS, LOYALTY, ORDER_ITEMS]],
    ids=["orders", "loyalty", "orders+loyalty", "orders+lines", "orders+loyalty+lines"],
)
def test_no_asset_depends_on_one_the_configuration_does_not_build(
    tmp_path: Path, sources: list[dict]
) -> None:
    config = tmp_path / "cdp.yaml"
    config.write_text(yaml.safe_dump({"landing_dir": "landing", "sources": sources}))
    assert _unbuilt_dependencies(config, tmp_path) == {}


def test_the_demo_configuration_builds_every_dependency(tmp_path: Path) -> None:
    assert _unbuilt_dependencies(REPO / "cdp.yaml", tmp_path) == {}
