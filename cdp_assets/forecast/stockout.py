"""Stock-out risk: how long each product's stock lasts where it is, and how likely it is to run
out before a replenishment lead time.

- **Stock**: the latest count per product and location (a store, or the online warehouse as
  an empty store_id) at or before the cutoff (the end of the analysis date); later counts
  are ignored, older ones superseded.
- **Demand** at a location: the product's weekly demand forecast (`demand`) times the
  location's share of the product's units in the last `SHARE_WEEKS` weeks. Without store-level
  sales (no store_id in the sales) the counts of a product are added up and compared with the
  product's whole demand.
- **Weeks of cover**: when the cumulative expected demand reaches the stock (linear within a
  week; beyond the forecast horizon at the last week's rate). Run-out date = analysis date +
  cover.
- **P(stock-out before the lead time)**: P(demand over the lead time >= stock), the demand a
  negative binomial with the summed mean and variance of the weeks it spans (a thinned
  negative binomial keeps its shape, so the product's dispersion holds at every location).
- **at_risk**: expected cover shorter than the lead time (`models.forecast.
  stockout_lead_time_weeks`: "a product whose stock lasts less than this is at risk").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

from cdp_assets.forecast.demand import ProductForecast

SHARE_WEEKS = 26  # a location's share of a product's units is taken over this many weeks
INVENTORY_COLUMNS = ("product_id", "store_id", "on_hand_units", "counted_at")
ONLINE = "online"  # how the online warehouse (empty store_id) is named in notes
STOCKOUT_COLUMNS: dict[str, str] = {
    "as_of": "datetime64[us]",
    "product_id": "string",
    "store_id": "string",
    "counted_at": "datetime64[us, UTC]",
    "on_hand_units": "float64",
    "location_share": "float64",
    "weekly_demand": "float64",  # mean weekly demand over the lead time
    "lead_time_demand": "float64",
    "weeks_of_cover": "float64",
    "run_out_date": "datetime64[us]",
    "p_stockout_before_lead_time": "float64",
    "at_risk": "boolean",
    "note": "string",
}


def latest_counts(inventory: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The latest count per (product_id, store_id) at or before `cutoff` (UTC)."""
    missing = [c for c in INVENTORY_COLUMNS if c not in inventory.columns]
    if missing:
        raise ValueError(f"inventory: missing column(s) {missing} (need {list(INVENTORY_COLUMNS)})")
    counted = pd.to_datetime(inventory["counted_at"], utc=True)
    known = inventory.assign(counted_at=counted).loc[counted <= cutoff]
    known = known.loc[known["product_id"].notna() & known["on_hand_units"].notna()]
    known = known.assign(
        product_id=known["product_id"].astype(str),
        store_id=known["store_id"].astype("string"),
        on_hand_units=pd.to_numeric(known["on_hand_units"]).astype(float),
    )
    latest = known.sort_values("counted_at", kind="stable").drop_duplicates(
        ["product_id", "store_id"], keep="last"
    )
    return latest[list(INVENTORY_COLUMNS)].reset_index(drop=True)


def location_shares(sales: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """product_id, store_id (NA online), share of the product's units in the SHARE_WEEKS weeks
    ending on `as_of`."""
    day = pd.to_datetime(sales["day"])
    start = pd.Timestamp(as_of) - pd.Timedelta(days=7 * SHARE_WEEKS - 1)
    recent = sales.loc[(day >= start) & (day <= pd.Timestamp(as_of))]
    units = (
        recent.assign(
            product_id=recent["product_id"].astype(str),
            store_id=recent["store_id"].astype("string"),
            units=pd.to_numeric(recent["units"]).astype(float),
        )
        .groupby(["product_id", "store_id"], dropna=False)["units"]
        .sum()
        .reset_index()
    )
    total = units.groupby("product_id")["units"].transform("sum")
    return units.assign(share=units["units"] / total.where(total > 0))[
        ["product_id", "store_id", "share"]
    ]


def _weekly_means(forecast: ProductForecast, products: pd.Index, weeks: int) -> np.ndarray:
    """Products x `weeks` mean demand, the horizon extended at its last week's value."""
    mean = forecast.mean.reindex(products).to_numpy()
    if weeks > mean.shape[1]:
        mean = np.hstack([mean, np.repeat(mean[:, -1:], weeks - mean.shape[1], axis=1)])
    return mean[:, :weeks]


def cover_weeks(stock: np.ndarray, weekly: np.ndarray) -> np.ndarray:
    """Weeks until the cumulative demand of each row reaches its stock (linear within a week,
    at the last week's rate beyond the given weeks; inf when demand never reaches it)."""
    cumulative = np.cumsum(weekly, axis=1)
    out = np.full(len(stock), np.inf)
    for i, (s, row, cum) in enumerate(zip(stock, weekly, cumulative, strict=True)):
        if s <= 0:
            out[i] = 0.0
            continue
        reached = np.flatnonzero(cum >= s)
        if len(reached):
            h = reached[0]
            before = cum[h - 1] if h > 0 else 0.0
            out[i] = h + (s - before) / row[h]
        elif row[-1] > 0:
            out[i] = len(row) + (s - cum[-1]) / row[-1]
    return out


def _lead_time_moments(
    weekly: np.ndarray, phi: np.ndarray, lead_time_weeks: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of demand over the lead time (the last week in part)."""
    whole = int(np.floor(lead_time_weeks))
    part = lead_time_weeks - whole
    weights = np.r_[np.ones(whole), [part] if part > 0 else []]
    means = weekly[:, : len(weights)] * weights
    variances = means + phi[:, None] * means**2
    return means.sum(axis=1), variances.sum(axis=1)


def p_demand_at_least(stock: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """P(demand >= stock), demand negative binomial with this mean and variance (Poisson when
    the variance does not exceed the mean); 1 for an empty shelf."""
    stock = np.asarray(stock, float)
    need = np.ceil(stock) - 1  # P(D >= s) = P(D > s - 1)
    over = variance > mean * (1 + 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(over, mean**2 / (variance - mean), 1.0)
        nb = stats.nbinom.sf(need, size, size / (size + mean))
    poisson = stats.poisson.sf(need, mean)
    p = np.where(over, nb, poisson)
    p = np.where(mean > 0, p, 0.0)
    return np.where(stock <= 0, 1.0, p)


def stockout_risk(
    counts: pd.DataFrame,
    forecast: ProductForecast,
    shares: pd.DataFrame | None,
    lead_time_weeks: float,
) -> pd.DataFrame:
    """One row per (product, location) of `counts` (`latest_counts`), in STOCKOUT_COLUMNS,
    most at risk first. `shares` (`location_shares`) None: no store-level sales, the counts
    of each product are added up."""
    notes: list[list[str]] = []
    if shares is None:
        counts = (
            counts.groupby("product_id", as_index=False)
            .agg(on_hand_units=("on_hand_units", "sum"), counted_at=("counted_at", "max"))
            .assign(store_id=pd.NA)
        )
        share = np.ones(len(counts))
        notes = [["no store-level sales: all locations' stock against the product's demand"]]
        notes *= len(counts)
    else:
        merged = counts.merge(shares, on=["product_id", "store_id"], how="left")
        share = merged["share"].fillna(0.0).to_numpy(float)
        notes = [[] for _ in range(len(counts))]
        for i, s in enumerate(merged["share"]):
            if pd.isna(s):
                notes[i].append(f"no sales here in the last {SHARE_WEEKS} weeks")
    products = pd.Index(counts["product_id"])
    forecast_known = products.isin(forecast.mean.index)
    horizon = max(len(forecast.periods), int(np.ceil(lead_time_weeks)))
    weekly = np.nan_to_num(_weekly_means(forecast, products, horizon)) * share[:, None]
    phi = forecast.dispersion.reindex(products).fillna(0.0).to_numpy()
    stock = counts["on_hand_units"].to_numpy(float)
    mean, variance = _lead_time_moments(weekly, phi, lead_time_weeks)
    cover = cover_weeks(stock, weekly)
    p = p_demand_at_least(stock, mean, variance)
    for i, known in enumerate(forecast_known):
        if stock[i] <= 0:
            notes[i].append("out of stock")
        if not known:
            notes[i].append("no demand forecast (no sales before the analysis date)")
        elif cover[i] > len(forecast.periods) and np.isfinite(cover[i]):
            notes[i].append("cover beyond the forecast horizon: extrapolated")
    note_of = forecast.notes.reindex(products).fillna("").to_numpy(object)
    as_of = pd.Timestamp(forecast.as_of)
    finite = np.isfinite(cover)
    run_out = pd.Series(pd.NaT, index=range(len(counts)), dtype="datetime64[us]")
    run_out[finite] = as_of + pd.to_timedelta(np.floor(cover[finite] * 7), "D")
    rows = pd.DataFrame(
        {
            "as_of": as_of,
            "product_id": counts["product_id"].to_numpy(object),
            "store_id": counts["store_id"].astype("string").to_numpy(object),
            "counted_at": counts["counted_at"].to_numpy(),
            "on_hand_units": stock,
            "location_share": share,
            "weekly_demand": mean / lead_time_weeks,
            "lead_time_demand": mean,
            "weeks_of_cover": np.where(finite, cover, np.nan),
            "run_out_date": run_out.to_numpy(),
            "p_stockout_before_lead_time": np.where(forecast_known, p, np.nan),
            "at_risk": pd.array(
                np.where(forecast_known, cover < lead_time_weeks, pd.NA), "boolean"
            ),
            "note": [
                "; ".join([*n, *([m] if m else [])]) for n, m in zip(notes, note_of, strict=True)
            ],
        }
    )
    rows = rows.sort_values(
        ["p_stockout_before_lead_time", "weeks_of_cover", "product_id"],
        ascending=[False, True, True],
        na_position="last",
    ).reset_index(drop=True)
    return rows.astype(STOCKOUT_COLUMNS)
