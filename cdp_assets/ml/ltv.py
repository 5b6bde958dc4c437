"""Customer lifetime value: revenue each buyer is expected to bring in the next horizon.

Repeat purchases come from a purchase model chosen, and its total corrected, on a selection
split before the backtest's holdout (`ltv_selection`: BG/NBD, Pareto/NBD, MBG/NBD, a learned
model with covariates, their blend); the value of a purchase from Gamma-Gamma (`btyd`). On the
held-out later period every candidate is shown with Gamma-Gamma spend, next to:
- `gradient_boosting`: scikit-learn's HistGradientBoostingRegressor with a Poisson loss on
  point-in-time features, trained on several past cutoffs with the revenue of the following
  window as label;
- the naive baseline: each customer's historical revenue per day times the horizon.
The backtest (`backtest_ltv`) holds out the last horizon (`holdout_days_for`). With room for a
selection split the corrected purchase model is chosen (nothing of the holdout chose it);
without, `choose_model` picks the lower MAE among BG/NBD + Gamma-Gamma and boosting within
±10% of the holdout's total revenue.

Dates: an `as_of` date covers purchases up to the end of that day (UTC); a window of `days`
after it covers purchases in the following `days` whole days.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from cdp_assets.config import LtvConfig
from cdp_assets.contracts.ltv import (
    BOOSTING_MODEL,
    BTYD_MODEL,
    LTV_DTYPES,
    NAIVE_MODEL,
)
from cdp_assets.ml import btyd, ltv_selection
from cdp_assets.ml.churn import BOOSTING_PARAMS
from cdp_assets.ml.ltv_selection import SINGLE_THREAD_ROWS
from cdp_assets.ml.purchase_history import (  # noqa: F401 (re-exported: ltv.X, stored models)
    RECENT_WINDOWS_DAYS,
    BtydModel,
    FeaturesAt,
    fit_btyd,
    fit_btyd_summary,
    ml_features,
    order_features,
    order_value,
    revenue_after,
)
from cdp_assets.warehouse import coerce_frame

MIN_HOLDOUT_DAYS = 30
# A training cutoff needs this much purchase history before it for its features to mean much.
MIN_FEATURE_HISTORY_DAYS = 30
TOTAL_TOLERANCE = 0.10


def _days(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


def predict_btyd(
    model: BtydModel, summary: pd.DataFrame, horizon_days: int, as_of: dt.date | None = None
) -> pd.DataFrame:
    """Per customer of `summary` (an `rfm_summary` as of `as_of`, default the model's date):
    customer_id, p_alive, expected_purchases, expected_order_value, predicted_revenue
    (= expected_purchases x expected_order_value) and expected_next_order_date (the first
    day by whose end the expected cumulative purchases reach one; NaT when they stay under
    one within the horizon).

    Predictions are computed once per distinct (frequency, recency, T) row.
    """
    as_of = as_of or model.as_of
    params = model.bg_nbd.params
    rows, inverse = btyd.unique_rfm(
        summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    )
    x, t_x, big_t = (rows[c].to_numpy(float) for c in ("x", "t_x", "T"))
    expected = btyd.bg_nbd_expected_purchases(params, float(horizon_days), x, t_x, big_t)
    p_alive = btyd.bg_nbd_p_alive(params, x, t_x, big_t)
    next_days = btyd.days_to_expected_purchase(params, horizon_days, x, t_x, big_t)
    value = order_value(model, summary)
    purchases = expected[inverse]
    start = pd.Timestamp(as_of)
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "p_alive": p_alive[inverse],
            "expected_purchases": purchases,
            "expected_order_value": value,
            "predicted_revenue": purchases * value,
            "expected_next_order_date": start + pd.to_timedelta(next_days[inverse], unit="D"),
        },
        index=summary.index,
    )


# --------------------------------------------------------------------------- boosting


@dataclass
class RevenueBooster:
    """Gradient boosting predicting net revenue in the `horizon_days` after a date."""

    estimator: HistGradientBoostingRegressor
    feature_names: list[str]
    horizon_days: int
    cutoffs: tuple[dt.date, ...]
    training_rows: int


def booster_cutoffs(
    first_purchase: dt.date, last_cutoff: dt.date, count: int, spacing_days: int
) -> list[dt.date]:
    """Up to `count` training cutoffs, `spacing_days` apart, the latest at `last_cutoff`,
    each with at least MIN_FEATURE_HISTORY_DAYS of purchases before it."""
    cutoffs = [_days(last_cutoff, -k * spacing_days) for k in range(count)]
    return [c for c in cutoffs if (c - first_purchase).days >= MIN_FEATURE_HISTORY_DAYS]


def _booster_estimator(random_state: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        loss="poisson", **BOOSTING_PARAMS, validation_fraction=0.15, random_state=random_state
    )


def fit_booster(
    orders: pd.DataFrame,
    cutoffs: list[dt.date],
    horizon_days: int,
    features_at: FeaturesAt | None = None,
    random_state: int = 0,
) -> RevenueBooster:
    """Train on the buyers of every cutoff: features as of the cutoff, label the revenue of
    the `horizon_days` after it. The caller keeps every cutoff + horizon in the past."""
    if not cutoffs:
        raise ValueError("gradient boosting: no training cutoff")
    parts, labels = [], []
    for cutoff in cutoffs:
        features = ml_features(orders, cutoff, features_at)
        revenue = revenue_after(orders, cutoff, horizon_days)
        parts.append(features)
        labels.append(revenue.reindex(features.index).fillna(0.0).clip(lower=0.0))
    # A feature nobody has (e.g. NPS without surveys) cannot be binned: leave it out.
    matrix = pd.concat(parts, ignore_index=True).dropna(axis=1, how="all")
    target = pd.concat(labels, ignore_index=True).to_numpy()
    if target.sum() <= 0:
        raise ValueError("gradient boosting: no revenue in any training window")
    with threadpool_limits(1 if len(matrix) < SINGLE_THREAD_ROWS else None, user_api="openmp"):
        estimator = _booster_estimator(random_state).fit(matrix, target)
    return RevenueBooster(
        estimator, list(matrix.columns), horizon_days, tuple(cutoffs), len(matrix)
    )


def predict_booster(
    booster: RevenueBooster,
    orders: pd.DataFrame,
    as_of: dt.date,
    features_at: FeaturesAt | None = None,
) -> pd.Series:
    """Predicted revenue in the booster's horizon after `as_of`, per buyer up to `as_of`.
    `features_at` must be given when the booster was trained with one."""
    if features_at is None and any(name.startswith("f_") for name in booster.feature_names):
        raise ValueError("gradient boosting was trained on warehouse features: pass features_at")
    features = ml_features(orders, as_of, features_at).reindex(columns=booster.feature_names)
    with threadpool_limits(1 if len(features) < SINGLE_THREAD_ROWS else None, user_api="openmp"):
        predicted = booster.estimator.predict(features)
    return pd.Series(predicted, index=features.index)


# --------------------------------------------------------------------------- evaluation


def naive_revenue(summary: pd.DataFrame, horizon_days: int) -> pd.Series:
    """The baseline: historical revenue per day since the first purchase, times the horizon.
    The day count is at least the horizon, so a new customer is not extrapolated from a day
    or two (it predicts a repeat of what they spent so far)."""
    days = np.maximum(summary["T"].to_numpy(float) + 1, horizon_days)
    values = summary["historical_revenue"].to_numpy(float) / days * horizon_days
    return pd.Series(values, index=summary["customer_id"].to_numpy())


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Spearman rank correlation and total predicted / actual revenue."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    error = predicted - actual
    varied = np.ptp(actual) > 0 and np.ptp(predicted) > 0
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "spearman": float(stats.spearmanr(predicted, actual).statistic) if varied else math.nan,
        "predicted_total": total_predicted,
        "actual_total": total_actual,
        "total_ratio": total_predicted / total_actual if total_actual else math.nan,
    }


def decile_calibration(actual: np.ndarray, predicted: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Customers ranked by prediction into `bins` equal groups (1 = lowest): customers,
    mean predicted and mean actual revenue of each."""
    predicted = np.asarray(predicted, float)
    ranks = pd.Series(predicted).rank(method="first").to_numpy()
    group = np.minimum((ranks - 1) * bins // len(predicted), bins - 1).astype(int) + 1
    frame = pd.DataFrame({"decile": group, "predicted": predicted, "actual": actual})
    table = frame.groupby("decile").agg(
        customers=("actual", "size"),
        mean_predicted=("predicted", "mean"),
        mean_actual=("actual", "mean"),
    )
    return table.reset_index()


@dataclass(frozen=True)
class LtvBacktest:
    """The models' holdout figures: fitted up to `cutoff`, scored on the `holdout_days`
    after it, on every customer with a purchase up to the cutoff."""

    cutoff: dt.date
    holdout_days: int
    customers: int
    metrics: pd.DataFrame  # index: model; mae, rmse, spearman, totals, beats_baseline
    deciles: pd.DataFrame  # model, decile, customers, mean_predicted, mean_actual
    chosen: str
    reason: str
    training_cutoffs: tuple[dt.date, ...] = ()
    notes: tuple[str, ...] = ()
    # The purchase models' selection/holdout backtest (see `ltv_selection`); None without
    # room for a selection split before the cutoff.
    purchases: ltv_selection.PurchaseBacktest | None = None


def first_purchase_date(orders: pd.DataFrame, as_of: dt.date) -> dt.date | None:
    buys = btyd.purchases_until(orders, as_of)
    if buys.empty:
        return None
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(buys["day"].min()))


def history_days(first_purchase: dt.date, as_of: dt.date) -> int:
    """Days of purchase history, the first purchase's day and as_of included."""
    return (as_of - first_purchase).days + 1


def holdout_days_for(history: int, horizon_days: int) -> int:
    """The backtest's holdout: the full horizon when the history is at least two horizons
    long, otherwise half the history.

    A holdout as long as the published forecast tests what is published, and a whole year
    (the default) has every season once: on seasonal data a shorter holdout that misses the
    holidays, after a calibration period that has them, overstates BG/NBD's error (it has no
    seasons). The boosting model is evaluated only when there is also room for a training
    window of the holdout's length, with MIN_FEATURE_HISTORY_DAYS before it, ahead of the
    cutoff; `backtest_ltv(holdout_days=...)` can ask for a shorter holdout to compare both.
    """
    return horizon_days if history >= 2 * horizon_days else history // 2


def choose_model(metrics: pd.DataFrame, tolerance: float = TOTAL_TOLERANCE) -> tuple[str, str]:
    """The model with the lower holdout MAE among those that beat the naive baseline's MAE
    and whose total predicted revenue is within `tolerance` of the actual; failing that, the
    lower MAE among those that beat the baseline; failing that, BG/NBD + Gamma-Gamma."""
    models = metrics.drop(index=NAIVE_MODEL, errors="ignore")
    beating = models[models["beats_baseline"]]
    accurate = beating[(beating["total_ratio"] - 1).abs() <= tolerance]
    if not accurate.empty:
        best = str(accurate["mae"].idxmin())
        return best, f"lowest holdout MAE among models within ±{tolerance:.0%} of total revenue"
    if not beating.empty:
        best = str(beating["mae"].idxmin())
        return best, f"lowest holdout MAE; no model within ±{tolerance:.0%} of total revenue"
    return BTYD_MODEL, "no model beats the naive baseline's MAE: BG/NBD + Gamma-Gamma by default"


def _evaluate(predictions: dict[str, pd.Series], actual: pd.Series) -> tuple[pd.DataFrame, ...]:
    rows, deciles = {}, []
    for name, predicted in predictions.items():
        truth = actual.reindex(predicted.index).to_numpy()
        rows[name] = regression_metrics(truth, predicted.to_numpy())
        deciles.append(decile_calibration(truth, predicted.to_numpy()).assign(model=name))
    metrics = pd.DataFrame.from_dict(rows, orient="index")
    metrics.index.name = "model"
    metrics["beats_baseline"] = metrics["mae"] < metrics.loc[NAIVE_MODEL, "mae"]
    metrics.loc[NAIVE_MODEL, "beats_baseline"] = False
    table = pd.concat(deciles, ignore_index=True)
    columns = ["model", "decile", "customers", "mean_predicted", "mean_actual"]
    return metrics, table[columns]


def backtest_ltv(
    orders: pd.DataFrame,
    as_of: dt.date,
    config: LtvConfig,
    features_at: FeaturesAt | None = None,
    tolerance: float = TOTAL_TOLERANCE,
    holdout_days: int | None = None,
) -> LtvBacktest:
    """Fit both models as of cutoff = as_of - holdout (`holdout_days`, by default
    `holdout_days_for`), predict each buyer's revenue in (cutoff, as_of] and compare with
    what they actually spent, next to the naive baseline. The boosting model trains on
    windows that end by the cutoff; without room for one it is left out, with a note.
    Call `not_enough_data` first: this raises ValueError on a history too short for a
    MIN_HOLDOUT_DAYS holdout."""
    first = first_purchase_date(orders, as_of)
    history = history_days(first, as_of) if first else 0
    holdout = holdout_days or holdout_days_for(history, config.horizon_days)
    if holdout < MIN_HOLDOUT_DAYS or holdout >= history:
        raise ValueError(f"lifetime value backtest: {history} days of history are too few")
    assert first is not None
    cutoff = _days(as_of, -holdout)
    summary = btyd.rfm_summary(orders, cutoff)
    actual = revenue_after(orders, cutoff, holdout).reindex(summary["customer_id"]).fillna(0.0)
    model = fit_btyd_summary(summary, cutoff)
    predicted = predict_btyd(model, summary, holdout).set_index("customer_id")
    predictions = {
        BTYD_MODEL: predicted["predicted_revenue"],
        NAIVE_MODEL: naive_revenue(summary, holdout),
    }
    notes = list(model.notes)
    cutoffs = booster_cutoffs(
        first, _days(cutoff, -holdout), config.training_cutoffs, config.cutoff_spacing_days
    )
    booster = _try_booster(orders, cutoffs, holdout, features_at, config, notes)
    if booster is not None:
        boosted = predict_booster(booster, orders, cutoff, features_at)
        predictions[BOOSTING_MODEL] = boosted.reindex(summary["customer_id"])
    selection = ltv_selection.backtest_purchase_models(
        orders, cutoff, holdout, config, features_at, spend=model
    )
    purchases = None
    if selection is not None:
        purchases, revenue = selection
        # bg_nbd_gamma_gamma is already there (the same BG/NBD and Gamma-Gamma fits).
        predictions |= {k: v for k, v in revenue.items() if k != BTYD_MODEL}
        notes.extend(purchases.notes)
    metrics, deciles = _evaluate(predictions, actual)
    if purchases is not None:
        chosen, reason = purchases.corrected_model, purchases.reason
    else:
        chosen, reason = choose_model(metrics, tolerance)
    return LtvBacktest(
        cutoff=cutoff,
        holdout_days=holdout,
        customers=len(summary),
        metrics=metrics,
        deciles=deciles,
        chosen=chosen,
        reason=reason,
        training_cutoffs=tuple(cutoffs),
        notes=tuple(notes),
        purchases=purchases,
    )


def _try_booster(
    orders: pd.DataFrame,
    cutoffs: list[dt.date],
    horizon_days: int,
    features_at: FeaturesAt | None,
    config: LtvConfig,
    notes: list[str],
) -> RevenueBooster | None:
    """The boosting model, or None (with a note) when its training data are too thin."""
    if not cutoffs:
        notes.append(
            f"gradient boosting not evaluated: a {horizon_days}-day training window needs "
            f"{horizon_days + MIN_FEATURE_HISTORY_DAYS} days of history before the cutoff"
        )
        return None
    booster = fit_booster(orders, cutoffs, horizon_days, features_at)
    if booster.training_rows < config.min_customers:
        notes.append(
            f"gradient boosting skipped: {booster.training_rows} training rows "
            f"(at least {config.min_customers} needed)"
        )
        return None
    return booster


# --------------------------------------------------------------------------- train + score


@dataclass
class LtvModel:
    """What scoring needs: the fitted models, which one predicts revenue, and why."""

    btyd: BtydModel
    booster: RevenueBooster | None
    chosen: str
    reason: str
    horizon_days: int
    as_of: dt.date
    backtest: LtvBacktest | None = None
    notes: tuple[str, ...] = field(default=())
    # The chosen purchase model and its correction, when a purchase model predicts revenue.
    forecaster: ltv_selection.PurchaseForecaster | None = None

    def describe(self) -> dict[str, object]:
        """JSON-ready figures for the model store and the asset's metadata."""
        metrics = {}
        if self.backtest is not None:
            metrics = self.backtest.metrics.reset_index().to_dict(orient="records")
        return {
            "chosen": self.chosen,
            "reason": self.reason,
            "horizon_days": self.horizon_days,
            "as_of": self.as_of.isoformat(),
            "btyd": self.btyd.to_dict(),
            "booster_cutoffs": [c.isoformat() for c in self.booster.cutoffs]
            if self.booster
            else [],
            "backtest_cutoff": self.backtest.cutoff.isoformat() if self.backtest else None,
            "backtest_holdout_days": self.backtest.holdout_days if self.backtest else None,
            "backtest_metrics": metrics,
            "purchase_models": self.forecaster.describe() if self.forecaster else None,
            "purchase_backtest": _purchase_table_records(self.backtest),
            "notes": list(self.notes),
        }


def _purchase_table_records(backtest: LtvBacktest | None) -> list[dict[str, object]]:
    if backtest is None or backtest.purchases is None:
        return []
    return backtest.purchases.table().reset_index().to_dict(orient="records")


def train_ltv(
    orders: pd.DataFrame,
    as_of: dt.date,
    config: LtvConfig,
    features_at: FeaturesAt | None = None,
    backtest: LtvBacktest | None = None,
) -> LtvModel:
    """Backtest (unless given), then fit the chosen model on all history up to `as_of` for
    `config.horizon_days`. BG/NBD + Gamma-Gamma is always fitted: p_alive, expected purchases,
    order value and next order date come from it even when boosting predicts the revenue.
    Boosting needs training windows of the full horizon; without them BG/NBD is used."""
    backtest = backtest or backtest_ltv(orders, as_of, config, features_at)
    model = fit_btyd(orders, as_of)
    notes = list(model.notes)
    chosen, reason, booster, forecaster = backtest.chosen, backtest.reason, None, None
    purchases = backtest.purchases
    if purchases is not None and chosen == purchases.corrected_model:
        forecaster = ltv_selection.fit_forecaster(
            orders, as_of, config.horizon_days, purchases, config, features_at
        )
        if forecaster.name != purchases.chosen:
            chosen = ltv_selection.corrected_name(forecaster.name)
            reason = f"{reason}; but {purchases.chosen} cannot be fitted as of {as_of}"
    if chosen == BOOSTING_MODEL:
        first = first_purchase_date(orders, as_of)
        assert first is not None
        last = _days(as_of, -config.horizon_days)
        cutoffs = booster_cutoffs(first, last, config.training_cutoffs, config.cutoff_spacing_days)
        booster = _try_booster(orders, cutoffs, config.horizon_days, features_at, config, notes)
        if booster is None:
            chosen = BTYD_MODEL
            reason = f"{reason}; but boosting has no {config.horizon_days}-day training window"
    return LtvModel(
        model,
        booster,
        chosen,
        reason,
        config.horizon_days,
        as_of,
        backtest,
        tuple(notes),
        forecaster,
    )


def score_ltv(
    model: LtvModel,
    orders: pd.DataFrame,
    as_of: dt.date,
    model_version: str,
    features_at: FeaturesAt | None = None,
) -> pd.DataFrame:
    """`ml.customer_ltv`: one row per customer with a purchase up to `as_of`, in LTV_COLUMNS.

    The BG/NBD parameters stay those of the model; the customers' histories are taken as of
    `as_of` (scoring nightly with a model trained weekly is sound).
    """
    summary = btyd.rfm_summary(orders, as_of, model.btyd.period)
    scores = predict_btyd(model.btyd, summary, model.horizon_days, as_of)
    if model.chosen == BOOSTING_MODEL and model.booster is not None:
        boosted = predict_booster(model.booster, orders, as_of, features_at)
        scores["predicted_revenue"] = boosted.reindex(summary["customer_id"]).to_numpy()
    if model.forecaster is not None:
        _forecast_into(scores, model, orders, as_of, summary, features_at)
    scores["as_of"] = pd.Timestamp(as_of)
    scores["horizon_days"] = model.horizon_days
    scores["historical_revenue"] = summary["historical_revenue"].to_numpy()
    scores["model"] = model.chosen
    scores["model_version"] = model_version
    return coerce_frame(scores, LTV_DTYPES).reset_index(drop=True)


def _forecast_into(
    scores: pd.DataFrame,
    model: LtvModel,
    orders: pd.DataFrame,
    as_of: dt.date,
    summary: pd.DataFrame,
    features_at: FeaturesAt | None,
) -> None:
    """Purchases, P(alive), order value and revenue from the chosen, corrected purchase model.

    The next order date follows BG/NBD's curve scaled to the chosen model's horizon total:
    the first day d with E_bgnbd(d) x (chosen corrected E(h) / E_bgnbd(h)) >= 1.
    """
    forecaster = model.forecaster
    assert forecaster is not None
    horizon = model.horizon_days
    expected, alive = ltv_selection.forecast_purchases(
        forecaster, orders, as_of, summary, horizon, features_at
    )
    purchases = expected * forecaster.purchase_correction
    value = scores["expected_order_value"].to_numpy() * forecaster.value_correction
    bg = scores["expected_purchases"].to_numpy()
    scale = np.divide(purchases, bg, out=np.ones_like(bg), where=bg > 0)
    next_days = btyd.days_to_expected_purchase(
        model.btyd.bg_nbd.params,
        horizon,
        summary["frequency"].to_numpy(),
        summary["recency"].to_numpy(),
        summary["T"].to_numpy(),
        scale=scale,
    )
    scores["p_alive"] = alive
    scores["expected_purchases"] = purchases
    scores["expected_order_value"] = value
    scores["predicted_revenue"] = purchases * value
    scores["expected_next_order_date"] = pd.Timestamp(as_of) + pd.to_timedelta(next_days, unit="D")


def not_enough_data(orders: pd.DataFrame, as_of: dt.date, config: LtvConfig) -> str | None:
    """Why lifetime value cannot be modelled as of `as_of`, or None when it can: too short
    a history for a backtest, or too few buyers or repeat buyers before its cutoff."""
    first = first_purchase_date(orders, as_of)
    if first is None:
        return f"not enough data: no purchases up to {as_of}"
    history = history_days(first, as_of)
    holdout = holdout_days_for(history, config.horizon_days)
    if holdout < MIN_HOLDOUT_DAYS:
        return (
            f"not enough data: {history} days of purchase history; at least "
            f"{2 * MIN_HOLDOUT_DAYS} are needed for a backtest"
        )
    summary = btyd.rfm_summary(orders, _days(as_of, -holdout))
    buyers, repeat = len(summary), int((summary["frequency"] > 0).sum())
    if buyers < config.min_customers:
        return (
            f"not enough data: {buyers} customers with a purchase before the backtest cutoff; "
            f"at least {config.min_customers} are needed"
        )
    if repeat < max(config.min_positives, btyd.MIN_GAMMA_GAMMA_CUSTOMERS):
        return (
            f"not enough data: {repeat} repeat buyers before the backtest cutoff; at least "
            f"{max(config.min_positives, btyd.MIN_GAMMA_GAMMA_CUSTOMERS)} are needed"
        )
    return None
