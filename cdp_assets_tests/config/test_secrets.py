"""No credential in cdp.yaml, and none shown: URL passwords are found by SQLAlchemy's parser
(query parameters and ODBC connection strings included), and the resource config the UI shows,
the summary's output and its error messages carry the URL masked."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from cdp_assets.config import ConfigError, load_config, parse_config
from cdp_assets.config.secrets import mask_secrets, mask_url, url_secrets
from cdp_assets.reporting import summary
from cdp_assets.reporting.summary import render_summary
from cdp_assets.warehouse import TableRef, Warehouse, dispose_engines

SECRET = "s3cr/et"
SQL_SOURCE = {
    "name": "crm",
    "kind": "customers",
    "format": "sql",
    "table": "contacts",
    "columns": {"source_record_id": "id"},
}
# Each holds the credential `s3cr/et` (or its URL-encoded form) where the regex did not look.
URLS_WITH_CREDENTIALS = {
    "slash in password": "postgresql+psycopg://crm:s3cr/et@db.internal/crm",
    "encoded slash in password": "postgresql+psycopg://crm:s3cr%2Fet@db.internal/crm",
    "query password": "postgresql+psycopg://crm@db.internal/crm?password=s3cr/et",
    "query sslpassword": "postgresql+psycopg://crm@db.internal/crm?sslmode=verify-full&sslpassword=s3cr/et",
    "query pwd": "mysql+pymysql://crm@db.internal/crm?pwd=s3cr/et",
    "query passwd upper case": "mysql+pymysql://crm@db.internal/crm?PASSWD=s3cr%2Fet",
    "encoded query key": "postgresql+psycopg://crm@db.internal/crm?pass%77ord=s3cr/et",
    "odbc_connect PWD": "mssql+pyodbc:///?odbc_connect="
    "DRIVER%3D%7BODBC+Driver+18%7D%3BSERVER%3Ddb%3BUID%3Dcrm%3BPWD%3Ds3cr%2Fet",
    "odbc_connect Password, twice encoded": "mssql+pyodbc:///?odbc_connect="
    "DRIVER%253D%257BODBC%257D%253BUID%253Dcrm%253BPassword%253Ds3cr%252Fet",
    "token": "duckdb:///md:crm?motherduck_token=s3cr/et",
}
URLS_WITHOUT_CREDENTIALS = (
    "postgresql+psycopg://crm@db.internal:5432/crm?sslmode=require",
    "postgresql+psycopg://crm@db.internal/crm?passfile=/etc/cdp/pgpass",
    "sqlite:///{landing_dir}/crm/crm.sqlite",
    "duckdb:///warehouse/cdp.duckdb",
)


@pytest.fixture(autouse=True)
def _no_warehouse_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDP_WAREHOUSE_URL", raising=False)


def _parse(data: dict, tmp_path: Path):
    return parse_config(data, file=tmp_path / "cdp.yaml", base_dir=tmp_path)


@pytest.mark.parametrize("url", URLS_WITH_CREDENTIALS.values(), ids=URLS_WITH_CREDENTIALS.keys())
def test_a_credential_anywhere_in_a_url_in_cdp_yaml_is_refused_without_showing_it(
    url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        _parse({"warehouse": {"url": url}}, tmp_path)
    message = str(info.value)
    assert "warehouse.url: the URL holds a credential" in message
    assert "CDP_WAREHOUSE_URL" in message
    assert "s3cr" not in message
    with pytest.raises(ConfigError, match=r"sources\[0\]\.url: .*url_env") as info:
        _parse({"sources": [{**SQL_SOURCE, "url": url}]}, tmp_path)
    assert "s3cr" not in str(info.value)


@pytest.mark.parametrize("url", URLS_WITHOUT_CREDENTIALS)
def test_a_url_without_credential_is_accepted(url: str, tmp_path: Path) -> None:
    assert url_secrets(url) == []
    assert _parse({"sources": [{**SQL_SOURCE, "url": url}]}, tmp_path).source("crm").url == url


def test_a_value_that_is_no_url_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"warehouse\.url: not a SQLAlchemy URL"):
        _parse({"warehouse": {"url": "crm:s3cr/et at db.internal"}}, tmp_path)


@pytest.mark.parametrize("url", URLS_WITH_CREDENTIALS.values(), ids=URLS_WITH_CREDENTIALS.keys())
def test_a_masked_url_keeps_everything_but_the_credential(url: str) -> None:
    masked = mask_url(url)
    assert "s3cr" not in masked and "***" in masked
    assert masked.split("://")[0] == url.split("://")[0]
    shown = unquote(masked)
    assert "db.internal" in shown or "md:crm" in shown or "odbc_connect" in shown


def test_a_password_with_an_unencoded_at_sign_is_masked_whole() -> None:
    assert mask_url("postgresql://crm:p@ss@db.internal:5432/crm") == (
        "postgresql://crm:***@db.internal:5432/crm"
    )


def test_an_error_message_embedding_the_url_or_its_password_is_masked() -> None:
    url = "postgresql+psycopg://crm:s3cr%2Fet@db.internal/crm"
    text = f"cannot connect to {url} (password s3cr/et, encoded s3cr%2Fet)"
    masked = mask_secrets(text, url)
    assert "s3cr" not in masked
    assert masked == (
        "cannot connect to postgresql+psycopg://crm:***@db.internal/crm (password ***, encoded ***)"
    )


# -- the resource config the UI shows --------------------------------------------------------


def _ui_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    """What the UI is sent about the resources (their configured values included)."""
    from cdp_assets.defs.resources import resources

    (tmp_path / "cdp.yaml").write_text("sources: []\n", encoding="utf-8")
    monkeypatch.setenv("CDP_CONFIG", str(tmp_path / "cdp.yaml"))
    monkeypatch.setenv("CDP_WAREHOUSE_URL", url)
    snapshot = RepositorySnap.from_def(resources().get_repository_def())
    return serialize_value(snapshot)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://cdp:s3cr%2Fet@db.internal/cdp",
        "duckdb:///md:cdp?motherduck_token=s3cr/et",
        "duckdb:///warehouse/cdp.duckdb?password=s3cr/et",
    ],
)
def test_the_ui_never_receives_a_credential_of_the_warehouse_url(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = _ui_snapshot(tmp_path, monkeypatch, url)
    assert "s3cr" not in shown
    assert "CDP_WAREHOUSE_URL" in shown  # configured from the variable, read at run time


def test_a_duckdb_file_from_the_environment_is_shown_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = _ui_snapshot(tmp_path, monkeypatch, "duckdb:///warehouse/cdp.duckdb")
    assert str(tmp_path / "warehouse" / "cdp.duckdb") in shown


# -- the summary -----------------------------------------------------------------------------


def test_the_summary_shows_the_warehouse_url_masked(tmp_path: Path) -> None:
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    text = render_summary(warehouse, "postgresql+psycopg://cdp:s3cr%2Fet@db.internal/cdp")
    assert "s3cr" not in text
    assert "postgresql+psycopg://cdp:***@db.internal/cdp" in text
    dispose_engines()


def test_a_summary_that_cannot_reach_the_warehouse_names_it_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cdp.yaml").write_text("sources: []\n", encoding="utf-8")
    monkeypatch.setenv("CDP_CONFIG", str(tmp_path / "cdp.yaml"))
    # port 1 on the loopback: refused at once
    url = f"postgresql+psycopg://cdp:{SECRET.replace('/', '%2F')}@127.0.0.1:1/cdp"
    monkeypatch.setenv("CDP_WAREHOUSE_URL", url)
    assert summary.main() == 1
    out, err = capsys.readouterr()
    assert "s3cr" not in out + err
    assert "Cannot read the warehouse postgresql+psycopg://cdp:***@127.0.0.1:1/cdp" in err


def test_the_summary_reads_a_duckdb_warehouse_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "warehouse.duckdb"
    Warehouse(f"duckdb:///{file}").replace_table(
        TableRef("ops", "customers_seen"), pd.DataFrame({"n": [1]})
    )
    dispose_engines()
    (tmp_path / "cdp.yaml").write_text(
        f"warehouse:\n  url: duckdb:///{file}\nsources: []\n", encoding="utf-8"
    )
    monkeypatch.setenv("CDP_CONFIG", str(tmp_path / "cdp.yaml"))
    opened: list[bool] = []
    original = Warehouse.__init__

    def spy(self: Warehouse, url: str, *, read_only: bool = False) -> None:
        opened.append(read_only)
        original(self, url, read_only=read_only)

    monkeypatch.setattr(Warehouse, "__init__", spy)
    assert summary.main() == 0
    assert "No ops.quality_summary" in capsys.readouterr().out
    assert opened == [True]


def test_load_config_keeps_a_credential_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://cdp:s3cr%2Fet@db.internal/cdp?sslpassword=x"
    monkeypatch.setenv("CDP_WAREHOUSE_URL", url)
    (tmp_path / "cdp.yaml").write_text("sources: []\n", encoding="utf-8")
    assert load_config(tmp_path / "cdp.yaml").warehouse.url == url
    assert sa.engine.make_url(url).password == SECRET
