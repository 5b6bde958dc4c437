"""The warehouse: DuckDB by default, PostgreSQL by URL; one schema per layer."""

from cdp_assets.warehouse.warehouse import (
    TableRef,
    Warehouse,
    WarehouseError,
    WarehouseSession,
    coerce_frame,
    dispose_engines,
    get_engine,
    release_duckdb_cache,
)

__all__ = [
    "TableRef",
    "Warehouse",
    "WarehouseError",
    "WarehouseSession",
    "coerce_frame",
    "dispose_engines",
    "get_engine",
    "release_duckdb_cache",
]
