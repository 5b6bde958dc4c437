"""Repeat-purchase models beside BG/NBD: Pareto/NBD and MBG/NBD, and the common interface
(expected purchases in t, P(alive), P(no purchase in t)) the lifetime-value backtest uses to
compare them with BG/NBD.

Sources:
- [PNBD] Schmittlein, Morrison & Colombo (1987), "Counting Your Customers", Management
  Science 33(1); Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related
  Expressions" (eq. 22: the likelihood with A0 in its two 2F1 forms, alpha >= beta and
  alpha < beta; eq. 18: P(alive); eq. 21: expected purchases). CDNOW estimates (weeks):
  r=0.553, alpha=10.578, s=0.606, beta=11.669, LL=-9594.98.
- [MBG] Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of
  models for customer base analysis", IJRM 24(3): BG/NBD in which a customer may also drop
  out right after the first purchase (x = 0), so that P(alive) < 1 for one-time buyers.

Data and units are those of `btyd` (frequency x = repeat purchase periods, recency t_x and
age T in days). Likelihoods are evaluated on the distinct (x, t_x, T) rows weighted by how
many customers share them, in log space; parameters are fitted by L-BFGS-B on their logarithms.

P(no purchase in the next t days | x, t_x, T), the purchase model's churn probability, is
1 - P(alive) + P(alive) P(no purchase in t | alive). For BG/NBD and MBG/NBD a customer alive
at T can only drop out right after a purchase, so "no purchase" given alive is
E[exp(-lambda t)] = ((alpha+T)/(alpha+T+t))^(r+x). For Pareto/NBD, given alive the rate and the
dropout rate are independent Gamma(r+x, alpha+T) and Gamma(s, beta+T), and
P(a purchase before death within t) = int_0^t E[lambda e^(-lambda u)] E[e^(-mu u)] du, a smooth
one-dimensional integral evaluated by Gauss-Legendre quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from cdp_assets.ml import btyd

BG_NBD = "bg_nbd"
PARETO_NBD = "pareto_nbd"
MBG_NBD = "mbg_nbd"
PARAMETRIC_MODELS = (BG_NBD, PARETO_NBD, MBG_NBD)
_LOG_BOUNDS = (-12.0, 12.0)
_DROPOUT_LOG_BOUNDS = (-12.0, 7.0)
_QUADRATURE_NODES = 64


@dataclass(frozen=True)
class ParetoNbdParams:
    """Pareto/NBD: purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta) (days)."""

    r: float
    alpha: float
    s: float
    beta: float


@dataclass(frozen=True)
class MbgNbdParams:
    """MBG/NBD: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class PurchaseFit:
    """A fitted repeat-purchase model: its name, parameters and fit figures."""

    name: str
    params: dict[str, float]
    log_likelihood: float
    customers: int
    converged: bool
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PurchaseFit:
        return cls(**data)

    def expected_purchases(
        self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchase periods in the next t days."""
        return _MODELS[self.name].expected(self.params, t, *_floats(x, t_x, T))

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return _MODELS[self.name].p_alive(self.params, *_floats(x, t_x, T))

    def p_no_purchase(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(no purchase in the next t days | x, t_x, T) (see the module docstring)."""
        x, t_x, T = _floats(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        return 1 - alive + alive * _MODELS[self.name].silent_if_alive(self.params, t, x, T)


def _floats(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, float) for a in arrays)


# --------------------------------------------------------------------------- Pareto/NBD


def _log_a0(p: ParetoNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """ln A0 of [PNBD eq. 22]; -inf when t_x = T (no time to have died unseen)."""
    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    rsx = r + s + x
    if alpha >= beta:
        big, upper = alpha, s + 1
    else:
        big, upper = beta, r + x
    diff = abs(alpha - beta)
    log_first = np.log(special.hyp2f1(rsx, upper, rsx + 1, diff / (big + t_x))) - rsx * np.log(
        big + t_x
    )
    log_second = np.log(special.hyp2f1(rsx, upper, rsx + 1, diff / (big + T))) - rsx * np.log(
        big + T
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.minimum(log_second - log_first, 0.0)
        return np.where(t_x < T, log_first + np.log(-np.expm1(gap)), -np.inf)


def _pareto_terms(
    p: ParetoNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(constant, ln alive term, ln dropped term) of the Pareto/NBD likelihood."""
    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    constant = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dropped = np.log(s) - np.log(r + s + x) + _log_a0(p, x, t_x, T)
    return constant, alive, dropped


def pareto_nbd_log_likelihood(
    params: ParetoNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood [PNBD eq. 22]."""
    constant, alive, dropped = _pareto_terms(params, *_floats(x, t_x, T))
    return constant + np.logaddexp(alive, dropped)


def _pareto_p_alive(params: dict, x, t_x, T) -> np.ndarray:
    _, alive, dropped = _pareto_terms(ParetoNbdParams(**params), x, t_x, T)
    return np.exp(alive - np.logaddexp(alive, dropped))


def _pareto_expected(params: dict, t: float, x, t_x, T) -> np.ndarray:
    """[PNBD eq. 21]: (r+x)(beta+T)/((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive),
    written with expm1 so that s = 1 (where it tends to a logarithm) is no special case."""
    p = ParetoNbdParams(**params)
    log_ratio = np.log1p(t / (p.beta + T))
    shape = p.s - 1
    growth = log_ratio if abs(shape) < 1e-9 else -np.expm1(-shape * log_ratio) / shape
    rate = (p.r + x) * (p.beta + T) / (p.alpha + T)
    return rate * growth * _pareto_p_alive(params, x, t_x, T)


def _pareto_silent_if_alive(params: dict, t: float, x, T) -> np.ndarray:
    """P(no purchase in t | alive at T): 1 - int_0^t (r+x)/(alpha+T) ((alpha+T)/(alpha+T+u))
    ^(r+x+1) ((beta+T)/(beta+T+u))^s du (see the module docstring)."""
    p = ParetoNbdParams(**params)
    nodes, weights = np.polynomial.legendre.leggauss(_QUADRATURE_NODES)
    u = (nodes + 1) * (t / 2)  # [-1, 1] -> [0, t]
    x, T = np.asarray(x, float)[:, None], np.asarray(T, float)[:, None]
    log_density = (
        np.log(p.r + x)
        - np.log(p.alpha + T)
        - (p.r + x + 1) * np.log1p(u / (p.alpha + T))
        - p.s * np.log1p(u / (p.beta + T))
    )
    bought = np.exp(log_density) @ weights * (t / 2)
    return np.clip(1 - bought, 0.0, 1.0)


def _pareto_start(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    rate = max(np.dot(w, x), 1.0) / max(np.dot(w, T), 1.0)
    return np.log([1.0, 1.0 / rate, 1.0, float(np.average(T, weights=w))])


# --------------------------------------------------------------------------- MBG/NBD


def mbg_nbd_log_likelihood(
    params: MbgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer MBG/NBD log-likelihood [MBG]:
    ln Gamma(r+x) - ln Gamma(r) + r ln alpha + ln B(a, b+x+1) - ln B(a, b)
    + ln[(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]."""
    x, t_x, T = _floats(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    base = (
        special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        + special.betaln(a, b + x + 1) - special.betaln(a, b)
    )  # fmt: skip
    alive = -(r + x) * np.log(alpha + T)
    dropped = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return base + np.logaddexp(alive, dropped)


def _mbg_log_dropout_odds(p: MbgNbdParams, x, t_x, T) -> np.ndarray:
    return np.log(p.a) - np.log(p.b + x) + (p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + t_x))


def _mbg_p_alive(params: dict, x, t_x, T) -> np.ndarray:
    return special.expit(-_mbg_log_dropout_odds(MbgNbdParams(**params), x, t_x, T))


def _mbg_expected(params: dict, t: float, x, t_x, T) -> np.ndarray:
    """(a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; z)] P(alive),
    z = t/(alpha+T+t), with the power times 2F1 through Euler's transformation as
    (1-z)^(a-1) 2F1(a+b-r, a-1; a+b+x; z) (bounded upper parameters, as in `btyd`)."""
    p = MbgNbdParams(**params)
    a = p.a if abs(p.a - 1) >= 1e-9 else 1 + 1e-9
    z = t / (p.alpha + T + t)
    hyp = (1 - z) ** (a - 1) * special.hyp2f1(a + p.b - p.r, a - 1, a + p.b + x, z)
    return (a + p.b + x) / (a - 1) * (1 - hyp) * _mbg_p_alive(params, x, t_x, T)


def _silent_if_alive_bg(params: dict, t: float, x, T) -> np.ndarray:
    """BG/NBD and MBG/NBD: alive customers drop out only after a purchase."""
    r, alpha = params["r"], params["alpha"]
    return np.exp(-(r + x) * np.log1p(t / (alpha + T)))


def _bg_expected(params: dict, t: float, x, t_x, T) -> np.ndarray:
    return btyd.bg_nbd_expected_purchases(btyd.BgNbdParams(**params), t, x, t_x, T)


def _bg_p_alive(params: dict, x, t_x, T) -> np.ndarray:
    return btyd.bg_nbd_p_alive(btyd.BgNbdParams(**params), x, t_x, T)


@dataclass(frozen=True)
class _Model:
    expected: Callable[..., np.ndarray]
    p_alive: Callable[..., np.ndarray]
    silent_if_alive: Callable[..., np.ndarray]


_MODELS = {
    BG_NBD: _Model(_bg_expected, _bg_p_alive, _silent_if_alive_bg),
    PARETO_NBD: _Model(_pareto_expected, _pareto_p_alive, _pareto_silent_if_alive),
    MBG_NBD: _Model(_mbg_expected, _mbg_p_alive, _silent_if_alive_bg),
}


# --------------------------------------------------------------------------- fitting


def _fit_weighted(
    name: str,
    log_likelihood: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    start: np.ndarray,
    bounds: list[tuple[float, float]],
    keys: tuple[str, ...],
    rows: pd.DataFrame,
) -> PurchaseFit:
    x, t_x, big_t = (rows[c].to_numpy(float) for c in ("x", "t_x", "T"))
    w = rows["count"].to_numpy(float)
    total = w.sum()

    def objective(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            ll = log_likelihood(np.exp(log_params), x, t_x, big_t)
        value = -float(np.dot(w, ll)) / total
        return value if math.isfinite(value) else 1e30

    result = optimize.minimize(
        objective, start, method="L-BFGS-B", bounds=bounds, options={"maxiter": 1000}
    )
    return PurchaseFit(
        name=name,
        params={k: float(v) for k, v in zip(keys, np.exp(result.x), strict=True)},
        log_likelihood=float(-result.fun * total),
        customers=int(total),
        converged=bool(result.success),
        message=str(result.message),
    )


def _rows(frequency, recency, T) -> pd.DataFrame:
    rows, _ = btyd.unique_rfm(np.asarray(frequency), np.asarray(recency), np.asarray(T))
    if rows.empty:
        raise ValueError("purchase model: no customers to fit")
    return rows


def fit_pareto_nbd(frequency, recency, T) -> PurchaseFit:
    """Maximum-likelihood Pareto/NBD on the distinct (x, t_x, T) rows."""
    rows = _rows(frequency, recency, T)

    def ll(p: np.ndarray, x, t_x, big_t) -> np.ndarray:
        return pareto_nbd_log_likelihood(ParetoNbdParams(*p), x, t_x, big_t)

    start = _pareto_start(
        rows["x"].to_numpy(float), rows["T"].to_numpy(float), rows["count"].to_numpy(float)
    )
    return _fit_weighted(
        PARETO_NBD, ll, start, [_LOG_BOUNDS] * 4, ("r", "alpha", "s", "beta"), rows
    )


def fit_mbg_nbd(frequency, recency, T) -> PurchaseFit:
    """Maximum-likelihood MBG/NBD on the distinct (x, t_x, T) rows."""
    rows = _rows(frequency, recency, T)

    def ll(p: np.ndarray, x, t_x, big_t) -> np.ndarray:
        return mbg_nbd_log_likelihood(MbgNbdParams(*p), x, t_x, big_t)

    x, big_t, w = (rows[c].to_numpy(float) for c in ("x", "T", "count"))
    rate = max(np.dot(w, x), 1.0) / max(np.dot(w, big_t), 1.0)
    start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    bounds = [_LOG_BOUNDS, _LOG_BOUNDS, _DROPOUT_LOG_BOUNDS, _DROPOUT_LOG_BOUNDS]
    return _fit_weighted(MBG_NBD, ll, start, bounds, ("r", "alpha", "a", "b"), rows)


def fit_bg_nbd(frequency, recency, T) -> PurchaseFit:
    """BG/NBD (`btyd.fit_bg_nbd`, analytic gradient) behind the common interface."""
    fit = btyd.fit_bg_nbd(np.asarray(frequency), np.asarray(recency), np.asarray(T))
    return PurchaseFit(
        BG_NBD, asdict(fit.params), fit.log_likelihood, fit.customers, fit.converged, fit.message
    )


FITTERS: dict[str, Callable[..., PurchaseFit]] = {
    BG_NBD: fit_bg_nbd,
    PARETO_NBD: fit_pareto_nbd,
    MBG_NBD: fit_mbg_nbd,
}


def fit_purchase_model(name: str, summary: pd.DataFrame) -> PurchaseFit:
    """Fit the named model on an `rfm_summary`."""
    return FITTERS[name](
        summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    )


def predict_summary(fit: PurchaseFit, summary: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """expected_purchases, p_alive and p_no_purchase over `horizon_days` for each row of an
    `rfm_summary`, computed once per distinct (x, t_x, T)."""
    rows, inverse = btyd.unique_rfm(
        summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    )
    x, t_x, big_t = (rows[c].to_numpy(float) for c in ("x", "t_x", "T"))
    t = float(horizon_days)
    return pd.DataFrame(
        {
            "expected_purchases": fit.expected_purchases(t, x, t_x, big_t)[inverse],
            "p_alive": fit.p_alive(x, t_x, big_t)[inverse],
            "p_no_purchase": fit.p_no_purchase(t, x, t_x, big_t)[inverse],
        },
        index=summary.index,
    )


# --------------------------------------------------------------------------- simulation


def simulate_pareto_nbd(
    params: ParetoNbdParams, observation_days: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase times from the Pareto/NBD process: rate lambda ~ Gamma(r, alpha), a
    lifetime ~ Exponential(mu) with mu ~ Gamma(s, beta); purchases are a Poisson process of
    rate lambda until the end of the lifetime or of the observation. Returns (customer index,
    time) of every repeat purchase, ordered by time within each customer."""
    horizon = np.asarray(observation_days, float)
    n = len(horizon)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    lifetime = rng.exponential(1.0 / rng.gamma(params.s, 1.0 / params.beta, n))
    end = np.minimum(lifetime, horizon)
    counts = rng.poisson(rate * end)
    customer = np.repeat(np.arange(n), counts)
    time = rng.random(len(customer)) * end[customer]
    order = np.lexsort((time, customer))
    return customer[order], time[order]


def simulate_mbg_nbd(
    params: MbgNbdParams, observation_days: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Repeat-purchase times from the MBG/NBD process: as BG/NBD, but the customer may also
    drop out right after the first purchase (before any repeat purchase)."""
    n = len(observation_days)
    dropout = rng.beta(params.a, params.b, n)
    stays = rng.random(n) >= dropout  # the chance to leave right after the first purchase
    bg = btyd.BgNbdParams(params.r, params.alpha, params.a, params.b)
    customer, time = _simulate_fixed_dropout(bg, dropout, np.asarray(observation_days), rng)
    keep = stays[customer]
    return customer[keep], time[keep]


def _simulate_fixed_dropout(
    params: btyd.BgNbdParams,
    dropout: np.ndarray,
    observation_days: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD purchases with given per-customer dropout probabilities."""
    rate = rng.gamma(params.r, 1.0 / params.alpha, len(observation_days))
    return btyd.simulate_repeat_purchases(rate, dropout, observation_days, rng)


def summary_of_simulation(
    customer: np.ndarray, time: np.ndarray, observation_days: np.ndarray
) -> pd.DataFrame:
    """frequency, recency, T of simulated customers (continuous time, every purchase its own
    period), one row per customer."""
    n = len(observation_days)
    frequency = np.bincount(customer, minlength=n)
    recency = np.zeros(n)
    np.maximum.at(recency, customer, time)
    return pd.DataFrame(
        {"frequency": frequency, "recency": recency, "T": np.asarray(observation_days, float)}
    )
