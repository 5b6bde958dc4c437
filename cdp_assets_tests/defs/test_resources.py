"""The configuration is parsed once per process; resources hand out the shared services."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from cdp_assets.defs.resources import ExportsResource, ModelStoreResource, project_config
from cdp_assets.ml.model_store import ModelStore
from cdp_assets_tests.defs.test_analytics_config import CONFIG


def test_the_configuration_is_parsed_once_until_file_or_environment_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    monkeypatch.setenv("CDP_CONFIG", str(path))
    monkeypatch.setenv("CDP_AS_OF", "2026-11-20")
    first = project_config()
    assert project_config() is first  # the nine definition functions share one parse

    monkeypatch.setenv("CDP_AS_OF", "2026-11-21")
    later = project_config()
    assert later is not first and later.as_of is not None and str(later.as_of) == "2026-11-21"

    changed = CONFIG | {"timezone": "Europe/Paris"}
    path.write_text(yaml.safe_dump(changed), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert project_config().timezone == "Europe/Paris"


def test_a_missing_configuration_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cdp_assets.config import ConfigError

    monkeypatch.setenv("CDP_CONFIG", str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ConfigError, match="nowhere.yaml: configuration file not found"):
        project_config()


def test_model_store_and_exports_resources(tmp_path: Path) -> None:
    store = ModelStoreResource(root=str(tmp_path / "models")).get()
    assert isinstance(store, ModelStore) and store.champion("churn") is None
    assert ModelStoreResource(root=str(tmp_path / "models")).local_folder == tmp_path / "models"
    assert ExportsResource(root=str(tmp_path / "exports")).path == tmp_path / "exports"


def test_an_unreachable_warehouse_is_one_line_naming_it_and_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every step used to fail with SQLAlchemy's wrapped OperationalError ("Error occurred
    while executing op ...: connection refused"), naming neither the warehouse nor where its
    URL came from."""
    import dagster as dg

    from cdp_assets.defs.resources import WarehouseResource

    monkeypatch.setenv("CDP_CONFIG", str(tmp_path / "cdp.yaml"))
    monkeypatch.delenv("CDP_WAREHOUSE_URL", raising=False)
    url = "postgresql+psycopg://cdp:s3cret@127.0.0.1:1/cdp?connect_timeout=5"
    with pytest.raises(dg.Failure) as raised:
        WarehouseResource(url=url).get()
    message = raised.value.description or ""
    assert message.startswith(
        "warehouse unreachable at postgresql+psycopg://cdp:***@127.0.0.1:1/cdp"
    )
    assert f"(from warehouse.url in {tmp_path / 'cdp.yaml'})" in message
    assert "s3cret" not in message and "\n" not in message

    monkeypatch.setenv("CDP_WAREHOUSE_URL", url)
    with pytest.raises(dg.Failure, match=r"\(from CDP_WAREHOUSE_URL\)"):
        WarehouseResource(url=url).get()
