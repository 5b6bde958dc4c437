"""Shared fixtures: warehouses on DuckDB and, when CDP_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cdp_assets.warehouse import dispose_engines

POSTGRES_ENV = "CDP_TEST_POSTGRES_URL"


def postgres_url_or_fail() -> str | None:
    """The test PostgreSQL URL; None when unset; a test failure (never a skip) when it is set
    but the server cannot be reached."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        return None
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the same verdict
        pytest.fail(f"{POSTGRES_ENV}={url} is set but PostgreSQL is unreachable: {exc}")
    return url


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty warehouse on each engine (PostgreSQL only when configured)."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        dispose_engines()
        return
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    reset_postgres(url)
    yield url
    dispose_engines()


def reset_postgres(url: str) -> None:
    """Drop the platform's schemas so a test starts from an empty warehouse."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for schema in ("raw", "staging", "ops", "core", "analytics", "ml", "activation", "wh_test"):
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
