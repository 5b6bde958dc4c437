"""Rolling-origin backtest: every candidate model forecasts every series from several past
origins (each one an analysis date of its own, using only the weeks up to it), its errors
are scored (MASE, WAPE, interval coverage) and each series gets the model with the lowest
MASE; the chosen models' forecasts are reconciled at each origin like the published ones,
and their errors give the prediction intervals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.forecast import models as m
from cdp_assets.forecast.candidates import OriginForecasts
from cdp_assets.forecast.intervals import leave_one_origin_out_inside
from cdp_assets.forecast.periods import SeriesKey

CHOSEN = "chosen"  # the per-series chosen models, reconciled: what is published
# Preference on equal MASE: the simpler model.
MODEL_ORDER = (m.SEASONAL_NAIVE, m.ETS, m.GRADIENT_BOOSTING, m.CUSTOMER_BASED)


def mase_scale(history: np.ndarray) -> float:
    """Mean absolute change from the same week a year earlier (a week earlier with less than
    a year and a quarter of history); the mean absolute week if that is zero; 1 if all are."""
    lag = m.SEASON if len(history) >= m.SEASON + 13 else 1
    if len(history) > lag:
        scale = float(np.mean(np.abs(history[lag:] - history[:-lag])))
        if scale > 0:
            return scale
    level = float(np.mean(np.abs(history))) if len(history) else 0.0
    return level if level > 0 else 1.0


def backtest_origins(last: int, first: int, count: int, spacing: int) -> list[int]:
    """Origin positions, oldest first: `count` origins `spacing` weeks apart before `last`,
    each with at least MIN_WEEKS_ANY_MODEL weeks of history after `first`."""
    origins = [last - spacing * k for k in range(1, count + 1)]
    return sorted(o for o in origins if o - first + 1 >= m.MIN_WEEKS_ANY_MODEL)


def errors_of(
    forecasts: OriginForecasts,
    weekly: pd.DataFrame,
    firsts: dict[SeriesKey, int],
    origin_date: dt.date,
) -> pd.DataFrame:
    """One row per (model, series, step) with actual, forecast and the series' MASE scale
    (built as one frame: a frame per series and model cost more than the figures)."""
    keys, models, actuals, values_used, scales = [], [], [], [], []
    origin = forecasts.origin
    for model, by_key in forecasts.by_model.items():
        for key, values in by_key.items():
            series = weekly[key].to_numpy()
            history = series[firsts[key] : origin + 1]
            if len(history) < m.MIN_WEEKS_ANY_MODEL:
                continue
            actual = series[origin + 1 : origin + 1 + len(values)]
            keys.append(key)
            models.append(model)
            actuals.append(actual)
            values_used.append(values[: len(actual)])
            scales.append(mase_scale(history))
    if not keys:
        return _empty_errors()
    lengths = [len(a) for a in actuals]
    if not sum(lengths):  # forecasts from the last week: the frame of no rows it always was
        return pd.concat(
            [
                pd.DataFrame(
                    {
                        "key": [key] * 0,
                        "model": model,
                        "origin": origin,
                        "origin_date": pd.Timestamp(origin_date),
                        "step": np.arange(1, 1),
                        "actual": actual,
                        "forecast": values,
                        "scale": scale,
                    }
                )
                for key, model, actual, values, scale in zip(
                    keys, models, actuals, values_used, scales, strict=True
                )
            ],
            ignore_index=True,
        )
    return pd.DataFrame(
        {
            "key": [k for k, n in zip(keys, lengths, strict=True) for _ in range(n)],
            "model": [x for x, n in zip(models, lengths, strict=True) for _ in range(n)],
            "origin": origin,
            "origin_date": pd.Timestamp(origin_date),
            "step": np.concatenate([np.arange(1, n + 1) for n in lengths]),
            "actual": np.concatenate(actuals),
            "forecast": np.concatenate(values_used),
            "scale": np.repeat(np.asarray(scales, dtype=np.float64), lengths),
        }
    )


def _empty_errors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": pd.Series(dtype=object),
            "model": pd.Series(dtype=object),
            "origin": pd.Series(dtype="int64"),
            "origin_date": pd.Series(dtype="datetime64[us]"),
            "step": pd.Series(dtype="int64"),
            "actual": pd.Series(dtype=float),
            "forecast": pd.Series(dtype=float),
            "scale": pd.Series(dtype=float),
        }
    )


def with_scores(errors: pd.DataFrame) -> pd.DataFrame:
    """Adds scaled_error, absolute scaled error, the key's parts and interval coverage, the
    latter per model with the model's own errors pooled across series."""
    out = errors.copy()
    out["scaled_error"] = (out["actual"] - out["forecast"]) / out["scale"]
    out["abs_scaled_error"] = out["scaled_error"].abs()
    out["level"] = [k.level for k in out["key"]]
    out["member"] = [k.member for k in out["key"]]
    out["metric"] = [k.metric for k in out["key"]]
    inside = [leave_one_origin_out_inside(group) for _, group in out.groupby("model")]
    if inside:
        out = out.join(pd.concat(inside))
    else:
        out["inside_80"] = pd.array([], dtype="boolean")
        out["inside_95"] = pd.array([], dtype="boolean")
    return out


def series_scores(scored: pd.DataFrame) -> pd.DataFrame:
    """Per (key, model): MASE, WAPE, origins and errors counted."""

    def one(group: pd.DataFrame) -> pd.Series:
        actual = group["actual"].abs().sum()
        return pd.Series(
            {
                "mase": group["abs_scaled_error"].mean(),
                "wape": (group["actual"] - group["forecast"]).abs().sum() / actual
                if actual > 0
                else np.nan,
                "origins": group["origin"].nunique(),
                "errors": len(group),
            }
        )

    if scored.empty:
        return pd.DataFrame(columns=["key", "model", "mase", "wape", "origins", "errors"])
    return scored.groupby(["key", "model"], sort=False).apply(one).reset_index()


def choose_models(scores: pd.DataFrame) -> dict[SeriesKey, str]:
    """Per series the model with the lowest MASE among those scored on every error the
    baseline was (a model missing some origins is not compared on easier ground)."""
    chosen: dict[SeriesKey, str] = {}
    for key, group in scores.groupby("key", sort=False):
        by_model = group.set_index("model")
        if m.SEASONAL_NAIVE not in by_model.index:
            continue
        needed = by_model.loc[m.SEASONAL_NAIVE, "errors"]
        complete = by_model.loc[by_model["errors"] == needed]
        ranked = sorted(
            complete.index, key=lambda name: (complete.loc[name, "mase"], MODEL_ORDER.index(name))
        )
        chosen[key] = ranked[0]
    return chosen


@dataclass
class Backtest:
    errors: pd.DataFrame  # every model's and the chosen pipeline's scored errors
    scores: pd.DataFrame  # per (key, model)
    chosen: dict[SeriesKey, str]
    origins: list[int]


def run_backtest(
    origins: Sequence[int],
    run_origin: Callable[[int], OriginForecasts],
    origin_dates: Callable[[int], dt.date],
    weekly: pd.DataFrame,
    firsts: dict[SeriesKey, int],
    reconcile_chosen: Callable[[dict[SeriesKey, np.ndarray]], dict[SeriesKey, np.ndarray]],
) -> Backtest:
    """Candidates at every origin, model choice, then the chosen and reconciled pipeline."""
    runs = [run_origin(o) for o in origins]
    errors = (
        pd.concat(
            [errors_of(r, weekly, firsts, origin_dates(r.origin)) for r in runs], ignore_index=True
        )
        if runs
        else _empty_errors()
    )
    scores = series_scores(with_scores(errors)) if len(errors) else series_scores(errors)
    chosen = choose_models(scores)
    chosen_rows = []
    for run in runs:
        picked = {
            key: run.by_model[model][key]
            for key, model in chosen.items()
            if key in run.by_model.get(model, {})
        }
        reconciled = OriginForecasts(run.origin, {CHOSEN: reconcile_chosen(picked)})
        chosen_rows.append(errors_of(reconciled, weekly, firsts, origin_dates(run.origin)))
    all_errors = pd.concat([errors, *chosen_rows], ignore_index=True)
    scored = with_scores(all_errors) if len(all_errors) else all_errors
    return Backtest(scored, series_scores(scored) if len(scored) else scores, chosen, list(origins))
