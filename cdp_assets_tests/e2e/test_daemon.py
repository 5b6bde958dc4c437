"""With the daemon running (as under `make ui`), a file that lands reaches staging and what
follows it without a click: the landing sensor and the automation sensor are on by default."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef

from cdp_assets_tests.browser.ui import stop_process_group
from cdp_assets_tests.e2e.pipeline import REPO

ORDERS_CONFIG = {
    "landing_dir": "landing",
    "base_currency": "USD",
    "timezone": "UTC",
    "sources": [
        {
            "name": "shop_orders",
            "kind": "orders",
            "format": "csv",
            "path": "orders/*.csv",
            "columns": {
                "order_id": "order_id",
                "customer_ref": "customer",
                "ordered_at": "ordered_at",
                "amount": "total",
                "currency": "currency",
            },
        }
    ],
}
DEADLINE_SECONDS = 240


def _wait_for(instance: dg.DagsterInstance, key: dg.AssetKey, daemon: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if instance.get_latest_materialization_event(key) is not None:
            return
        assert daemon.poll() is None, "the daemon stopped"
        time.sleep(1)
    runs = [(r.job_name, r.status.value) for r in instance.get_runs(limit=10)]
    raise AssertionError(f"{key.to_user_string()} not materialized in time; runs: {runs}")


def test_a_landed_file_reaches_staging_and_core_without_a_click(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config_path = tmp_path / "cdp.yaml"
    config_path.write_text(yaml.safe_dump(ORDERS_CONFIG), encoding="utf-8")
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "CDP_CONFIG": str(config_path),
        "CDP_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
        "CDP_AS_OF": "2026-11-20",
        "CDP_SENSOR_INTERVAL_SECONDS": "2",
    }
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(daemon_bin), "run", "-m", "cdp_assets.definitions"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(3)  # the sensors' first look sees an empty landing folder
        rows = [
            "order_id,customer,ordered_at,total,currency",
            *(
                f"O{i},C{i % 7},2026-11-{1 + i % 19:02d}T10:00:00Z,{10 + i}.50,USD"
                for i in range(40)
            ),
        ]
        (tmp_path / "landing" / "orders" / "2026-11.csv").write_text(
            "\n".join(rows) + "\n", encoding="utf-8"
        )
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        _wait_for(instance, dg.AssetKey(["staging", "shop_orders"]), daemon)
        # Core follows staging through the automation sensor alone (no sensor selects it).
        _wait_for(instance, dg.AssetKey(["core", "orders"]), daemon)
        staged = instance.get_latest_materialization_event(dg.AssetKey(["staging", "shop_orders"]))
        assert staged.asset_materialization.metadata["dagster/row_count"].value == 40
    finally:
        stop_process_group(daemon)
        log.close()
