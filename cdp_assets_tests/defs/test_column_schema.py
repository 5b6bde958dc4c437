"""Every asset explains itself in the UI: each check has a description, each table asset a
column schema (warehouse types, descriptions, PII tags) before its first run, and each
materialization the schema of the table as the warehouse holds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.config import load_config
from cdp_assets.contracts.canonical import CANONICAL_FIELDS, derived_columns
from cdp_assets.contracts.column_docs import UNDESCRIBED, canonical_doc
from cdp_assets.defs.column_schema import (
    COLUMN_SCHEMA,
    TableColumnDocs,
    is_table_asset,
    warehouse_type,
    with_warehouse_schema,
)
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.warehouse import TableRef, dispose_engines
from cdp_assets.warehouse.warehouse import Warehouse
from cdp_assets_tests.defs.graph_snapshot import CONFIG


@pytest.fixture(scope="module")
def definitions() -> Iterator[dg.Definitions]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_CONFIG", str(CONFIG))
        patch.delenv("CDP_WAREHOUSE_URL", raising=False)
        patch.setenv("CDP_AS_OF", "2026-11-20")
        from cdp_assets.definitions import defs

        yield defs()


def test_every_check_says_what_it_tests(definitions: dg.Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    missing = sorted(
        key.to_user_string()
        for key in graph.asset_check_keys
        if not (graph.get_check_spec(key).description or "").strip()
    )
    assert missing == []
    # ... and whether a failure stops what is downstream
    unclear = sorted(
        key.to_user_string()
        for key in graph.asset_check_keys
        if (spec := graph.get_check_spec(key)).blocking
        != ("block" in spec.description and "does not block" not in spec.description)
        # a check that does not block says whether its failure warns or is an error
        or (
            not spec.blocking and "warn" not in spec.description and "error" not in spec.description
        )
    )
    assert unclear == []


def test_every_table_asset_shows_described_columns(definitions: dg.Definitions) -> None:
    """Columns still carrying the fallback description are listed: write them up in
    cdp_assets/contracts/column_docs.py (or the table's dtypes in defs/column_schema.py)."""
    graph = definitions.resolve_asset_graph()
    tables = [graph.get(key) for key in graph.get_all_asset_keys()]
    tables = [node for node in tables if is_table_asset(node.to_asset_spec())]
    assert len(tables) >= 54  # 58 assets less 4 model trainings, on the test configuration
    without_schema = sorted(
        n.key.to_user_string() for n in tables if COLUMN_SCHEMA not in n.metadata
    )
    assert without_schema == []
    undescribed = sorted(
        f"{node.key.to_user_string()}.{column.name}"
        for node in tables
        for column in node.metadata[COLUMN_SCHEMA].columns
        if not column.description or column.description == UNDESCRIBED
    )
    assert undescribed == []


def test_every_canonical_field_is_described() -> None:
    """The staging tables of every kind, the test configuration's sources or not (it has no
    inventory source): each canonical field and derived column has a description."""
    undescribed = sorted(
        f"{kind}.{field.name}"
        for kind, fields in CANONICAL_FIELDS.items()
        for field in fields + derived_columns(kind)
        if not canonical_doc(kind, field.name).described
    )
    assert undescribed == []


def _columns(definitions: dg.Definitions, key: str) -> dict[str, dg.TableColumn]:
    node = definitions.resolve_asset_graph().get(dg.AssetKey.from_user_string(key))
    return {c.name: c for c in node.metadata[COLUMN_SCHEMA].columns}


def test_personal_columns_are_tagged_and_types_are_the_warehouse_s(
    definitions: dg.Definitions,
) -> None:
    profiles = _columns(definitions, "core/customer_profiles")
    assert "pii" in profiles["email"].tags and "pii" in profiles["birth_date"].tags
    assert "pii" not in profiles["city"].tags and "pii" not in profiles["customer_id"].tags
    assert profiles["first_seen"].type == "TIMESTAMP WITH TIME ZONE"
    assert profiles["birth_date"].type == "TIMESTAMP"
    assert profiles["source_count"].type == "BIGINT"
    staged = _columns(definitions, "staging/orders")
    assert "pii" in staged["email_key"].tags and "pii" not in staged["amount"].tags
    assert staged["amount_base"].type == "DOUBLE"
    assert "base currency" in staged["amount_base"].description
    rfm = _columns(definitions, "analytics/rfm")
    assert list(rfm)[:2] == ["customer_id", "recency_days"]
    assert (
        rfm["customer_id"].description
        == _columns(definitions, "ml/churn_scores")["customer_id"].description
    )


def test_raw_columns_say_which_field_they_are_staged_as() -> None:
    config = load_config(CONFIG)
    source = next(s for s in config.sources if s.kind == "orders")
    docs = TableColumnDocs(config)
    customer = docs.doc(TableRef("raw", source.name), source.columns["customer_ref"])
    assert "staged as `customer_ref`" in customer.description and not customer.pii
    lineage = docs.doc(TableRef("raw", source.name), "_line")
    assert lineage.description.startswith("lineage:")
    unmapped = docs.doc(TableRef("raw", source.name), "loyalty_newsletter_flag")
    assert unmapped.pii and "not mapped" in unmapped.description


def test_warehouse_types_are_spelt_as_information_schema_spells_them() -> None:
    assert warehouse_type("datetime64[us, UTC]", "duckdb") == "TIMESTAMP WITH TIME ZONE"
    assert warehouse_type("datetime64[us, UTC]", "postgresql") == "TIMESTAMP WITH TIME ZONE"
    assert warehouse_type("datetime64[us]", "postgresql") == "TIMESTAMP WITHOUT TIME ZONE"
    assert warehouse_type("Int64", "duckdb") == "BIGINT"
    assert warehouse_type("float64", "postgresql") == "DOUBLE PRECISION"
    assert warehouse_type("string", "postgresql") == "TEXT"
    assert warehouse_type("boolean", "duckdb") == "BOOLEAN"


def test_a_materialization_shows_the_table_as_written(warehouse_url: str) -> None:
    """The schema comes from the warehouse (each engine's own type names): an extra column the
    code does not declare shows, with the fallback description; the asset's own description
    of it is kept."""
    url = warehouse_url
    rfm = pd.DataFrame(
        {
            "customer_id": pd.Series(["c1"], dtype="string"),
            "r_score": pd.Series([5], dtype="int64"),
            "as_of": pd.Series([pd.Timestamp("2026-11-20")], dtype="datetime64[us]"),
            "note": pd.Series(["x"], dtype="string"),
            "loyalty_hint": pd.Series(["y"], dtype="string"),
        }
    )
    Warehouse(url).replace_table(TableRef("analytics", "rfm"), rfm)
    given = dg.TableSchema(
        columns=[dg.TableColumn("note", "string", description="why", tags={"pii": ""})]
    )
    event = dg.MaterializeResult(metadata={"dagster/row_count": 1, COLUMN_SCHEMA: given})
    docs = TableColumnDocs(load_config(CONFIG))
    shown = with_warehouse_schema(
        event, docs, WarehouseResource(url=url), dg.AssetKey(["analytics", "rfm"])
    )
    text, day = (
        ("TEXT", "TIMESTAMP WITHOUT TIME ZONE") if "postgres" in url else ("VARCHAR", "TIMESTAMP")
    )
    columns = shown.metadata[COLUMN_SCHEMA].columns
    assert [(c.name, c.type) for c in columns] == [
        ("customer_id", text),
        ("r_score", "BIGINT"),
        ("as_of", day),
        ("note", text),
        ("loyalty_hint", text),
    ]
    by_name = {c.name: c for c in columns}
    assert "1-5" in by_name["r_score"].description
    assert by_name["note"].description == "why" and "pii" in by_name["note"].tags
    assert by_name["loyalty_hint"].description == UNDESCRIBED
    assert shown.metadata["dagster/row_count"] == 1


def test_a_result_for_no_table_is_left_alone(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    event = dg.MaterializeResult(metadata={"model_version": "v1"})
    docs = TableColumnDocs(load_config(CONFIG))
    try:
        shown = with_warehouse_schema(
            event, docs, WarehouseResource(url=url), dg.AssetKey(["ml", "churn_model"])
        )
    finally:
        dispose_engines()
    assert shown is event
