"""Buy-till-you-die models: BG/NBD for repeat purchases, Gamma-Gamma for their value.

Sources (equation numbers refer to them):
- [BG/NBD] Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative
  to the Pareto/NBD Model", Marketing Science 24(2) 275-284; and Fader, Hardie & Lee (2019),
  "Implementing the BG/NBD Model for Customer Base Analysis in Excel" (the log-likelihood split
  into A1..A4 used below). CDNOW estimates (weeks): r=0.243, alpha=4.414, a=0.793, b=2.426,
  LL=-9582.4.
- [GG] Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", Journal of Marketing Research 42(4) 415-430; and Fader & Hardie (2013), "The
  Gamma-Gamma Model of Monetary Value" (eq. 1 likelihood, eq. 5 conditional expectation).
  CDNOW estimates: p=6.25, q=3.74, gamma=15.44.

Data follow the `lifetimes` conventions: purchases are grouped by period (day by default);
`frequency` x counts repeat periods with a purchase (distinct purchase periods - 1), `recency`
t_x is the time from the first to the last purchase period, `T` from the first purchase
period to the analysis date, all in days; `monetary_value` is the mean value of the repeat
periods (the first purchase is excluded, as the Gamma-Gamma model assumes).

The BG/NBD likelihood is evaluated on the distinct (x, t_x, T) rows weighted by how many
customers share them, with its special functions and logarithms computed once per distinct
x, t_x or T value (whole days: a few hundred or thousand values), so a million customers fit
in about a second; Gamma-Gamma does the same per distinct x. Pareto/NBD and MBG/NBD are in
`purchase_models`, with the interface the lifetime-value backtest compares them by.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

# Bounds of the log-parameters: exp(-12)..exp(12) covers every sensible scale in days.
_LOG_BOUNDS = (-12.0, 12.0)
# a and b beyond ~1,000 mean "almost nobody drops out" and add nothing the likelihood can tell
# apart, while they overflow 2F1 in the expected-purchases formula (seen on a few hundred
# customers): they stay below e^7.
_DROPOUT_LOG_BOUNDS = (-12.0, 7.0)
# |corr(frequency, monetary value)| above this breaks Gamma-Gamma's independence assumption.
CORRELATION_WARNING = 0.3
MIN_GAMMA_GAMMA_CUSTOMERS = 10
PERIOD_DAYS = {"D": 1, "W": 7}
SUMMARY_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "first_order_at",
    "purchases",
    "historical_revenue",
)


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rates ~ Gamma(r, alpha) (alpha in days), dropout
    probabilities ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: a purchase's value ~ Gamma(p, nu), nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float

    @property
    def population_mean(self) -> float:
        """E[M] = p v / (q - 1) [GG eq. 2]; infinite when q <= 1."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else math.inf


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float
    customers: int
    unique_rows: int
    converged: bool
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BgNbdFit:
        return cls(**{**data, "params": BgNbdParams(**data["params"])})


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    customers: int
    converged: bool
    message: str
    frequency_monetary_correlation: float
    warning: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GammaGammaFit:
        return cls(**{**data, "params": GammaGammaParams(**data["params"])})


# --------------------------------------------------------------------------- summaries


def utc_instants(timestamps: pd.Series) -> np.ndarray:
    """Timestamps as naive UTC datetime64 values; naive input is taken as UTC."""
    return pd.to_datetime(timestamps, utc=True).dt.tz_localize(None).to_numpy()


def _date_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def purchases_until(orders: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Purchases up to the end of `as_of` (UTC), with their day number and value.

    Rows with `is_purchase` false (when that column exists), no customer or no timestamp are
    left out; a missing net amount counts as 0. Customer ids come out as Python strings,
    `ordered_at` as naive UTC datetime64.
    """
    keep = orders["customer_id"].notna() & orders["ordered_at"].notna()
    if "is_purchase" in orders.columns:
        keep &= orders["is_purchase"].fillna(False).astype(bool)
    frame = orders.loc[keep, ["customer_id", "ordered_at", "net_amount_base"]]
    instant = utc_instants(frame["ordered_at"])
    day = instant.astype("datetime64[D]").astype(np.int64)
    inside = day <= _date_number(as_of)
    frame = frame.loc[inside]
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str).to_numpy(object),
            "ordered_at": instant[inside],
            "day": day[inside],
            "value": pd.to_numeric(frame["net_amount_base"]).fillna(0.0).to_numpy(float),
        }
    )


def rfm_summary(orders: pd.DataFrame, as_of: dt.date, period: str = "D") -> pd.DataFrame:
    """One row per customer with a purchase up to the end of `as_of`, in SUMMARY_COLUMNS.

    `orders` needs customer_id, ordered_at and net_amount_base (is_purchase is honoured when
    present). `period` "D" groups purchases by UTC day, "W" by 7-day blocks ending on
    `as_of`; durations are in days either way (multiples of 7 for "W").
    """
    if period not in PERIOD_DAYS:
        raise ValueError(f"rfm_summary: period must be one of {sorted(PERIOD_DAYS)}")
    width = PERIOD_DAYS[period]
    buys = purchases_until(orders, as_of)
    end_day = _date_number(as_of)
    # Each purchase is placed on the last day of its period, periods aligned to end on as_of.
    slot = end_day - ((end_day - buys["day"].to_numpy()) // width) * width
    codes, customers = pd.factorize(buys["customer_id"], sort=True)
    low = int(slot.min()) if len(slot) else 0
    span = int(slot.max()) - low + 1 if len(slot) else 1
    per_period = (
        pd.Series(buys["value"].to_numpy(), index=codes.astype(np.int64) * span + (slot - low))
        .groupby(level=0, sort=True)
        .sum()
    )
    key = per_period.index.to_numpy()
    code, slot_of = key // span, key % span + low
    value = per_period.to_numpy()
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else np.array([], int)
    ends = np.r_[starts[1:], len(code)] if len(starts) else starts
    periods = ends - starts
    first, last = slot_of[starts], slot_of[ends - 1]
    total = np.add.reduceat(value, starts) if len(starts) else np.array([])
    frequency = periods - 1
    repeat_value = total - value[starts]
    monetary = np.divide(
        repeat_value, frequency, out=np.zeros_like(repeat_value), where=frequency > 0
    )
    first_order_at = buys.groupby(codes)["ordered_at"].min()
    return pd.DataFrame(
        {
            "customer_id": pd.Series(customers[code[starts]]).reset_index(drop=True),
            "frequency": frequency.astype(np.int64),
            "recency": (last - first).astype(float),
            "T": (end_day - first).astype(float),
            "monetary_value": monetary,
            "first_order_at": pd.to_datetime(first_order_at.to_numpy(), utc=True),
            "purchases": np.bincount(codes, minlength=len(customers)),
            "historical_revenue": np.bincount(
                codes, weights=buys["value"].to_numpy(), minlength=len(customers)
            ),
        }
    )


def unique_rfm(
    frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct (x, t_x, T) rows with their customer counts, and each input row's index
    into them (so predictions computed per distinct row can be spread back)."""
    frame = pd.DataFrame({"x": frequency, "t_x": recency, "T": T})
    # Sorted, not in order of appearance: rows come in customer-id order, which differs between
    # warehouses holding the same history (ids are numbered over the whole identity graph), and
    # the likelihood summed in another order moves the fitted parameters in the fifth digit.
    inverse = frame.groupby(["x", "t_x", "T"], sort=True).ngroup().to_numpy()
    _, first = np.unique(inverse, return_index=True)
    rows = frame.iloc[first].reset_index(drop=True)
    rows["count"] = np.bincount(inverse, minlength=len(first))
    return rows, inverse


# --------------------------------------------------------------------------- BG/NBD


def _bg_nbd_terms(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A1 + A2, A3 and A4 of the BG/NBD log-likelihood [BG/NBD 2019 note, eq. 4]:
    LL = A1 + A2 + ln(exp(A3) + delta(x>0) exp(A4))."""
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2, a3, a4


def bg_nbd_log_likelihood(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood [BG/NBD eq. 6]."""
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    base, a3, a4 = _bg_nbd_terms(params.r, params.alpha, params.a, params.b, x, t_x, T)
    return base + np.logaddexp(a3, a4)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distinct, index = np.unique(values, return_inverse=True)
    return distinct, index.ravel()


@dataclass(frozen=True)
class _BgNbdData:
    """Rows (x, t_x, T, weight) with the distinct values of each column and every row's
    index into them: the likelihood's special functions and logarithms are evaluated once
    per distinct value (x, t_x and T are whole days: a few hundred values for any number
    of customers), and only sums are taken over the rows."""

    x: np.ndarray
    w: np.ndarray
    x_values: np.ndarray
    x_of: np.ndarray
    t_x_values: np.ndarray
    t_x_of: np.ndarray
    T_values: np.ndarray
    T_of: np.ndarray
    weight_by_x: np.ndarray  # total weight of the rows with each distinct x

    @classmethod
    def of(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> _BgNbdData:
        x_values, x_of = _codes(x)
        t_x_values, t_x_of = _codes(t_x)
        T_values, T_of = _codes(T)
        weight_by_x = np.bincount(x_of, weights=w, minlength=len(x_values))
        return cls(x, w, x_values, x_of, t_x_values, t_x_of, T_values, T_of, weight_by_x)


def _bg_nbd_objective(log_params: np.ndarray, data: _BgNbdData) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood [BG/NBD eq. 6, as A1..A4] and its gradient with respect
    to the log-parameters."""
    r, alpha, a, b = np.exp(log_params)
    gammaln, psi = special.gammaln, special.digamma
    xv = data.x_values
    # A1 + A2 per distinct x (betaln written out as gammaln so that psi gives the gradient).
    base = (
        gammaln(r + xv) - gammaln(r) + r * np.log(alpha)
        + gammaln(b + xv) - gammaln(a + b + xv) - gammaln(b) + gammaln(a + b)
    )  # fmt: skip
    inv_b1 = 1.0 / np.where(xv > 0, b + xv - 1, 1.0)
    with np.errstate(divide="ignore"):
        c4 = np.where(xv > 0, np.log(a) + np.log(inv_b1), -np.inf)
    log_t = np.log(alpha + data.T_values)[data.T_of]
    log_tx = np.log(alpha + data.t_x_values)[data.t_x_of]
    rx = r + data.x
    a3 = -rx * log_t
    a4 = c4[data.x_of] - rx * log_tx
    log_sum = np.logaddexp(a3, a4)
    alive = data.w * np.exp(a3 - log_sum)  # weight of the "still active" term
    dropped = data.w - alive
    total = data.w.sum()
    wx = data.weight_by_x
    value = -(np.dot(wx, base) + np.dot(data.w, log_sum)) / total
    d_r = (
        np.dot(wx, psi(r + xv) - psi(r) + np.log(alpha))
        - np.dot(alive, log_t) - np.dot(dropped, log_tx)
    )  # fmt: skip
    inv_t = (1.0 / (alpha + data.T_values))[data.T_of]
    inv_tx = (1.0 / (alpha + data.t_x_values))[data.t_x_of]
    d_alpha = total * r / alpha - np.dot(alive * rx, inv_t) - np.dot(dropped * rx, inv_tx)
    d_a = np.dot(wx, psi(a + b) - psi(a + b + xv)) + dropped.sum() / a
    d_b = np.dot(wx, psi(a + b) + psi(b + xv) - psi(b) - psi(a + b + xv)) - np.dot(
        dropped, inv_b1[data.x_of]
    )
    grad = -np.array([d_r, d_alpha, d_a, d_b]) / total
    return float(value), grad * np.array([r, alpha, a, b])


def _bg_nbd_start(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    # r = 1 and alpha = 1 / (observed repeat rate) put the mean rate where the data are.
    rate = max(np.dot(w, x), 1.0) / max(np.dot(w, T), 1.0)
    return np.log([1.0, 1.0 / rate, 1.0, 1.0])


def fit_bg_nbd(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray | None = None,
) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters (L-BFGS-B on log-parameters, analytic gradient).

    Rows are first reduced to the distinct (x, t_x, T) with customer counts as weights;
    `weights` (optional) counts how many customers each input row stands for.
    """
    if weights is None:
        rows, _ = unique_rfm(np.asarray(frequency), np.asarray(recency), np.asarray(T))
    else:
        rows = pd.DataFrame({"x": frequency, "t_x": recency, "T": T, "count": weights})
    x, t_x, big_t = (rows[c].to_numpy(float) for c in ("x", "t_x", "T"))
    w = rows["count"].to_numpy(float)
    if len(x) == 0:
        raise ValueError("BG/NBD: no customers to fit")
    result = optimize.minimize(
        _bg_nbd_objective,
        _bg_nbd_start(x, big_t, w),
        args=(_BgNbdData.of(x, t_x, big_t, w),),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS, _LOG_BOUNDS, _DROPOUT_LOG_BOUNDS, _DROPOUT_LOG_BOUNDS],
        options={"maxiter": 2000},
    )
    return BgNbdFit(
        params=BgNbdParams(*(float(v) for v in np.exp(result.x))),
        log_likelihood=float(-result.fun * w.sum()),
        customers=int(w.sum()),
        unique_rows=len(x),
        converged=bool(result.success),
        message=str(result.message),
    )


def _log_dropout_odds(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """ln[ a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x) ] for x > 0, -inf for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = (
            np.log(a)
            - np.log(np.maximum(b + x - 1, 1e-300))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
    return np.where(x > 0, odds, -np.inf)


def bg_nbd_p_alive(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + delta(x>0) a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    [BG/NBD 2019 note, eq. 13]; 1 for customers without repeat purchases (BG/NBD customers
    can only drop out right after a repeat purchase)."""
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    return special.expit(-_log_dropout_odds(params, x, t_x, T))


def bg_nbd_expected_purchases(
    params: BgNbdParams, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t days [BG/NBD eq. 10],

        (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        / (1 + delta(x>0) a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    The power times 2F1 is evaluated through Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) as
    ((alpha+T)/(alpha+T+t))^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; t/(alpha+T+t)), whose upper
    parameters do not grow with x: the direct form overflows for frequent buyers (large x).
    """
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1) < 1e-9:  # the formula's limit at a = 1 is continuous; step off the 0/0
        a = 1 + 1e-9
    t = np.asarray(t, float)
    z = t / (alpha + T + t)
    hyp = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - hyp)
    return numerator * special.expit(-_log_dropout_odds(params, x, t_x, T))


def bg_nbd_unconditional_purchases(params: BgNbdParams, t: float | np.ndarray) -> np.ndarray:
    """E[X(t)] for a new customer, purchases in (0, t] after the first [BG/NBD eq. 9]."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, float)
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


def days_to_expected_purchase(
    params: BgNbdParams,
    horizon_days: int,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """The smallest whole number of days d in 1..horizon_days with scale x E[Y(d) | x, t_x, T]
    >= 1, i.e. by the end of which one purchase is expected; NaN when fewer than one purchase
    is expected within the horizon. E[Y(d)] grows with d, so a bisection finds d. `scale`
    (default 1) stretches each customer's curve, e.g. to another model's horizon total."""
    x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
    scale = np.ones_like(x) if scale is None else np.asarray(scale, float)
    expected = scale * bg_nbd_expected_purchases(params, float(horizon_days), x, t_x, T)
    reaches = expected >= 1
    lo = np.zeros(int(reaches.sum()))
    hi = np.full_like(lo, float(horizon_days))
    xs, ts, bigs, ks = x[reaches], t_x[reaches], T[reaches], scale[reaches]
    while len(lo) and np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        enough = ks * bg_nbd_expected_purchases(params, mid, xs, ts, bigs) >= 1
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    days = np.full(len(x), np.nan)
    days[reaches] = hi
    return days


# --------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, x: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Per-customer log density of the mean spend m of x purchases [GG 2013 note, eq. 1]:

    ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln v + (px-1) ln m + px ln x
    - (px+q) ln(v + x m).
    """
    x, m = np.asarray(x, float), np.asarray(m, float)
    p, q, v = params.p, params.q, params.v
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(v + x * m)
    )


@dataclass(frozen=True)
class _GammaGammaData:
    """Repeat buyers (x, m) with what the likelihood needs that does not depend on the
    parameters: gammaln and psi are evaluated per distinct x."""

    x: np.ndarray
    xm: np.ndarray  # x * m
    x_values: np.ndarray
    count_by_x: np.ndarray
    sum_x_log_m: float
    sum_log_m: float
    sum_x_log_x: float

    @classmethod
    def of(cls, x: np.ndarray, m: np.ndarray) -> _GammaGammaData:
        x_values, x_of = _codes(x)
        log_m = np.log(m)
        return cls(
            x=x,
            xm=x * m,
            x_values=x_values,
            count_by_x=np.bincount(x_of, minlength=len(x_values)).astype(float),
            sum_x_log_m=float(np.dot(x, log_m)),
            sum_log_m=float(log_m.sum()),
            sum_x_log_x=float(np.dot(x, np.log(x))),
        )


def _gamma_gamma_objective(
    log_params: np.ndarray, data: _GammaGammaData
) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood [GG 2013 note, eq. 1] summed over the repeat buyers,
    and its gradient with respect to the log-parameters."""
    p, q, v = np.exp(log_params)
    gammaln, psi = special.gammaln, special.digamma
    n, xv, nx = len(data.x), data.x_values, data.count_by_x
    log_vxm = np.log(v + data.xm)
    sum_x_log_vxm = np.dot(data.x, log_vxm)
    sum_log_vxm = log_vxm.sum()
    ll = (
        np.dot(nx, gammaln(p * xv + q) - gammaln(p * xv))
        - n * gammaln(q) + n * q * np.log(v)
        + p * data.sum_x_log_m - data.sum_log_m + p * data.sum_x_log_x
        - p * sum_x_log_vxm - q * sum_log_vxm
    )  # fmt: skip
    psi_pxq = psi(p * xv + q)
    d_p = (
        np.dot(nx * xv, psi_pxq - psi(p * xv))
        + data.sum_x_log_m + data.sum_x_log_x - sum_x_log_vxm
    )  # fmt: skip
    d_q = np.dot(nx, psi_pxq) - n * psi(q) + n * np.log(v) - sum_log_vxm
    inv = 1.0 / (v + data.xm)
    d_v = n * q / v - p * np.dot(data.x, inv) - q * inv.sum()
    grad = -np.array([d_p, d_q, d_v]) / n
    return float(-ll / n), grad * np.array([p, q, v])


def frequency_monetary_correlation(frequency: np.ndarray, monetary: np.ndarray) -> float:
    """Pearson correlation of frequency and monetary value among repeat buyers."""
    frequency, monetary = np.asarray(frequency, float), np.asarray(monetary, float)
    keep = (frequency > 0) & (monetary > 0)
    if keep.sum() < 3 or np.ptp(frequency[keep]) == 0 or np.ptp(monetary[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(frequency[keep], monetary[keep])[0, 1])


def fit_gamma_gamma(frequency: np.ndarray, monetary_value: np.ndarray) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma parameters on the repeat buyers (x > 0, m > 0).

    The model assumes spend is independent of purchase frequency; `warning` says when their
    correlation exceeds CORRELATION_WARNING in absolute value.
    """
    x, m = np.asarray(frequency, float), np.asarray(monetary_value, float)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < MIN_GAMMA_GAMMA_CUSTOMERS:
        raise ValueError(
            f"Gamma-Gamma: {len(x)} repeat buyers with a positive spend; "
            f"at least {MIN_GAMMA_GAMMA_CUSTOMERS} are needed"
        )
    # p = 1, q = 2 and v = mean spend give a population mean of the order of the data.
    start = np.log([1.0, 2.0, float(np.mean(m))])
    result = optimize.minimize(
        _gamma_gamma_objective,
        start,
        args=(_GammaGammaData.of(x, m),),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS, _LOG_BOUNDS, (-12.0, 25.0)],
        options={"maxiter": 2000},
    )
    corr = frequency_monetary_correlation(x, m)
    warning = None
    if abs(corr) > CORRELATION_WARNING:
        warning = (
            f"frequency and monetary value are correlated ({corr:.2f}): the Gamma-Gamma "
            "independence assumption does not hold well; spend forecasts may be biased"
        )
    return GammaGammaFit(
        params=GammaGammaParams(*(float(v) for v in np.exp(result.x))),
        log_likelihood=float(-result.fun * len(x)),
        customers=len(x),
        converged=bool(result.success),
        message=str(result.message),
        frequency_monetary_correlation=corr,
        warning=warning,
    )


def gamma_gamma_expected_value(
    params: GammaGammaParams, frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """E[M | x, m_x] = (p (v + x m_x)) / (p x + q - 1) [GG 2013 note, eq. 5]: a weighted
    mean of the population mean p v / (q - 1) and the customer's own mean m_x. With x = 0
    it is the population mean."""
    x = np.asarray(frequency, float)
    m = np.where(x > 0, np.asarray(monetary_value, float), 0.0)
    p, q, v = params.p, params.q, params.v
    return p * (v + x * m) / (p * x + q - 1)


# --------------------------------------------------------------------------- simulation


def simulate_bg_nbd(
    params: BgNbdParams, observation_days: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase times drawn from the BG/NBD process [BG/NBD section 3]: each customer
    has a rate lambda ~ Gamma(r, alpha) and a dropout probability p ~ Beta(a, b); from the
    first purchase at time 0, waits are exponential(lambda), and after each repeat purchase
    the customer drops out with probability p. Purchases after `observation_days` are cut.

    Returns (customer index, time in days) of every repeat purchase, ordered by time within
    each customer.
    """
    n = len(observation_days)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    return simulate_repeat_purchases(rate, dropout, observation_days, rng)


def simulate_repeat_purchases(
    rate: np.ndarray,
    dropout: np.ndarray,
    observation_days: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases of customers with the given purchase rates (per day) and dropout
    probabilities after each repeat purchase, within their `observation_days`: (customer
    index, time in days), ordered by time within each customer."""
    horizon = np.asarray(observation_days, float)
    clock = np.zeros(len(horizon))
    active = np.flatnonzero(rate > 0)
    who, when = [], []
    while len(active):
        clock[active] += rng.exponential(1.0 / rate[active])
        active = active[clock[active] <= horizon[active]]
        who.append(active)
        when.append(clock[active].copy())
        active = active[rng.random(len(active)) >= dropout[active]]
    customer = np.concatenate(who) if who else np.array([], int)
    time = np.concatenate(when) if when else np.array([])
    order = np.lexsort((time, customer))
    return customer[order], time[order]


def simulate_gamma_gamma(
    params: GammaGammaParams, customer: np.ndarray, customers: int, rng: np.random.Generator
) -> np.ndarray:
    """Purchase values from the Gamma-Gamma process: nu_i ~ Gamma(q, v) per customer, each
    of that customer's purchases ~ Gamma(p, nu_i). `customer` is each purchase's customer."""
    nu = rng.gamma(params.q, 1.0 / params.v, customers)
    return rng.gamma(params.p, 1.0 / nu[np.asarray(customer)])
