from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cdp_assets.config import ConfigError, load_config, parse_config, source_url, warehouse_url

BASE = {
    "landing_dir": "landing",
    "sources": [
        {
            "name": "shop_accounts",
            "kind": "customers",
            "format": "csv",
            "path": "shop/*.csv",
            "columns": {"source_record_id": "account_id", "email": "email"},
        },
        {
            "name": "shop_orders",
            "kind": "orders",
            "format": "csv",
            "path": "orders/*.csv",
            "columns": {
                "order_id": "id",
                "customer_ref": "account",
                "ordered_at": "ts",
                "amount": "total",
            },
            "customer_ref_source": "shop_accounts",
        },
    ],
}


def parse(data: dict) -> object:
    return parse_config(data, file=Path("cdp.yaml"), base_dir=Path("/project"))


def with_source(index: int, **changes: object) -> dict:
    sources = [dict(s) for s in BASE["sources"]]
    sources[index] = {**sources[index], **changes}
    return {**BASE, "sources": sources}


def test_valid_config_parses_with_defaults() -> None:
    config = parse(BASE)
    assert config.base_currency == "USD"
    assert config.source("shop_orders").customer_ref_source == "shop_accounts"
    assert config.source("shop_accounts").key_path == "sources[0]"
    assert config.fx_rate("USD") == 1.0


def test_orders_only_config_is_valid() -> None:
    config = parse({"sources": [BASE["sources"][1] | {"customer_ref_source": None}]})
    assert [s.kind for s in config.sources] == ["orders"]


def test_unknown_canonical_field_names_the_key_path() -> None:
    bad = with_source(0, columns={"mail": "email"})
    with pytest.raises(
        ConfigError, match=r"sources\[0\]\.columns\.mail: 'mail' is not a canonical field"
    ):
        parse(bad)


def test_unknown_key_is_reported_with_its_path() -> None:
    bad = with_source(1, formt="csv")
    with pytest.raises(ConfigError, match=r"sources\[1\]\.formt: unknown key"):
        parse(bad)


def test_bad_kind_timezone_currency_and_reference() -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.kind"):
        parse(with_source(0, kind="clients"))
    with pytest.raises(ConfigError, match=r"timezone: unknown time zone 'Mars/Olympus'"):
        parse({**BASE, "timezone": "Mars/Olympus"})
    with pytest.raises(ConfigError, match=r"fx_rates\.XYZ: unknown ISO 4217"):
        parse({**BASE, "fx_rates": {"XYZ": 1.0}})
    with pytest.raises(
        ConfigError, match=r"sources\[1\]\.customer_ref_source: no source named 'crm'"
    ):
        parse(with_source(1, customer_ref_source="crm"))


def test_duplicate_source_names_rejected() -> None:
    bad = with_source(1, name="shop_accounts")
    with pytest.raises(ConfigError) as raised:
        parse(bad)
    # Not "(top level): sources[1].name: ...": the message names the key itself.
    assert str(raised.value).splitlines()[1] == (
        "  sources[1].name: 'shop_accounts' is already used by sources[0]"
    )


def test_sql_source_needs_url_and_one_of_table_or_query() -> None:
    sql = {
        "name": "crm",
        "kind": "customers",
        "format": "sql",
        "url": "sqlite:///{landing_dir}/crm.db",
    }
    with pytest.raises(ConfigError, match="exactly one of `table` or `query`"):
        parse({"landing_dir": "landing", "sources": [sql]})
    config = parse({"landing_dir": "landing", "sources": [sql | {"table": "contacts"}]})
    assert source_url(config, "crm") == "sqlite:////project/landing/crm.db"


def test_env_overrides_and_relative_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "cdp.yaml"
    file.write_text("warehouse: {url: 'duckdb:///wh/cdp.duckdb'}\nsources: []\n", encoding="utf-8")
    monkeypatch.delenv("CDP_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("CDP_AS_OF", "2026-03-01")
    config = load_config(file)
    assert config.as_of == dt.date(2026, 3, 1)
    assert warehouse_url(config) == f"duckdb:///{tmp_path}/wh/cdp.duckdb"
    monkeypatch.setenv("CDP_WAREHOUSE_URL", "postgresql+psycopg://u@h/db")
    assert warehouse_url(load_config(file)) == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("CDP_AS_OF", "March 1st")
    with pytest.raises(ConfigError, match="CDP_AS_OF: 'March 1st' is not a date"):
        load_config(file)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "cdp.yaml"
    bad.write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_a_repeated_key_is_refused_naming_it_and_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyYAML keeps the last of two equal keys: a second `columns:` silently dropped the first
    mapping, a second `EUR:` rate silently replaced the first."""
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    file = tmp_path / "cdp.yaml"
    file.write_text(
        "fx_rates:\n  EUR: 1.08\n  EUR: 1.5\n"
        "sources:\n"
        "  - name: shop_orders\n    kind: orders\n    format: csv\n    path: o/*.csv\n"
        "    columns: {order_id: id}\n    columns: {amount: total}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    assert str(raised.value).splitlines()[1:] == [
        "  fx_rates.EUR: key repeated (lines 2 and 3); YAML would keep only the last one",
        "  sources[0].columns: key repeated (lines 9 and 10); YAML would keep only the last one",
    ]


def test_an_impossible_date_names_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`as_of: 2026-13-45` raised a bare `ValueError: month must be in 1..12` from PyYAML."""
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    file = tmp_path / "cdp.yaml"
    file.write_text("sources: []\nas_of: 2026-13-45\n", encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"as_of: '2026-13-45' is not a valid date \(YYYY-MM-DD\): month must be in "
        r"1\.\.12 \(line 2\)",
    ):
        load_config(file)


def test_a_date_format_strptime_cannot_use_names_its_key() -> None:
    """'%d/%m/%Q' loaded and then failed staging with a bare "ValueError: 'Q' is a bad
    directive"; 'dd/mm/yyyy' loaded and nulled every date of the field as invalid."""
    with pytest.raises(
        ConfigError,
        match=r"sources\[0\]\.date_formats\.birth_date: 'Q' is a bad directive in format "
        r"'%d/%m/%Q'",
    ):
        parse(with_source(0, date_formats={"birth_date": "%d/%m/%Q"}))
    with pytest.raises(
        ConfigError,
        match=r"sources\[0\]\.date_formats\.birth_date: 'dd/mm/yyyy' has no strftime directive",
    ):
        parse(with_source(0, date_formats={"birth_date": "dd/mm/yyyy"}))
    for fine in ("%d/%m/%Y", "%Y-%m-%dT%H:%M:%S.%f%z", "epoch_ms"):
        parse(with_source(0, date_formats={"birth_date": fine}))


def test_a_base_currency_rate_other_than_1_is_refused() -> None:
    """`base_currency: EUR` with `fx_rates: {EUR: 1.08, GBP: 1.27}` (rates left from a USD
    base) loaded and silently ignored the EUR rate, converting GBP with a USD rate."""
    with pytest.raises(
        ConfigError,
        match=r"fx_rates\.EUR: the base currency's rate must be 1, got 1\.08 \(rates are EUR per "
        r"unit of each currency: were they written for another base_currency\?\)",
    ):
        parse({**BASE, "base_currency": "EUR", "fx_rates": {"EUR": 1.08, "GBP": 1.27}})
    parse({**BASE, "base_currency": "EUR", "fx_rates": {"EUR": 1, "GBP": 1.17}})


def test_a_relative_sqlite_file_is_relative_to_the_configuration() -> None:
    """'Relative paths are relative to the file' (README) did not hold for a sql source's
    `url: sqlite:///crm/crm.sqlite`: SQLAlchemy read it from the process's working folder."""
    sql = {"name": "crm", "kind": "customers", "format": "sql", "table": "contacts"}
    config = parse({"sources": [sql | {"url": "sqlite:///crm/crm.sqlite"}]})
    assert source_url(config, "crm") == "sqlite:////project/crm/crm.sqlite"
    config = parse({"sources": [sql | {"url": "sqlite:///crm/crm.sqlite?timeout=5"}]})
    assert source_url(config, "crm") == "sqlite:////project/crm/crm.sqlite?timeout=5"
    for kept in ("sqlite:////abs/crm.sqlite", "sqlite://", "sqlite:///:memory:"):
        assert source_url(parse({"sources": [sql | {"url": kept}]}), "crm") == kept


def test_delimiter_and_quotechar_are_checked_when_the_configuration_loads() -> None:
    """`delimiter: '||'` or `quotechar: ''` loaded and failed only at the first file read,
    naming the file rather than the key."""
    with pytest.raises(
        ConfigError, match=r"sources\[0\]\.delimiter: '\|\|' must be one ASCII character"
    ):
        parse(with_source(0, delimiter="||"))
    with pytest.raises(ConfigError, match=r"sources\[0\]\.quotechar: '' must be one ASCII"):
        parse(with_source(0, quotechar=""))
    for fine in ("\\t", "tab", "\t", ";", "|"):
        parse(with_source(0, delimiter=fine))


def test_an_unknown_encoding_is_refused_when_the_configuration_loads() -> None:
    """`encoding: klingon` loaded and failed only at the first file read."""
    with pytest.raises(
        ConfigError, match=r"sources\[0\]\.encoding: unknown encoding 'klingon' \(e\.g\. utf-8"
    ):
        parse(with_source(0, encoding="klingon"))
    for fine in ("utf-8", "latin1", "cp1252", "utf-16", "UTF-8-SIG"):
        parse(with_source(0, encoding=fine))


def test_a_misspelt_key_gets_the_nearest_known_one() -> None:
    """`colums:` said only "unknown key (check its spelling and indentation)"."""
    with pytest.raises(ConfigError) as raised:
        parse(with_source(0, colums={"order_id": "id"}))
    assert (
        "sources[0].colums: unknown key, did you mean 'columns'? (check its spelling and "
        "indentation)" in str(raised.value)
    )
    with pytest.raises(ConfigError) as raised:
        parse({**BASE, "identity": {"probabilistic": {"treshold": 0.9}}})
    assert "identity.probabilistic.treshold: unknown key, did you mean 'threshold'?" in str(
        raised.value
    )
    with pytest.raises(ConfigError) as raised:
        parse({**BASE, "zzz_unrelated": 1})
    assert "zzz_unrelated: unknown key (check its spelling and indentation)" in str(raised.value)
