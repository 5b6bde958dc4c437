"""`errors_of` builds the backtest's error rows as one frame: the same frame, to the last bit
and dtype, as the frame per (model, series) it used to concatenate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp_assets.forecast import backtest, sales
from cdp_assets.forecast import models as m
from cdp_assets.forecast.backtest import errors_of, mase_scale
from cdp_assets.forecast.candidates import OriginForecasts
from cdp_assets_tests.forecast.simulated import AS_OF, daily_sales, settings
from cdp_assets_tests.forecast.test_backtest_cache import WINDOWS, KnownCustomers

SETTINGS = settings(
    levels=("channel", "category"),
    metrics=("orders", "net_revenue"),
    daily_horizon_days=7,
    models=("seasonal_naive", "ets", "gradient_boosting", "customer_based"),
)


def frame_per_series(forecasts: OriginForecasts, weekly, firsts, origin_date) -> pd.DataFrame:
    """errors_of as it was: one frame per (model, series), concatenated."""
    rows = []
    origin = forecasts.origin
    for model, by_key in forecasts.by_model.items():
        for key, values in by_key.items():
            series = weekly[key].to_numpy()
            history = series[firsts[key] : origin + 1]
            if len(history) < m.MIN_WEEKS_ANY_MODEL:
                continue
            actual = series[origin + 1 : origin + 1 + len(values)]
            rows.append(
                pd.DataFrame(
                    {
                        "key": [key] * len(actual),
                        "model": model,
                        "origin": origin,
                        "origin_date": pd.Timestamp(origin_date),
                        "step": np.arange(1, len(actual) + 1),
                        "actual": actual,
                        "forecast": values[: len(actual)],
                        "scale": mase_scale(history),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True) if rows else backtest._empty_errors()


def _forecast(monkeypatch: pytest.MonkeyPatch | None = None) -> sales.SalesForecast:
    daily = daily_sales()
    if monkeypatch is not None:
        monkeypatch.setattr(backtest, "errors_of", frame_per_series)
    return sales.forecast_sales(daily, AS_OF, SETTINGS, WINDOWS, KnownCustomers(daily))


def test_a_whole_forecast_is_the_same_with_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    new = _forecast()
    old = _forecast(monkeypatch)
    assert len(new.errors) > 1_000
    pd.testing.assert_frame_equal(new.errors, old.errors, check_exact=True)
    pd.testing.assert_frame_equal(new.rows, old.rows, check_exact=True)
    pd.testing.assert_frame_equal(new.backtest, old.backtest, check_exact=True)
    pd.testing.assert_frame_equal(new.chosen, old.chosen, check_exact=True)


def test_series_too_short_or_without_actuals_give_the_same_frame() -> None:
    weekly = pd.DataFrame(
        {
            "a": np.arange(30, dtype=float),
            "b": np.arange(30, dtype=float) * 2,
        }
    )
    firsts = {"a": 0, "b": 25}  # b has too little history
    origin_date = AS_OF
    for origin in (20, 29):  # 29: the last week, no actual after it
        forecasts = OriginForecasts(
            origin, {"ets": {"a": np.ones(4), "b": np.ones(4)}, "naive": {"a": np.zeros(4)}}
        )
        pd.testing.assert_frame_equal(
            errors_of(forecasts, weekly, firsts, origin_date),
            frame_per_series(forecasts, weekly, firsts, origin_date),
            check_exact=True,
        )
    empty = OriginForecasts(20, {"ets": {"b": np.ones(4)}})
    pd.testing.assert_frame_equal(
        errors_of(empty, weekly, firsts, origin_date),
        frame_per_series(empty, weekly, firsts, origin_date),
    )
