"""The forecasting models: seasonal naive (the baseline), ETS (statsmodels' Holt-Winters
exponential smoothing) and gradient boosting (scikit-learn, one global model across series).
The customer-based model comes through `periods.CustomerBasedForecaster`.

Each model forecasts `horizon` weeks after the last value of a history (oldest first) and
says when it had to fall back to something simpler.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

SEASON = 52  # weeks in a year of 7-day periods
MIN_WEEKS_SEASONAL_ETS = 2 * SEASON  # Holt-Winters' heuristic start needs two whole years
MIN_WEEKS_TREND_ETS = 16  # a damped trend from fewer weeks is mostly noise
MIN_WEEKS_ANY_MODEL = 8  # below this only the last value (naive) is forecast
MIN_WEEKS_BOOSTING = 12  # history before a training origin of the global model

SEASONAL_NAIVE = "seasonal_naive"
ETS = "ets"
GRADIENT_BOOSTING = "gradient_boosting"
CUSTOMER_BASED = "customer_based"


@dataclass(frozen=True)
class ModelForecast:
    values: np.ndarray
    note: str | None = None  # set when the model fell back to a simpler form


def seasonal_naive(history: np.ndarray, horizon: int) -> ModelForecast:
    """The same week a year earlier; the last week when there is no year of history."""
    n = len(history)
    if n == 0:
        return ModelForecast(np.zeros(horizon), "no history: forecast 0")
    if n < SEASON:
        return ModelForecast(
            np.full(horizon, history[-1]), f"{n} weeks < {SEASON}: naive (last week)"
        )
    steps = np.arange(horizon) % SEASON
    return ModelForecast(history[n - SEASON + steps])


def ets(history: np.ndarray, horizon: int) -> ModelForecast | None:
    """Holt-Winters: damped additive trend and additive yearly seasonality from two years of
    history, a damped trend only from fewer; None below MIN_WEEKS_TREND_ETS weeks."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    n = len(history)
    if n < MIN_WEEKS_TREND_ETS or np.all(history == history[0]):
        return None
    seasonal = n >= MIN_WEEKS_SEASONAL_ETS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series
        model = ExponentialSmoothing(
            history,
            trend="add",
            damped_trend=True,
            seasonal="add" if seasonal else None,
            seasonal_periods=SEASON if seasonal else None,
            initialization_method="heuristic" if seasonal else "estimated",
        )
        # The brute-force grid of starting values costs most of the fit and rarely helps.
        values = np.asarray(model.fit(use_brute=False).forecast(horizon), dtype=float)
    if not np.all(np.isfinite(values)):
        return None
    note = None if seasonal else f"{n} weeks < {MIN_WEEKS_SEASONAL_ETS}: ETS without seasonality"
    return ModelForecast(values, note)


# ----------------------------------------------------------------- global gradient boosting
def _trailing_mean(values: np.ndarray, end: np.ndarray, window: int) -> np.ndarray:
    """Mean of values[end - window + 1 .. end] (NaN where that reaches before the start)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    start = end - window + 1
    ok = start >= 0
    out = np.full(len(end), np.nan)
    out[ok] = (cumulative[end[ok] + 1] - cumulative[start[ok]]) / window
    return out


def _at(values: np.ndarray, index: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """values[index] where 0 <= index <= limit, else NaN."""
    ok = (index >= 0) & (index <= limit)
    out = np.full(len(index), np.nan)
    out[ok] = values[index[ok]]
    return out


def _features(
    values: np.ndarray,
    first: int,
    origins: np.ndarray,
    steps: np.ndarray,
    calendar: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of forecasting week origin+step from the weeks up to `origin`, all scaled by
    the mean absolute week of the year to the origin; returns (features, scale)."""
    target = origins + steps
    year_start = np.maximum(origins - SEASON + 1, first)
    length = origins - year_start + 1
    absolute = np.abs(values)
    cumulative = np.concatenate([[0.0], np.cumsum(absolute)])
    scale = (cumulative[origins + 1] - cumulative[year_start]) / length
    scale = np.where(scale > 0, scale, 1.0)
    limit = origins
    columns = [
        _at(values, target - SEASON, limit) / scale,
        _at(values, target - 2 * SEASON, limit) / scale,
        (
            _at(values, target - SEASON - 1, limit)
            + _at(values, target - SEASON, limit)
            + _at(values, target - SEASON + 1, limit)
        )
        / (3 * scale),
        _trailing_mean(values, origins, 4) / scale,
        _trailing_mean(values, origins, 13) / scale,
        _trailing_mean(values, origins - SEASON, 4) / scale,
        _trailing_mean(values, origins - SEASON, 13) / scale,
        np.where(origins - first + 1 >= SEASON, 1.0, 0.0),
        steps.astype(float),
    ]
    table = calendar.to_numpy(dtype=float)
    base = np.column_stack(columns)
    calendar_now = table[np.minimum(target, len(table) - 1)]
    calendar_before = np.full_like(calendar_now, np.nan)
    back = target - SEASON >= 0
    calendar_before[back] = table[target[back] - SEASON]
    return np.column_stack([base, calendar_now, calendar_before[:, 1:]]), scale


def week_calendar(starts: pd.DatetimeIndex, holiday_weeks: pd.DataFrame) -> pd.DataFrame:
    """Per week: week of the year (of its middle day) and days inside each holiday window."""
    middle = starts + pd.Timedelta(days=3)
    frame = pd.DataFrame(
        {"week_of_year": middle.isocalendar().week.to_numpy(dtype=float)}, index=starts
    )
    return pd.concat([frame, holiday_weeks.set_axis(starts)], axis=1)


class GlobalBoosting:
    """One gradient boosting model across every series: each week's value relative to the
    series' recent scale, from the same weeks a year and two years earlier, recent levels now
    and a year ago, the step ahead, the week of the year and holiday days (now and a year
    earlier, so a Black Friday moving into another week is learned)."""

    def __init__(self, max_training_rows: int = 60_000, random_state: int = 0) -> None:
        self.max_training_rows = max_training_rows
        self.random_state = random_state

    def forecast(
        self,
        histories: Sequence[np.ndarray],
        firsts: Sequence[int],
        horizon: int,
        calendar: pd.DataFrame,
    ) -> list[ModelForecast | None]:
        """Histories all end on the same origin week (position len-1 in `calendar`, which
        also covers the `horizon` weeks after it); None for a series too short."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        x_train, y_train = self._training_rows(histories, firsts, horizon, calendar)
        if len(y_train) < 200:
            return [None] * len(histories)
        # A feature never known in training (no series has two years yet) must still be a
        # number for the binning: zeros, in training and prediction alike.
        unknown = np.all(np.isnan(x_train), axis=0)
        x_train[:, unknown] = 0.0
        model = HistGradientBoostingRegressor(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            random_state=self.random_state,
        )
        # One thread: on these small tables OpenMP's threads wait on each other (ten times
        # slower on a busy 2-core machine than a single thread).
        with threadpool_limits(1):
            model.fit(x_train, y_train)
        out: list[ModelForecast | None] = []
        steps = np.arange(1, horizon + 1)
        for values, first in zip(histories, firsts, strict=True):
            origin = len(values) - 1
            if origin - first + 1 < MIN_WEEKS_BOOSTING:
                out.append(None)
                continue
            padded = np.concatenate([values, np.zeros(horizon)])
            x, scale = _features(padded, first, np.full(horizon, origin), steps, calendar)
            x[:, unknown] = 0.0
            with threadpool_limits(1):
                out.append(ModelForecast(model.predict(x) * scale))
        return out

    def _training_rows(
        self,
        histories: Sequence[np.ndarray],
        firsts: Sequence[int],
        horizon: int,
        calendar: pd.DataFrame,
    ) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for values, first in zip(histories, firsts, strict=True):
            n = len(values)
            origins = np.arange(first + MIN_WEEKS_BOOSTING - 1, n - 1)
            if len(origins) == 0:
                continue
            grid_o = np.repeat(origins, horizon)
            grid_h = np.tile(np.arange(1, horizon + 1), len(origins))
            keep = grid_o + grid_h < n
            grid_o, grid_h = grid_o[keep], grid_h[keep]
            x, scale = _features(values, first, grid_o, grid_h, calendar)
            xs.append(x)
            ys.append(values[grid_o + grid_h] / scale)
        if not xs:
            return np.empty((0, 0)), np.empty(0)
        x_all, y_all = np.vstack(xs), np.concatenate(ys)
        if len(y_all) > self.max_training_rows:
            rng = np.random.default_rng(self.random_state)
            pick = rng.choice(len(y_all), self.max_training_rows, replace=False)
            x_all, y_all = x_all[pick], y_all[pick]
        return x_all, y_all
