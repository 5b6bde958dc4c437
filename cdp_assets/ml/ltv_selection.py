"""Which repeat-purchase model forecasts this customer base best, and by how much its total
is off: a calibration/holdout backtest inside the customer's own data.

Candidates (see `purchase_models`): BG/NBD, Pareto/NBD, MBG/NBD, and `learned_covariates`, a
gradient-boosting model of each customer's purchase rate relative to BG/NBD (a multiplier on
BG/NBD's expected purchases) from point-in-time covariates: the order features of
`ltv.order_features` (recency, frequency, spend windows, first-order value) and, when the
warehouse has them, channel mix, categories, web engagement, service and loyalty
(`analytics.features.customer_features` as of the cutoff) and a year of engagement before it
(`purchase_engagement`: days since the last web session, visit rate and lapse score, last
ticket, survey answer, email open and activity of any kind). It is fitted by Poisson boosting on
the purchases of windows that all end at the cutoff (lengths H, 3H/4, H/2, H/4 for
`training_cutoffs` = 4), with BG/NBD's expectation as an offset (target purchases / expected,
weight expected: the Poisson likelihood of expected x multiplier), so windows shorter than the
forecast horizon still teach it. `blend` is the mean of the other candidates' forecasts.

The scheme, with H the reported holdout (`ltv.holdout_days_for`) and c1 = as_of - H:

1. selection split: every candidate is fitted on the purchases up to c0 = c1 - S (S = H, or
   half the history before c1 when that is shorter) and forecasts (c0, c1]. The candidate with
   the lowest per-customer RMSE of repeat purchases is chosen, leaving out a parametric model
   whose likelihood on the purchases up to c1 is decisively below the best one's
   (`outlikelihooded`); its totals there give the
   correction factors: purchases (actual / predicted purchases) and order value (actual /
   predicted revenue, divided by the purchase factor).
2. reported split: every candidate is refitted on the purchases up to c1 and forecasts
   (c1, as_of]; the chosen one is also shown corrected by the factors of step 1. Nothing of
   (c1, as_of] chose the model or its correction, so its figures are honest.
3. production: the chosen model is fitted on everything up to as_of; its correction is the
   one measured on the latest split whose outcome is known, step 2's.

A correction factor is an estimate with two errors of its own, and applied as measured both
land in full on the next split's total:

* sampling: the split's actual total is a sum of every customer's purchases, noisy even when
  the model is right — the ratio estimator's se, sqrt(sum (actual - k predicted)²) / sum
  predicted (at the demo's 5,000 people, ~1,000 customers on the selection split: ~3.5 %);
* estimation: the split's fit is one draw of the parameters. With ~1,000 customers and one
  year of calibration the dropout parameters are poorly identified, and that fit's total is
  off by its own error, not by the model's bias the correction is meant to carry over — the
  se of the predicted total over PARAMETER_BOOTSTRAPS refits of BG/NBD on resampled customers
  (`parameter_se`; 4-8 % at 5,000 people, ~3 % at 20,000; BG/NBD stands in for every
  candidate: it is the cheapest to refit and the learned model's backbone).

Measured over 14 demo seeds at 5,000 people (bench/RESULTS.md), the chosen model's
selection-split fit over-forecast its year by 8 % on average, the reported split's by 2 %:
the raw factor put 5 of 14 reported totals within ±5 % (mean ratio 0.943), none 11 (mean
1.020), the shrunk one 11 (mean 0.996). So the factor is shrunk towards 1 by its precision (`shrunk_correction`):
k = 1 + w (k_measured - 1), w = CORRECTION_PRIOR_SD² / (CORRECTION_PRIOR_SD² + se_sampling² +
se_estimation²) — ~1/3 at 5,000 people, ~2/3 at 20,000. Then it is clipped to
[1/MAX_CORRECTION, MAX_CORRECTION]: beyond that, the earlier split is too unlike the later one
for its total to be a guide (a note says so).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from cdp_assets.config import LtvConfig
from cdp_assets.ml import btyd
from cdp_assets.ml import purchase_models as pm
from cdp_assets.ml.churn import BOOSTING_PARAMS
from cdp_assets.ml.purchase_history import fit_btyd_summary, ml_features, order_value, revenue_after
from cdp_assets.ml.snapshots import in_content_order

LEARNED = "learned_covariates"
BLEND = "blend"
CANDIDATES = (*pm.PARAMETRIC_MODELS, LEARNED, BLEND)
# A learned model's training cutoff needs this much purchase history for BG/NBD (its offset)
# to be fitted on something.
LEARNED_MIN_HISTORY_DAYS = 90
MIN_SPLIT_DAYS = 30
MAX_CORRECTION = 1.5
# The spread expected of a model's true total bias from one split to the next (the prior of
# the correction's shrinkage, see the module docstring): the size of the ±5 % target.
CORRECTION_PRIOR_SD = 0.05
# A parametric model whose log-likelihood on the purchases up to the reported cutoff is more
# than this below the best one's (each has four parameters: a likelihood ratio of e^10, "decisive"
# evidence on Jeffreys' scale) is not chosen. The selection split's RMSE, on a year and ~1,000
# customers at the demo's 5,000 people, separates the candidates by tenths of a percent, less
# than its noise; the likelihood of all the history before the reported cutoff is the sharper
# evidence (BG/NBD trailed Pareto/NBD and MBG/NBD by 23-44 on every one of 14 demo seeds).
LIKELIHOOD_GAP = 10.0
# Refits of BG/NBD on resampled customers that measure a fit's estimation error: 20 give the
# se to about ±16 % of itself, enough for a weight, at ~0.5-1.5 s per split.
PARAMETER_BOOTSTRAPS = 20
# Below this expectation a row would teach the multiplier nothing but noise: floor it.
_MIN_OFFSET = 1e-3
# Below this many rows, OpenMP threads cost the boosting more than they save (and on a busy
# machine far more): it runs on one thread.
SINGLE_THREAD_ROWS = 100_000

# The features of every customer as of a date (see `purchase_history.FeaturesAt`), or None: orders only.
FeaturesAt = Callable[[dt.date], pd.DataFrame] | None


def _first_purchase(orders: pd.DataFrame, as_of: dt.date) -> dt.date:
    day = btyd.purchases_until(orders, as_of)["day"].min()
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def _days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def purchase_days_after(orders: pd.DataFrame, as_of: dt.date, days: int) -> pd.Series:
    """Purchase days (what the models count) per customer in the `days` days after `as_of`."""
    buys = btyd.purchases_until(orders, _days(as_of, days))
    after = buys.loc[buys["day"] > _day_number(as_of)]
    return after.groupby("customer_id")["day"].nunique().astype(float)


def revenue_name(purchase_model: str) -> str:
    """The lifetime-value model a purchase model makes with Gamma-Gamma spend."""
    return f"{purchase_model}_gamma_gamma"


def corrected_name(purchase_model: str) -> str:
    return f"{revenue_name(purchase_model)}_corrected"


# --------------------------------------------------------------------------- learned model


@dataclass
class LearnedPurchaseModel:
    """Boosted multiplier on BG/NBD's expected purchases (see the module docstring)."""

    estimator: HistGradientBoostingRegressor
    feature_names: list[str]
    windows: tuple[tuple[dt.date, int], ...]  # (start, days) of each training window
    training_rows: int
    uses_warehouse_features: bool


def _covariates(
    orders: pd.DataFrame,
    cutoff: dt.date,
    summary: pd.DataFrame,
    backbone: pm.PurchaseFit,
    window_days: int,
    features_at: FeaturesAt,
) -> pd.DataFrame:
    """Point-in-time covariates of the buyers of `summary` (indexed by customer_id): what
    `ltv.ml_features` knows as of `cutoff`, BG/NBD's expected rate and P(alive)."""
    features = ml_features(orders, cutoff, features_at).reindex(summary["customer_id"])
    predicted = pm.predict_summary(backbone, summary, window_days)
    features["backbone_rate"] = predicted["expected_purchases"].to_numpy() / window_days
    features["backbone_p_alive"] = predicted["p_alive"].to_numpy()
    return features


def learned_windows(
    first_purchase: dt.date, cutoff: dt.date, horizon_days: int, count: int
) -> list[tuple[dt.date, int]]:
    """Training windows (start cutoff, days) that all end at `cutoff`: `count` lengths from
    `horizon_days` down in equal steps, each with LEARNED_MIN_HISTORY_DAYS of purchases before
    it and at least MIN_SPLIT_DAYS long. Windows that end at the cutoff carry the latest
    behaviour; the BG/NBD offset makes their different lengths comparable."""
    windows = []
    for k in range(count):
        days = horizon_days - k * horizon_days // count
        start = _days(cutoff, -days)
        if days >= MIN_SPLIT_DAYS and (start - first_purchase).days >= LEARNED_MIN_HISTORY_DAYS:
            windows.append((start, days))
    return windows


def _learned_estimator(random_state: int) -> HistGradientBoostingRegressor:
    # Smaller trees and larger leaves than the classifiers': the target (purchases relative
    # to BG/NBD) is mostly noise around 1, and larger trees fit the noise.
    params = {**BOOSTING_PARAMS, "learning_rate": 0.03, "max_leaf_nodes": 7}
    params["min_samples_leaf"] = 200
    return HistGradientBoostingRegressor(
        loss="poisson", **params, validation_fraction=0.15, random_state=random_state
    )


def _in_content_order(
    matrix: pd.DataFrame, target: np.ndarray, weight: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The training rows sorted by their values. Rows come in customer-id order, and ids are
    numbered over the whole identity graph: a warehouse holding later data numbers the same
    people differently, and the early-stopping split (by position) would then train another
    model for the same past date."""
    keyed = in_content_order(matrix.assign(_target=target, _weight=weight))
    return (
        keyed.drop(columns=["_target", "_weight"]),
        keyed["_target"].to_numpy(),
        keyed["_weight"].to_numpy(),
    )


def fit_learned(
    orders: pd.DataFrame,
    windows: list[tuple[dt.date, int]],
    features_at: FeaturesAt = None,
    random_state: int = 0,
) -> LearnedPurchaseModel:
    """Train on the buyers of every window's start: covariates as of it (BG/NBD fitted on
    the purchases up to it), label the purchase days of the window."""
    if not windows:
        raise ValueError("learned purchase model: no training window")
    parts, targets, offsets = [], [], []
    for cutoff, days in windows:
        summary = btyd.rfm_summary(orders, cutoff)
        backbone = pm.fit_purchase_model(pm.BG_NBD, summary)
        features = _covariates(orders, cutoff, summary, backbone, days, features_at)
        expected = np.maximum(features["backbone_rate"].to_numpy() * days, _MIN_OFFSET)
        actual = purchase_days_after(orders, cutoff, days).reindex(features.index)
        usable = np.isfinite(expected)  # an extreme BG/NBD fit can overflow for a few rows
        parts.append(features.loc[usable].reset_index(drop=True))
        targets.append(actual.fillna(0.0).to_numpy()[usable] / expected[usable])
        offsets.append(expected[usable])
    matrix = pd.concat(parts, ignore_index=True).dropna(axis=1, how="all")
    target, weight = np.concatenate(targets), np.concatenate(offsets)
    matrix, target, weight = _in_content_order(matrix, target, weight)
    estimator = _learned_estimator(random_state)
    with threadpool_limits(1 if len(matrix) < SINGLE_THREAD_ROWS else None, user_api="openmp"):
        estimator.fit(matrix, target, sample_weight=weight)
    return LearnedPurchaseModel(
        estimator,
        list(matrix.columns),
        tuple(windows),
        len(matrix),
        any(name.startswith("f_") for name in matrix.columns),
    )


def predict_learned(
    model: LearnedPurchaseModel,
    orders: pd.DataFrame,
    cutoff: dt.date,
    summary: pd.DataFrame,
    backbone: pm.PurchaseFit,
    horizon_days: int,
    features_at: FeaturesAt = None,
) -> np.ndarray:
    """Expected purchase days in the `horizon_days` after `cutoff` for the rows of `summary`:
    BG/NBD's expectation (`backbone`, fitted up to `cutoff`) times the learned multiplier."""
    if features_at is None and model.uses_warehouse_features:
        raise ValueError("learned purchase model uses warehouse features: pass features_at")
    features = _covariates(orders, cutoff, summary, backbone, horizon_days, features_at)
    matrix = features.reindex(columns=model.feature_names)
    with threadpool_limits(1 if len(matrix) < SINGLE_THREAD_ROWS else None, user_api="openmp"):
        multiplier = model.estimator.predict(matrix)
    return features["backbone_rate"].to_numpy() * horizon_days * multiplier


# --------------------------------------------------------------------------- one split


@dataclass
class SplitForecast:
    """Every candidate fitted up to `cutoff`, forecasting the `days` after it."""

    cutoff: dt.date
    days: int
    summary: pd.DataFrame
    purchases: pd.DataFrame  # index customer_id; one column per candidate
    order_value: np.ndarray  # Gamma-Gamma expected value of a purchase day, per customer
    actual_purchases: np.ndarray
    actual_revenue: np.ndarray
    fits: dict[str, pm.PurchaseFit]
    learned: LearnedPurchaseModel | None
    notes: list[str] = field(default_factory=list)


def forecast_split(
    orders: pd.DataFrame,
    cutoff: dt.date,
    days: int,
    config: LtvConfig,
    features_at: FeaturesAt = None,
    spend=None,
) -> SplitForecast:
    """Fit every candidate on the purchases up to `cutoff` and forecast the `days` after it.
    `spend`: the `ltv.BtydModel` fitted up to `cutoff` when the caller has it (its
    Gamma-Gamma gives the value of a purchase day); fitted here otherwise."""
    summary = btyd.rfm_summary(orders, cutoff)
    if summary.empty:
        raise ValueError(f"purchase models: no purchases up to {cutoff}")
    ids = summary["customer_id"].to_numpy()
    purchases, fits, notes = {}, {}, []
    for name in pm.PARAMETRIC_MODELS:
        fit = pm.fit_purchase_model(name, summary)
        if not fit.converged:
            notes.append(f"{name} fit up to {cutoff} did not converge: {fit.message}")
        fits[name] = fit
        purchases[name] = pm.predict_summary(fit, summary, days)["expected_purchases"].to_numpy()
    first = _first_purchase(orders, cutoff)
    windows = learned_windows(first, cutoff, days, config.training_cutoffs)
    learned = None
    if not windows:
        notes.append(
            f"{LEARNED} not evaluated at {cutoff}: a {MIN_SPLIT_DAYS}-day training window "
            f"needs {LEARNED_MIN_HISTORY_DAYS + MIN_SPLIT_DAYS} days of history"
        )
    else:
        learned = fit_learned(orders, windows, features_at)
        purchases[LEARNED] = predict_learned(
            learned, orders, cutoff, summary, fits[pm.BG_NBD], days, features_at
        )
    for name in list(purchases):
        if not np.isfinite(purchases[name]).all():
            notes.append(f"{name} left out at {cutoff}: its forecast overflows for some customers")
            del purchases[name]
    purchases[BLEND] = np.mean([purchases[name] for name in purchases], axis=0)
    btyd_model = spend if spend is not None else fit_btyd_summary(summary, cutoff)
    return SplitForecast(
        cutoff=cutoff,
        days=days,
        summary=summary,
        purchases=pd.DataFrame(purchases, index=pd.Index(ids, name="customer_id")),
        order_value=order_value(btyd_model, summary),
        actual_purchases=purchase_days_after(orders, cutoff, days)
        .reindex(ids)
        .fillna(0)
        .to_numpy(),
        actual_revenue=revenue_after(orders, cutoff, days).reindex(ids).fillna(0.0).to_numpy(),
        fits=fits,
        learned=learned,
        notes=notes,
    )


def split_metrics(split: SplitForecast, corrections: dict[str, tuple[float, float]] | None = None):
    """Per candidate (and per corrected one in `corrections`: name -> (purchase factor,
    value factor)): RMSE and MAE of repeat purchases, predicted / actual purchases, RMSE of
    revenue and predicted / actual revenue."""
    rows = {}
    columns = {name: (name, 1.0, 1.0) for name in split.purchases.columns}
    for name, (k_purchases, k_value) in (corrections or {}).items():
        columns[corrected_name(name)] = (name, k_purchases, k_value)
    for label, (name, k_purchases, k_value) in columns.items():
        purchases = split.purchases[name].to_numpy() * k_purchases
        revenue = purchases * split.order_value * k_value
        rows[label] = _figures(purchases, revenue, split.actual_purchases, split.actual_revenue)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "purchase_model"
    return table


def _figures(purchases, revenue, actual_purchases, actual_revenue) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {
        "rmse_purchases": float(np.sqrt(np.mean((purchases - actual_purchases) ** 2))),
        "mae_purchases": float(np.mean(np.abs(purchases - actual_purchases))),
        "purchases_ratio": ratio(purchases.sum(), actual_purchases.sum()),
        "rmse_revenue": float(np.sqrt(np.mean((revenue - actual_revenue) ** 2))),
        "revenue_ratio": ratio(revenue.sum(), actual_revenue.sum()),
    }


def shrunk_correction(
    actual: np.ndarray, predicted: np.ndarray, estimation_se: float = 0.0
) -> tuple[float, float, float]:
    """(shrunk factor, measured factor = actual / predicted total, its sampling se): the ratio
    estimator's se is sqrt(sum (actual - k predicted)²) / sum predicted; the factor is pulled
    towards 1 by w = prior² / (prior² + se² + estimation_se²), prior = CORRECTION_PRIOR_SD."""
    total = float(predicted.sum())
    if total <= 0:
        return 1.0, 1.0, math.inf
    measured = float(actual.sum()) / total
    se = float(np.sqrt(((actual - measured * predicted) ** 2).sum())) / total
    prior = CORRECTION_PRIOR_SD**2
    weight = prior / (prior + se**2 + estimation_se**2)
    return 1 + weight * (measured - 1), measured, se


def parameter_se(summary: pd.DataFrame, days: int, rounds: int = PARAMETER_BOOTSTRAPS) -> float:
    """Relative se of BG/NBD's predicted total of `summary`'s customers over `days` from the
    fit's parameters: BG/NBD refitted on `rounds` resamples of the customers (with
    replacement), each predicting the original customers. Rows are resampled in content order
    with a fixed seed, so the same purchases give the same figure whatever the customer ids."""
    if len(summary) < 2:
        return 0.0
    rows = summary.sort_values(["frequency", "recency", "T"], kind="stable").reset_index(drop=True)
    fit = pm.fit_purchase_model(pm.BG_NBD, rows)
    base = pm.predict_summary(fit, rows, days)["expected_purchases"].sum()
    rng = np.random.default_rng(0)
    totals = []
    for _ in range(rounds):
        sample = rows.iloc[rng.integers(0, len(rows), len(rows))].reset_index(drop=True)
        refit = pm.fit_purchase_model(pm.BG_NBD, sample)
        totals.append(pm.predict_summary(refit, rows, days)["expected_purchases"].sum())
    totals = np.asarray(totals)
    totals = totals[np.isfinite(totals)]
    if not base or not np.isfinite(base) or len(totals) < 2:
        return 0.0
    return float(np.std(totals / base, ddof=1))


def corrections_of(
    split: SplitForecast, name: str, notes: list[str], estimation_se: float | None = None
) -> tuple[float, float]:
    """(purchase factor, value factor) towards `name`'s right totals on `split`: the purchase
    and the revenue factor each shrunk by its precision (`shrunk_correction`; the estimation
    se is `parameter_se` of the split unless given), then clipped."""
    if estimation_se is None:
        estimation_se = parameter_se(split.summary, split.days)
    purchases = split.purchases[name].to_numpy()
    k_purchases, measured, sampling_se = shrunk_correction(
        split.actual_purchases, purchases, estimation_se
    )
    k_revenue, _, _ = shrunk_correction(
        split.actual_revenue, purchases * split.order_value, estimation_se
    )
    notes.append(
        f"{name} purchase correction on split {split.cutoff} + {split.days} days: measured "
        f"x{measured:.3f}, applied x{k_purchases:.3f} (sampling se {sampling_se:.3f}, "
        f"estimation se {estimation_se:.3f})"
    )
    clipped = []
    for label, value in (("purchases", k_purchases), ("revenue", k_revenue)):
        if not 1 / MAX_CORRECTION <= value <= MAX_CORRECTION:
            clipped.append(f"{label} correction {value:.3f} clipped to ±{MAX_CORRECTION}x")
    notes.extend(f"{c} (split {split.cutoff} + {split.days} days)" for c in clipped)
    k_purchases = float(np.clip(k_purchases, 1 / MAX_CORRECTION, MAX_CORRECTION))
    k_revenue = float(np.clip(k_revenue, 1 / MAX_CORRECTION, MAX_CORRECTION))
    return k_purchases, k_revenue / k_purchases


# --------------------------------------------------------------------------- the backtest


@dataclass
class PurchaseBacktest:
    """What the selection and reported splits decided and measured (module docstring)."""

    chosen: str
    reason: str
    selection_cutoff: dt.date
    selection_days: int
    selection_metrics: pd.DataFrame  # index purchase_model
    purchase_correction: float  # learned on the selection split, applied to the reported one
    value_correction: float
    reported_cutoff: dt.date
    reported_days: int
    reported_metrics: pd.DataFrame  # index purchase_model, the corrected chosen one included
    production_purchase_correction: float  # learned on the reported split, for production
    production_value_correction: float
    notes: tuple[str, ...] = ()

    @property
    def corrected_model(self) -> str:
        return corrected_name(self.chosen)

    def table(self) -> pd.DataFrame:
        """Reported-split figures of every candidate next to the selection split's RMSE."""
        selection = self.selection_metrics["rmse_purchases"].rename("selection_rmse_purchases")
        table = self.reported_metrics.join(selection)
        table["chosen"] = table.index == self.corrected_model
        return table


def _revenue_predictions(
    split: SplitForecast, chosen: str, k_purchases: float, k_value: float
) -> dict[str, pd.Series]:
    """Predicted revenue on `split` of every candidate, and of `chosen` corrected, named as
    lifetime-value models."""
    ids = split.purchases.index
    out = {}
    for name in split.purchases.columns:
        revenue = split.purchases[name].to_numpy() * split.order_value
        out[revenue_name(name)] = pd.Series(revenue, index=ids)
    corrected = split.purchases[chosen].to_numpy() * k_purchases * split.order_value * k_value
    out[corrected_name(chosen)] = pd.Series(corrected, index=ids)
    return out


def outlikelihooded(fits: dict[str, pm.PurchaseFit], notes: list[str]) -> set[str]:
    """The parametric models whose log-likelihood on the purchases up to the reported cutoff
    is more than LIKELIHOOD_GAP below the best one's: not chosen, whatever their RMSE on the
    selection split (all have four parameters, so the gap is a likelihood ratio)."""
    converged = {name: fit for name, fit in fits.items() if fit.converged}
    if len(converged) < 2:
        return set()
    best = max(fit.log_likelihood for fit in converged.values())
    out = {n for n, fit in converged.items() if best - fit.log_likelihood > LIKELIHOOD_GAP}
    notes.extend(
        f"{name} not chosen: its log-likelihood up to the reported cutoff is "
        f"{best - converged[name].log_likelihood:.1f} below the best model's"
        for name in sorted(out)
    )
    return out


def selection_days_for(history_before_cutoff: int, holdout_days: int) -> int:
    """The selection split's length: the holdout's, or half the history before the reported
    cutoff when that is shorter (the models need purchases before the split too)."""
    return min(holdout_days, history_before_cutoff // 2)


def backtest_purchase_models(
    orders: pd.DataFrame,
    cutoff: dt.date,
    holdout_days: int,
    config: LtvConfig,
    features_at: FeaturesAt = None,
    spend=None,
) -> tuple[PurchaseBacktest, dict[str, pd.Series]] | None:
    """The scheme of the module docstring with reported cutoff `cutoff`, and the predicted
    revenue of every candidate on the reported split (`spend`: the Gamma-Gamma model fitted
    up to `cutoff`, when the caller has it); None when there is no room for a
    MIN_SPLIT_DAYS selection split before it."""
    if btyd.purchases_until(orders, cutoff).empty:
        return None
    first = _first_purchase(orders, cutoff)
    selection_days = selection_days_for((cutoff - first).days + 1, holdout_days)
    if selection_days < MIN_SPLIT_DAYS:
        return None
    selection_cutoff = _days(cutoff, -selection_days)
    earlier = forecast_split(orders, selection_cutoff, selection_days, config, features_at)
    # Fitted on the purchases up to `cutoff` only: its likelihoods are evidence the reported
    # holdout has no part in.
    reported = forecast_split(orders, cutoff, holdout_days, config, features_at, spend)
    selection = split_metrics(earlier)
    notes = list(earlier.notes)
    excluded = outlikelihooded(reported.fits, notes)
    chosen = str(selection["rmse_purchases"].drop(index=list(excluded), errors="ignore").idxmin())
    k_purchases, k_value = corrections_of(earlier, chosen, notes)
    notes.extend(reported.notes)
    reported_metrics = split_metrics(reported, {chosen: (k_purchases, k_value)})
    production = corrections_of(reported, chosen, notes)
    left_out = f", {', '.join(sorted(excluded))} left out by likelihood" if excluded else ""
    reason = (
        f"{chosen}: lowest RMSE of repeat purchases on the selection split "
        f"({selection_cutoff} + {selection_days} days{left_out}); totals corrected there by "
        f"x{k_purchases:.3f} (purchases) and x{k_value:.3f} (order value)"
    )
    backtest = PurchaseBacktest(
        chosen=chosen,
        reason=reason,
        selection_cutoff=selection_cutoff,
        selection_days=selection_days,
        selection_metrics=selection,
        purchase_correction=k_purchases,
        value_correction=k_value,
        reported_cutoff=cutoff,
        reported_days=holdout_days,
        reported_metrics=reported_metrics,
        production_purchase_correction=production[0],
        production_value_correction=production[1],
        notes=tuple(notes),
    )
    return backtest, _revenue_predictions(reported, chosen, k_purchases, k_value)


# --------------------------------------------------------------------------- production


@dataclass
class PurchaseForecaster:
    """The chosen purchase model fitted on everything up to its date, with its correction."""

    name: str
    fits: dict[str, pm.PurchaseFit]
    learned: LearnedPurchaseModel | None
    purchase_correction: float
    value_correction: float

    def describe(self) -> dict[str, object]:
        return {
            "purchase_model": self.name,
            "fits": {name: fit.to_dict() for name, fit in self.fits.items()},
            "learned_windows": [(start.isoformat(), days) for start, days in (self.learned.windows)]
            if self.learned
            else [],
            "purchase_correction": self.purchase_correction,
            "value_correction": self.value_correction,
        }


def fit_forecaster(
    orders: pd.DataFrame,
    as_of: dt.date,
    horizon_days: int,
    backtest: PurchaseBacktest,
    config: LtvConfig,
    features_at: FeaturesAt = None,
) -> PurchaseForecaster:
    """Fit `backtest.chosen` on the purchases up to `as_of` (the blend: every candidate; the
    learned model: on windows ending at `as_of`), with the production correction. When the
    learned model has no training window, BG/NBD stands in (named so)."""
    summary = btyd.rfm_summary(orders, as_of)
    name = backtest.chosen
    needs = set(pm.PARAMETRIC_MODELS) if name == BLEND else {name} - {LEARNED}
    needs |= {pm.BG_NBD} if name in (LEARNED, BLEND) else set()
    fits = {n: pm.fit_purchase_model(n, summary) for n in sorted(needs)}
    learned = None
    if name in (LEARNED, BLEND):
        windows = learned_windows(
            _first_purchase(orders, as_of), as_of, horizon_days, config.training_cutoffs
        )
        if windows:
            learned = fit_learned(orders, windows, features_at)
        elif name == LEARNED:
            name = pm.BG_NBD
    return PurchaseForecaster(
        name,
        fits,
        learned,
        backtest.production_purchase_correction,
        backtest.production_value_correction,
    )


def forecast_purchases(
    forecaster: PurchaseForecaster,
    orders: pd.DataFrame,
    as_of: dt.date,
    summary: pd.DataFrame,
    days: int,
    features_at: FeaturesAt = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(uncorrected expected purchase days in the `days` after `as_of`, P(alive)) for each
    row of `summary`, by the forecaster's model."""
    name, fits = forecaster.name, forecaster.fits
    parts, alive = [], []
    parametric = pm.PARAMETRIC_MODELS if name == BLEND else (name,)
    for model in parametric:
        if model in fits:
            predicted = pm.predict_summary(fits[model], summary, days)
            parts.append(predicted["expected_purchases"].to_numpy())
            alive.append(predicted["p_alive"].to_numpy())
    if forecaster.learned is not None and name in (LEARNED, BLEND):
        backbone = fits[pm.BG_NBD]
        parts.append(
            predict_learned(forecaster.learned, orders, as_of, summary, backbone, days, features_at)
        )
        if not alive:
            alive.append(pm.predict_summary(backbone, summary, days)["p_alive"].to_numpy())
    return np.mean(parts, axis=0), np.mean(alive, axis=0)
