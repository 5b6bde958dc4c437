"""Numbers, whole numbers, booleans, dates and timestamps."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cdp_assets.quality.parsing import (
    parse_boolean,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_timestamp,
)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", 12.5),
        ("-35.00", -35.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("+7", 7.0),
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("12,50", 12.5),
        ("1,234,567", 1234567.0),
        ("1.234.567", 1234567.0),
        ("1 234,50", 1234.5),
        ("1'234.50", 1234.5),
        ("$12.50", 12.5),
        ("12.50 EUR", 12.5),
        ("€ 9,99", 9.99),
        ("- 3.5", -3.5),
    ],
)
def test_numbers(raw: str, expected: float) -> None:
    checked = parse_decimal(pd.Series([raw]))
    assert checked.values.tolist() == [expected]
    assert checked.rule.isna().all()


@pytest.mark.parametrize(
    "raw",
    # Non-ASCII digits (Arabic-Indic, fullwidth) and overflow to infinity are not numbers.
    ["abc", "1,234", "1.2.3,4,5", "inf", "nan", "12..5", "1-2", "٣,٥", "١٢٣ ٤٥٦", "３,５", "1e400"],
)
def test_unparsable_or_ambiguous_numbers(raw: str) -> None:
    checked = parse_decimal(pd.Series([raw]))
    assert math.isnan(checked.values.iloc[0])
    assert checked.rule.tolist() == ["invalid_number"]


def test_decimal_column_is_float64_with_nan_for_empty() -> None:
    checked = parse_decimal(pd.Series(["1", None]))
    assert str(checked.values.dtype) == "float64"
    assert checked.rule.isna().all()


def test_integers() -> None:
    checked = parse_integer(pd.Series(["3", "3.0", "-2", "1,234", "3.5", "x", None, "1e30"]))
    assert str(checked.values.dtype) == "Int64"
    assert checked.values.tolist() == [3, 3, -2, 1234, pd.NA, pd.NA, pd.NA, pd.NA]
    assert checked.rule.tolist() == [pd.NA] * 4 + ["invalid_integer"] * 2 + [
        pd.NA,
        "invalid_integer",
    ]


def test_booleans() -> None:
    raw = ["true", "FALSE", "Yes", "no", "1", "0", "Y", "n", "t", "F", "maybe", None]
    checked = parse_boolean(pd.Series(raw))
    assert checked.values.tolist() == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        pd.NA,
        pd.NA,
    ]
    assert checked.rule.tolist() == [pd.NA] * 10 + ["invalid_boolean", pd.NA]
    assert str(checked.values.dtype) == "boolean"


def test_iso_timestamps_with_offsets_and_naive_local_time() -> None:
    raw = pd.Series(
        [
            "2025-03-01T10:00:00Z",
            "2025-03-01T10:00:00+01:00",
            "2025-03-01T10:00:00-0500",
            "2025-03-01 10:00:00",  # naive: Berlin winter time (UTC+1)
            "2025-07-01T10:00:00",  # naive: Berlin summer time (UTC+2)
            "2025-03-01",  # date only: local midnight
        ]
    )
    checked = parse_timestamp(raw, tz="Europe/Berlin")
    assert str(checked.values.dtype) == "datetime64[us, UTC]"
    assert checked.values.tolist() == [
        utc("2025-03-01 10:00"),
        utc("2025-03-01 09:00"),
        utc("2025-03-01 15:00"),
        utc("2025-03-01 09:00"),
        utc("2025-07-01 08:00"),
        utc("2025-02-28 23:00"),
    ]
    assert checked.rule.isna().all()


def test_dst_gaps_and_repeats_in_local_time() -> None:
    # 2025-03-30 02:30 does not exist in Berlin (clocks jump 02:00 → 03:00): moves forward.
    # 2025-10-26 02:30 happens twice: the first (summer time, UTC+2) instant is taken.
    checked = parse_timestamp(
        pd.Series(["2025-03-30 02:30:00", "2025-10-26 02:30:00"]), tz="Europe/Berlin"
    )
    assert checked.values.tolist() == [utc("2025-03-30 01:00"), utc("2025-10-26 00:30")]


def test_impossible_and_unparsable_dates_fail() -> None:
    checked = parse_timestamp(pd.Series(["2025-02-30", "2025-13-01T00:00:00", "yesterday", None]))
    assert checked.values.isna().all()
    assert checked.rule.tolist() == ["invalid_date"] * 3 + [pd.NA]


def test_source_date_format_with_iso_fallback() -> None:
    raw = pd.Series(["01/03/2025 10:00", "31/02/2025 10:00", "2025-03-01T10:00:00Z"])
    checked = parse_timestamp(raw, fmt="%d/%m/%Y %H:%M", tz="Europe/Berlin")
    assert checked.values.tolist() == [utc("2025-03-01 09:00"), pd.NaT, utc("2025-03-01 10:00")]
    assert checked.rule.tolist() == [pd.NA, "invalid_date", pd.NA]


def test_format_with_offset_and_epoch_formats() -> None:
    with_offset = parse_timestamp(pd.Series(["2025-01-02 10:00 +0100"]), fmt="%Y-%m-%d %H:%M %z")
    assert with_offset.values.tolist() == [utc("2025-01-02 09:00")]
    epoch = parse_timestamp(pd.Series(["1700000000", "x"]), fmt="epoch")
    assert epoch.values.tolist()[0] == utc("2023-11-14 22:13:20")
    assert epoch.rule.tolist() == [pd.NA, "invalid_date"]
    epoch_ms = parse_timestamp(pd.Series(["1700000000000"]), fmt="epoch_ms")
    assert epoch_ms.values.tolist() == [utc("2023-11-14 22:13:20")]


def test_calendar_dates() -> None:
    raw = pd.Series(["1985-04-12", "1985-04-12T00:00:00Z", "12.04.1985", "1985-02-30", None])
    checked = parse_date(raw, fmt="%d.%m.%Y")
    assert str(checked.values.dtype) == "datetime64[us]"
    day = pd.Timestamp("1985-04-12")
    assert checked.values.tolist()[:3] == [day, day, day]
    assert checked.rule.tolist() == [pd.NA, pd.NA, pd.NA, "invalid_date", pd.NA]
