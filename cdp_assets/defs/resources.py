"""The warehouse resource and IO manager, and the project's configuration for the wiring."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig, load_config, warehouse_url
from cdp_assets.config.loader import ENV_WAREHOUSE_URL
from cdp_assets.warehouse import TableRef, Warehouse

WAREHOUSE_POOL = "warehouse"  # every asset that writes the warehouse shares this pool


def project_config() -> CDPConfig:
    """cdp.yaml as the code location sees it (CDP_CONFIG, CDP_AS_OF, CDP_WAREHOUSE_URL)."""
    return load_config()


def warehouse_kind(config: CDPConfig) -> str:
    url = warehouse_url(config)
    return "postgres" if url.startswith("postgresql") else "duckdb"


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse the platform reads and writes (DuckDB file or PostgreSQL)."""

    url: str

    def get(self) -> Warehouse:
        return Warehouse(self.url)


def table_ref(key: dg.AssetKey) -> TableRef:
    """Asset key prefix = warehouse schema: ["staging", "shop_orders"] → staging.shop_orders."""
    if len(key.path) < 2:
        raise dg.Failure(f"asset key {key.to_user_string()} has no schema prefix")
    return TableRef(key.path[0], key.path[-1])


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores DataFrame outputs as tables named by asset key and loads them back."""

    url: str

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return  # the asset wrote its tables itself and returned a MaterializeResult
        if not isinstance(obj, pd.DataFrame):
            raise dg.Failure(f"{context.asset_key.to_user_string()}: expected a DataFrame")
        ref = table_ref(context.asset_key)
        rows = Warehouse(self.url).replace_table(ref, obj)
        context.add_output_metadata({"dagster/row_count": rows, "dagster/table_name": str(ref)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        return Warehouse(self.url).read_table(table_ref(context.asset_key))


def warehouse_url_value(config: CDPConfig) -> Any:
    """The URL to configure resources with: an EnvVar when it comes from the environment, so
    credentials in CDP_WAREHOUSE_URL are never shown in the UI."""
    url = warehouse_url(config)
    if os.environ.get(ENV_WAREHOUSE_URL) and not url.startswith("duckdb"):
        return dg.EnvVar(ENV_WAREHOUSE_URL)
    return url


@dg.definitions
def resources() -> dg.Definitions:
    config = project_config()
    url = warehouse_url_value(config)
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=url),
            "io_manager": WarehouseIOManager(url=url),
        },
        executor=dg.in_process_executor,
    )
