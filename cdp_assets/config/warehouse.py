"""The `warehouse` section of `cdp.yaml`: where the warehouse is."""

from __future__ import annotations

from pydantic import Field, field_validator

from cdp_assets.config.base import StrictModel, no_password


class WarehouseConfig(StrictModel):
    url: str = Field(
        default="duckdb:///warehouse/cdp.duckdb",
        description="SQLAlchemy URL; a relative DuckDB path is relative to cdp.yaml. "
        "CDP_WAREHOUSE_URL overrides it (and is where a password belongs).",
    )

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str) -> str:
        no_password(url, "CDP_WAREHOUSE_URL (an environment variable) instead")
        return url
