"""Product demand: units per product per week over the horizon, with 80 % and 95 % intervals.

The method is deliberately simple, and backtested against the two obvious baselines:

- **rate**: the product's mean weekly units over the last `RECENT_WEEKS` weeks (fewer when
  the product is younger; a product with under `MIN_HISTORY_WEEKS` weeks of sales says so);
- **seasonal index** of the product's category for each future week h: the category's units
  in the same week one (and two) years before, over its mean weekly units in the
  `RECENT_WEEKS` weeks before the same origin that year — i.e. how much that week sold
  compared with the window the rate is taken from — both detrended first (each week over
  the mean of the 52 weeks around it), so last year's growth is not read as season. Weeks
  are 52 weeks apart (the weekday is kept). A category selling under
  `MIN_CATEGORY_WEEKLY_UNITS` a week takes the index of all products (its own is noise).
  Without a year of history the index is 1 and a note says so;
- forecast = rate x index; intervals from a negative binomial with that mean and the
  product's over-dispersion (variance = mean + phi mean^2, phi estimated from the same recent
  weeks; Poisson when they vary less than Poisson would).

All weeks are `periods` weeks anchored on the analysis date: only sales on or before it count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cdp_assets.forecast.periods import future_weeks, week_index, week_start

RECENT_WEEKS = 13  # the window of the rate, and of the top-product ranking
MIN_HISTORY_WEEKS = 4  # a product sold for fewer weeks gets a forecast flagged as unreliable
YEAR_WEEKS = 52
MAX_SEASONAL_YEARS = 2
MIN_CATEGORY_WEEKLY_UNITS = 100  # below, a category's own weekly index is too noisy
INDEX_CLIP = (0.2, 5.0)  # a category index beyond this is noise of a small category
METHOD = "recent_rate_x_category_season"
SALES_COLUMNS = ("day", "product_id", "category", "units")  # plus optional product_name, store_id
DEMAND_COLUMNS: dict[str, str] = {
    "as_of": "datetime64[us]",
    "product_id": "string",
    "product_name": "string",
    "category": "string",
    "rank": "Int64",
    "period_start": "datetime64[us]",
    "period_end": "datetime64[us]",
    "forecast": "float64",
    "lower_80": "float64",
    "upper_80": "float64",
    "lower_95": "float64",
    "upper_95": "float64",
    "recent_weekly_units": "float64",
    "history_weeks": "Int64",
    "dispersion": "float64",
    "method": "string",
    "note": "string",
}


def check_sales(sales: pd.DataFrame, source: str = "product sales") -> None:
    missing = [c for c in SALES_COLUMNS if c not in sales.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing} (need {list(SALES_COLUMNS)})")


@dataclass(frozen=True)
class WeeklySales:
    """Units per product and per category in the anchored weeks ending on `as_of`."""

    as_of: dt.date
    weeks: pd.DatetimeIndex  # start days, oldest first
    product: pd.DataFrame  # products x weeks
    category: pd.DataFrame  # categories x weeks
    category_of: pd.Series  # product -> category (its most sold)
    name_of: pd.Series  # product -> product name
    first_week: pd.Series  # product -> position in `weeks` of its first sale

    @classmethod
    def of(cls, sales: pd.DataFrame, as_of: dt.date) -> WeeklySales:
        check_sales(sales)
        sales = sales.reset_index(drop=True)
        day = pd.to_datetime(sales["day"])
        known = sales.assign(day=day).loc[day <= pd.Timestamp(as_of)]
        known = known.loc[known["product_id"].notna()]
        if known.empty:
            raise ValueError(f"product demand: no product sales on or before {as_of}")
        start = week_start(known["day"], as_of)
        span = int((pd.Timestamp(as_of) - start.min()).days // 7) + 1
        weeks = week_index(as_of, span)
        units = pd.to_numeric(known["units"]).fillna(0.0).astype(float)
        frame = pd.DataFrame(
            {
                "product_id": known["product_id"].astype(str),
                "category": known["category"].astype("string").fillna("unknown").astype(str),
                "week": start,
                "units": units,
            }
        )
        product = (
            frame.pivot_table("units", "product_id", "week", aggfunc="sum", fill_value=0.0)
            .reindex(columns=weeks, fill_value=0.0)
            .astype(float)
        )
        by_category = frame.groupby(["product_id", "category"])["units"].sum().reset_index()
        category_of = (
            by_category.sort_values(["units", "category"], ascending=[False, True])
            .drop_duplicates("product_id")
            .set_index("product_id")["category"]
        )
        # Each product's units go to its main category, so categories add up to products.
        category = product.groupby(category_of.reindex(product.index)).sum()
        names = (
            known.assign(product_id=known["product_id"].astype(str))
            .dropna(subset=["product_name"])
            .groupby("product_id")["product_name"]
            .last()
            if "product_name" in known.columns
            else pd.Series(dtype=object)
        )
        sold = product.to_numpy() > 0
        first = pd.Series(sold.argmax(axis=1), index=product.index)
        return cls(as_of, weeks, product, category, category_of, names, first)


@dataclass(frozen=True)
class ProductForecast:
    """Weekly mean demand of some products over the horizon, and their over-dispersion."""

    as_of: dt.date
    periods: pd.DatetimeIndex
    mean: pd.DataFrame  # products x future weeks
    dispersion: pd.Series  # phi per product (0: Poisson)
    recent_rate: pd.Series
    history_weeks: pd.Series
    notes: pd.Series  # per product, "" when nothing to say
    category_notes: tuple[str, ...]


def top_products(weekly: WeeklySales, n: int) -> pd.Index:
    """The `n` products with the most units in the last RECENT_WEEKS weeks (ties: by id)."""
    recent = weekly.product.iloc[:, -RECENT_WEEKS:].sum(axis=1)
    recent = recent[recent > 0]
    order = pd.DataFrame({"units": recent, "id": recent.index}).sort_values(
        ["units", "id"], ascending=[False, True]
    )
    return pd.Index(order.index[:n])


def _detrended(series: np.ndarray) -> np.ndarray:
    """Each week's units over the mean of the 52 weeks centred on it (the window shifted to
    fit inside the history), so that last year's growth does not pass for seasonality."""
    span = series.shape[1]
    if span < YEAR_WEEKS:
        return np.full(series.shape, np.nan)
    cumulative = np.concatenate([np.zeros((series.shape[0], 1)), series.cumsum(axis=1)], axis=1)
    low = np.clip(np.arange(span) - YEAR_WEEKS // 2, 0, span - YEAR_WEEKS)
    level = (cumulative[:, low + YEAR_WEEKS] - cumulative[:, low]) / YEAR_WEEKS
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(level > 0, series / level, np.nan)


def _seasonal_ratios(series: np.ndarray, weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows x future weeks: the mean over past years of each row's detrended units in the
    same week over its mean detrended units in the RECENT_WEEKS weeks before the same origin
    (1 where no year has them), and each row's smallest base mean of units (NaN without a
    year of history)."""
    span = series.shape[1]
    ratio = _detrended(series)
    total = np.zeros((series.shape[0], weeks))
    used = np.zeros((series.shape[0], weeks))
    smallest_base = np.full(series.shape[0], np.nan)
    for years in range(1, MAX_SEASONAL_YEARS + 1):
        origin = span - 1 - YEAR_WEEKS * years  # the same origin that year (position)
        if origin - RECENT_WEEKS + 1 < 0:
            continue
        window = slice(origin - RECENT_WEEKS + 1, origin + 1)
        smallest_base = np.fmin(smallest_base, series[:, window].mean(axis=1))
        base = ratio[:, window].mean(axis=1)
        for h in range(min(weeks, span - origin - 1)):
            ok = (base > 0) & np.isfinite(ratio[:, origin + 1 + h])
            total[ok, h] += ratio[ok, origin + 1 + h] / base[ok]
            used[ok, h] += 1
    return np.where(used > 0, total / np.maximum(used, 1), 1.0), smallest_base


def category_index(weekly: WeeklySales, weeks: int) -> tuple[pd.DataFrame, list[str]]:
    """Categories x future weeks: the seasonal index of the module docstring. A category
    selling under MIN_CATEGORY_WEEKLY_UNITS a week in a base window takes the index of all
    products instead: its own weeks are mostly noise."""
    cat = weekly.category.to_numpy()
    span = cat.shape[1]
    own, base = _seasonal_ratios(cat, weeks)
    overall, overall_base = _seasonal_ratios(cat.sum(axis=0, keepdims=True), weeks)
    small = ~(base >= MIN_CATEGORY_WEEKLY_UNITS)
    index = np.where(small[:, None], overall, own)
    notes = []
    if np.isnan(overall_base).all():
        notes.append(
            f"{span} weeks of history (< {YEAR_WEEKS + RECENT_WEEKS}): no seasonal index, "
            "the forecast is the recent rate"
        )
    elif small.any():
        notes.append(
            f"{int(small.sum())} of {len(small)} categories sell under "
            f"{MIN_CATEGORY_WEEKLY_UNITS} units a week: they take the index of all products"
        )
    clipped = np.clip(index, *INDEX_CLIP)
    return pd.DataFrame(clipped, index=weekly.category.index), notes


def _dispersion(recent: np.ndarray) -> np.ndarray:
    """phi = (variance - mean) / mean^2 of each row, at least 0."""
    mean = recent.mean(axis=1)
    var = recent.var(axis=1, ddof=1) if recent.shape[1] > 1 else np.zeros(len(recent))
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(mean > 0, (var - mean) / mean**2, 0.0)
    return np.clip(np.nan_to_num(phi), 0.0, None)


def forecast_products(weekly: WeeklySales, products: pd.Index, weeks: int) -> ProductForecast:
    """Mean weekly units of `products` in the `weeks` weeks after `weekly.as_of`."""
    products = pd.Index([p for p in products if p in weekly.product.index])
    sales = weekly.product.loc[products].to_numpy()
    span = sales.shape[1]
    first = weekly.first_week.reindex(products).to_numpy()
    history = span - first
    window = np.minimum(history, RECENT_WEEKS)
    recent = sales[:, -RECENT_WEEKS:]
    # A younger product's rate is over the weeks since its first sale.
    mask = np.arange(recent.shape[1])[None, :] >= recent.shape[1] - window[:, None]
    rate = np.where(mask, recent, 0.0).sum(axis=1) / np.maximum(window, 1)
    phi = np.array(
        [_dispersion(recent[i : i + 1, -w:])[0] if w > 1 else 0.0 for i, w in enumerate(window)]
    )
    season, cat_notes = category_index(weekly, weeks)
    categories = weekly.category_of.reindex(products)
    index = season.reindex(categories.to_numpy()).to_numpy()
    mean = rate[:, None] * np.nan_to_num(index, nan=1.0)
    notes = np.where(
        history < MIN_HISTORY_WEEKS,
        [f"too little history ({h} weeks < {MIN_HISTORY_WEEKS}): unreliable" for h in history],
        np.where(
            history < RECENT_WEEKS,
            [f"rate over its {h} weeks of sales" for h in history],
            "",
        ),
    )
    periods = future_weeks(weekly.as_of, weeks)
    return ProductForecast(
        as_of=weekly.as_of,
        periods=periods,
        mean=pd.DataFrame(mean, index=products, columns=periods),
        dispersion=pd.Series(phi, index=products),
        recent_rate=pd.Series(rate, index=products),
        history_weeks=pd.Series(history, index=products),
        notes=pd.Series(notes, index=products),
        category_notes=tuple(cat_notes),
    )


def nb_quantile(q: float, mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Quantile q of a negative binomial with this mean and variance mean + phi mean^2
    (Poisson where phi is 0)."""
    mean = np.asarray(mean, float)
    phi = np.broadcast_to(np.asarray(phi, float), mean.shape)
    poisson = stats.poisson.ppf(q, mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(phi > 1e-9, 1.0 / phi, 1.0)
        nb = stats.nbinom.ppf(q, size, size / (size + mean))
    out = np.where(phi > 1e-9, nb, poisson)
    return np.where(mean > 0, out, 0.0)


def demand_rows(forecast: ProductForecast, weekly: WeeklySales) -> pd.DataFrame:
    """The rows of `ml.product_demand`: one per product (in rank order) and future week."""
    products = forecast.mean.index
    weeks = len(forecast.periods)
    mean = forecast.mean.to_numpy()
    phi = np.repeat(forecast.dispersion.to_numpy()[:, None], weeks, axis=1)
    notes = forecast.notes.to_numpy(object)
    if forecast.category_notes:
        extra = "; ".join(forecast.category_notes)
        notes = np.array([f"{n}; {extra}" if n else extra for n in notes], dtype=object)
    repeat = np.repeat
    frame = pd.DataFrame(
        {
            "as_of": pd.Timestamp(forecast.as_of),
            "product_id": repeat(products.to_numpy(object), weeks),
            "product_name": repeat(weekly.name_of.reindex(products).to_numpy(object), weeks),
            "category": repeat(weekly.category_of.reindex(products).to_numpy(object), weeks),
            "rank": repeat(np.arange(1, len(products) + 1), weeks),
            "period_start": np.tile(forecast.periods.to_numpy(), len(products)),
            "period_end": np.tile(
                (forecast.periods + pd.Timedelta(days=6)).to_numpy(), len(products)
            ),
            "forecast": mean.ravel(),
            "lower_80": nb_quantile(0.10, mean, phi).ravel(),
            "upper_80": nb_quantile(0.90, mean, phi).ravel(),
            "lower_95": nb_quantile(0.025, mean, phi).ravel(),
            "upper_95": nb_quantile(0.975, mean, phi).ravel(),
            "recent_weekly_units": repeat(forecast.recent_rate.to_numpy(), weeks),
            "history_weeks": repeat(forecast.history_weeks.to_numpy(), weeks),
            "dispersion": phi.ravel(),
            "method": METHOD,
            "note": repeat(notes, weeks),
        }
    )
    return frame.astype(DEMAND_COLUMNS)


# --------------------------------------------------------------------------- backtest

BACKTEST_METHODS = (METHOD, "seasonal_naive", "mean_13_weeks")


def _baseline(weekly: WeeklySales, products: pd.Index, weeks: int, method: str) -> np.ndarray:
    sales = weekly.product.loc[products].to_numpy()
    span = sales.shape[1]
    if method == "mean_13_weeks":
        return np.repeat(sales[:, -RECENT_WEEKS:].mean(axis=1)[:, None], weeks, axis=1)
    # seasonal naive: the same week a year before (the recent mean without a year of history)
    out = np.empty((len(products), weeks))
    for h in range(weeks):
        week = span - YEAR_WEEKS + h
        out[:, h] = sales[:, week] if 0 <= week < span else sales[:, -RECENT_WEEKS:].mean(axis=1)
    return out


@dataclass(frozen=True)
class DemandBacktest:
    """WAPE per method over the origins, and the 80 % / 95 % interval coverage of ours."""

    per_origin: pd.DataFrame  # origin, method, wape, actual_units
    wape: dict[str, float]
    coverage_80: float
    coverage_95: float
    origins: int


def backtest_demand(
    sales: pd.DataFrame,
    as_of: dt.date,
    top_n: int,
    weeks: int,
    origins: int,
    spacing_weeks: int,
) -> DemandBacktest | None:
    """Rolling-origin backtest: at each origin (as_of - k x spacing weeks, k = 1..origins,
    oldest first) the top products as of that origin are forecast for the weeks up to as_of
    (at most `weeks`) by each method; WAPE = sum |actual - forecast| / sum actual over all of
    them. None when no origin has a year of history and a week to score."""
    check_sales(sales)
    everything = WeeklySales.of(sales, as_of)
    rows, inside80, inside95, scored = [], 0, 0, 0
    for k in range(origins, 0, -1):
        origin = as_of - dt.timedelta(weeks=k * spacing_weeks)
        ahead = min(weeks, k * spacing_weeks)
        try:
            weekly = WeeklySales.of(sales, origin)
        except ValueError:
            continue
        if len(weekly.weeks) < RECENT_WEEKS:
            continue
        products = top_products(weekly, top_n)
        if products.empty:
            continue
        periods = future_weeks(origin, ahead)
        actual = everything.product.reindex(index=products, columns=periods, fill_value=0.0)
        actual = actual.to_numpy()
        ours = forecast_products(weekly, products, ahead)
        predictions = {
            METHOD: ours.mean.to_numpy(),
            "seasonal_naive": _baseline(weekly, products, ahead, "seasonal_naive"),
            "mean_13_weeks": _baseline(weekly, products, ahead, "mean_13_weeks"),
        }
        total = actual.sum()
        for method, predicted in predictions.items():
            error = np.abs(actual - predicted).sum()
            rows.append(
                {
                    "origin": pd.Timestamp(origin),
                    "method": method,
                    "absolute_error": error,
                    "actual_units": total,
                }
            )
        phi = np.repeat(ours.dispersion.to_numpy()[:, None], ahead, axis=1)
        mean = ours.mean.to_numpy()
        inside80 += int(
            (
                (actual >= nb_quantile(0.10, mean, phi)) & (actual <= nb_quantile(0.90, mean, phi))
            ).sum()
        )
        inside95 += int(
            (
                (actual >= nb_quantile(0.025, mean, phi))
                & (actual <= nb_quantile(0.975, mean, phi))
            ).sum()
        )
        scored += actual.size
    if not rows:
        return None
    per_origin = pd.DataFrame(rows)
    per_origin["wape"] = per_origin["absolute_error"] / per_origin["actual_units"].where(
        per_origin["actual_units"] > 0
    )
    sums = per_origin.groupby("method")[["absolute_error", "actual_units"]].sum()
    wape = (sums["absolute_error"] / sums["actual_units"].where(sums["actual_units"] > 0)).to_dict()
    return DemandBacktest(
        per_origin=per_origin,
        wape={m: float(wape[m]) for m in BACKTEST_METHODS if m in wape},
        coverage_80=inside80 / scored,
        coverage_95=inside95 / scored,
        origins=int(per_origin["origin"].nunique()),
    )
