"""Uplift: how much a campaign offer changes each customer's chance to buy (or revenue),
learned from past randomised campaigns, to choose whom to target next and with which offer.

Examples are one row per (campaign, customer) assigned in a past randomised campaign:
`campaign`, `customer_id`, `arm`, the customer's features as of the day before assignment,
`converted` (a purchase within the conversion window) and `revenue`. Each campaign names its
control arm (`control_arms`); every other arm is an offer.

Comparisons. An offer (arm) is compared with the control arm of the campaigns that made that
offer, and with no other: customers of a campaign without it were assigned in another season
and are not a randomised comparison. Campaigns may split their customers differently (a 90/10
holdout, a 50/50 test) and convert at different base rates; pooled as they are, the treated
group would hold more of the campaigns that treated more, and their base rates would pass for
an effect. Each row therefore carries a design weight, 1 / (its campaign's share in its group),
normalised to mean 1 within the treated and within the control group (`design_weights`): both
groups then have the campaigns' own mix, and when every campaign splits alike all weights are 1.

Learners (`fit(X, treatment, y, sample_weight)`, `predict_uplift(X)`, `features`), both on
scikit-learn's histogram gradient boosting with churn's `BOOSTING_PARAMS`, one thread below
`SINGLE_THREAD_ROWS` rows (as the lifetime-value booster):

* `two_model` (`TwoModelUplift`, the T-learner): an outcome model on the treated, one on the
  control group; uplift = the difference of their predictions.
* `x_learner` (`XLearner`, Kuenzel et al. 2019): the same two outcome models impute each
  customer's effect (treated: outcome minus the control model's prediction; control: the
  treated model's prediction minus the outcome); a regressor per group learns those effects
  from the features, and the two are blended by the treated share g as
  g * tau_control + (1 - g) * tau_treated (in a randomised campaign the propensity is the
  constant g).

The outcome is `converted` (uplift = a difference of probabilities, from classifiers) by
default or `revenue` (regressors, Poisson loss as in lifetime value when revenue is never
negative). The classifiers are not recalibrated: boosting with log loss is close to calibrated
and the difference of two calibrated-by-CV models would cost three times the fitting.

Evaluation (`train_uplift`). Customers, not rows, are split into training and held-out
(`split_customers`): stratified by (treated in any campaign, converted in any campaign), and
within a stratum the share `holdout_fraction` with the lowest seeded hash of their id is held
out. The hash keeps a customer on the same side from one training run to the next (the quantile
moves a little as customers arrive), so a stored champion is judged on the challenger's
held-out customers, which it has, but for a few at the edge, not seen either. On the held-out
customers every offer's learned uplift is compared with `random` targeting (a constant score)
and with `purchase_probability`, a plain classifier of `converted` on the same features (what
a purchase or churn model would target): Qini coefficient, AUUC and the observed uplift in the
top 10 % and 30 % (see `qini_curve`, `qini_coefficient`, `auuc`, `uplift_at`). The learner with
the highest Qini coefficient (row-weighted over the offers) is the champion candidate; it must
beat random (Qini > 0, `QINI_FLOOR`) to be promoted (`compare_with_champion`, metric `qini`),
and the training reports whether it beats purchase-probability ranking.

Next best offer: one learner per offer (`MultiArmUplift`); each customer gets the offer with
the highest expected uplift, or none when no offer's expected uplift is above 0
(`next_best_offer`, `score_uplift`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from cdp_assets.analytics.rfm import figure_markdown
from cdp_assets.contracts.uplift import UPLIFT_SCORE_COLUMNS, UPLIFT_SCORE_DTYPES
from cdp_assets.ml.churn import BOOSTING_PARAMS, FeatureModel, NotEnoughData, gradient_boosting
from cdp_assets.ml.ltv import SINGLE_THREAD_ROWS
from cdp_assets.ml.model_store import ModelRegistry, frame_fingerprint
from cdp_assets.ml.snapshots import CHURN_FEATURES, model_matrix

OUTCOMES: tuple[str, ...] = ("converted", "revenue")
# The numeric order, engagement, service and survey figures churn reads. Profile fields are
# left out for churn's reason: the golden profile holds their current value, which may
# postdate the assignment.
UPLIFT_FEATURES: tuple[str, ...] = CHURN_FEATURES
HOLDOUT_FRACTION = 0.3
# Not enough data, counted per offer in the training customers and again in the held-out
# customers, in the treated and in the control group. Each group's outcome model is a
# churn-sized classifier, so the floors are churn's defaults (`SnapshotConfig`): 200
# customers leave room for a few leaves of 40 (`min_samples_leaf`) after early stopping takes
# its 10 %, and with fewer than 20 converters (or non-converters) a classifier has nothing to
# learn from and the held-out Qini is noise (at a 10 % rate, 200 customers per group give the
# overall uplift a standard error of 3 points, about the effect a campaign hopes for).
MIN_GROUP_CUSTOMERS = 200
MIN_GROUP_CONVERTERS = 20
# A model must beat random targeting, whose Qini coefficient is 0.
QINI_FLOOR = 0.0
# The held-out Qini is noisy at campaign sizes: a model is promoted only when the lower bound
# of a one-sided 95 % bootstrap interval (held-out customers resampled) is above the floor.
QINI_BOOTSTRAP_SAMPLES = 200
QINI_CONFIDENCE = 0.95
TOP_FRACTIONS: dict[str, float] = {"uplift_top_10": 0.1, "uplift_top_30": 0.3}
UPLIFT_METRIC_NAMES: tuple[str, ...] = ("qini", "auuc", *TOP_FRACTIONS)
RANDOM = "random"
PURCHASE_PROBABILITY = "purchase_probability"
CURVE_POINTS = 101  # points of the stored (and plotted) Qini curves


@dataclass(frozen=True)
class UpliftSettings:
    """How `train_uplift` trains and judges: the outcome, the held-out share of customers,
    the seed of the split and of the boosting, and the not-enough-data floors."""

    outcome: str = "converted"
    holdout_fraction: float = HOLDOUT_FRACTION
    random_state: int = 0
    min_group_customers: int = MIN_GROUP_CUSTOMERS
    min_group_converters: int = MIN_GROUP_CONVERTERS

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError("holdout_fraction must be between 0 and 1")


# -- learners --------------------------------------------------------------------------------


class UpliftLearner(Protocol):
    """What every uplift learner offers."""

    name: str
    features: tuple[str, ...]
    outcome: str

    def fit(
        self,
        X: pd.DataFrame,
        treatment: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
    ) -> UpliftLearner: ...

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray: ...


def _threads(rows: int) -> threadpool_limits:
    """One OpenMP thread for small data (see SINGLE_THREAD_ROWS), the default above."""
    return threadpool_limits(1 if rows < SINGLE_THREAD_ROWS else None, user_api="openmp")


def _varies(column: np.ndarray) -> bool:
    known = column[~np.isnan(column)]
    return len(known) > 0 and bool(known.min() < known.max())


class _BoostedUplift:
    """Shared by the learners: features, outcome models, threads."""

    name = ""

    def __init__(
        self, features: Sequence[str], outcome: str = "converted", random_state: int = 0
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        self.features = tuple(features)
        self.outcome = outcome
        self.random_state = random_state
        self.dropped_features: tuple[str, ...] = ()
        self.treated_share = float("nan")

    def _prepare(
        self,
        X: pd.DataFrame,
        treatment: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(matrix, treated, y, weight). Features that do not vary within the treated or the
        control group are dropped (`dropped_features`): they carry nothing for uplift, and
        the histogram binning fails on a column without values."""
        t = np.asarray(treatment, dtype=bool)
        target = np.asarray(y, dtype=np.float64)
        weight = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if not len(X) == len(t) == len(target) == len(weight):
            raise ValueError("X, treatment, y and sample_weight differ in length")
        if t.all() or not t.any():
            raise ValueError(f"{self.name}: both treated and control rows are needed")
        matrix = model_matrix(X, self.features)
        keep = [
            j for j in range(matrix.shape[1]) if _varies(matrix[t, j]) and _varies(matrix[~t, j])
        ]
        self.dropped_features = tuple(f for j, f in enumerate(self.features) if j not in keep)
        self.features = tuple(self.features[j] for j in keep)
        if not self.features:
            raise ValueError(f"{self.name}: no feature varies in both groups")
        self.treated_share = float(weight[t].sum() / weight.sum())
        return matrix[:, keep], t, target, weight

    def _outcome_model(self, y: np.ndarray) -> Any:
        if self.outcome == "converted":
            return gradient_boosting(self.random_state)
        loss = "poisson" if y.min() >= 0 else "squared_error"
        return HistGradientBoostingRegressor(
            loss=loss, **BOOSTING_PARAMS, validation_fraction=0.1, random_state=self.random_state
        )

    def _effect_model(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            **BOOSTING_PARAMS, validation_fraction=0.1, random_state=self.random_state
        )

    @staticmethod
    def _fit(model: Any, matrix: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Any:
        with _threads(len(matrix)):
            return model.fit(matrix, y, sample_weight=weight)

    def _outcome(self, model: Any, matrix: np.ndarray) -> np.ndarray:
        with _threads(len(matrix)):
            if self.outcome == "converted":
                return model.predict_proba(matrix)[:, 1]
            return model.predict(matrix)

    @staticmethod
    def _predict(model: Any, matrix: np.ndarray) -> np.ndarray:
        with _threads(len(matrix)):
            return model.predict(matrix)


class TwoModelUplift(_BoostedUplift):
    """The T-learner: uplift = treated model(x) - control model(x)."""

    name = "two_model"

    def fit(
        self,
        X: pd.DataFrame,
        treatment: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
    ) -> TwoModelUplift:
        """Fit the outcome model of each group on the feature columns of `X`."""
        matrix, t, target, weight = self._prepare(X, treatment, y, sample_weight)
        self.treated_model = self._fit(self._outcome_model(target), matrix[t], target[t], weight[t])
        self.control_model = self._fit(
            self._outcome_model(target), matrix[~t], target[~t], weight[~t]
        )
        return self

    def predict_outcomes(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected outcome if treated, expected outcome if not) of each row of `X`."""
        matrix = model_matrix(X, self.features)
        if len(matrix) == 0:
            return np.zeros(0), np.zeros(0)
        return self._outcome(self.treated_model, matrix), self._outcome(self.control_model, matrix)

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray:
        treated, control = self.predict_outcomes(X)
        return treated - control


class XLearner(_BoostedUplift):
    """The X-learner (see the module docstring)."""

    name = "x_learner"

    def fit(
        self,
        X: pd.DataFrame,
        treatment: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        first_stage: TwoModelUplift | None = None,
    ) -> XLearner:
        """Fit on the feature columns of `X`. `first_stage`, a two-model learner fitted on the
        same rows with the same features and outcome, saves refitting the outcome models."""
        matrix, t, target, weight = self._prepare(X, treatment, y, sample_weight)
        if first_stage is None:
            first_stage = TwoModelUplift(self.features, self.outcome, self.random_state)
            first_stage.fit(X, treatment, y, sample_weight)
        elif first_stage.features != self.features or first_stage.outcome != self.outcome:
            raise ValueError("x_learner: the first stage has other features or another outcome")
        imputed_treated = target[t] - self._outcome(first_stage.control_model, matrix[t])
        imputed_control = self._outcome(first_stage.treated_model, matrix[~t]) - target[~t]
        self.treated_effect = self._fit(self._effect_model(), matrix[t], imputed_treated, weight[t])
        self.control_effect = self._fit(
            self._effect_model(), matrix[~t], imputed_control, weight[~t]
        )
        return self

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray:
        matrix = model_matrix(X, self.features)
        if len(matrix) == 0:
            return np.zeros(0)
        g = self.treated_share
        return g * self._predict(self.control_effect, matrix) + (1 - g) * self._predict(
            self.treated_effect, matrix
        )


LEARNERS: dict[str, type[TwoModelUplift] | type[XLearner]] = {
    TwoModelUplift.name: TwoModelUplift,
    XLearner.name: XLearner,
}


# -- comparisons, weights, split -------------------------------------------------------------


def design_weights(campaign: ArrayLike, treatment: ArrayLike) -> np.ndarray:
    """1 / (share of the row's group in its campaign), normalised to mean 1 within the treated
    and within the control rows: both groups then carry the campaigns in the same proportions
    (see the module docstring). All 1 when every campaign treats the same share."""
    t = np.asarray(treatment, dtype=bool)
    share = pd.Series(t).groupby(np.asarray(campaign)).transform("mean").to_numpy(np.float64)
    raw = np.where(t, 1.0 / share, 1.0 / (1.0 - share))
    weight = np.ones(len(t))
    for group in (t, ~t):
        values = raw[group]
        if len(values) and values.min() < values.max():
            weight[group] = values / values.mean()
    return weight


@dataclass(frozen=True)
class ArmComparison:
    """One offer against the control arms of the campaigns that made it: the rows (positions
    in the frame), which are treated, and their design weights."""

    arm: str
    rows: np.ndarray
    treatment: np.ndarray
    weight: np.ndarray
    campaigns: tuple[str, ...]


def _control_mask(examples: pd.DataFrame, control_arms: Mapping[str, str]) -> np.ndarray:
    campaign = examples["campaign"].astype(str)
    unknown = sorted(set(campaign) - {str(c) for c in control_arms})
    if unknown:
        raise ValueError(f"no control arm given for campaign(s) {unknown}")
    controls = {str(c): str(a) for c, a in control_arms.items()}
    return (examples["arm"].astype(str) == campaign.map(controls)).to_numpy()


def arm_comparisons(
    examples: pd.DataFrame, control_arms: Mapping[str, str], arms: Sequence[str] | None = None
) -> dict[str, ArmComparison]:
    """Every offer (default: every non-control arm) with its comparison rows. An offer made
    only in campaigns without control rows has no comparison and is left out."""
    control = _control_mask(examples, control_arms)
    campaign = examples["campaign"].astype(str).to_numpy()
    arm = examples["arm"].astype(str).to_numpy()
    with_control = set(campaign[control])
    found = sorted(set(arm[~control])) if arms is None else [str(a) for a in arms]
    comparisons = {}
    for name in found:
        offered = sorted(set(campaign[(arm == name) & ~control]) & with_control)
        if not offered:
            continue
        rows = np.flatnonzero(np.isin(campaign, offered) & (control | (arm == name)))
        treated = ~control[rows]
        weight = design_weights(campaign[rows], treated)
        comparisons[name] = ArmComparison(name, rows, treated, weight, tuple(offered))
    return comparisons


def _hash_key(random_state: int) -> str:
    return f"upl{random_state % 10**13:013d}"  # pandas wants a 16-character key


def split_customers(
    examples: pd.DataFrame,
    control_arms: Mapping[str, str],
    holdout_fraction: float = HOLDOUT_FRACTION,
    random_state: int = 0,
) -> np.ndarray:
    """Whether each row belongs to a held-out customer (see the module docstring): customers
    stratified by (treated anywhere, converted anywhere); in each stratum the
    round(holdout_fraction * n) customers with the lowest seeded hash of their id."""
    customers = pd.DataFrame(
        {
            "customer_id": examples["customer_id"].astype(str).to_numpy(),
            "treated": ~_control_mask(examples, control_arms),
            "converted": outcome_values(examples, "converted") > 0,
        }
    )
    per_customer = customers.groupby("customer_id", sort=True)[["treated", "converted"]].max()
    ids = per_customer.index.to_numpy(dtype=object)
    order = pd.DataFrame(
        {
            "stratum": 2 * per_customer["treated"].to_numpy()
            + per_customer["converted"].to_numpy(),
            "hash": pd.util.hash_array(ids, hash_key=_hash_key(random_state)),
            "customer_id": ids,
        }
    ).sort_values(["stratum", "hash", "customer_id"], ignore_index=True)
    position = order.groupby("stratum").cumcount().to_numpy()
    size = order.groupby("stratum")["hash"].transform("size").to_numpy()
    held = order["customer_id"][position < np.floor(holdout_fraction * size + 0.5)]
    return customers["customer_id"].isin(set(held)).to_numpy()


# -- metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranked:
    """Cumulative (weighted) counts and outcomes at the end of each group of tied scores,
    highest scores first, from 0: customers, treated, control, treated and control outcome."""

    n: np.ndarray
    treated: np.ndarray
    control: np.ndarray
    treated_outcome: np.ndarray
    control_outcome: np.ndarray
    score: np.ndarray

    @property
    def ratio(self) -> float:
        """Treated over control customers in all: scales control outcomes to the treated."""
        return float(self.treated[-1] / self.control[-1])

    @property
    def incremental(self) -> np.ndarray:
        return self.treated_outcome - self.control_outcome * self.ratio

    def at(self, fraction: float) -> tuple[float, float, float, float, float]:
        """(customers, treated, control, treated outcome, control outcome) in the top
        `fraction`; a tie group cut by the boundary counts pro rata."""
        position = fraction * float(self.n[-1])
        treated, control, treated_outcome, control_outcome = (
            float(np.interp(position, self.n, v))
            for v in (self.treated, self.control, self.treated_outcome, self.control_outcome)
        )
        return position, treated, control, treated_outcome, control_outcome


def _ranked(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> _Ranked:
    s = np.asarray(uplift_score, dtype=np.float64)
    t = np.asarray(treatment, dtype=bool)
    outcome = np.asarray(y, dtype=np.float64)
    w = np.ones(len(s)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if not len(s) == len(t) == len(outcome) == len(w):
        raise ValueError("uplift_score, treatment, y and sample_weight differ in length")
    if not np.isfinite(s).all():
        raise ValueError("uplift scores must be finite")
    if (w <= 0).any():
        raise ValueError("sample weights must be positive")
    if t.all() or not t.any():
        raise ValueError("both treated and control customers are needed")
    w = w * (len(w) / w.sum())  # weights count customers
    values, group = np.unique(-s, return_inverse=True)

    def cumulative(v: np.ndarray) -> np.ndarray:
        sums = np.bincount(group, weights=v, minlength=len(values))
        return np.concatenate(([0.0], np.cumsum(sums)))

    return _Ranked(
        n=cumulative(w),
        treated=cumulative(w * t),
        control=cumulative(w * ~t),
        treated_outcome=cumulative(w * t * outcome),
        control_outcome=cumulative(w * ~t * outcome),
        score=cumulative(w * s),
    )


def qini_curve(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> pd.DataFrame:
    """Radcliffe's Qini curve: the incremental outcomes (conversions) gained by targeting the
    customers with the highest scores, as more of them are targeted.

    One row at the start (0) and at the end of each group of tied scores, highest first:
    `targeted` (customers), `fraction` (of all customers), `treated`, `control` (customers of
    each group among the targeted), `treated_outcome`, `control_outcome` (their outcomes),
    `incremental` = treated_outcome - control_outcome * N_t / N_c, the control outcomes scaled
    by the ratio of treated to control customers *in all* (Radcliffe 2007; scikit-uplift's
    `qini_curve` scales by the ratio among the targeted instead), and `random`, the straight
    line from 0 to the total increment: what random targeting gains in expectation. Each
    customer adds to `incremental` on their own, so within a tie group the curve is linear.
    `sample_weight` (positive; see `design_weights`) weighs customers, rescaled to sum to the
    number of customers.
    """
    ranked = _ranked(uplift_score, treatment, y, sample_weight)
    fraction = ranked.n / ranked.n[-1]
    incremental = ranked.incremental
    return pd.DataFrame(
        {
            "targeted": ranked.n,
            "fraction": fraction,
            "treated": ranked.treated,
            "control": ranked.control,
            "treated_outcome": ranked.treated_outcome,
            "control_outcome": ranked.control_outcome,
            "incremental": incremental,
            "random": fraction * incremental[-1],
        }
    )


def _area_over_random(ranked: _Ranked) -> float:
    """Area between the Qini curve and the random diagonal, x = fraction targeted, y =
    incremental outcomes per customer."""
    fraction = ranked.n / ranked.n[-1]
    gain = ranked.incremental / ranked.n[-1]
    return float(np.trapezoid(gain - fraction * gain[-1], fraction))


def qini_coefficient(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    normalize: bool = True,
) -> float:
    """Radcliffe's Qini coefficient: the area between the Qini curve (`qini_curve`) and the
    random-targeting diagonal, over the fraction targeted from 0 to 1.

    Normalised (the default), it is divided by the same area of the optimal ordering on
    these outcomes: treated customers by descending outcome first, control customers by
    descending outcome last (Radcliffe 2007's optimum with negative effects allowed, as in
    scikit-uplift's `qini_auc_score`). Then 1 is a perfect ordering, 0 is random targeting (a
    constant score is exactly 0), and below 0 is worse than random. With `normalize=False`
    it is the raw area, y in incremental outcomes per customer. NaN when the optimum gains
    nothing over random (no outcomes at all).
    """
    ranked = _ranked(uplift_score, treatment, y, sample_weight)
    area = _area_over_random(ranked)
    if not normalize:
        return area
    t = np.asarray(treatment, dtype=bool)
    outcome = np.asarray(y, dtype=np.float64)
    best = _area_over_random(_ranked(np.where(t, outcome, -outcome), t, outcome, sample_weight))
    return area / best if best > 0 else float("nan")


def auuc(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> float:
    """Area under the uplift curve (Rzepakowski & Jaroszewicz 2012): x = fraction targeted,
    y = (treated outcome rate - control outcome rate among the targeted) * fraction, i.e. the
    incremental outcomes per customer of the population if the targeted were treated, with
    each group's own rate among the targeted (0 until both groups appear). Evaluated at the
    end of each tie group and joined by straight lines. Not normalised: random targeting
    gives (overall uplift) / 2 in expectation, a constant score exactly that.
    """
    ranked = _ranked(uplift_score, treatment, y, sample_weight)
    fraction = ranked.n / ranked.n[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = ranked.treated_outcome / ranked.treated - ranked.control_outcome / ranked.control
    curve = np.where((ranked.treated > 0) & (ranked.control > 0), rate * fraction, 0.0)
    return float(np.trapezoid(curve, fraction))


def uplift_at(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    fraction: float,
    sample_weight: ArrayLike | None = None,
) -> float:
    """The observed uplift among the `fraction` of customers with the highest scores: treated
    outcome rate minus control outcome rate (ties at the edge count pro rata); NaN when a
    group has nobody there."""
    ranked = _ranked(uplift_score, treatment, y, sample_weight)
    _, treated, control, treated_outcome, control_outcome = ranked.at(fraction)
    if treated <= 0 or control <= 0:
        return float("nan")
    return treated_outcome / treated - control_outcome / control


def uplift_metrics(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> dict[str, float]:
    """qini, auuc, uplift_top_10 and uplift_top_30 of one score (UPLIFT_METRIC_NAMES)."""
    return {
        "qini": qini_coefficient(uplift_score, treatment, y, sample_weight),
        "auuc": auuc(uplift_score, treatment, y, sample_weight),
        **{
            name: uplift_at(uplift_score, treatment, y, fraction, sample_weight)
            for name, fraction in TOP_FRACTIONS.items()
        },
    }


def uplift_by_decile(
    uplift_score: ArrayLike,
    treatment: ArrayLike,
    y: ArrayLike,
    sample_weight: ArrayLike | None = None,
    bins: int = 10,
) -> pd.DataFrame:
    """decile (1 = highest scores), customers, treated, control, predicted (mean score) and
    observed uplift (treated minus control outcome rate); tie groups cut by a boundary count
    pro rata."""
    ranked = _ranked(uplift_score, treatment, y, sample_weight)
    position = np.arange(bins + 1) / bins * ranked.n[-1]
    treated, control, treated_outcome, control_outcome, score = (
        np.diff(np.interp(position, ranked.n, v))
        for v in (
            ranked.treated,
            ranked.control,
            ranked.treated_outcome,
            ranked.control_outcome,
            ranked.score,
        )
    )
    customers = np.diff(position)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = treated_outcome / treated - control_outcome / control
        predicted = score / customers
    return pd.DataFrame(
        {
            "decile": np.arange(1, bins + 1),
            "customers": customers,
            "treated": treated,
            "control": control,
            "predicted_uplift": predicted,
            "observed_uplift": observed,
        }
    )


# -- several offers --------------------------------------------------------------------------


def outcome_values(frame: pd.DataFrame, outcome: str) -> np.ndarray:
    """The outcome of each row as floats: `converted` as 0/1 (null: 0), or `revenue` (null:
    0, no purchase)."""
    if outcome == "converted":
        return frame["converted"].astype("boolean").fillna(False).to_numpy(dtype=np.float64)
    if outcome == "revenue":
        values = pd.to_numeric(frame["revenue"], errors="coerce").astype("Float64")
        return values.fillna(0.0).to_numpy(dtype=np.float64)
    raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")


class MultiArmUplift:
    """One learner of one kind (`two_model` or `x_learner`) per offer, each fitted on the
    offer's comparison (`arm_comparisons`, with design weights). `predict_uplift` returns a
    column per offer (`arms`); `next_best_offer` picks among them."""

    def __init__(
        self,
        kind: str = TwoModelUplift.name,
        features: Sequence[str] = UPLIFT_FEATURES,
        outcome: str = "converted",
        random_state: int = 0,
        learners: Mapping[str, UpliftLearner] | None = None,
    ) -> None:
        if kind not in LEARNERS:
            raise ValueError(f"unknown uplift learner {kind!r} (one of {sorted(LEARNERS)})")
        self.name = kind
        self.requested_features = tuple(features)
        self.outcome = outcome
        self.random_state = random_state
        self.learners: dict[str, UpliftLearner] = dict(learners or {})
        self.campaigns: dict[str, tuple[str, ...]] = {}

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(self.learners)

    @property
    def features(self) -> tuple[str, ...]:
        """Every feature some offer's learner reads, in first-seen order."""
        return tuple(dict.fromkeys(f for lr in self.learners.values() for f in lr.features))

    def fit(
        self,
        examples: pd.DataFrame,
        control_arms: Mapping[str, str],
        arms: Sequence[str] | None = None,
        first_stages: Mapping[str, TwoModelUplift] | None = None,
    ) -> MultiArmUplift:
        """Fit a learner for each offer (default: every offer with a control group).
        `first_stages` (x_learner only): two-model learners fitted on the same examples."""
        y = outcome_values(examples, self.outcome)
        comparisons = arm_comparisons(examples, control_arms, arms)
        if not comparisons:
            raise ValueError("no offer has a control group in the same campaign")
        for arm, comparison in comparisons.items():
            rows = examples.iloc[comparison.rows]
            learner = LEARNERS[self.name](self.requested_features, self.outcome, self.random_state)
            args = (rows, comparison.treatment, y[comparison.rows], comparison.weight)
            if isinstance(learner, XLearner) and first_stages is not None:
                learner.fit(*args, first_stage=first_stages[arm])
            else:
                learner.fit(*args)
            self.learners[arm] = learner
            self.campaigns[arm] = comparison.campaigns
        return self

    def predict_uplift(self, X: pd.DataFrame) -> np.ndarray:
        """The uplift of each offer (columns in `arms` order) for each row of `X`."""
        columns = [np.asarray(lr.predict_uplift(X), np.float64) for lr in self.learners.values()]
        return np.column_stack(columns) if columns else np.zeros((len(X), 0))

    def next_best_offer(self, X: pd.DataFrame, arms: Sequence[str] | None = None) -> pd.DataFrame:
        """See `next_best_offer`."""
        return next_best_offer(self.learners, X, self.arms if arms is None else arms)


def next_best_offer(
    models_by_arm: Mapping[str, UpliftLearner],
    X: pd.DataFrame,
    arms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """customer_id, best_arm, expected_uplift and uplift_<arm> for each of `arms` (default:
    every model), one row per row of `X` (which needs `customer_id` and the features).

    best_arm is the offer with the highest predicted uplift (the first of `arms` on a tie),
    or null ("do not target") when that uplift is 0 or below: no offer is expected to help,
    and one with a negative uplift would lose the sale. expected_uplift is the highest
    predicted uplift either way.
    """
    arms = tuple(models_by_arm) if arms is None else tuple(str(a) for a in arms)
    if not arms:
        raise ValueError("next_best_offer needs at least one offer")
    missing = [a for a in arms if a not in models_by_arm]
    if missing:
        raise ValueError(f"no uplift model for offer(s) {missing}")
    uplift = np.column_stack(
        [np.asarray(models_by_arm[a].predict_uplift(X), np.float64) for a in arms]
    )
    best = np.argmax(uplift, axis=1)
    expected = uplift[np.arange(len(uplift)), best]
    names = np.asarray(arms, dtype=object)[best]
    return pd.DataFrame(
        {
            "customer_id": X["customer_id"].astype("string").to_numpy(),
            "best_arm": pd.array(np.where(expected > 0, names, None), dtype="string"),
            "expected_uplift": expected,
            **{f"uplift_{arm}": uplift[:, j] for j, arm in enumerate(arms)},
        }
    )


# -- training --------------------------------------------------------------------------------


def _check_examples(examples: pd.DataFrame, features: Sequence[str], outcome: str) -> None:
    needed = ["campaign", "customer_id", "arm", "converted"]
    if outcome == "revenue":
        needed.append("revenue")
    missing = [c for c in [*needed, *features] if c not in examples.columns]
    if missing:
        raise ValueError(f"uplift examples lack column(s) {missing}")
    not_numeric = [
        f
        for f in features
        if not (
            pd.api.types.is_numeric_dtype(examples[f]) or pd.api.types.is_bool_dtype(examples[f])
        )
    ]
    if not_numeric:
        raise ValueError(f"uplift features must be numeric: {not_numeric}")
    if examples.duplicated(["campaign", "customer_id"]).any():
        raise ValueError("uplift examples hold a customer twice in the same campaign")


def _offers(examples: pd.DataFrame, control_arms: Mapping[str, str]) -> list[str]:
    return sorted(set(examples["arm"].astype(str)[~_control_mask(examples, control_arms)]))


def _shortfall(
    frame: pd.DataFrame,
    comparison: ArmComparison | None,
    settings: UpliftSettings,
    where: str,
) -> str | None:
    """Why one offer cannot be trained (or judged) on `frame`, or None."""
    if comparison is None:
        return f"no control customers {where} in the campaigns that made it"
    ids = frame["customer_id"].astype(str).to_numpy()[comparison.rows]
    converted = outcome_values(frame, "converted")[comparison.rows] > 0
    need, need_each = settings.min_group_customers, settings.min_group_converters
    for group, mask in (("treated", comparison.treatment), ("control", ~comparison.treatment)):
        customers = len(pd.unique(ids[mask]))
        if customers < need:
            return f"only {customers} {group} customers {where} (need {need})"
        for what, which in (("converters", converted), ("non-converters", ~converted)):
            count = len(pd.unique(ids[mask & which]))
            if count < need_each:
                return f"only {count} {what} among the {group} customers {where} (need {need_each})"
    return None


def offer_shortfalls(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    control_arms: Mapping[str, str],
    settings: UpliftSettings,
) -> dict[str, str]:
    """{offer: why it cannot be trained or judged} for the offers of `train` and `holdout`
    that fall short (MIN_GROUP_CUSTOMERS, MIN_GROUP_CONVERTERS by default); the others are
    fine."""
    offers = sorted(set(_offers(train, control_arms)) | set(_offers(holdout, control_arms)))
    reasons = {}
    for frame, where in ((train, "in training"), (holdout, "held out")):
        comparisons = arm_comparisons(frame, control_arms, offers)
        for offer in offers:
            if offer in reasons:
                continue
            reason = _shortfall(frame, comparisons.get(offer), settings, where)
            if reason:
                reasons[offer] = reason
    return dict(sorted(reasons.items()))


def _explain_shortfall(reasons: Mapping[str, str]) -> str:
    if not reasons:
        return "no offer (non-control arm) in the examples"
    return "; ".join(f"offer {offer!r}: {reason}" for offer, reason in reasons.items())


def not_enough_data(
    examples: pd.DataFrame,
    control_arms: Mapping[str, str],
    settings: UpliftSettings | None = None,
) -> str | None:
    """Why no offer can be trained and judged on these examples ("offer 'discount': only 120
    treated customers held out (need 200)"), or None when at least one can."""
    settings = settings or UpliftSettings()
    held = split_customers(examples, control_arms, settings.holdout_fraction, settings.random_state)
    train, holdout = examples[~held], examples[held]
    reasons = offer_shortfalls(train, holdout, control_arms, settings)
    offers = _offers(examples, control_arms)
    if offers and any(o not in reasons for o in offers):
        return None
    return _explain_shortfall(reasons)


def _weighted_mean(values: pd.Series, weights: pd.Series) -> float:
    known = values.notna().to_numpy()
    if not known.any():
        return float("nan")
    return float(np.average(values[known], weights=weights[known]))


def _evaluate(
    name: str,
    score: Callable[[str, np.ndarray], np.ndarray],
    comparisons: Mapping[str, ArmComparison],
    y: np.ndarray,
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """(overall metrics, metrics per offer, Qini curves per offer) of one model. The overall
    metrics are the offers' weighted by their held-out rows."""
    rows, curves = [], []
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    for arm, comparison in comparisons.items():
        s = score(arm, comparison.rows)
        t, outcome, w = comparison.treatment, y[comparison.rows], comparison.weight
        rows.append(
            {
                "model": name,
                "arm": arm,
                "rows": len(comparison.rows),
                "treated": int(t.sum()),
                "control": int((~t).sum()),
                **uplift_metrics(s, t, outcome, w),
            }
        )
        curve = qini_curve(s, t, outcome, w)
        incremental = np.interp(grid, curve["fraction"], curve["incremental"])
        curves.append(
            pd.DataFrame({"model": name, "arm": arm, "fraction": grid, "incremental": incremental})
        )
    table = pd.DataFrame(rows)
    overall = {k: _weighted_mean(table[k], table["rows"]) for k in UPLIFT_METRIC_NAMES}
    return overall, table, pd.concat(curves, ignore_index=True)


@dataclass
class UpliftTraining:
    """Everything one uplift training run learned and measured on the held-out customers."""

    outcome: str
    models: dict[str, MultiArmUplift]
    purchase_model: FeatureModel
    metrics: pd.DataFrame
    arm_metrics: pd.DataFrame
    curves: pd.DataFrame
    deciles: pd.DataFrame
    champion: str
    holdout: pd.DataFrame
    control_arms: dict[str, str]
    settings: UpliftSettings
    data_fingerprint: str
    skipped_arms: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    qini_low: float = float("nan")  # bootstrap lower bound of the candidate's held-out Qini

    @property
    def candidate(self) -> MultiArmUplift:
        """The champion candidate: the learner with the highest held-out Qini coefficient."""
        return self.models[self.champion]

    @property
    def arms(self) -> tuple[str, ...]:
        return self.candidate.arms

    def _qini(self, name: str) -> float:
        return float(self.metrics.set_index("model").loc[name, "qini"])

    @property
    def beats_random(self) -> bool:
        """The candidate beats random targeting (Qini 0) beyond the noise of the held-out
        customers: the bootstrap lower bound of its Qini is above the floor."""
        return bool(self.qini_low > QINI_FLOOR)

    @property
    def beats_purchase_probability(self) -> bool:
        """Targeting by the candidate's uplift gains more than by purchase probability."""
        return bool(self._qini(self.champion) > self._qini(PURCHASE_PROBABILITY))

    def model_metrics(self, name: str | None = None) -> dict[str, float]:
        """The held-out metrics of one model (default: the candidate), UPLIFT_METRIC_NAMES;
        the candidate's also carry `qini_low`, the bootstrap lower bound of its Qini."""
        row = self.metrics.set_index("model").loc[name or self.champion]
        metrics = {k: float(row[k]) for k in UPLIFT_METRIC_NAMES}
        if name is None or name == self.champion:
            metrics["qini_low"] = float(self.qini_low)
        return metrics

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """What the model store keeps with the candidate."""
        per_arm = self.arm_metrics[self.arm_metrics["model"] == self.champion]
        return {
            "target": "uplift",
            "outcome": self.outcome,
            "estimator": self.champion,
            "arms": list(self.arms),
            "offer_campaigns": {arm: list(c) for arm, c in self.candidate.campaigns.items()},
            "control_arms": dict(self.control_arms),
            "skipped_arms": dict(self.skipped_arms),
            "features": list(self.candidate.features),
            "holdout_fraction": self.settings.holdout_fraction,
            "split_seed": self.settings.random_state,
            "data_fingerprint": self.data_fingerprint,
            "metrics": self.model_metrics(),
            "beats_random": self.beats_random,
            "beats_purchase_probability": self.beats_purchase_probability,
            "arm_metrics": per_arm.drop(columns="model").to_dict("records"),
            "other_models": {
                row["model"]: {k: row[k] for k in UPLIFT_METRIC_NAMES}
                for row in self.metrics.to_dict("records")
                if row["model"] != self.champion
            },
            **self.counts,
            **extra,
        }

    def plots(self) -> dict[str, str]:
        """Markdown PNG images: Qini curves per offer, observed uplift by predicted decile."""
        label = "incremental conversions" if self.outcome == "converted" else "incremental revenue"
        return {
            "qini_curve": qini_plot(self.curves, self.arm_metrics, label),
            "uplift_by_decile": decile_plot(self.deciles, self.champion),
        }


def _purchase_model(
    train: pd.DataFrame, features: Sequence[str], random_state: int
) -> FeatureModel:
    """The baseline: a classifier of `converted` on every training row, treated or not."""
    matrix = model_matrix(train, features)
    keep = [j for j in range(matrix.shape[1]) if _varies(matrix[:, j])]
    used = tuple(features[j] for j in keep)
    estimator = gradient_boosting(random_state)
    with _threads(len(matrix)):
        estimator.fit(matrix[:, keep], outcome_values(train, "converted"))
    return FeatureModel(PURCHASE_PROBABILITY, estimator, used, np.full(len(used), np.nan))


def train_uplift(
    examples: pd.DataFrame,
    control_arms: Mapping[str, str],
    features: Sequence[str] = UPLIFT_FEATURES,
    settings: UpliftSettings | None = None,
) -> UpliftTraining:
    """Train both learners for every offer with enough data on the training customers and
    compare them with random targeting and purchase-probability ranking on the held-out
    customers (see the module docstring). Raises NotEnoughData when no offer has enough."""
    settings = settings or UpliftSettings()
    features = tuple(features)
    _check_examples(examples, features, settings.outcome)
    rs = settings.random_state
    held = split_customers(examples, control_arms, settings.holdout_fraction, rs)
    train = examples[~held].reset_index(drop=True)
    holdout = examples[held].reset_index(drop=True)
    skipped = offer_shortfalls(train, holdout, control_arms, settings)
    offers = [o for o in _offers(examples, control_arms) if o not in skipped]
    if not offers:
        raise NotEnoughData(f"uplift: {_explain_shortfall(skipped)}")

    timings: dict[str, float] = {}
    started = time.perf_counter()
    two_model = MultiArmUplift(TwoModelUplift.name, features, settings.outcome, rs)
    two_model.fit(train, control_arms, offers)
    timings[TwoModelUplift.name] = time.perf_counter() - started
    started = time.perf_counter()
    x_learner = MultiArmUplift(XLearner.name, features, settings.outcome, rs)
    x_learner.fit(train, control_arms, offers, first_stages=two_model.learners)
    # The X-learner's first stage is the two-model learner: its time counts for both.
    timings[XLearner.name] = time.perf_counter() - started + timings[TwoModelUplift.name]
    started = time.perf_counter()
    purchase = _purchase_model(train, features, rs)
    timings[PURCHASE_PROBABILITY] = time.perf_counter() - started
    timings[RANDOM] = 0.0
    models = {TwoModelUplift.name: two_model, XLearner.name: x_learner}

    comparisons = arm_comparisons(holdout, control_arms, offers)
    y = outcome_values(holdout, settings.outcome)
    purchase_score = purchase.predict(holdout)
    scorers: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {
        RANDOM: lambda arm, rows: np.zeros(len(rows)),
        PURCHASE_PROBABILITY: lambda arm, rows: purchase_score[rows],
        **{
            name: (
                lambda arm, rows, model=model: model.learners[arm].predict_uplift(
                    holdout.iloc[rows]
                )
            )
            for name, model in models.items()
        },
    }
    rows, arm_tables, curves = [], [], []
    for name, score in scorers.items():
        started = time.perf_counter()
        overall, per_arm, curve = _evaluate(name, score, comparisons, y)
        rows.append(
            {
                "model": name,
                "baseline": name not in models,
                **overall,
                "fit_seconds": round(timings[name], 3),
                "evaluate_seconds": round(time.perf_counter() - started, 3),
            }
        )
        arm_tables.append(per_arm)
        curves.append(curve)
    table = pd.DataFrame(rows)
    learned = table[~table["baseline"]].sort_values("qini", ascending=False, na_position="last")
    champion = str(learned["model"].iloc[0])
    deciles = pd.concat(
        [
            uplift_by_decile(
                scorers[champion](arm, c.rows), c.treatment, y[c.rows], c.weight
            ).assign(arm=arm)
            for arm, c in comparisons.items()
        ],
        ignore_index=True,
    )
    qini_low = qini_lower_bound(scorers[champion], comparisons, y, rs)
    kept = ["campaign", "customer_id", "arm", "converted"]
    kept += [c for c in ("revenue", *features) if c in examples.columns and c not in kept]
    return UpliftTraining(
        outcome=settings.outcome,
        models=models,
        purchase_model=purchase,
        metrics=table,
        arm_metrics=pd.concat(arm_tables, ignore_index=True),
        curves=pd.concat(curves, ignore_index=True),
        deciles=deciles,
        champion=champion,
        holdout=holdout[kept],
        control_arms={str(c): str(a) for c, a in control_arms.items()},
        settings=settings,
        data_fingerprint=frame_fingerprint(examples[kept].reset_index(drop=True)),
        skipped_arms=skipped,
        counts={
            "campaigns": int(examples["campaign"].nunique()),
            "training_rows": len(train),
            "training_customers": int(train["customer_id"].nunique()),
            "holdout_rows": len(holdout),
            "holdout_customers": int(holdout["customer_id"].nunique()),
        },
        qini_low=qini_low,
    )


def qini_lower_bound(
    score: Callable[[str, np.ndarray], np.ndarray],
    comparisons: Mapping[str, ArmComparison],
    y: np.ndarray,
    random_state: int = 0,
    samples: int = QINI_BOOTSTRAP_SAMPLES,
    confidence: float = QINI_CONFIDENCE,
) -> float:
    """The one-sided lower bound at `confidence` of a model's held-out Qini coefficient (the
    offers' weighted by their rows, as in `_evaluate`): held-out rows resampled with
    replacement within each offer, scored once."""
    rng = np.random.default_rng(random_state)
    scored = {arm: score(arm, c.rows) for arm, c in comparisons.items()}
    weights = np.array([len(c.rows) for c in comparisons.values()], dtype=np.float64)
    draws = np.empty(samples)
    for b in range(samples):
        values = []
        for arm, c in comparisons.items():
            pick = rng.integers(0, len(c.rows), len(c.rows))
            w = c.weight[pick]
            values.append(
                qini_coefficient(scored[arm][pick], c.treatment[pick], y[c.rows][pick], w)
            )
        values_array = np.array(values, dtype=np.float64)
        ok = np.isfinite(values_array)
        draws[b] = np.average(values_array[ok], weights=weights[ok]) if ok.any() else np.nan
    finite = draws[np.isfinite(draws)]
    return float(np.quantile(finite, 1 - confidence)) if len(finite) else float("nan")


def holdout_metrics(model: MultiArmUplift, training: UpliftTraining) -> dict[str, float]:
    """The metrics of a (stored) uplift model on the held-out customers of `training`, for
    `training`'s offers and outcome: how a champion is judged against a challenger on the same
    customers. An offer the model has no learner for counts as random targeting (Qini 0);
    features absent from the held-out rows are read as missing."""
    comparisons = arm_comparisons(training.holdout, training.control_arms, training.arms)
    y = outcome_values(training.holdout, training.outcome)

    def score(arm: str, rows: np.ndarray) -> np.ndarray:
        if arm not in model.learners:
            return np.zeros(len(rows))
        return model.learners[arm].predict_uplift(training.holdout.iloc[rows])

    overall, _, _ = _evaluate(model.name, score, comparisons, y)
    return overall


def compare_with_champion(
    store: ModelRegistry,
    name: str,
    training: UpliftTraining,
    floor: float = QINI_FLOOR,
) -> tuple[bool, str, dict[str, float] | None]:
    """(promote, reason, champion metrics) for the candidate of `training` against the
    champion of `name` in `store`, both measured on the candidate's held-out customers by
    Qini coefficient. A candidate must be above `floor` (random targeting: 0)."""
    challenger = training.model_metrics()
    if not challenger["qini_low"] > floor:
        return (
            False,
            f"challenger qini {challenger['qini']:.4f} is not above {floor:.4f} with 95 % "
            f"confidence (lower bound {challenger['qini_low']:.4f}; random targeting scores 0)",
            None,
        )
    champion_metrics = None
    if store.champion(name) is not None:
        champion_metrics = holdout_metrics(store.load(name).model, training)
    promote, reason = store.champion_challenger(name, challenger, champion_metrics, "qini", floor)
    return promote, reason, champion_metrics


# -- scoring ---------------------------------------------------------------------------------


def uplift_decile(expected_uplift: ArrayLike) -> np.ndarray:
    """1 (highest) to 10 by rank; equal values share the decile of their average rank."""
    values = np.asarray(expected_uplift, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    rank = rankdata(-values, method="average")
    return np.clip(np.ceil(rank * 10 / len(values)), 1, 10).astype(np.int64)


def score_uplift(
    model: MultiArmUplift,
    features_frame: pd.DataFrame,
    as_of: Any,
    version: str,
    arms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per customer of `features_frame` (UPLIFT_SCORE_COLUMNS), sorted by customer:
    the best of `arms` (default: every offer of the model) to make them, or null for "do not
    target", its expected uplift and that uplift's decile among these customers. `as_of` is
    the features' date."""
    population = features_frame.sort_values("customer_id", ignore_index=True)
    offers = next_best_offer(model.learners, population, model.arms if arms is None else arms)
    n = len(offers)
    frame = pd.DataFrame(
        {
            "customer_id": offers["customer_id"].to_numpy(),
            "as_of": np.full(n, np.datetime64(pd.Timestamp(as_of).date().isoformat(), "us")),
            "best_arm": offers["best_arm"].to_numpy(),
            "expected_uplift": offers["expected_uplift"].to_numpy(),
            "uplift_decile": uplift_decile(offers["expected_uplift"].to_numpy()),
            "outcome": np.full(n, model.outcome, dtype=object),
            "model_version": np.full(n, version, dtype=object),
        }
    )
    return frame[list(UPLIFT_SCORE_COLUMNS)].astype(UPLIFT_SCORE_DTYPES)


# -- plots -----------------------------------------------------------------------------------


def _pyplot():  # noqa: ANN202 - the matplotlib.pyplot module
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(plt: Any, panels: int, width: float, height: float) -> tuple[Any, list[Any]]:
    columns = min(panels, 3)
    lines = -(-panels // columns)
    fig, axes = plt.subplots(
        lines, columns, figsize=(width * columns, height * lines), squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[panels:]:
        ax.set_visible(False)
    return fig, flat[:panels]


def qini_plot(
    curves: pd.DataFrame, arm_metrics: pd.DataFrame, ylabel: str = "incremental conversions"
) -> str:
    """Qini curves (model, arm, fraction, incremental) of every model, one panel per offer,
    random targeting dotted, as a markdown PNG image."""
    plt = _pyplot()
    arms = list(dict.fromkeys(curves["arm"]))
    qini = arm_metrics.set_index(["model", "arm"])["qini"]
    fig, axes = _grid(plt, len(arms), 5.0, 4.0)
    for ax, arm in zip(axes, arms, strict=True):
        for model, part in curves[curves["arm"] == arm].groupby("model", sort=False):
            style = {"color": "grey", "linestyle": ":"} if model == RANDOM else {}
            label = f"{model} (Qini {qini.loc[(model, arm)]:.3f})"
            ax.plot(part["fraction"], part["incremental"], label=label, **style)
        ax.set(xlabel="share targeted, highest score first", ylabel=ylabel, title=f"Qini: {arm}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_markdown(fig, "Qini curve")


def decile_plot(deciles: pd.DataFrame, model: str) -> str:
    """Observed (bars) and predicted (dots) uplift per predicted-uplift decile of `model`, one
    panel per offer, as a markdown PNG image."""
    plt = _pyplot()
    arms = list(dict.fromkeys(deciles["arm"]))
    fig, axes = _grid(plt, len(arms), 5.0, 3.5)
    for ax, arm in zip(axes, arms, strict=True):
        part = deciles[deciles["arm"] == arm]
        ax.bar(part["decile"], part["observed_uplift"], color="#4c72b0", label="observed")
        ax.plot(part["decile"], part["predicted_uplift"], "o", color="#dd8452", label="predicted")
        ax.axhline(0.0, color="grey", linewidth=1)
        ax.set(xlabel="predicted uplift decile (1 = highest)", ylabel="uplift", title=arm)
        ax.set_xticks(range(1, 11))
        ax.legend(fontsize=8)
    fig.suptitle(f"Uplift by decile ({model})")
    fig.tight_layout()
    return figure_markdown(fig, "Uplift by decile")
