"""Text, names, countries, currencies and enumerations."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_assets.contracts.canonical import (
    EVENT_TYPES,
    ORDER_CHANNELS,
    ORDER_STATUSES,
    TICKET_CHANNELS,
)
from cdp_assets.quality.codes import (
    enum_value,
    normalise_country,
    normalise_currency,
    normalise_enum,
)
from cdp_assets.quality.names import clean_name
from cdp_assets.quality.text import clean_text


def test_text_is_trimmed_nfc_and_empty_or_placeholder_is_null() -> None:
    text = pd.Series(
        [" 王小明 ", "Zoe\u0308", None, "NULL", "  ", "n/a", "NA", "\ufeffAnn", "a  b"]
    )
    assert clean_text(text).tolist() == [
        "王小明",
        "Zoë",
        pd.NA,
        pd.NA,
        pd.NA,
        pd.NA,
        "NA",
        "Ann",
        "a  b",
    ]
    assert str(clean_text(text).dtype) == "string"


def test_names_keep_script_and_case_and_collapse_whitespace() -> None:
    names = pd.Series(["  王小明", "McDonald", "van  der\tBerg", "ÖZTÜRK", "Renée\u00a0 Marie"])
    assert clean_name(names).tolist() == [
        "王小明",
        "McDonald",
        "van der Berg",
        "ÖZTÜRK",
        "Renée Marie",
    ]


def test_text_accepts_object_columns_with_none_and_nan() -> None:
    text = pd.Series(["a", None, float("nan")], dtype=object)
    assert clean_text(text).tolist() == ["a", pd.NA, pd.NA]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("de", "DE"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("usa", "US"),
        ("United States", "US"),
        ("中国", "CN"),
        ("Korea, Republic of", "KR"),
        ("Viet Nam", "VN"),
        ("NA", "NA"),
    ],
)
def test_countries_become_alpha2(raw: str, expected: str) -> None:
    checked = normalise_country(pd.Series([raw]))
    assert checked.values.tolist() == [expected]
    assert checked.rule.isna().all()


def test_unknown_country_fails_and_is_nulled() -> None:
    checked = normalise_country(pd.Series(["Narnia", None, "XX"]))
    assert checked.values.isna().all()
    assert checked.rule.tolist() == ["invalid_country", pd.NA, "invalid_country"]


def test_currencies() -> None:
    checked = normalise_currency(pd.Series(["eur", " usd", "€", "£", "RMB", "EURO", "XYZ", None]))
    assert checked.values.tolist() == ["EUR", "USD", "EUR", "GBP", "CNY", pd.NA, pd.NA, pd.NA]
    assert checked.rule.tolist() == [pd.NA] * 5 + ["invalid_currency"] * 2 + [pd.NA]


@pytest.mark.parametrize(
    ("raw", "allowed", "expected"),
    [
        ("Complete", ORDER_STATUSES, "completed"),
        ("CANCELED", ORDER_STATUSES, "cancelled"),
        ("Partially Refunded", ORDER_STATUSES, "partially_refunded"),
        ("POS", ORDER_CHANNELS, "store"),
        ("in_store", ORDER_CHANNELS, "store"),
        ("in-store", ORDER_CHANNELS, "store"),
        ("Online", ORDER_CHANNELS, "web"),
        ("pageview", EVENT_TYPES, "page_view"),
        ("Page View", EVENT_TYPES, "page_view"),
        ("AddToCart", EVENT_TYPES, "add_to_cart"),
        ("telephone", TICKET_CHANNELS, "phone"),
        ("mobile", TICKET_CHANNELS, None),  # "app" is not a ticket channel
        ("exploded", ORDER_STATUSES, None),
    ],
)
def test_enum_synonyms(raw: str, allowed: tuple[str, ...], expected: str | None) -> None:
    assert enum_value(raw, allowed) == expected


def test_enum_failures_are_invalid_enum() -> None:
    checked = normalise_enum(pd.Series(["completed", "weird", None]), ORDER_STATUSES)
    assert checked.values.tolist() == ["completed", pd.NA, pd.NA]
    assert checked.rule.tolist() == [pd.NA, "invalid_enum", pd.NA]
