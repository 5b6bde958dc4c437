"""The customer-based forecast: orders and net revenue per week from the customers themselves.

At an origin (any analysis date; only purchases on or before it are used):

- **Existing customers.** Their purchase histories are summarised in 7-day periods aligned to
  end on the origin (x = repeat purchase weeks, t_x, T in days), BG/NBD and MBG/NBD are fitted
  on the distinct (x, t_x, T) rows and the one with the higher likelihood is kept (both have
  four parameters). Expected purchase weeks in future week h are E[Y(7(h+1))] - E[Y(7h)],
  summed over customers; spend per purchase week is Gamma-Gamma's E[M | x, m_x] (the mean
  value of a purchase week when Gamma-Gamma is unusable); orders are purchase weeks times the
  mean number of orders in a purchase week before the origin.
- **Seasonality.** The purchase models are stationary, the business is not: each future
  week's expectation is multiplied by the seasonal index of repeat purchases in the same week
  one (and two) years before (52 weeks back keeps the weekday), i.e. that week's repeat
  purchase weeks over their centred 52-week mean. With less than a year of history before the
  origin the index is 1 and a note says so.
- **New customers.** First purchases per week: the same week a year (or two) before, times
  the year-over-year growth of first purchases (clipped to [0.5, 2]); with less than a year of
  history, the mean of the last 13 weeks. Each new customer brings a first purchase week worth
  the mean first-week value of the last 52 weeks, then repeat purchases as a fresh customer
  of the fitted model (E[Y(t) | 0, 0, 0]), shaped by the same seasonal index.

Everything is computed per distinct (x, t_x, T) row, so a call at 1,000,000 customers costs a
sort of the purchase weeks and a fit on some tens of thousands of rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.forecast.periods import future_weeks, local_days
from cdp_assets.ml import btyd, purchase_models

WEEK_DAYS = 7
YEAR_WEEKS = 52
MAX_SEASONAL_YEARS = 2  # indices averaged over the same week of up to this many past years
RECENT_NEW_WEEKS = 13  # the new-customer rate without a year of history
GROWTH_CLIP = (0.5, 2.0)  # year-over-year growth of first purchases, kept within reason
CANDIDATE_MODELS = (purchase_models.BG_NBD, purchase_models.MBG_NBD)
COLUMNS = (
    "period_start",
    "orders",
    "net_revenue",
    "existing_orders",
    "new_orders",
    "existing_revenue",
    "new_revenue",
)
_EPOCH = np.datetime64("1970-01-01", "D")


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


@dataclass(frozen=True)
class _History:
    """Purchases on or before an origin, summarised per customer in weeks back from it."""

    x: np.ndarray  # repeat purchase weeks
    t_x: np.ndarray  # days from the first to the last purchase week
    T: np.ndarray  # days from the first purchase week to the origin
    repeat_value: np.ndarray  # mean value of a repeat purchase week (0 without repeats)
    repeat_weeks: np.ndarray  # per week back (0 = the week ending on the origin)
    first_weeks: np.ndarray  # customers whose first purchase week it was, per week back
    first_week_value: np.ndarray  # their first purchase weeks' value, per week back
    orders_per_purchase_week: float
    mean_week_value: float


@dataclass(frozen=True)
class CustomerBasedFit:
    """What a call of `weekly` fitted at an origin (for metadata and tests)."""

    origin: dt.date
    model: purchase_models.PurchaseFit
    spend_model: str  # "gamma_gamma" or "mean purchase week value"
    customers: int
    seasonal_index: np.ndarray  # per future week, multiplies the repeat purchases
    new_customers: np.ndarray  # expected first purchases per future week
    notes: tuple[str, ...]


class CustomerBasedOrdersForecaster:
    """Orders and net revenue per future week from the purchase models and new customers.

    `orders` holds one row per order: customer_id, net_amount_base and either `day` (the
    local calendar date) or `ordered_at` (an instant; its UTC date is used); rows with
    `is_purchase` false (when that column exists) or no customer are left out.
    """

    @classmethod
    def from_resolved_orders(
        cls, orders: pd.DataFrame, timezone: str
    ) -> CustomerBasedOrdersForecaster:
        """From `core.orders` rows (customer_id, ordered_at, net_amount_base, is_purchase),
        counted on the local days of `timezone`, like the sales series it competes on."""
        return cls(orders.assign(day=local_days(orders["ordered_at"], timezone)))

    def __init__(self, orders: pd.DataFrame) -> None:
        missing = {"customer_id", "net_amount_base"} - set(orders.columns)
        if "day" not in orders.columns and "ordered_at" not in orders.columns:
            missing.add("day or ordered_at")
        if missing:
            raise ValueError(
                f"customer-based forecast: the orders lack column(s) {sorted(missing)}"
            )
        keep = orders["customer_id"].notna()
        if "is_purchase" in orders.columns:
            keep &= orders["is_purchase"].fillna(False).astype(bool)
        frame = orders.loc[keep]
        if "day" in frame.columns:
            days = pd.to_datetime(frame["day"]).to_numpy().astype("datetime64[D]")
        else:
            days = btyd.utc_instants(frame["ordered_at"]).astype("datetime64[D]")
        has_day = ~np.isnat(days)
        day = (days[has_day] - _EPOCH).astype(np.int64)
        ids, names = pd.factorize(frame["customer_id"].to_numpy()[has_day])
        value = pd.to_numeric(frame["net_amount_base"]).fillna(0.0).to_numpy(float)[has_day]
        # A canonical order (day, customer id, amount) and customer codes numbered in it: the
        # purchases up to any origin, codes included, then do not depend on the order the
        # rows came in nor on later purchases, so `fingerprint` can tell an origin's inputs.
        id_rank = np.argsort(np.argsort(np.asarray(names, dtype=str), kind="stable"))
        order = np.lexsort((value, id_rank[ids], day))
        codes, _ = pd.factorize(id_rank[ids][order])
        self._day = day[order]
        self._customer = codes.astype(np.int64)
        self._value = value[order]
        self.last_fit: CustomerBasedFit | None = None

    def fingerprint(self, origin: dt.date) -> str:
        """SHA-256 of the purchases `weekly(origin, ...)` is computed from: those on or before
        `origin` (day, customer code, amount). Equal fingerprints give equal forecasts."""
        k = int(np.searchsorted(self._day, _day_number(origin), side="right"))
        digest = hashlib.sha256()
        for part in (self._day[:k], self._customer[:k], self._value[:k]):
            digest.update(np.ascontiguousarray(part).tobytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ history

    def _history(self, origin: dt.date) -> _History:
        end = _day_number(origin)
        k = int(np.searchsorted(self._day, end, side="right"))
        if k == 0:
            raise ValueError(f"customer-based forecast: no purchases on or before {origin}")
        back = (end - self._day[:k]) // WEEK_DAYS  # 0 = the week ending on the origin
        customer = self._customer[:k]
        span = int(back.max()) + 1
        # One entry per (customer, purchase week), sorted by customer then weeks back.
        keys, inverse = np.unique(customer * span + back, return_inverse=True)
        week_value = np.bincount(inverse, weights=self._value[:k], minlength=len(keys))
        who, weeks_back = keys // span, keys % span
        starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
        ends = np.r_[starts[1:], len(keys)] - 1  # the customer's oldest (first) week
        first_back, last_back = weeks_back[ends], weeks_back[starts]
        periods = ends - starts + 1
        total = np.add.reduceat(week_value, starts)
        x = (periods - 1).astype(float)
        repeat_total = total - week_value[ends]
        is_first = np.zeros(len(keys), bool)
        is_first[ends] = True
        return _History(
            x=x,
            t_x=((first_back - last_back) * WEEK_DAYS).astype(float),
            T=(first_back * WEEK_DAYS).astype(float),
            repeat_value=np.divide(repeat_total, x, out=np.zeros_like(x), where=x > 0),
            repeat_weeks=np.bincount(weeks_back[~is_first], minlength=span).astype(float),
            first_weeks=np.bincount(first_back, minlength=span).astype(float),
            first_week_value=np.bincount(first_back, weights=week_value[ends], minlength=span),
            orders_per_purchase_week=k / len(keys),
            mean_week_value=float(week_value.sum() / len(keys)),
        )

    # ------------------------------------------------------------------ pieces

    @staticmethod
    def _purchase_model(rows: pd.DataFrame) -> purchase_models.PurchaseFit:
        """The candidate with the highest log-likelihood (all have four parameters)."""
        x, t_x, big_t = (rows[c].to_numpy(float) for c in ("x", "t_x", "T"))
        weights = rows["count"].to_numpy(float)
        fits = []
        bg = btyd.fit_bg_nbd(x, t_x, big_t, weights)
        fits.append(
            purchase_models.PurchaseFit(
                purchase_models.BG_NBD,
                {k: float(v) for k, v in vars(bg.params).items()},
                bg.log_likelihood,
                bg.customers,
                bg.converged,
                bg.message,
            )
        )
        if purchase_models.MBG_NBD in CANDIDATE_MODELS:
            fits.append(
                purchase_models._fit_weighted(
                    purchase_models.MBG_NBD,
                    lambda p, *a: purchase_models.mbg_nbd_log_likelihood(
                        purchase_models.MbgNbdParams(*p), *a
                    ),
                    np.log([bg.params.r, bg.params.alpha, bg.params.a, bg.params.b]),
                    [(-12.0, 12.0), (-12.0, 12.0), (-12.0, 7.0), (-12.0, 7.0)],
                    ("r", "alpha", "a", "b"),
                    rows,
                )
            )
        usable = [f for f in fits if np.isfinite(f.log_likelihood)]
        return max(usable or fits, key=lambda f: (f.converged, f.log_likelihood))

    @staticmethod
    def _seasonal_index(series: np.ndarray, weeks: int) -> tuple[np.ndarray, list[str]]:
        """Per future week h, the mean over past years of series[52 L - 1 - h] over its
        centred 52-week mean (`series` is indexed by weeks back from the origin)."""
        span = len(series)
        if span < YEAR_WEEKS + 1:
            return np.ones(weeks), [
                f"{span} weeks of history (< {YEAR_WEEKS + 1}): no seasonal index"
            ]
        index = np.ones(weeks)
        for h in range(weeks):
            ratios = []
            for years in range(1, MAX_SEASONAL_YEARS + 1):
                back = YEAR_WEEKS * years - 1 - h
                # The whole centred year must lie in the history (the oldest weeks of a
                # young business are its ramp-up); near the origin the window ends on it.
                if back < 0 or back + YEAR_WEEKS // 2 > span:
                    continue
                low = max(back - YEAR_WEEKS // 2, 0)
                level = series[low : low + YEAR_WEEKS].mean()
                if level > 0:
                    ratios.append(series[back] / level)
            if ratios:
                index[h] = float(np.mean(ratios))
        return index, []

    @staticmethod
    def _new_customers(first_weeks: np.ndarray, weeks: int) -> tuple[np.ndarray, list[str]]:
        span = len(first_weeks)
        if span < YEAR_WEEKS + 1:
            rate = first_weeks[: min(RECENT_NEW_WEEKS, span)].mean()
            return np.full(weeks, rate), [
                f"new customers: {span} weeks of history, the mean of the last "
                f"{min(RECENT_NEW_WEEKS, span)} weeks (no seasonality)"
            ]
        growth, notes = 1.0, []
        if span >= 2 * YEAR_WEEKS:
            before = first_weeks[YEAR_WEEKS : 2 * YEAR_WEEKS].sum()
            if before > 0:
                raw = first_weeks[:YEAR_WEEKS].sum() / before
                growth = float(np.clip(raw, *GROWTH_CLIP))
        else:
            notes.append("new customers: under two years of history, no growth applied")
        out = np.zeros(weeks)
        for h in range(weeks):
            past = [
                first_weeks[YEAR_WEEKS * years - 1 - h] * growth**years
                for years in range(1, MAX_SEASONAL_YEARS + 1)
                if 0 <= YEAR_WEEKS * years - 1 - h < span
            ]
            out[h] = float(np.mean(past)) if past else first_weeks[:RECENT_NEW_WEEKS].mean()
        return out, notes

    # ------------------------------------------------------------------ forecast

    def weekly(self, origin: dt.date, weeks: int) -> pd.DataFrame:
        """Orders and net revenue in the `weeks` periods after `origin` (see the module
        docstring), from purchases on or before `origin` only."""
        if weeks < 1:
            raise ValueError(f"customer-based forecast: weeks must be >= 1, got {weeks}")
        history = self._history(origin)
        rows, inverse = btyd.unique_rfm(history.x, history.t_x, history.T)
        model = self._purchase_model(rows)
        notes = [] if model.converged else [f"{model.name} did not converge: {model.message}"]

        value, spend_model = self._spend(history, notes)
        ux, ut, ubig = (rows[c].to_numpy(float) for c in ("x", "t_x", "T"))
        horizon = WEEK_DAYS * np.arange(weeks + 1, dtype=float)
        cumulative = np.column_stack(
            [model.expected_purchases(t, ux, ut, ubig) if t > 0 else 0 * ux for t in horizon]
        )
        per_week = np.diff(cumulative, axis=1)  # distinct rows x future weeks
        count = rows["count"].to_numpy(float)
        value_sum = np.bincount(inverse, weights=value, minlength=len(rows))
        season, season_notes = self._seasonal_index(history.repeat_weeks, weeks)
        existing_weeks = (count @ per_week) * season
        existing_revenue = (value_sum @ per_week) * season

        new, new_notes = self._new_customers(history.first_weeks, weeks)
        fresh = self._fresh_customer_weeks(model, weeks)  # repeat weeks by weeks since arrival
        new_repeat = np.array([new[: h + 1][::-1] @ fresh[: h + 1] for h in range(weeks)]) * season
        recent = slice(0, YEAR_WEEKS)
        first_value = history.first_week_value[recent].sum() / max(
            history.first_weeks[recent].sum(), 1.0
        )
        repeat_value = self._population_repeat_value(history)
        per_week_orders = history.orders_per_purchase_week
        new_orders = (new + new_repeat) * per_week_orders
        new_revenue = new * first_value + new_repeat * repeat_value
        existing_orders = existing_weeks * per_week_orders

        self.last_fit = CustomerBasedFit(
            origin=origin,
            model=model,
            spend_model=spend_model,
            customers=len(history.x),
            seasonal_index=season,
            new_customers=new,
            notes=tuple(notes + season_notes + new_notes),
        )
        return pd.DataFrame(
            {
                "period_start": future_weeks(origin, weeks),
                "orders": existing_orders + new_orders,
                "net_revenue": existing_revenue + new_revenue,
                "existing_orders": existing_orders,
                "new_orders": new_orders,
                "existing_revenue": existing_revenue,
                "new_revenue": new_revenue,
            },
            columns=list(COLUMNS),
        )

    def _spend(self, history: _History, notes: list[str]) -> tuple[np.ndarray, str]:
        """Expected value of each customer's purchase week."""
        try:
            gg = btyd.fit_gamma_gamma(history.x, history.repeat_value)
        except ValueError as exc:
            notes.append(f"{exc}: mean purchase week value used")
            gg = None
        if gg is not None and gg.converged and gg.params.q > 1:
            self._gg = gg
            return btyd.gamma_gamma_expected_value(
                gg.params, history.x, history.repeat_value
            ), "gamma_gamma"
        self._gg = None
        if gg is not None:
            notes.append("Gamma-Gamma unusable (not converged or q <= 1): mean value used")
        return np.full(len(history.x), history.mean_week_value), "mean purchase week value"

    def _population_repeat_value(self, history: _History) -> float:
        if self._gg is not None:
            return float(self._gg.params.population_mean)
        repeats = history.x.sum()
        return float((history.repeat_value * history.x).sum() / repeats) if repeats else 0.0

    @staticmethod
    def _fresh_customer_weeks(model: purchase_models.PurchaseFit, weeks: int) -> np.ndarray:
        """Expected repeat purchase weeks of a customer who first bought mid-week 0, in each
        week since (week 0 holds the half week after the first purchase)."""
        zero = np.zeros(1)
        edges = np.r_[0.0, WEEK_DAYS * (np.arange(weeks) + 0.5)]
        cumulative = np.array(
            [model.expected_purchases(t, zero, zero, zero)[0] if t > 0 else 0.0 for t in edges]
        )
        return np.diff(cumulative)
