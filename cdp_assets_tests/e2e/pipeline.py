"""Helpers for end-to-end runs of the real Definitions on a generated demo set."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from cdp_assets.demo import generate_demo
from cdp_assets.warehouse import TableRef, Warehouse, dispose_engines

REPO = Path(__file__).resolve().parents[2]
END_DATE = dt.date(2026, 11, 20)


@dataclass
class DemoProject:
    root: Path
    config_path: Path
    ground_truth: Path
    warehouse_url: str

    @property
    def landing(self) -> Path:
        return self.root / "data" / "landing"

    def env(self) -> dict[str, str]:
        return {
            "CDP_CONFIG": str(self.config_path),
            "CDP_WAREHOUSE_URL": self.warehouse_url,
            "CDP_AS_OF": END_DATE.isoformat(),
        }

    def warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse_url)

    def table(self, schema: str, table: str) -> pd.DataFrame:
        return self.warehouse().read_table(TableRef(schema, table))


def make_demo_project(
    root: Path, warehouse_url: str, people: int = 300, seed: int = 7
) -> DemoProject:
    """The repository's demo cdp.yaml over freshly generated demo data in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    generate_demo(people=people, seed=seed, end_date=END_DATE, out=root / "data")
    config_path = root / "cdp.yaml"
    shutil.copy(REPO / "cdp.yaml", config_path)
    return DemoProject(root, config_path, root / "data" / "ground_truth", warehouse_url)


@contextmanager
def project_env(project: DemoProject) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in project.env()}
    os.environ.update(project.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_definitions() -> dg.Definitions:
    from cdp_assets.definitions import defs

    return defs()


def run_job(
    project: DemoProject,
    instance: dg.DagsterInstance,
    job: str = "nightly_refresh",
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    with project_env(project):
        definitions = load_definitions()
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=raise_on_error
        )
    dispose_engines()
    return result


def materialization_metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    """The metadata values of asset `key` (user string) as the run materialized it."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == key:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"{key} was not materialized")


# The smallest orders source: an order id, a customer reference, a date and an amount.
ORDERS_SOURCE: dict = {
    "name": "orders",
    "kind": "orders",
    "format": "csv",
    "path": "orders/*.csv",
    "columns": {
        "order_id": "order",
        "customer_ref": "customer",
        "ordered_at": "when",
        "amount": "total",
    },
}
ORDERS_CSV = """order,customer,when,total
O1,K1,2026-01-05 10:00:00,20.00
O2,K1,2026-02-05 10:00:00,30.00
O3,K2,2026-03-01 09:00:00,15.50
O4,,2026-03-02 09:00:00,9.99
"""


def small_project(tmp_path: Path, sources: list[dict], files: dict[str, str]) -> DemoProject:
    """A project of the configured `sources` (cdp.yaml in `tmp_path`, time zone UTC), the
    landing files `files` (path under landing -> text) and a DuckDB warehouse."""
    for name, content in files.items():
        path = tmp_path / "landing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    config = {"landing_dir": "landing", "timezone": "UTC", "sources": sources}
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return DemoProject(tmp_path, path, tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}")


def two_customer_sources(tmp_path: Path, accounts: str, crm: str) -> DemoProject:
    """A tiny project of two customers sources (`accounts`, `crm`: CSV text with id, email and
    phone) and a DuckDB warehouse, all in `tmp_path`."""
    sources = [
        {
            "name": name,
            "kind": "customers",
            "format": "csv",
            "path": f"{name}/*.csv",
            "default_country": "GB",
            "columns": {"source_record_id": "id", "email": "email", "phone": "phone"},
        }
        for name in ("accounts", "crm")
    ]
    return small_project(tmp_path, sources, {"accounts/1.csv": accounts, "crm/1.csv": crm})
