"""The `warehouse` section of `cdp.yaml`: where the warehouse is."""

from __future__ import annotations

import sqlalchemy as sa
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
        problem = unsupported_warehouse(url)
        if problem:
            raise ValueError(problem)
        return url


WAREHOUSE_BACKENDS = ("duckdb", "postgresql")


def unsupported_warehouse(url: str) -> str | None:
    """Why `url` cannot be the warehouse (None when it can): the platform writes DuckDB or
    PostgreSQL. Names only the scheme, never the rest of the URL (it may hold a password).
    `postgres://` (Heroku's spelling) used to pass and fail every step with SQLAlchemy's
    "Can't load plugin: sqlalchemy.dialects:postgres"."""
    try:
        backend = sa.engine.make_url(url).get_backend_name()
    except sa.exc.ArgumentError:
        return "not a SQLAlchemy URL (expected duckdb:///<file> or postgresql+psycopg://...)"
    if backend in WAREHOUSE_BACKENDS:
        return None
    hint = " (SQLAlchemy spells it postgresql)" if backend == "postgres" else ""
    return (
        f"{backend!r} is not a supported warehouse{hint}: use duckdb:///<file> or "
        "postgresql+psycopg://user@host:5432/db"
    )
