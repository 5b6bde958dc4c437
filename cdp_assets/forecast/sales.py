"""`forecast_sales`: the weekly and daily sales forecast of every series, its backtest and
the model chosen for each series — the one entry point of the `ml.sales_forecast` asset."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.config.analytics import HolidayWindow
from cdp_assets.config.forecast import ForecastConfig
from cdp_assets.forecast import models as m
from cdp_assets.forecast.backtest import (
    CHOSEN,
    MODEL_ORDER,
    Backtest,
    mase_scale,
    run_backtest,
)
from cdp_assets.forecast.backtest_cache import (
    CACHED_MODELS,
    BacktestCache,
    CachedForecasts,
    as_cached,
    calendar_bytes,
    calendar_origins,
    history_digest,
    last_sunday,
    merged_forecasts,
    model_fingerprint,
)
from cdp_assets.forecast.candidates import OriginForecasts, forecast_candidates
from cdp_assets.forecast.daily import learn_day_profile, spread_weeks
from cdp_assets.forecast.holidays import holiday_week_days
from cdp_assets.forecast.intervals import LEVELS, fit_by_level, quantiles_for
from cdp_assets.forecast.periods import (
    SALES_FORECAST_COLUMNS,
    TOTAL,
    CustomerBasedForecaster,
    SeriesKey,
    future_weeks,
)
from cdp_assets.forecast.reconcile import reconcile
from cdp_assets.forecast.series import (
    SalesSeries,
    build_sales_series,
    member_column,
    weeks_ending_on,
)


class NotEnoughSales(ValueError):
    """No whole week of sales up to the analysis date."""


@dataclass
class SalesForecast:
    rows: pd.DataFrame  # SALES_FORECAST_COLUMNS, weekly then daily
    backtest: pd.DataFrame  # per level and model: MASE, WAPE, coverage, vs seasonal naive
    chosen: pd.DataFrame  # per series: the model published and its backtest MASE
    history: pd.DataFrame  # the weekly actuals (columns: SeriesKey)
    errors: pd.DataFrame  # every scored backtest error
    notes: list[str] = field(default_factory=list)
    # This run's backtest forecasts, for the next run (`reused` / `fitted`: model-origins).
    backtest_cache: BacktestCache = field(default_factory=BacktestCache)

    def figure(self, level: str, model: str, column: str) -> float:
        row = self.backtest.loc[
            (self.backtest["level"] == level) & (self.backtest["model"] == model), column
        ]
        return float(row.iloc[0]) if len(row) else float("nan")


def forecast_sales(
    daily: pd.DataFrame,
    as_of: dt.date,
    settings: ForecastConfig,
    windows: Sequence[HolidayWindow],
    customer_forecaster: CustomerBasedForecaster | None = None,
    cache: BacktestCache | None = None,
    version: str = "",
) -> SalesForecast:
    """The forecast as of `as_of` from daily sales (DAILY_SALES_COLUMNS; later days are
    ignored, so any past date gives what it would have given then).

    The backtest runs on calendar weeks (Monday to Sunday, up to the last Sunday on or
    before `as_of`) at origins on a fixed grid of Sundays (`calendar_origins`), so its
    origins recur from night to night; a model's forecasts from an origin found in `cache`
    under the same fingerprint (of the weeks up to the origin and `version`, e.g. the code's
    digest) are reused instead of fitted again. The result is the same either way; the
    cache of this run's origins is returned in `backtest_cache`."""
    series = build_sales_series(
        daily,
        as_of,
        settings.levels,
        settings.metrics,
        settings.min_orders_per_member,
        settings.max_members_per_level,
    )
    weekly = series.weekly
    if len(weekly) == 0:
        raise NotEnoughSales("no whole week of sales up to the analysis date")
    notes = list(series.notes)
    models = tuple(settings.models)
    if m.CUSTOMER_BASED in models and customer_forecaster is None:
        notes.append("customer_based: not available (no customer forecaster), not compared")
    horizon = max(settings.horizon_weeks, math.ceil(settings.daily_horizon_days / 7))
    starts = weekly.index.append(future_weeks(as_of, horizon))
    calendar = m.week_calendar(starts, holiday_week_days(starts, windows))
    firsts = {key: series.first_week(key) for key in series.keys}
    nonnegative = {key for key in series.keys if (weekly[key] >= 0).all()}
    last = len(weekly) - 1

    def publishable(forecasts: dict[SeriesKey, np.ndarray]) -> dict[SeriesKey, np.ndarray]:
        clipped = {k: np.maximum(v, 0.0) if k in nonnegative else v for k, v in forecasts.items()}
        return reconcile(clipped, series.members, series.metrics)

    tester = _OriginTester(
        weeks_ending_on(series, last_sunday(as_of)),
        settings.horizon_weeks,
        models,
        windows,
        customer_forecaster,
        BacktestCache(dict(cache.entries) if cache else {}),
        version,
    )
    origins = calendar_origins(
        tester.weekly.index,
        min(tester.firsts.values()),
        settings.backtest_origins,
        settings.backtest_spacing_weeks,
    )
    if len(origins) < settings.backtest_origins:
        notes.append(
            f"backtest: {len(origins)} of {settings.backtest_origins} origins have "
            f"{m.MIN_WEEKS_ANY_MODEL} weeks of history"
        )
    backtest = run_backtest(
        origins, tester.run, tester.origin_date, tester.weekly, tester.firsts, publishable
    )
    final = forecast_candidates(
        weekly, firsts, last, as_of, horizon, models, calendar, customer_forecaster
    )
    picked, used, series_notes = _pick_final(series, backtest, final)
    point = publishable(picked)
    bounds = _interval_bounds(series, backtest, point, firsts, nonnegative, last, notes)
    weekly_rows = _weekly_rows(as_of, series, point, bounds, used, settings.horizon_weeks)
    daily_rows = _daily_rows(
        as_of, series, point, bounds, used, windows, settings.daily_horizon_days
    )
    rows = pd.concat([weekly_rows, daily_rows], ignore_index=True)
    return SalesForecast(
        rows=_typed(rows),
        backtest=backtest_summary(backtest.errors),
        chosen=_chosen_table(series, backtest, used, series_notes),
        history=weekly,
        errors=backtest.errors,
        notes=notes,
        backtest_cache=tester.cache.only(tester.used),
    )


class _OriginTester:
    """Runs the candidates at a backtest origin of the calendar-week series, reusing what
    `cache` holds under the same fingerprint and adding what it fits."""

    def __init__(
        self,
        series: SalesSeries,
        horizon: int,
        models: tuple[str, ...],
        windows: Sequence[HolidayWindow],
        customer_forecaster: CustomerBasedForecaster | None,
        cache: BacktestCache,
        version: str,
    ) -> None:
        self.weekly = series.weekly
        self.firsts = {key: series.first_week(key) for key in series.keys}
        self.horizon = horizon
        self.models = models
        end = (self.weekly.index[-1] + pd.Timedelta(days=6)).date() if len(self.weekly) else None
        starts = self.weekly.index.append(future_weeks(end, horizon)) if end else self.weekly.index
        self.calendar = m.week_calendar(starts, holiday_week_days(starts, windows))
        self.customer_forecaster = customer_forecaster
        self.cache = cache
        self.version = version
        self.used: list[tuple[str, dt.date]] = []

    def origin_date(self, position: int) -> dt.date:
        return (self.weekly.index[position] + pd.Timedelta(days=6)).date()

    def _fingerprint(self, model: str, position: int, history: str) -> str | None:
        if model == m.GRADIENT_BOOSTING:
            end = position + 1 + self.horizon
            return model_fingerprint(
                model, history, self.horizon, [calendar_bytes(self.calendar, end)]
            )
        if model == m.CUSTOMER_BASED:
            own = getattr(self.customer_forecaster, "fingerprint", None)
            if own is None:
                return None  # a forecaster that cannot say what it knew: always fitted
            return model_fingerprint(
                model, self.version, self.horizon, [own(self.origin_date(position)).encode()]
            )
        return model_fingerprint(model, history, self.horizon)

    def run(self, position: int) -> OriginForecasts:
        origin = self.origin_date(position)
        history = history_digest(self.weekly, position, self.version)
        cached = [n for n in self.models if n in CACHED_MODELS]
        if m.CUSTOMER_BASED in cached and self.customer_forecaster is None:
            cached.remove(m.CUSTOMER_BASED)
        prints = {n: self._fingerprint(n, position, history) for n in cached}
        reused: dict[str, CachedForecasts] = {}
        for name, fingerprint in prints.items():
            entry = None if fingerprint is None else self.cache.get(name, origin, fingerprint)
            if entry is not None:
                reused[name] = entry
        fitted = forecast_candidates(
            self.weekly,
            self.firsts,
            position,
            origin,
            self.horizon,
            tuple(n for n in self.models if n not in reused),
            self.calendar,
            self.customer_forecaster,
        )
        for name, fingerprint in prints.items():
            if name not in reused and fingerprint is not None and name in fitted.by_model:
                self.cache.entries[(name, origin)] = as_cached(fitted, name, fingerprint)
            if fingerprint is not None:
                self.used.append((name, origin))
        self.cache.reused += len(reused)
        self.cache.fitted += len(cached) - len(reused)
        return merged_forecasts(fitted, reused, list(self.weekly.columns))


Bounds = dict[tuple[SeriesKey, str], tuple[np.ndarray, np.ndarray]]


def _pick_final(
    series: SalesSeries, backtest: Backtest, final: OriginForecasts
) -> tuple[dict[SeriesKey, np.ndarray], dict[SeriesKey, str], dict[SeriesKey, str]]:
    """Per series the chosen model's final forecast, the model actually used (seasonal
    naive when the chosen one has no forecast) and the notes on fallbacks."""
    picked: dict[SeriesKey, np.ndarray] = {}
    used: dict[SeriesKey, str] = {}
    series_notes: dict[SeriesKey, str] = {}
    for key in series.keys:
        model = backtest.chosen.get(key)
        note = None
        if model is None:
            model, note = m.SEASONAL_NAIVE, "too short to backtest: seasonal naive"
        elif key not in final.by_model.get(model, {}):
            note = f"{model} failed on the full history: seasonal naive"
            model = m.SEASONAL_NAIVE
        picked[key] = final.by_model[model][key]
        used[key] = model
        fallback = final.notes.get((model, key))
        series_notes[key] = "; ".join(n for n in (note, fallback) if n)
    return picked, used, series_notes


def _interval_bounds(
    series: SalesSeries,
    backtest: Backtest,
    point: dict[SeriesKey, np.ndarray],
    firsts: dict[SeriesKey, int],
    nonnegative: set[SeriesKey],
    last: int,
    notes: list[str],
) -> Bounds:
    chosen_errors = backtest.errors.loc[backtest.errors["model"] == CHOSEN]
    if len(chosen_errors) >= 2 * len(LEVELS):
        quantiles = fit_by_level(chosen_errors)
    else:
        notes.append(
            "intervals: too few backtest errors, assumed normal errors growing with the "
            "square root of the step"
        )
        quantiles = None
    out = {}
    for key, forecast in point.items():
        history = series.weekly[key].to_numpy()[firsts[key] : last + 1]
        scale = mase_scale(history)
        steps = np.arange(1, len(forecast) + 1)
        for level in LEVELS:
            if quantiles is not None:
                low, high = quantiles_for(quantiles, key.level).bounds(
                    forecast, scale, steps, level
                )
            else:
                z = {"80": 1.2816, "95": 1.96}[level] * 1.25 * np.sqrt(steps) * scale
                low, high = forecast - z, forecast + z
            if key in nonnegative:
                low = np.maximum(low, 0.0)
            out[(key, level)] = (low, high)
    return out


def _row_frame(
    as_of: dt.date,
    key: SeriesKey,
    model: str,
    frequency: str,
    starts: pd.DatetimeIndex,
    length_days: int,
    values: dict[str, np.ndarray],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of": pd.Timestamp(as_of),
            "level": key.level,
            "member": key.member,
            "metric": key.metric,
            "frequency": frequency,
            "period_start": starts,
            "period_end": starts + pd.Timedelta(days=length_days - 1),
            "model": model,
            **values,
        }
    )


def _weekly_rows(
    as_of: dt.date,
    series: SalesSeries,
    point: dict[SeriesKey, np.ndarray],
    bounds: Bounds,
    used: dict[SeriesKey, str],
    weeks: int,
) -> pd.DataFrame:
    starts = future_weeks(as_of, weeks)
    frames = []
    for key in series.keys:
        values = {"forecast": point[key][:weeks]}
        for level in LEVELS:
            low, high = bounds[(key, level)]
            values[f"lower_{level}"], values[f"upper_{level}"] = low[:weeks], high[:weeks]
        frames.append(_row_frame(as_of, key, used[key], "week", starts, 7, values))
    return pd.concat(frames, ignore_index=True)


def _daily_values(series: SalesSeries, key: SeriesKey, as_of: dt.date) -> pd.Series:
    daily = series.daily
    inside = daily[member_column(key.level)] == key.member
    values = daily.loc[inside.fillna(False)].groupby("day")[key.metric].sum()
    first = series.weekly.index[0]
    days = pd.date_range(first, pd.Timestamp(as_of), freq="D")
    return values.reindex(days, fill_value=0.0)


def _daily_rows(
    as_of: dt.date,
    series: SalesSeries,
    point: dict[SeriesKey, np.ndarray],
    bounds: Bounds,
    used: dict[SeriesKey, str],
    windows: Sequence[HolidayWindow],
    days_ahead: int,
) -> pd.DataFrame:
    if days_ahead == 0:
        return pd.DataFrame(columns=list(SALES_FORECAST_COLUMNS))
    weeks = math.ceil(days_ahead / 7)
    starts = future_weeks(as_of, weeks)
    spread: dict[SeriesKey, pd.DataFrame] = {}
    for key in series.keys:
        profile = learn_day_profile(_daily_values(series, key, as_of), pd.Timestamp(as_of), windows)
        weekly = pd.DataFrame({"forecast": point[key][:weeks]})
        for level in LEVELS:
            low, high = bounds[(key, level)]
            weekly[f"lower_{level}"], weekly[f"upper_{level}"] = low[:weeks], high[:weeks]
        spread[key] = spread_weeks(starts, weekly, profile, windows, days_ahead)
    # Day profiles differ between members: reconcile the days like the weeks.
    reconciled = reconcile(
        {k: f["forecast"].to_numpy() for k, f in spread.items()}, series.members, series.metrics
    )
    frames = []
    for key, frame in spread.items():
        shift = reconciled[key] - frame["forecast"].to_numpy()
        values = {"forecast": reconciled[key]}
        for level in LEVELS:
            values[f"lower_{level}"] = frame[f"lower_{level}"].to_numpy() + shift
            values[f"upper_{level}"] = frame[f"upper_{level}"].to_numpy() + shift
        frames.append(
            _row_frame(as_of, key, used[key], "day", pd.DatetimeIndex(frame["day"]), 1, values)
        )
    return pd.concat(frames, ignore_index=True)


def _typed(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.loc[:, list(SALES_FORECAST_COLUMNS)]
    return out.astype(SALES_FORECAST_COLUMNS).reset_index(drop=True)


def volume_weights(errors: pd.DataFrame) -> dict[SeriesKey, float]:
    """Each series' share of its level's volume in its metric (mean absolute actual over the
    backtest weeks), divided by the level's number of metrics: a level's weights sum to 1."""
    volume = errors.groupby("key", sort=False)["actual"].apply(lambda a: a.abs().mean())
    frame = pd.DataFrame({"key": volume.index, "volume": volume.to_numpy()})
    frame["level"] = [k.level for k in frame["key"]]
    frame["metric"] = [k.metric for k in frame["key"]]
    totals = frame.groupby(["level", "metric"])["volume"].transform("sum")
    metrics = frame.groupby("level")["metric"].transform("nunique")
    share = (frame["volume"] / totals.where(totals > 0)).fillna(0.0) / metrics
    return dict(zip(frame["key"], share, strict=True))


def backtest_summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Per level and model: series, MASE, WAPE, 80 % / 95 % coverage, and the MASE improvement
    on seasonal naive at that level (same series and origins). A level's MASE weighs its
    series' MASE by their share of the level's volume in each metric, the metrics alike (as
    the M5 competition weighs its series): a tiny or newly started series, whose in-sample
    changes are near zero, has a huge MASE and must not swamp the level. The plain mean of the
    series' MASE is beside it (`mase_series_mean`)."""
    if errors.empty:
        return pd.DataFrame(
            columns=[
                "level",
                "model",
                "series",
                "mase",
                "mase_series_mean",
                "wape",
                "coverage_80",
                "coverage_95",
                "mase_vs_naive",
            ]
        )
    per_series = (
        errors.groupby(["level", "model", "key"], sort=False)["abs_scaled_error"]
        .mean()
        .rename("mase")
        .reset_index()
    )
    per_series["weight"] = per_series["key"].map(volume_weights(errors))
    weighted = per_series.assign(product=per_series["mase"] * per_series["weight"])
    sums = weighted.groupby(["level", "model"])[["product", "weight"]].sum()
    mase = per_series.groupby(["level", "model"])["mase"].agg(["mean", "size"])
    mase["weighted"] = sums["product"] / sums["weight"]
    grouped = errors.groupby(["level", "model"])
    absolute = (errors["actual"] - errors["forecast"]).abs()
    wape = (
        absolute.groupby([errors["level"], errors["model"]]).sum()
        / errors["actual"].abs().groupby([errors["level"], errors["model"]]).sum()
    )
    table = pd.DataFrame(
        {
            "series": mase["size"],
            "mase": mase["weighted"],
            "mase_series_mean": mase["mean"],
            "wape": wape,
            "coverage_80": grouped["inside_80"].mean().astype(float),
            "coverage_95": grouped["inside_95"].mean().astype(float),
        }
    ).reset_index()
    naive = table.loc[table["model"] == m.SEASONAL_NAIVE].set_index("level")["mase"]
    table["mase_vs_naive"] = 1 - table["mase"] / table["level"].map(naive)
    level_rank = {level: i for i, level in enumerate((TOTAL, "channel", "category", "store"))}
    model_rank = {name: i for i, name in enumerate((*MODEL_ORDER, CHOSEN))}
    table["_level"] = table["level"].map(level_rank)
    table["_model"] = table["model"].map(model_rank)
    return (
        table.sort_values(["_level", "_model"])
        .drop(columns=["_level", "_model"])
        .reset_index(drop=True)
    )


def _chosen_table(
    series: SalesSeries,
    backtest: Backtest,
    used: dict[SeriesKey, str],
    series_notes: dict[SeriesKey, str],
) -> pd.DataFrame:
    scores = backtest.scores.set_index(["key", "model"]) if len(backtest.scores) else None

    def mase(key: SeriesKey, model: str) -> float:
        if scores is None or (key, model) not in scores.index:
            return float("nan")
        return float(scores.loc[(key, model), "mase"])

    return pd.DataFrame(
        [
            {
                "level": key.level,
                "member": key.member,
                "metric": key.metric,
                "model": used[key],
                "mase": mase(key, used[key]),
                "mase_seasonal_naive": mase(key, m.SEASONAL_NAIVE),
                "mase_published": mase(key, CHOSEN),
                "note": series_notes[key],
            }
            for key in series.keys
        ]
    )
