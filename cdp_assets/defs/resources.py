"""What assets share: the project's configuration (parsed once per process), the warehouse,
the model store and the exports folder."""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from cdp_assets.config import CDPConfig, load_config, resolve_path, warehouse_url
from cdp_assets.config.loader import (
    AS_OF_TAG,
    ENV_AS_OF,
    ENV_WAREHOUSE_URL,
    ConfigError,
    as_of_date,
    config_path,
)
from cdp_assets.config.secrets import mask_secrets, mask_url, url_secrets
from cdp_assets.defs.executor import selected_executor
from cdp_assets.ml.model_store import ModelRegistry, ModelStore
from cdp_assets.warehouse import Warehouse, release_duckdb_cache


@functools.cache
def _parsed_config(path: Path, stamp: tuple[int, int], as_of: str, url: str) -> CDPConfig:
    return load_config(path)


def project_config() -> CDPConfig:
    """cdp.yaml as the code location sees it (CDP_CONFIG, CDP_AS_OF, CDP_WAREHOUSE_URL).

    Parsed once per process: every domain's definitions and resources share it. A changed
    file (size or modification time) or environment is parsed again."""
    path = config_path()
    try:
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        return load_config(path)  # the loader names the missing file
    environment = (os.environ.get(ENV_AS_OF, ""), os.environ.get(ENV_WAREHOUSE_URL, ""))
    return _parsed_config(path, stamp, *environment)


def analysis_date(
    context: dg.AssetExecutionContext | dg.OpExecutionContext, config: CDPConfig
) -> dt.date:
    """The analysis date of this run: its `cdp/as_of` tag (set in the Launchpad or with
    `dagster job execute --tags`), else CDP_AS_OF, else cdp.yaml's `as_of`, else today."""
    try:
        return as_of_date(config, run_tag=context.run.tags.get(AS_OF_TAG))
    except ConfigError as exc:
        raise dg.Failure(description=str(exc)) from None


def staging_clock() -> dt.datetime:
    """The wall clock (UTC) staging checks `future_date` against."""
    return dt.datetime.now(dt.UTC)


def warehouse_kind(config: CDPConfig) -> str:
    url = warehouse_url(config)
    return "postgres" if url.startswith("postgresql") else "duckdb"


# DuckDB blocks cached from earlier steps kept across steps up to this size (see README,
# "Limits"): at 100,000 people the whole warehouse is cached below it, so small brands keep
# every cross-step read warm; at 1,000,000 the cache reached 2–3 GB of the run's peak.
STEP_CACHE_LIMIT_BYTES = 512 * 2**20


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse the platform reads and writes (DuckDB file or PostgreSQL)."""

    url: str

    def get(self) -> Warehouse:
        """The warehouse for one step. On DuckDB, what earlier steps of the run left in
        DuckDB's buffer pool (same process under the in-process executor) is released first
        when it is over `STEP_CACHE_LIMIT_BYTES`, so a step's peak memory is its own."""
        release_duckdb_cache(self.url, STEP_CACHE_LIMIT_BYTES)
        warehouse = Warehouse(self.url)
        try:
            with warehouse.engine.connect():
                pass
        except sa.exc.DBAPIError as exc:
            raise dg.Failure(description=unreachable_warehouse(self.url, exc)) from None
        return warehouse


def unreachable_warehouse(url: str, exc: sa.exc.DBAPIError) -> str:
    """One line saying which warehouse could not be opened, where its URL comes from and why
    (the driver's first line, credentials masked), instead of SQLAlchemy's wrapped error."""
    origin = (
        ENV_WAREHOUSE_URL
        if os.environ.get(ENV_WAREHOUSE_URL)
        else "warehouse.url in " + str(config_path())
    )
    reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    why = mask_secrets(reason[0] if reason else type(exc).__name__, url)
    return f"warehouse unreachable at {mask_url(url)} (from {origin}): {why}"


class ModelStoreResource(dg.ConfigurableResource):
    """Trained model versions and their champions. This one keeps them in a local folder
    (`models.store_dir`); a remote store implements `ModelRegistry` and overrides `get`."""

    root: str

    def get(self) -> ModelRegistry:
        return ModelStore(self.root)

    @property
    def local_folder(self) -> Path:
        """Where the training snapshots lie, for the erasure trace check."""
        return Path(self.root)


class ExportsResource(dg.ConfigurableResource):
    """The folder audience export files are written to (`exports.dir`)."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


def warehouse_url_value(config: CDPConfig) -> Any:
    """The URL to configure resources with. The UI shows resource config, so a URL from
    CDP_WAREHOUSE_URL goes in as an EnvVar (the UI shows the variable's name, and the value is
    read when a run starts) unless it is a DuckDB file URL without any credential, whose path
    is resolved against cdp.yaml's folder here. cdp.yaml itself holds no credential (refused
    at load)."""
    url = warehouse_url(config)
    if not os.environ.get(ENV_WAREHOUSE_URL):
        return url
    if url.startswith("duckdb") and not _holds_credential(url):
        return url
    return dg.EnvVar(ENV_WAREHOUSE_URL)


def _holds_credential(url: str) -> bool:
    try:
        return bool(url_secrets(url))
    except ValueError:  # unreadable: the engine will say so; never show it meanwhile
        return True


@dg.definitions
def resources() -> dg.Definitions:
    config = project_config()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(url=warehouse_url_value(config)),
            "model_store": ModelStoreResource(
                root=str(resolve_path(config, config.models.store_dir))
            ),
            "exports": ExportsResource(root=str(resolve_path(config, config.exports.dir))),
        },
        executor=selected_executor(),  # CDP_EXECUTOR: in_process (default) or celery
    )
