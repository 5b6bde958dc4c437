"""Safe defaults: YAML loaded safely, no secrets in cdp.yaml, no SQL injection through names
from the configuration, the UI bound to localhost, audience rules parsed and never evaluated.

(`cdp_assets_tests/analytics/test_audience_rules.py` already checks that
`__import__('os') == 1` is a parse error; the cases below add attribute access and calls.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cdp_assets.analytics.audience_rules import RuleError, parse_rule
from cdp_assets.config import ConfigError, load_config, parse_config
from cdp_assets.config import warehouse_url as configured_warehouse_url
from cdp_assets.warehouse import TableRef, Warehouse, WarehouseError
from cdp_assets.warehouse.warehouse import _check_ident, quote_ident

REPO = Path(__file__).resolve().parents[2]
SQL_SOURCE = {
    "name": "crm",
    "kind": "customers",
    "format": "sql",
    "table": "contacts",
    "columns": {"source_record_id": "id"},
}
HOSTILE_NAMES = ('x"; DROP TABLE t; --', "x; drop table y", "a b", "t--", "", "1abc")


def write_config(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "cdp.yaml"
    file.write_text(text, encoding="utf-8")
    return file


# -- YAML ------------------------------------------------------------------------------------


def test_yaml_tags_that_run_code_are_rejected_not_executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command) or 0)
    file = write_config(
        tmp_path, 'landing_dir: !!python/object/apply:os.system ["echo pwned"]\nsources: []\n'
    )
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(file)
    assert calls == []


# -- credentials -----------------------------------------------------------------------------


def test_a_password_in_the_warehouse_url_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_WAREHOUSE_URL", raising=False)
    file = write_config(tmp_path, "warehouse:\n  url: postgresql+psycopg://u:secret@h/db\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    message = str(info.value)
    assert "warehouse.url" in message
    assert "CDP_WAREHOUSE_URL" in message
    assert "secret" not in message


def test_a_password_in_a_sql_source_url_is_rejected(tmp_path: Path) -> None:
    source = {**SQL_SOURCE, "url": "postgresql+psycopg://crm:secret@db.internal/crm"}
    with pytest.raises(ConfigError) as info:
        parse_config({"sources": [source]}, file=tmp_path / "cdp.yaml", base_dir=tmp_path)
    message = str(info.value)
    assert "sources[0].url" in message
    assert "url_env" in message
    config = parse_config(
        {"sources": [{**SQL_SOURCE, "url_env": "CRM_URL"}]},
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )
    assert config.source("crm").url is None


def test_a_password_from_the_environment_is_accepted_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://u:secret@h/db"
    monkeypatch.setenv("CDP_WAREHOUSE_URL", url)
    file = write_config(tmp_path, "sources: []\n")
    assert configured_warehouse_url(load_config(file)) == url


def test_a_url_without_password_in_the_file_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDP_WAREHOUSE_URL", raising=False)
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    file = write_config(tmp_path, f"warehouse:\n  url: {url}\nsources: []\n")
    assert configured_warehouse_url(load_config(file)) == url


# -- names from the configuration never reach SQL unquoted -----------------------------------


def test_a_source_name_that_is_not_an_identifier_is_rejected(tmp_path: Path) -> None:
    source = {
        "name": "x; drop table y",
        "kind": "orders",
        "format": "csv",
        "path": "orders/*.csv",
        "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
    }
    with pytest.raises(ConfigError, match=r"sources\[0\]\.name: .* is not a valid source name"):
        parse_config({"sources": [source]}, file=tmp_path / "cdp.yaml", base_dir=tmp_path)


def test_quote_ident_doubles_an_embedded_quote() -> None:
    assert quote_ident("plain") == '"plain"'
    assert quote_ident('a"; DROP TABLE t; --') == '"a""; DROP TABLE t; --"'


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_schema_and_table_names_must_be_identifiers(name: str) -> None:
    with pytest.raises(WarehouseError, match="invalid schema name"):
        _check_ident(name, "schema")
    with pytest.raises(WarehouseError, match="invalid schema name"):
        TableRef(name, "t")
    with pytest.raises(WarehouseError, match="invalid table name"):
        TableRef("raw", name)
    assert _check_ident("shop_orders", "table") == "shop_orders"


def test_a_hostile_column_name_round_trips_and_harms_nothing(warehouse_url: str) -> None:
    import pandas as pd

    warehouse = Warehouse(warehouse_url)
    keep = TableRef("wh_test", "t")
    hostile = TableRef("wh_test", "hostile")
    column = 'a"; DROP TABLE wh_test.t; --'
    warehouse.replace_table(keep, pd.DataFrame({"id": [1, 2]}))
    warehouse.replace_table(hostile, pd.DataFrame({column: ["x", "y"], "n": [1, 2]}))
    back = warehouse.read_table(hostile)
    assert list(back.columns) == [column, "n"]
    assert sorted(back[column]) == ["x", "y"]
    only = warehouse.read_table(hostile, columns=[column])
    assert list(only.columns) == [column]
    assert warehouse.row_count(keep) == 2


# -- the UI is local -------------------------------------------------------------------------


def makefile_recipe(target: str) -> list[str]:
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}\s*:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_the_ui_binds_to_localhost_only() -> None:
    recipe = " ".join(makefile_recipe("ui"))
    assert "dagster dev" in recipe
    assert re.search(r"(?:^|\s)(?:-h|--host)[ =]127\.0\.0\.1(?:\s|$)", recipe), recipe
    assert "0.0.0.0" not in (REPO / "Makefile").read_text(encoding="utf-8")


# -- audience rules are parsed, never evaluated ----------------------------------------------


@pytest.mark.parametrize(
    ("rule", "position"),
    [("__import__('os').system('x')", 17), ("monetary.__class__", 9)],
)
def test_python_in_an_audience_rule_is_a_parse_error(
    rule: str, position: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command) or 0)
    with pytest.raises(RuleError, match="unexpected character '.'") as info:
        parse_rule(rule)
    assert info.value.position == position
    assert calls == []


def test_a_warehouse_url_of_another_database_is_refused_naming_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`postgres://` (Heroku's spelling) loaded and then failed every step with SQLAlchemy's
    "Can't load plugin: sqlalchemy.dialects:postgres"."""
    monkeypatch.delenv("CDP_WAREHOUSE_URL", raising=False)
    file = write_config(tmp_path, "warehouse:\n  url: postgres://u@h/db\nsources: []\n")
    with pytest.raises(
        ConfigError,
        match=r"warehouse\.url: 'postgres' is not a supported warehouse \(SQLAlchemy spells it "
        r"postgresql\): use duckdb:///<file> or postgresql\+psycopg://",
    ):
        load_config(file)
    monkeypatch.setenv("CDP_WAREHOUSE_URL", "mysql+pymysql://u:secret@h/db")
    file = write_config(tmp_path, "sources: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert str(info.value).startswith("CDP_WAREHOUSE_URL: 'mysql' is not a supported warehouse")
    assert "secret" not in str(info.value)
