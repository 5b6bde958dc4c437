"""What a customer's purchase history up to a date says, for the lifetime-value models: BG/NBD
and Gamma-Gamma fitted on it (`BtydModel`), point-in-time purchase features and warehouse
features (`ml_features`), and the revenue that followed a date (the label of a backtest).

Shared by `ltv` (the backtest and production model) and `ltv_selection` (the purchase models
chosen on an earlier split); neither imports the other's internals for these.
Dates: an `as_of` date covers purchases up to the end of that day (UTC).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.ml import btyd

RECENT_WINDOWS_DAYS = (90, 365)


# The features of every customer as of a date, e.g. analytics.features.customer_features
# bound to a warehouse session: `lambda day: customer_features(session, day)`.
FeaturesAt = Callable[[dt.date], pd.DataFrame]


def _days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


# --------------------------------------------------------------------------- BG/NBD + GG


@dataclass(frozen=True)
class BtydModel:
    """BG/NBD and Gamma-Gamma fitted on the purchases up to `as_of`."""

    bg_nbd: btyd.BgNbdFit
    gamma_gamma: btyd.GammaGammaFit | None
    as_of: dt.date
    period: str
    # Mean value of a purchase day: the spend forecast when Gamma-Gamma is unusable.
    mean_order_value: float
    notes: tuple[str, ...] = ()

    @property
    def spend_model_usable(self) -> bool:
        gg = self.gamma_gamma
        return gg is not None and gg.converged and gg.params.q > 1

    def to_dict(self) -> dict[str, object]:
        return {
            "bg_nbd": self.bg_nbd.to_dict(),
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "as_of": self.as_of.isoformat(),
            "period": self.period,
            "mean_order_value": self.mean_order_value,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> BtydModel:
        gg = data.get("gamma_gamma")
        return cls(
            bg_nbd=btyd.BgNbdFit.from_dict(data["bg_nbd"]),
            gamma_gamma=btyd.GammaGammaFit.from_dict(gg) if gg else None,
            as_of=dt.date.fromisoformat(data["as_of"]),
            period=data["period"],
            mean_order_value=float(data["mean_order_value"]),
            notes=tuple(data.get("notes", ())),
        )


def fit_btyd_summary(summary: pd.DataFrame, as_of: dt.date, period: str = "D") -> BtydModel:
    """BG/NBD on every buyer of `summary` (an `rfm_summary`), Gamma-Gamma on repeat buyers."""
    bg = btyd.fit_bg_nbd(
        summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    )
    notes = [] if bg.converged else [f"BG/NBD fit did not converge: {bg.message}"]
    try:
        gg = btyd.fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    except ValueError as exc:
        gg = None
        notes.append(f"{exc}: spend forecast is the customer's own mean order value")
    if gg is not None and gg.warning:
        notes.append(gg.warning)
    if gg is not None and not (gg.converged and gg.params.q > 1):
        notes.append("Gamma-Gamma unusable (not converged or q <= 1): own mean order value used")
    periods = summary["frequency"].to_numpy() + 1
    mean_value = float(summary["historical_revenue"].sum() / max(periods.sum(), 1))
    return BtydModel(bg, gg, as_of, period, mean_value, tuple(notes))


def fit_btyd(orders: pd.DataFrame, as_of: dt.date, period: str = "D") -> BtydModel:
    """BG/NBD + Gamma-Gamma fitted on the purchases up to the end of `as_of`."""
    summary = btyd.rfm_summary(orders, as_of, period)
    if summary.empty:
        raise ValueError(f"lifetime value: no purchases up to {as_of}")
    return fit_btyd_summary(summary, as_of, period)


def order_value(model: BtydModel, summary: pd.DataFrame) -> np.ndarray:
    """Gamma-Gamma expected value of a purchase day per row of `summary` (its own mean order
    value, or the population's, when Gamma-Gamma is unusable)."""
    x = summary["frequency"].to_numpy(float)
    if model.spend_model_usable:
        assert model.gamma_gamma is not None
        m = summary["monetary_value"].to_numpy(float)
        # Repeat buyers without a positive repeat spend were not in the fit: population mean.
        return btyd.gamma_gamma_expected_value(model.gamma_gamma.params, np.where(m > 0, x, 0), m)
    own = summary["historical_revenue"].to_numpy(float) / (x + 1)
    return np.where(own > 0, own, model.mean_order_value)


# --------------------------------------------------------------------------- features


def order_features(orders: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Point-in-time purchase features of every buyer up to the end of `as_of`, indexed by
    customer_id; they need nothing but orders, so an orders-only configuration has them."""
    summary = btyd.rfm_summary(orders, as_of).set_index("customer_id")
    buys = btyd.purchases_until(orders, as_of)
    end = (as_of - dt.date(1970, 1, 1)).days
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    first_day = buys.groupby("customer_id")["day"].transform("min")
    first_day_value = buys.loc[buys["day"] == first_day].groupby("customer_id")["value"].sum()
    features = pd.DataFrame(
        {
            "frequency": x,
            "recency": t_x,
            "tenure_days": big_t,
            "days_since_last": big_t - t_x,
            "purchases": summary["purchases"],
            "historical_revenue": summary["historical_revenue"],
            "average_order_value": summary["historical_revenue"] / summary["purchases"],
            "repeat_value": summary["monetary_value"],
            "mean_days_between": (t_x / x.where(x > 0)),
            "revenue_per_day": summary["historical_revenue"] / (big_t + 1),
            "first_order_value": first_day_value.reindex(summary.index),
        }
    )
    for days in RECENT_WINDOWS_DAYS:
        recent = buys.loc[buys["day"] > end - days].groupby("customer_id")["value"]
        features[f"revenue_{days}d"] = recent.sum().reindex(features.index).fillna(0.0)
        features[f"purchases_{days}d"] = recent.size().reindex(features.index).fillna(0)
    return features.astype(float)


def _numeric_extras(frame: pd.DataFrame, taken: pd.Index) -> pd.DataFrame:
    """The numeric and boolean columns of a features frame (indexed by customer_id) that
    `taken` does not already hold, as floats (NA -> NaN)."""
    out = {}
    for column in frame.columns:
        series = frame[column]
        if column in taken or column == "customer_id":
            continue
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
            out[f"f_{column}"] = pd.to_numeric(series.astype("Float64")).astype(float)
    return pd.DataFrame(out, index=frame.index)


def ml_features(
    orders: pd.DataFrame, as_of: dt.date, features_at: FeaturesAt | None = None
) -> pd.DataFrame:
    """`order_features`, joined with the numeric columns of `features_at(as_of)` (e.g. web
    engagement, tickets, loyalty) when it is given."""
    features = order_features(orders, as_of)
    if features_at is None:
        return features
    extra = features_at(as_of)
    extra = extra.assign(customer_id=extra["customer_id"].astype(str)).set_index("customer_id")
    extras = _numeric_extras(extra, features.columns)
    return features.join(extras, how="left")


def revenue_after(orders: pd.DataFrame, as_of: dt.date, days: int) -> pd.Series:
    """Net purchase revenue per customer in the `days` whole days after `as_of`."""
    buys = btyd.purchases_until(orders, _days(as_of, days))
    after = buys.loc[buys["day"] > (as_of - dt.date(1970, 1, 1)).days]
    return after.groupby("customer_id")["value"].sum()
