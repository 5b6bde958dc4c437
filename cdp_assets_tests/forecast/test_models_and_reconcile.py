"""Models on series whose right answers are known; reconciliation; interval calibration."""

import numpy as np
import pandas as pd
import pytest

from cdp_assets.forecast import models as m
from cdp_assets.forecast.intervals import ErrorQuantiles, leave_one_origin_out_inside
from cdp_assets.forecast.periods import ALL, TOTAL, SeriesKey
from cdp_assets.forecast.reconcile import reconcile

HORIZON = 13


def _seasonal(weeks: int, trend: float = 0.0, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(weeks)
    rng = np.random.default_rng(seed)
    return 100 + trend * t + 30 * np.sin(2 * np.pi * t / 52) + rng.normal(0, noise, weeks)


def test_seasonal_naive_forecasts_a_pure_seasonal_series_exactly() -> None:
    series = _seasonal(52 * 3 + HORIZON)
    history, future = series[:-HORIZON], series[-HORIZON:]
    result = m.seasonal_naive(history, HORIZON)
    assert result.note is None
    np.testing.assert_allclose(result.values, future, atol=1e-9)


def test_short_history_falls_back_and_says_so() -> None:
    assert m.seasonal_naive(np.array([1.0, 2.0, 5.0]), 3).values.tolist() == [5, 5, 5]
    assert "naive" in (m.seasonal_naive(np.ones(20), 2).note or "")
    assert m.ets(np.arange(10.0), 4) is None  # too short for any ETS
    short = m.ets(np.arange(40.0) + np.sin(np.arange(40.0)), 4)
    assert short is not None and "without seasonality" in (short.note or "")


def test_ets_and_boosting_beat_seasonal_naive_on_trend_and_season() -> None:
    series = _seasonal(52 * 3 + HORIZON, trend=0.8, noise=3.0)
    history, future = series[:-HORIZON], series[-HORIZON:]
    naive = np.abs(m.seasonal_naive(history, HORIZON).values - future).mean()
    ets = m.ets(history, HORIZON)
    assert ets is not None and ets.note is None
    assert np.abs(ets.values - future).mean() < 0.6 * naive
    starts = pd.date_range("2023-01-04", periods=len(series) + HORIZON, freq="7D")
    calendar = m.week_calendar(starts, pd.DataFrame(index=starts))
    # A few related series, as the global model sees them.
    histories = [history * scale for scale in (1.0, 0.5, 2.0, 1.5)]
    boosted = m.GlobalBoosting().forecast(histories, [0] * 4, HORIZON, calendar)
    assert boosted[0] is not None
    assert np.abs(boosted[0].values - future).mean() < 0.8 * naive


def test_reconciled_members_add_up_to_the_total_and_stores_to_the_store_channel() -> None:
    members = {
        TOTAL: [ALL],
        "channel": ["web", "store"],
        "category": ["a", "b", "c"],
        "store": ["s1", "s2"],
    }
    forecasts = {
        SeriesKey(TOTAL, ALL, "orders"): np.array([100.0, 120.0]),
        SeriesKey("channel", "web", "orders"): np.array([70.0, 60.0]),
        SeriesKey("channel", "store", "orders"): np.array([20.0, 40.0]),
        SeriesKey("category", "a", "orders"): np.array([50.0, 0.0]),
        SeriesKey("category", "b", "orders"): np.array([30.0, 0.0]),
        SeriesKey("category", "c", "orders"): np.array([40.0, 0.0]),
        SeriesKey("store", "s1", "orders"): np.array([5.0, 30.0]),
        SeriesKey("store", "s2", "orders"): np.array([5.0, -10.0]),
    }
    out = reconcile(forecasts, members, ("orders",))

    def level_sum(level: str) -> np.ndarray:
        return sum(out[SeriesKey(level, name, "orders")] for name in members[level])

    np.testing.assert_allclose(out[SeriesKey(TOTAL, ALL, "orders")], [100, 120])
    np.testing.assert_allclose(level_sum("channel"), [100, 120])
    np.testing.assert_allclose(level_sum("category"), [100, 120])  # all-zero step: split evenly
    np.testing.assert_allclose(level_sum("store"), out[SeriesKey("channel", "store", "orders")])
    # The gap is shared in proportion to size: web 70 of 90 takes 7/9 of the +10.
    assert out[SeriesKey("channel", "web", "orders")][0] == pytest.approx(70 + 10 * 7 / 9)


def test_intervals_on_gaussian_noise_cover_their_level() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    errors = pd.DataFrame(
        {
            "level": TOTAL,
            "origin": np.repeat(np.arange(6), n // 6),
            "step": np.tile(np.arange(1, 11), n // 10),
            "scaled_error": rng.normal(0, 1, n),
        }
    )
    inside = leave_one_origin_out_inside(errors)
    assert inside["inside_80"].astype(float).mean() == pytest.approx(0.80, abs=0.02)
    assert inside["inside_95"].astype(float).mean() == pytest.approx(0.95, abs=0.01)
    # Fresh draws from the same noise fall inside the fitted intervals as often.
    fresh = rng.normal(0, 1, 4000)
    low, high = ErrorQuantiles.fit(errors).bounds(np.zeros(4000), 1.0, np.full(4000, 3), "80")
    assert ((fresh >= low) & (fresh <= high)).mean() == pytest.approx(0.80, abs=0.03)
