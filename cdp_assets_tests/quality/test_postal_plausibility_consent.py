"""Postal codes per country, plausibility windows and double opt-in."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cdp_assets.quality.consent import enforce_double_opt_in
from cdp_assets.quality.plausibility import (
    age_in_years,
    birth_date_rule,
    outside_rule,
    time_window_rule,
)
from cdp_assets.quality.postal_codes import normalise_postal_codes

AS_OF = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)  # the wall clock at staging: end of AS_OF


@pytest.mark.parametrize(
    ("country", "raw", "expected"),
    [
        ("US", "12345", "12345"),
        ("US", "12345-6789", "12345-6789"),
        ("US", "123456789", "12345-6789"),
        ("US", "12345 6789", "12345-6789"),
        ("US", "2134", "02134"),  # leading zero lost in a spreadsheet
        ("GB", "sw1a1aa", "SW1A 1AA"),
        ("GB", "SW1A 1AA", "SW1A 1AA"),
        ("GB", "ec1a  1bb", "EC1A 1BB"),
        ("GB", "M1 1AE", "M1 1AE"),
        ("GB", "gir0aa", "GIR 0AA"),
        ("DE", "10115", "10115"),
        ("DE", "1067", "01067"),
        ("FR", "75001", "75001"),
        ("FR", "75 001", "75001"),
        ("CN", "100000", "100000"),
        ("AU", "2000", "2000"),
        ("CA", "k1a0b1", "K1A 0B1"),
        ("CA", "K1A 0B1", "K1A 0B1"),
        ("NL", "1234ab", "1234 AB"),
        ("JP", "1000001", "100-0001"),
        ("ZZ", " any  thing ", "any thing"),  # no known format: trimmed
    ],
)
def test_postal_codes_normalised_per_country(country: str, raw: str, expected: str) -> None:
    checked = normalise_postal_codes(pd.Series([raw]), country)
    assert checked.values.tolist() == [expected]
    assert checked.rule.isna().all()


@pytest.mark.parametrize(
    ("country", "raw"),
    [
        ("US", "1234567"),
        ("US", "ABCDE"),
        ("US", "12"),
        ("GB", "12345"),
        ("GB", "QQ1 1AA"),
        ("DE", "123456"),
        ("FR", "7500A"),
        ("CN", "10000"),
        ("AU", "20000"),
        ("CA", "D1A 0B1"),  # D is not used in Canadian codes
    ],
)
def test_postal_codes_that_do_not_fit_fail(country: str, raw: str) -> None:
    checked = normalise_postal_codes(pd.Series([raw]), country)
    assert checked.values.isna().all()
    assert checked.rule.tolist() == ["invalid_postal_code"]


def test_postal_codes_use_each_rows_country() -> None:
    raw = pd.Series(["sw1a1aa", "sw1a1aa", "10115", None])
    country = pd.Series(["GB", "US", None, "GB"])
    checked = normalise_postal_codes(raw, country)
    assert checked.values.tolist() == ["SW1A 1AA", pd.NA, "10115", pd.NA]
    assert checked.rule.tolist() == [pd.NA, "invalid_postal_code", pd.NA, pd.NA]


def test_timestamp_window() -> None:
    stamps = pd.Series(
        pd.to_datetime(
            [
                "2026-11-21 23:00:00Z",
                "2026-11-22 00:00:01Z",
                "1989-12-31 23:59:00Z",
                "1990-01-01 00:00:00Z",
                None,
            ],
            utc=True,
        )
    )
    rules = time_window_rule(stamps, NOW, dt.date(1990, 1, 1), future_tolerance_hours=24)
    assert rules.tolist() == [pd.NA, "future_date", "date_too_early", pd.NA, pd.NA]


def test_calendar_date_window() -> None:
    dates = pd.Series(pd.to_datetime(["2026-11-21", "2026-11-22", "1980-01-01"]))
    assert time_window_rule(dates, NOW, dt.date(1990, 1, 1), 24).tolist() == [
        pd.NA,
        "future_date",
        "date_too_early",
    ]
    assert time_window_rule(dates, NOW, dt.date(1990, 1, 1), 0).tolist() == [
        "future_date",
        "future_date",
        "date_too_early",
    ]


def test_window_follows_the_clock_in_any_time_zone_and_refuses_a_naive_one() -> None:
    stamps = pd.Series(pd.to_datetime(["2026-11-22 00:30:00Z", "2026-11-21 23:30:00Z"], utc=True))
    paris = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert time_window_rule(stamps, paris, dt.date(1990, 1, 1), 24).tolist() == [
        "future_date",
        pd.NA,
    ]
    with pytest.raises(ValueError, match="no time zone"):
        time_window_rule(stamps, dt.datetime(2026, 11, 21), dt.date(1990, 1, 1), 24)


def test_ages_and_birth_dates() -> None:
    births = pd.Series(
        pd.to_datetime(["2013-11-20", "2013-11-21", "1916-11-21", "1916-11-20", "2030-01-01", None])
    )
    assert age_in_years(births, AS_OF).tolist() == [13, 12, 109, 110, -4, pd.NA]
    assert birth_date_rule(births, AS_OF, 13, 109).tolist() == [
        pd.NA,
        "implausible_birth_date",
        pd.NA,
        "implausible_birth_date",
        "implausible_birth_date",
        pd.NA,
    ]


def test_score_ranges() -> None:
    nps = pd.Series([0, 10, 11, -1, None], dtype="Int64")
    assert outside_rule(nps, 0, 10, "nps_out_of_range").tolist() == [
        pd.NA,
        pd.NA,
        "nps_out_of_range",
        "nps_out_of_range",
        pd.NA,
    ]


def test_double_opt_in() -> None:
    opt_in = pd.Series([True, True, False, None, True], dtype="boolean")
    confirmed = pd.Series(pd.to_datetime(["2026-01-01", None, None, None, None], utc=True))
    result, changed = enforce_double_opt_in(opt_in, confirmed)
    assert result.tolist() == [True, False, False, pd.NA, False]
    assert changed.tolist() == [False, True, False, False, True]
    # No confirmation field at all: no opt-in can be proven.
    result, changed = enforce_double_opt_in(opt_in, None)
    assert result.tolist() == [False, False, False, pd.NA, False]
