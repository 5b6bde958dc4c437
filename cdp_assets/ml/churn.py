"""Churn risk: the probability that a customer makes no purchase within the horizon.

Training (`train_churn`) fits, on the snapshots of the training cutoffs:

* `gradient_boosting` — a `HistGradientBoostingClassifier` inside `CalibratedClassifierCV`.
  Calibration is *isotonic* when every calibration fold holds at least
  `ISOTONIC_MIN_ROWS` rows and *sigmoid* (Platt) below that: isotonic regression can fit any
  monotone distortion of the boosted scores, which a large demo or production population
  supports, but it overfits small folds, where the two-parameter sigmoid is the safer choice.
  The folds group rows by customer, so that a customer's other cutoffs never calibrate the
  model that was fitted on them.
* `logistic_regression` — the same features, signed-log transformed, median-imputed (with
  missing-value indicators) and standardised.
* `recency_rule` — the baseline: the rank of `recency_days` (not a probability, so it has no
  Brier score or calibration error).

All are scored on the holdout cutoff; the learned model with the best holdout ROC AUC is the
champion candidate (`ClassifierTraining.champion`). The metrics, the calibration table,
permutation importances on the holdout and the plots travel with the result.

Scoring (`score_churn`): one row per customer with a purchase, with a risk band from fixed
probability thresholds (`RISK_BANDS`). Fixed thresholds on calibrated probabilities mean the
same thing every night, so a band that grows is news; quantile bands would always hold the
same share and hide it. Each row names the three features that raise that customer's risk
most (see `cdp_assets.ml.explain`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from cdp_assets.config import ChurnConfig, SnapshotConfig
from cdp_assets.ml import btyd
from cdp_assets.ml import metrics as m
from cdp_assets.ml import purchase_models as pm
from cdp_assets.ml.explain import (
    ReasonCache,
    SplitCells,
    explain,
    predict_rows,
    score_by_cells,
    scores_key,
    top_reasons,
)
from cdp_assets.ml.model_store import ModelRegistry, frame_fingerprint
from cdp_assets.ml.snapshots import (
    CHURN_FEATURES,
    CUTOFF,
    LABEL,
    model_matrix,
    snapshot_cutoffs,
    split_holdout,
)
from cdp_assets.ml.tree_sums import BoostedTreeSums

ISOTONIC_MIN_ROWS = 1_000
CALIBRATION_FOLDS = 3
IMPORTANCE_ROWS = 5_000
IMPORTANCE_REPEATS = 3
# (upper bound, band): a probability below the bound falls in the band.
RISK_BANDS: tuple[tuple[float, str], ...] = ((0.3, "low"), (0.6, "medium"), (np.inf, "high"))
REASON_COLUMNS: tuple[str, ...] = ("top_reason_1", "top_reason_2", "top_reason_3")
CHURN_SCORE_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "as_of": "datetime64[us]",
    "churn_probability": "float64",
    "risk_band": "string",
    "model_version": "string",
    **{column: "string" for column in REASON_COLUMNS},
    # The classifier (gradient_boosting, logistic_regression) or, without one, the purchase
    # model the probability comes from (purchase_model:<name>).
    "model": "string",
}
PURCHASE_MODEL_PREFIX = "purchase_model:"
# The classifier learns from labelled windows: with fewer than this many churn horizons of
# history there is at most one, and churn_probability comes from a purchase model instead.
MIN_LABELLED_HORIZONS = 2


class NotEnoughData(ValueError):
    """Too little history or too few customers to train or judge a model."""


# -- models ----------------------------------------------------------------------------------


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|): tames heavy tails (revenue, counts) for a linear model."""
    return np.sign(x) * np.log1p(np.abs(x))


class RuleScore:
    """A baseline rule: the percentile rank of a weighted sum of features (nulls count 0).

    It follows the estimator interface (`fit` learns nothing) but its output is a ranking,
    not a probability.
    """

    def __init__(self, weights: Sequence[float]) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.classes_ = np.array([0, 1])

    def fit(self, matrix: np.ndarray, y: np.ndarray) -> RuleScore:  # noqa: ARG002
        return self

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        raw = np.nan_to_num(matrix, nan=0.0) @ self.weights
        score = rankdata(raw) / max(len(raw), 1) if len(raw) else raw
        return np.column_stack([1 - score, score])


@dataclass
class FeatureModel:
    """A fitted estimator with the feature columns it reads and their reference (training
    median) values, which the explanations compare each customer against."""

    name: str
    estimator: Any
    features: tuple[str, ...]
    reference: np.ndarray
    is_probability: bool = True

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(matrix)[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The probability (or rule score) of each row of a features frame."""
        if len(frame) == 0:
            return np.zeros(0)
        return self.predict_matrix(model_matrix(frame, self.features))


def calibration_method(training_rows: int, folds: int = CALIBRATION_FOLDS) -> str:
    """'isotonic' when each calibration fold has ISOTONIC_MIN_ROWS rows, else 'sigmoid'."""
    return "isotonic" if training_rows // folds >= ISOTONIC_MIN_ROWS else "sigmoid"


# Boosted trees regularised for noisy customer data (small leaves are not allowed); the
# lifetime-value regressor uses the same.
BOOSTING_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "n_iter_no_change": 20,
}


# A feature known for fewer training rows than a leaf of the boosted trees cannot be split on.
MIN_FEATURE_VALUES = BOOSTING_PARAMS["min_samples_leaf"]


def gradient_boosting(random_state: int = 0) -> HistGradientBoostingClassifier:
    """The boosted trees, regularised for noisy customer data (small leaves are not allowed)."""
    return HistGradientBoostingClassifier(
        **BOOSTING_PARAMS, validation_fraction=0.1, random_state=random_state
    )


def fit_calibrated_boosting(
    matrix: np.ndarray, y: np.ndarray, groups: np.ndarray, random_state: int = 0
) -> CalibratedClassifierCV:
    """Gradient boosting calibrated on customer-grouped folds (see the module docstring)."""
    folds = min(CALIBRATION_FOLDS, len(np.unique(groups)))
    splits = list(GroupKFold(n_splits=folds).split(matrix, y, groups))
    model = CalibratedClassifierCV(
        gradient_boosting(random_state), method=calibration_method(len(y)), cv=splits
    )
    model.fit(matrix, y)
    # The explicit splits are only needed for fitting; keeping them would store every row
    # index in the model file. The fitted calibrators do not depend on this parameter.
    model.set_params(cv=folds)
    return model


def fit_logistic(matrix: np.ndarray, y: np.ndarray) -> Pipeline:
    """Scaled logistic regression on signed-log features with imputed nulls."""
    pipeline = Pipeline(
        [
            ("log", FunctionTransformer(signed_log1p)),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=1.0, max_iter=2_000)),
        ]
    )
    return pipeline.fit(matrix, y)


@dataclass(frozen=True)
class Candidate:
    """A model to train and compare: how to fit it on (matrix, labels, groups), the features
    it reads, and whether it is a baseline (never a champion) or a probability."""

    fit: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
    features: tuple[str, ...]
    baseline: bool = False
    is_probability: bool = True


def rule(weights: Mapping[str, float]) -> Candidate:
    """A RuleScore baseline over the named features."""
    names = tuple(weights)
    scorer = RuleScore([weights[n] for n in names])
    return Candidate(lambda x, y, g: scorer, names, baseline=True, is_probability=False)


def base_rate() -> Candidate:
    """Everyone gets the training positive rate: the probability a model has to beat."""
    return Candidate(lambda x, y, g: DummyClassifier(strategy="prior").fit(x, y), (), baseline=True)


def learned_candidates(features: Sequence[str], random_state: int = 0) -> dict[str, Candidate]:
    """gradient_boosting and logistic_regression over `features`."""
    features = tuple(features)
    return {
        "gradient_boosting": Candidate(
            lambda x, y, g: fit_calibrated_boosting(x, y, g, random_state), features
        ),
        "logistic_regression": Candidate(lambda x, y, g: fit_logistic(x, y), features),
    }


# -- training --------------------------------------------------------------------------------


@dataclass
class ClassifierTraining:
    """Everything one training run learned and measured (on the holdout cutoff)."""

    target: str
    models: dict[str, FeatureModel]
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    importances: pd.DataFrame
    champion: str
    holdout: pd.DataFrame
    training_cutoffs: list[dt.date]
    holdout_cutoff: dt.date
    calibration_method: str
    data_fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)
    horizon_days: int | None = None

    @property
    def candidate(self) -> FeatureModel:
        """The champion candidate: the learned model with the best holdout ROC AUC."""
        return self.models[self.champion]

    def model_metrics(self, name: str | None = None) -> dict[str, float]:
        """The holdout metrics of one model (default: the champion candidate)."""
        row = self.metrics.set_index("model").loc[name or self.champion]
        return {k: float(row[k]) for k in m.METRIC_NAMES}

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """What the model store keeps with the champion candidate."""
        return {
            "target": self.target,
            "estimator": self.champion,
            "calibration_method": (
                self.calibration_method if self.champion == "gradient_boosting" else None
            ),
            "horizon_days": self.horizon_days,
            "features": list(self.candidate.features),
            "training_cutoffs": [c.isoformat() for c in self.training_cutoffs],
            "holdout_cutoff": self.holdout_cutoff.isoformat(),
            "data_fingerprint": self.data_fingerprint,
            "metrics": self.model_metrics(),
            "other_models": {
                row["model"]: {k: row[k] for k in m.METRIC_NAMES}
                for row in self.metrics.to_dict("records")
                if row["model"] != self.champion
            },
            **self.counts,
            **extra,
        }

    def plots(self) -> dict[str, str]:
        """Markdown PNG images: ROC curves, calibration curve, lift chart, importances."""
        y = self.holdout[LABEL].to_numpy()
        scores = {name: self.holdout[name].to_numpy() for name in self.models}
        probabilities = {n: s for n, s in scores.items() if self.models[n].is_probability}
        plots = {
            "roc_curve": m.roc_curve_plot(y, scores),
            "calibration_curve": m.calibration_plot(y, probabilities),
            "lift_chart": m.lift_chart(y, scores),
        }
        if not self.importances.empty:
            plots["feature_importance"] = m.feature_importance_plot(self.importances)
        return plots


def _reference(matrix: np.ndarray) -> np.ndarray:
    """The typical customer: each column's median, or NaN where most values are null (the
    typical customer has no NPS answer and no abandoned cart, and is explained as such)."""
    reference = np.full(matrix.shape[1], np.nan)
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        known = column[~np.isnan(column)]
        if len(known) and 2 * len(known) >= len(column):
            reference[j] = float(np.median(known))
    return reference


def permutation_importances(
    model: FeatureModel,
    holdout: pd.DataFrame,
    max_rows: int = IMPORTANCE_ROWS,
    repeats: int = IMPORTANCE_REPEATS,
    random_state: int = 0,
) -> pd.DataFrame:
    """feature, importance, importance_std: the drop in holdout ROC AUC when one feature is
    shuffled (on at most `max_rows` rows), largest first; empty without both classes."""
    columns = ["feature", "importance", "importance_std"]
    y = holdout[LABEL].to_numpy()
    if len(holdout) == 0 or y.min() == y.max():
        return pd.DataFrame(columns=columns)
    sample = holdout
    if len(holdout) > max_rows:
        sample = holdout.sample(max_rows, random_state=random_state)
    result = permutation_importance(
        model.estimator,
        model_matrix(sample, model.features),
        sample[LABEL].to_numpy(),
        scoring="roc_auc",
        n_repeats=repeats,
        random_state=random_state,
    )
    frame = pd.DataFrame(
        {
            "feature": list(model.features),
            "importance": result.importances_mean,
            "importance_std": result.importances_std,
        }
    )
    return frame.sort_values("importance", ascending=False, ignore_index=True)


def compare_with_champion(
    store: ModelRegistry,
    name: str,
    training: ClassifierTraining,
    snapshots: pd.DataFrame,
    floor: float | None = None,
    metric: str = "roc_auc",
) -> tuple[bool, str, dict[str, float] | None]:
    """(promote, reason, champion metrics) for the candidate of `training` against the
    champion of `name` in `store`, both measured on the candidate's holdout rows."""
    champion_metrics = None
    if store.champion(name) is not None:
        _, holdout = split_holdout(snapshots, training.holdout_cutoff)
        champion_metrics = holdout_metrics(store.load(name).model, holdout)
    promote, reason = store.champion_challenger(
        name, training.model_metrics(), champion_metrics, metric, floor
    )
    return promote, reason, champion_metrics


def holdout_metrics(model: FeatureModel, holdout: pd.DataFrame) -> dict[str, float]:
    """The metrics of a (stored) model on a holdout: how a champion is judged against a
    challenger on the same rows."""
    return m.classification_metrics(
        holdout[LABEL].to_numpy(), model.predict(holdout), model.is_probability
    )


def _without_constant_features(candidate: Candidate, train: pd.DataFrame) -> Candidate:
    """A learned candidate without the features that never vary in training (people who never
    ordered all have 0 orders) or that fewer than a leaf's worth of rows have: they carry no
    usable information, and scikit-learn's histogram binning fails on a single distinct value
    or on a calibration fold (grouped by customer) that holds no value of a rare feature."""
    usable = tuple(
        f
        for f in candidate.features
        if train[f].nunique(dropna=True) > 1 and train[f].notna().sum() >= MIN_FEATURE_VALUES
    )
    return dataclasses.replace(candidate, features=usable)


def train_classifiers(
    target: str,
    snapshots: pd.DataFrame,
    candidates: Mapping[str, Candidate],
    holdout_cutoff: dt.date | None = None,
    random_state: int = 0,
) -> ClassifierTraining:
    """Fit every candidate on the training cutoffs and compare them on the holdout."""
    train, holdout = split_holdout(snapshots, holdout_cutoff)
    holdout_cutoff = holdout_cutoff or snapshot_cutoffs(snapshots)[-1]
    y_train, y_holdout = train[LABEL].to_numpy(), holdout[LABEL].to_numpy()
    # Fold groups numbered in the snapshots' (content) order, not by the id strings: ids are
    # numbered over the whole identity graph, so the same people would fall in other folds in a
    # warehouse that holds later data, and an as-of backfill would train another model.
    groups = pd.factorize(train["customer_id"].astype(str))[0]
    models: dict[str, FeatureModel] = {}
    rows: list[dict[str, Any]] = []
    scored = holdout[["customer_id", CUTOFF, LABEL]].reset_index(drop=True)
    for name, candidate in candidates.items():
        if not candidate.baseline:
            candidate = _without_constant_features(candidate, train)
        matrix = model_matrix(train, candidate.features)
        started = time.perf_counter()
        estimator = candidate.fit(matrix, y_train, groups)
        fitted = time.perf_counter()
        model = FeatureModel(
            name, estimator, candidate.features, _reference(matrix), candidate.is_probability
        )
        score = model.predict(holdout)
        scored[name] = score
        rows.append(
            {
                "model": name,
                "baseline": candidate.baseline,
                **m.classification_metrics(y_holdout, score, candidate.is_probability),
                "fit_seconds": round(fitted - started, 3),
                "score_seconds": round(time.perf_counter() - fitted, 3),
            }
        )
        models[name] = model
    table = pd.DataFrame(rows)
    learned = table[~table["baseline"]].sort_values("roc_auc", ascending=False, na_position="last")
    champion = str(learned["model"].iloc[0])
    features = sorted({f for c in candidates.values() for f in c.features})
    fingerprint = frame_fingerprint(
        snapshots[["customer_id", CUTOFF, LABEL, *features]].astype({CUTOFF: "string"})
    )
    gbm_rows = len(train)
    return ClassifierTraining(
        target=target,
        models=models,
        metrics=table,
        calibration=m.calibration_table(y_holdout, scored[champion]),
        importances=permutation_importances(models[champion], holdout, random_state=random_state),
        champion=champion,
        holdout=scored,
        training_cutoffs=[c for c in snapshot_cutoffs(snapshots) if c < holdout_cutoff],
        holdout_cutoff=holdout_cutoff,
        calibration_method=calibration_method(gbm_rows),
        data_fingerprint=fingerprint,
        counts={
            "training_rows": int(len(train)),
            "training_positives": int(y_train.sum()),
            "holdout_rows": int(len(holdout)),
            "holdout_positives": int(y_holdout.sum()),
        },
    )


# -- churn -----------------------------------------------------------------------------------


class ChurnTraining(ClassifierTraining):
    """A churn training run (see ClassifierTraining)."""


def churn_candidates(
    features: Sequence[str] = CHURN_FEATURES, random_state: int = 0
) -> dict[str, Candidate]:
    """The churn models and their baseline, the recency rule."""
    return {
        **learned_candidates(features, random_state),
        "recency_rule": rule({"recency_days": 1.0}),
    }


def data_shortfall(
    snapshots: pd.DataFrame,
    config: SnapshotConfig,
    population: str,
    positive: str,
    negative: str,
    holdout_cutoff: dt.date | None = None,
) -> str | None:
    """Why the snapshots cannot train and judge a model, or None when they can.

    `population` describes the rows at a cutoff ("customers with a purchase by {cutoff}"),
    `positive` and `negative` the two classes, for the messages.
    """
    cutoffs = snapshot_cutoffs(snapshots)
    if len(cutoffs) < 2:
        return "need at least one training cutoff before the holdout cutoff"
    train, holdout = split_holdout(snapshots, holdout_cutoff)
    holdout_cutoff = holdout_cutoff or cutoffs[-1]
    need, need_each = config.min_customers, config.min_positives
    if len(holdout) < need:
        text = population.format(cutoff=holdout_cutoff.isoformat())
        return f"only {len(holdout)} {text} (need {need})"
    if len(train) < need:
        earlier = [c for c in cutoffs if c < holdout_cutoff]
        span = f"the training cutoffs ({earlier[0]} to {earlier[-1]}, counted together)"
        text = population.format(cutoff=span)
        return f"only {len(train)} {text} (need {need})"
    for rows, where in ((train, "the training cutoffs"), (holdout, f"{holdout_cutoff}")):
        positives = int(rows[LABEL].sum())
        for count, what in ((positives, positive), (len(rows) - positives, negative)):
            if count < need_each:
                return f"only {count} {what} at {where} (need {need_each})"
    return None


def not_enough_data(
    snapshots: pd.DataFrame, config: ChurnConfig, holdout_cutoff: dt.date | None = None
) -> str | None:
    """Why churn cannot be trained on these snapshots ("only 120 customers with a purchase by
    2026-05-24 (need 200)"), or None."""
    return data_shortfall(
        snapshots,
        config,
        population="customers with a purchase by {cutoff}",
        positive=f"customers who churned (no purchase within {config.horizon_days} days)",
        negative=f"customers who bought again within {config.horizon_days} days",
        holdout_cutoff=holdout_cutoff,
    )


def train_churn(
    snapshots: pd.DataFrame,
    config: ChurnConfig,
    holdout_cutoff: dt.date | None = None,
    features: Sequence[str] = CHURN_FEATURES,
    random_state: int = 0,
) -> ChurnTraining:
    """Train and compare the churn models (see the module docstring); raises NotEnoughData."""
    reason = not_enough_data(snapshots, config, holdout_cutoff)
    trained = train_target(
        "churn",
        "churn",
        reason,
        snapshots,
        churn_candidates,
        features,
        holdout_cutoff,
        random_state,
    )
    return ChurnTraining(**{**trained.__dict__, "horizon_days": config.horizon_days})


def train_target(
    target: str,
    label: str,
    shortfall: str | None,
    snapshots: pd.DataFrame,
    candidates: Callable[[Sequence[str], int], Mapping[str, Candidate]],
    features: Sequence[str],
    holdout_cutoff: dt.date | None,
    random_state: int,
) -> ClassifierTraining:
    """Train the candidates of one target on the features the snapshots have; raises
    NotEnoughData ("<label>: <shortfall>") when there is a shortfall."""
    if shortfall:
        raise NotEnoughData(f"{label}: {shortfall}")
    used = [f for f in features if f in snapshots.columns]
    return train_classifiers(
        target, snapshots, candidates(used, random_state), holdout_cutoff, random_state
    )


def risk_band(probability: np.ndarray) -> pd.Series:
    """low / medium / high by the fixed RISK_BANDS thresholds."""
    bounds = np.array([b for b, _ in RISK_BANDS[:-1]])
    names = np.array([n for _, n in RISK_BANDS], dtype=object)
    return pd.Series(names[np.searchsorted(bounds, probability, side="right")], dtype="string")


def scored_frame(
    model: FeatureModel,
    population: pd.DataFrame,
    as_of: dt.date,
    version: str,
    probability_column: str,
    cache: ReasonCache | None = None,
) -> pd.DataFrame:
    """customer_id, as_of, <probability_column>, model_version, top_reason_1..3.

    With a `cache`, boosted trees take the scores and contributions of the customers whose
    cell row it knows from it, compute the others', and leave today's in it (see
    `cdp_assets.ml.explain.score_by_cells`): the same frame."""
    population = population.sort_values("customer_id", ignore_index=True)
    matrix = model_matrix(population, model.features)
    cells = (
        SplitCells.of(model.estimator, matrix.shape[1])
        if cache is not None and model.is_probability and len(population)
        else None
    )
    if cells is not None:
        assert cache is not None
        scored = score_by_cells(
            model.predict_matrix,
            matrix,
            model.reference,
            cells,
            scores_key(version, model.reference, cells),
            cache.known,
            sums=BoostedTreeSums.of(model.estimator, matrix.shape[1]),
        )
        probability = scored.probability
        reasons = top_reasons(scored.contributions, matrix, model.features)
        cache.kept, cache.recomputed = scored.kept, scored.recomputed
    elif len(population):
        # A rule's score is a rank among the rows it is given: only probabilities by blocks.
        probability = (
            predict_rows(model.predict_matrix, matrix)
            if model.is_probability
            else model.predict_matrix(matrix)
        )
        reasons = explain(
            model.predict_matrix,
            matrix,
            model.features,
            model.reference,
            base=probability,
            model=model.estimator,
        )
    else:
        probability = np.zeros(0)
        reasons = pd.DataFrame({c: pd.Series(dtype="string") for c in REASON_COLUMNS})
    n = len(population)
    return pd.DataFrame(
        {
            "customer_id": population["customer_id"].astype("string").to_numpy(),
            "as_of": np.full(n, np.datetime64(as_of.isoformat(), "us")),
            probability_column: probability,
            "model_version": np.full(n, version, dtype=object),
            **{c: reasons[c].to_numpy() for c in REASON_COLUMNS},
        }
    )


def score_churn(
    model: FeatureModel,
    features: pd.DataFrame,
    as_of: dt.date,
    version: str,
    cache: ReasonCache | None = None,
) -> pd.DataFrame:
    """`ml.churn_scores`: one row per customer with a purchase (CHURN_SCORE_DTYPES); with a
    `cache`, see `scored_frame`."""
    buyers = features[features["frequency"] > 0]
    frame = scored_frame(model, buyers, as_of, version, "churn_probability", cache)
    frame.insert(3, "risk_band", risk_band(frame["churn_probability"].to_numpy()).to_numpy())
    frame["model"] = model.name
    return frame.astype(CHURN_SCORE_DTYPES)


# -- without a classifier: the purchase model -------------------------------------------------


def purchase_model_shortfall(
    orders: pd.DataFrame, as_of: dt.date, config: ChurnConfig
) -> str | None:
    """Why churn cannot fall back on a purchase model, or None when it can: it does when the
    history is shorter than MIN_LABELLED_HORIZONS churn horizons (too short to label windows
    for the classifier) but holds `min_customers` buyers and `min_positives` repeat buyers."""
    return _shortfall(btyd.rfm_summary(orders, as_of), as_of, config)


def score_churn_by_purchase_model(
    orders: pd.DataFrame, as_of: dt.date, config: ChurnConfig, version: str = "none"
) -> pd.DataFrame:
    """`ml.churn_scores` without a classifier: churn_probability = P(no purchase in the
    `horizon_days` after as_of) from the purchase model (BG/NBD, Pareto/NBD or MBG/NBD: the
    highest likelihood; they have four parameters each) fitted on the purchases up to as_of.
    `model` names it (purchase_model:<name>); there are no per-customer reasons."""
    return _purchase_model_scores(btyd.rfm_summary(orders, as_of), as_of, config, version)


def churn_by_purchase_model(
    orders: pd.DataFrame, as_of: dt.date, config: ChurnConfig
) -> tuple[pd.DataFrame | None, str]:
    """(scores, why) when the purchase model applies (`purchase_model_shortfall`), else
    (None, the reason it does not); the purchase history is summarised once."""
    summary = btyd.rfm_summary(orders, as_of)
    shortfall = _shortfall(summary, as_of, config)
    if shortfall is not None:
        return None, shortfall
    scores = _purchase_model_scores(summary, as_of, config, "none")
    return scores, (
        f"history shorter than {MIN_LABELLED_HORIZONS} churn horizons: churn_probability "
        f"is P(no purchase in {config.horizon_days} days) from {scores['model'].iloc[0]}"
    )


def _shortfall(summary: pd.DataFrame, as_of: dt.date, config: ChurnConfig) -> str | None:
    if summary.empty:
        return f"no purchases up to {as_of}"
    history = int(summary["T"].max()) + 1
    needed = MIN_LABELLED_HORIZONS * config.horizon_days
    if history >= needed:
        return f"{history} days of purchase history: enough ({needed}) to train the classifier"
    buyers, repeat = len(summary), int((summary["frequency"] > 0).sum())
    if buyers < config.min_customers:
        return f"only {buyers} customers with a purchase (need {config.min_customers})"
    if repeat < config.min_positives:
        return f"only {repeat} repeat buyers (need {config.min_positives})"
    return None


def _purchase_model_scores(
    summary: pd.DataFrame, as_of: dt.date, config: ChurnConfig, version: str
) -> pd.DataFrame:
    fits = [pm.fit_purchase_model(name, summary) for name in pm.PARAMETRIC_MODELS]
    fit = max((f for f in fits if f.converged), key=lambda f: f.log_likelihood, default=fits[0])
    probability = pm.predict_summary(fit, summary, config.horizon_days)["p_no_purchase"]
    frame = pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "as_of": np.full(len(summary), np.datetime64(as_of.isoformat(), "us")),
            "churn_probability": probability.to_numpy(),
            "risk_band": risk_band(probability.to_numpy()).to_numpy(),
            "model_version": version,
            **{column: pd.NA for column in REASON_COLUMNS},
            "model": f"{PURCHASE_MODEL_PREFIX}{fit.name}",
        }
    )
    return frame.sort_values("customer_id", ignore_index=True).astype(CHURN_SCORE_DTYPES)
