"""Names and numbers in cdp.yaml are matched whole and in ASCII: a trailing newline (which `$`
of `re.match` accepts) or a non-ASCII digit (which `\\d` and `int()` accept) is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdp_assets.config import ConfigError, parse_config

ORDERS = {
    "name": "shop_orders",
    "kind": "orders",
    "format": "csv",
    "path": "orders/*.csv",
    "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
}
CRM = {
    "name": "crm",
    "kind": "customers",
    "format": "sql",
    "url_env": "CRM_URL",
    "table": "contacts",
    "columns": {"source_record_id": "id"},
}


def _parse(data: dict[str, Any], tmp_path: Path):
    return parse_config(data, file=tmp_path / "cdp.yaml", base_dir=tmp_path)


def test_a_source_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.name: 'shop_orders\\n' is not a valid"):
        _parse({"sources": [{**ORDERS, "name": "shop_orders\n"}]}, tmp_path)
    assert _parse({"sources": [ORDERS]}, tmp_path).source("shop_orders").name == "shop_orders"


def test_an_environment_variable_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.url_env: .* not an environment"):
        _parse({"sources": [{**CRM, "url_env": "CRM_URL\n"}]}, tmp_path)


def test_a_record_reference_whose_source_ends_in_a_newline_is_refused(tmp_path: Path) -> None:
    pair = {"left": "shop_orders\n:A1", "right": "shop_orders:A2"}
    with pytest.raises(ConfigError, match=r"identity\.must_link\[0\]\.left: .* is not 'source:"):
        _parse({"sources": [ORDERS], "identity": {"must_link": [pair]}}, tmp_path)


@pytest.mark.parametrize(
    ("section", "entry"),
    [
        ("analytics", {"audiences": [{"name": "vips\n", "rule": "monetary > 1"}]}),
        ("exports", {"destinations": [{"name": "news\n", "channel": "email", "format": "csv"}]}),
    ],
)
def test_other_names_with_a_trailing_newline_are_refused(
    section: str, entry: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"\.name: String should match pattern"):
        _parse({section: entry}, tmp_path)


@pytest.mark.parametrize("day", ["01-1\u0663", "\uff10\uff11-15", "01-1\u0967"])
def test_a_holiday_date_with_non_ascii_digits_is_refused(day: str, tmp_path: Path) -> None:
    window = {"name": "x", "start": day, "end": "02-01"}
    with pytest.raises(ConfigError, match=r"holiday_windows\[0\]\.start"):
        _parse({"analytics": {"holiday_windows": [window]}}, tmp_path)


@pytest.mark.parametrize("score", ["\u0663", "1-\uff14", " 3", "3-"])
def test_an_rfm_score_that_is_not_ascii_digits_is_refused(score: str, tmp_path: Path) -> None:
    segment = {"name": "X", "recency": score, "frequency": "1-5"}
    with pytest.raises(ConfigError, match=r"rfm_segments\[0\]\.recency: .* is not a score"):
        _parse({"analytics": {"rfm_segments": [segment]}}, tmp_path)
