"""Every candidate model's forecast of every series from one origin week: what the backtest
runs at each of its origins and the final forecast runs at the analysis date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.forecast import models as m
from cdp_assets.forecast.periods import TOTAL, CustomerBasedForecaster, SeriesKey

CUSTOMER_METRICS = ("orders", "net_revenue")  # what the customer-based model forecasts


@dataclass
class OriginForecasts:
    """Forecasts by model and series from one origin; notes per series on fallbacks."""

    origin: int  # position of the origin week (the last week of history)
    by_model: dict[str, dict[SeriesKey, np.ndarray]] = field(default_factory=dict)
    notes: dict[tuple[str, SeriesKey], str] = field(default_factory=dict)


def forecast_candidates(
    weekly: pd.DataFrame,
    firsts: dict[SeriesKey, int],
    origin: int,
    origin_date: dt.date,
    horizon: int,
    model_names: Sequence[str],
    calendar: pd.DataFrame,
    customer_forecaster: CustomerBasedForecaster | None = None,
) -> OriginForecasts:
    """Each model in `model_names` (seasonal naive always) on each series of `weekly`, from
    the weeks up to position `origin`."""
    out = OriginForecasts(origin)
    keys: list[SeriesKey] = list(weekly.columns)
    histories = {k: weekly[k].to_numpy()[: origin + 1] for k in keys}
    trimmed = {k: h[min(firsts[k], len(h)) :] for k, h in histories.items()}
    naive = out.by_model.setdefault(m.SEASONAL_NAIVE, {})
    for key in keys:
        result = m.seasonal_naive(trimmed[key], horizon)
        naive[key] = result.values
        if result.note:
            out.notes[(m.SEASONAL_NAIVE, key)] = result.note
    if m.ETS in model_names:
        found = out.by_model.setdefault(m.ETS, {})
        for key in keys:
            if len(trimmed[key]) < m.MIN_WEEKS_ANY_MODEL:
                continue
            result = m.ets(trimmed[key], horizon)
            if result is not None:
                found[key] = result.values
                if result.note:
                    out.notes[(m.ETS, key)] = result.note
    if m.GRADIENT_BOOSTING in model_names:
        boosted = m.GlobalBoosting().forecast(
            [histories[k] for k in keys], [firsts[k] for k in keys], horizon, calendar
        )
        out.by_model[m.GRADIENT_BOOSTING] = {
            k: r.values for k, r in zip(keys, boosted, strict=True) if r is not None
        }
    if m.CUSTOMER_BASED in model_names and customer_forecaster is not None:
        out.by_model[m.CUSTOMER_BASED] = _customer_based(
            customer_forecaster, origin_date, horizon, keys
        )
    return out


def _customer_based(
    forecaster: CustomerBasedForecaster, origin_date: dt.date, horizon: int, keys: list[SeriesKey]
) -> dict[SeriesKey, np.ndarray]:
    weekly = forecaster.weekly(origin_date, horizon)
    missing = [c for c in ("period_start", *CUSTOMER_METRICS) if c not in weekly.columns]
    if missing or len(weekly) != horizon:
        raise ValueError(
            f"customer-based forecaster: expected {horizon} weeks with columns period_start, "
            f"{', '.join(CUSTOMER_METRICS)}; got {len(weekly)} rows, missing {missing}"
        )
    weekly = weekly.sort_values("period_start")
    forecasts = {
        k: weekly[k.metric].to_numpy(dtype=float)
        for k in keys
        if k.level == TOTAL and k.metric in CUSTOMER_METRICS
    }
    # A purchase model fitted on too few customers can give no number: no candidate then.
    return {k: v for k, v in forecasts.items() if np.isfinite(v).all()}
