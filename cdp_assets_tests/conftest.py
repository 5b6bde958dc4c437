"""Shared fixtures: warehouses on DuckDB and, when CDP_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cdp_assets.warehouse import dispose_engines

POSTGRES_ENV = "CDP_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (`test_gw0`, …,
    created when missing): tests reset the platform's schemas, and two workers sharing one
    database would undo each other's tables. Processes the tests start inherit the URL."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get(POSTGRES_ENV)
    if not worker or not url:
        return
    own = worker_database_url(url, worker)
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            name = sa.engine.make_url(own).database
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception:  # noqa: BLE001 - unreachable: postgres_url_or_fail fails the tests
        return
    os.environ[POSTGRES_ENV] = own


def worker_database_url(url: str, worker: str) -> str:
    """`url` with its database name suffixed by the xdist worker id (`test` → `test_gw0`)."""
    parsed = sa.engine.make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


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
