"""Churn training, scoring and explanations on a synthetic population with a known truth.

Churn depends on recency, frequency and support tickets (and on nothing else), so a model
that uses them all must beat the recency rule, be calibrated, and name them as reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cdp_assets.config import ChurnConfig
from cdp_assets.ml.churn import (
    CHURN_SCORE_DTYPES,
    ChurnTraining,
    NotEnoughData,
    calibration_method,
    compare_with_champion,
    holdout_metrics,
    not_enough_data,
    risk_band,
    score_churn,
    train_churn,
)
from cdp_assets.ml.explain import (
    ReasonCache,
    SplitCells,
    contributions,
    format_value,
    top_reasons,
)
from cdp_assets.ml.model_store import ModelStore
from cdp_assets.ml.snapshots import model_matrix

CUTOFFS = [dt.date(2025, 1, 1) + dt.timedelta(days=60 * k) for k in range(5)]
CONFIG = ChurnConfig()


def synthetic_customers(rng: np.random.Generator, n: int, cutoff: dt.date) -> pd.DataFrame:
    """Customers at a cutoff whose churn odds rise with recency and tickets and fall with
    frequency; monetary and NPS are noise."""
    frequency = rng.poisson(2.0, n) + 1
    recency = rng.integers(0, 400, n)
    tickets = rng.poisson(0.3, n)
    logit = -0.5 + 0.008 * recency - 1.2 * np.log(frequency) + 0.9 * tickets
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    nps = np.where(rng.random(n) < 0.3, rng.integers(0, 11, n), -1)
    return pd.DataFrame(
        {
            "cutoff": cutoff,
            "customer_id": pd.array([f"C{i:05d}" for i in range(n)], dtype="string"),
            "recency_days": pd.array(recency, dtype="Int64"),
            "recency_weeks": pd.array(recency // 7, dtype="Int64"),
            "frequency": frequency.astype(np.int64),
            "monetary": frequency * rng.gamma(2.0, 40.0, n),
            "tickets_90d": tickets.astype(np.int64),
            "latest_nps": pd.array(np.where(nps >= 0, nps, None), dtype="Int64"),
            "label": churned.astype(np.int8),
        }
    )


def synthetic_snapshots(n: int = 1_500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.concat([synthetic_customers(rng, n, c) for c in CUTOFFS], ignore_index=True)
    frame.attrs["cutoffs"] = CUTOFFS
    return frame


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The boosted trees use every core by default; the test machine is shared."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def training() -> ChurnTraining:
    with threadpool_limits(limits=1):
        return train_churn(synthetic_snapshots(), CONFIG)


def test_gradient_boosting_beats_the_recency_rule(training: ChurnTraining) -> None:
    auc = training.metrics.set_index("model")["roc_auc"]
    assert auc["gradient_boosting"] > auc["recency_rule"] + 0.02
    assert auc["gradient_boosting"] > 0.7
    assert training.champion in {"gradient_boosting", "logistic_regression"}
    assert set(training.metrics["model"]) == {
        "gradient_boosting",
        "logistic_regression",
        "recency_rule",
    }


def test_probabilities_are_calibrated(training: ChurnTraining) -> None:
    metrics = training.metrics.set_index("model")
    assert metrics.loc["gradient_boosting", "calibration_error"] < 0.1
    assert training.calibration_method == "isotonic"  # 6,000 training rows, 3 folds
    assert len(training.calibration) == 10
    assert training.calibration["count"].sum() == training.counts["holdout_rows"]
    assert np.isnan(metrics.loc["recency_rule", "brier"])  # a rank, not a probability


def test_training_window_and_holdout(training: ChurnTraining) -> None:
    assert training.training_cutoffs == CUTOFFS[:-1]
    assert training.holdout_cutoff == CUTOFFS[-1]
    assert training.counts["training_rows"] == 6_000
    assert training.counts["holdout_rows"] == 1_500
    assert set(training.holdout["cutoff"]) == {CUTOFFS[-1]}


def test_importances_rank_the_true_drivers_first(training: ChurnTraining) -> None:
    top = list(training.importances["feature"].head(3))
    assert set(top) == {"recency_weeks", "frequency", "tickets_90d"}


def test_metadata_and_plots(training: ChurnTraining) -> None:
    metadata = training.metadata()
    assert metadata["features"] == [
        "recency_weeks",
        "frequency",
        "monetary",
        "tickets_90d",
        "latest_nps",
    ]
    assert metadata["holdout_cutoff"] == CUTOFFS[-1].isoformat()
    assert len(metadata["data_fingerprint"]) == 64
    assert metadata["metrics"]["roc_auc"] > 0.7 and metadata["horizon_days"] == 90
    assert metadata["training_cutoffs"] == [c.isoformat() for c in CUTOFFS[:-1]]
    assert set(training.plots()) == {
        "roc_curve",
        "calibration_curve",
        "lift_chart",
        "feature_importance",
    }


def test_a_stored_champion_scores_the_same_on_the_same_holdout(
    training: ChurnTraining, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    version = store.save("churn", training.candidate, training.metadata())
    store.promote("churn", version)
    loaded = store.load("churn").model
    holdout = synthetic_snapshots().query("cutoff == @CUTOFFS[-1]")
    again = holdout_metrics(loaded, holdout)
    assert again["roc_auc"] == pytest.approx(training.model_metrics()["roc_auc"])


def test_champion_challenger_on_the_same_holdout(training: ChurnTraining, tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    snapshots = synthetic_snapshots()
    promote, reason, champion = compare_with_champion(store, "churn", training, snapshots, 0.65)
    assert promote and champion is None and "no champion" in reason
    store.promote("churn", store.save("churn", training.candidate, training.metadata()))
    # the same model again: a tie keeps the champion
    promote, reason, champion = compare_with_champion(store, "churn", training, snapshots, 0.65)
    assert not promote and "does not beat" in reason
    assert champion is not None
    assert champion["roc_auc"] == pytest.approx(training.model_metrics()["roc_auc"])
    # a floor the challenger misses blocks it even without a champion
    promote, reason, _ = compare_with_champion(
        ModelStore(tmp_path / "new"), "churn", training, snapshots, 0.99
    )
    assert not promote and "below the floor" in reason


def test_scores_have_one_row_per_buyer_with_bands_and_reasons(training: ChurnTraining) -> None:
    features = synthetic_snapshots(n=300, seed=5).drop(columns=["cutoff", "label"])
    features = features.drop_duplicates("customer_id").reset_index(drop=True)
    features.loc[0, "frequency"] = 0  # never bought: not scored
    scores = score_churn(training.candidate, features, dt.date(2025, 12, 1), "churn-test")
    assert list(scores.columns) == list(CHURN_SCORE_DTYPES)
    assert scores.dtypes.astype(str).to_dict() == CHURN_SCORE_DTYPES
    assert len(scores) == len(features) - 1
    assert features.loc[0, "customer_id"] not in set(scores["customer_id"])
    assert scores["churn_probability"].between(0, 1).all()
    assert set(scores["risk_band"]) <= {"low", "medium", "high"}
    assert (scores["model_version"] == "churn-test").all()
    assert (scores["as_of"] == pd.Timestamp("2025-12-01")).all()


def test_a_cache_gives_the_same_scores_and_computes_only_what_it_lacks(
    training: ChurnTraining,
) -> None:
    """`ReasonCache` through `score_churn`: the first scoring computes everyone, the next one
    with the same model only the customers whose cells moved, the same frame either way."""
    model = training.models["gradient_boosting"]
    features = synthetic_snapshots(n=400, seed=5).drop(columns=["cutoff", "label"])
    features = features.drop_duplicates("customer_id").reset_index(drop=True)
    as_of = dt.date(2025, 12, 1)
    first = ReasonCache()
    scores = score_churn(model, features, as_of, "v1", first)
    assert first.recomputed == len(scores) and first.kept is not None
    pd.testing.assert_frame_equal(scores, score_churn(model, features, as_of, "v1"))

    later = features.copy()
    later["recency_days"] = later["recency_days"] + 1  # the next night
    later["recency_weeks"] = later["recency_days"] // 7
    later.loc[:9, "tickets_90d"] = later.loc[:9, "tickets_90d"] + 5  # ten more tickets
    cells = SplitCells.of(model.estimator, len(model.features))
    before = {r.tobytes() for r in cells.encode(model_matrix(features, model.features))}
    after = cells.encode(model_matrix(later, model.features))
    moved = sum(r.tobytes() not in before for r in after)
    assert 10 <= moved < len(later)
    cache = ReasonCache(known=first.kept)
    rescored = score_churn(model, later, as_of, "v1", cache)
    pd.testing.assert_frame_equal(rescored, score_churn(model, later, as_of, "v1"))
    assert cache.recomputed == moved
    retrained = ReasonCache(known=first.kept)
    score_churn(model, features, as_of, "v2", retrained)
    assert retrained.recomputed == len(scores)
    # a rule has no cells: nothing kept, nothing reused
    rule = ReasonCache(known=first.kept)
    score_churn(training.models["recency_rule"], features, as_of, "v1", rule)
    assert rule.kept is None and rule.recomputed is None


def test_reasons_name_the_feature_that_was_raised(training: ChurnTraining) -> None:
    typical = {
        "customer_id": "T0",
        "recency_days": 150,
        "recency_weeks": 21,
        "frequency": 3,
        "monetary": 250.0,
        "tickets_90d": 0,
        "latest_nps": None,
    }
    rows = pd.DataFrame(
        [
            typical,
            {**typical, "customer_id": "T1", "recency_days": 390, "recency_weeks": 55},
            {**typical, "customer_id": "T2", "tickets_90d": 4},
            {**typical, "customer_id": "T3", "frequency": 1, "tickets_90d": 3},
        ]
    ).astype({"recency_days": "Int64", "recency_weeks": "Int64", "latest_nps": "Int64"})
    scores = score_churn(training.candidate, rows, dt.date(2025, 12, 1), "v").set_index(
        "customer_id"
    )
    assert scores.loc["T1", "top_reason_1"] == "recency_weeks=55"
    assert scores.loc["T2", "top_reason_1"] == "tickets_90d=4"
    assert {scores.loc["T3", "top_reason_1"], scores.loc["T3", "top_reason_2"]} == {
        "tickets_90d=3",
        "frequency=1",
    }
    for customer in ("T1", "T2", "T3"):
        assert scores.loc[customer, "churn_probability"] > scores.loc["T0", "churn_probability"]


def test_risk_bands_use_fixed_thresholds() -> None:
    bands = risk_band(np.array([0.0, 0.29, 0.3, 0.59, 0.6, 1.0]))
    assert list(bands) == ["low", "low", "medium", "medium", "high", "high"]


def test_calibration_method_depends_on_the_fold_size() -> None:
    assert calibration_method(2_999) == "sigmoid"
    assert calibration_method(3_000) == "isotonic"


def test_explanations_of_a_linear_score() -> None:
    matrix = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, np.nan], [0.0, 0.0, 0.0]])

    def predict(x: np.ndarray) -> np.ndarray:
        return 0.1 * x[:, 0] + 0.2 * x[:, 1] - 0.05 * np.nan_to_num(x[:, 2], nan=2.0)

    reference = np.zeros(3)
    found = contributions(predict, matrix, reference)
    np.testing.assert_allclose(found, [[0.1, 0.4, 0.0], [0.3, 0.0, -0.1], [0.0, 0.0, 0.0]])
    reasons = top_reasons(found, matrix, ["a", "b", "c"])
    rows = [[None if pd.isna(v) else v for v in row] for row in reasons.itertuples(index=False)]
    assert rows[0] == ["b=2", "a=1", None]
    assert rows[1] == ["a=3", None, None]  # c lowers the score: not a reason
    assert rows[2] == [None, None, None]


def test_format_value() -> None:
    assert format_value(212.0) == "212"
    assert format_value(1234.56) == "1235"
    assert format_value(0.333) == "0.33"
    assert format_value(0.5) == "0.5"
    assert format_value(float("nan")) == "none"


def _small(n_holdout: int, positives: int | None = None) -> pd.DataFrame:
    frame = synthetic_snapshots(n=400, seed=3)
    holdout = frame[frame["cutoff"] == CUTOFFS[-1]].head(n_holdout).copy()
    if positives is not None:
        holdout["label"] = (np.arange(len(holdout)) < positives).astype(np.int8)
    small = pd.concat([frame[frame["cutoff"] < CUTOFFS[-1]], holdout], ignore_index=True)
    small.attrs["cutoffs"] = CUTOFFS
    return small


def test_not_enough_customers_is_said_clearly() -> None:
    message = not_enough_data(_small(120), CONFIG)
    assert message == "only 120 customers with a purchase by 2025-08-29 (need 200)"
    with pytest.raises(NotEnoughData, match="^churn: only 120 customers"):
        train_churn(_small(120), CONFIG)


def test_not_enough_churners_is_said_clearly() -> None:
    message = not_enough_data(_small(300, positives=5), CONFIG)
    assert message == (
        "only 5 customers who churned (no purchase within 90 days) at 2025-08-29 (need 20)"
    )
    assert not_enough_data(_small(300), CONFIG) is None


def test_too_few_training_rows_is_said_clearly() -> None:
    frame = synthetic_snapshots(n=300)
    frame = frame[(frame["cutoff"] == CUTOFFS[-1]) | (frame.index % 10 == 0)]
    frame.attrs["cutoffs"] = CUTOFFS
    assert not_enough_data(frame, CONFIG) == (
        "only 120 customers with a purchase by the training cutoffs (2025-01-01 to "
        "2025-06-30, counted together) (need 200)"
    )


def test_a_single_cutoff_is_not_enough() -> None:
    frame = synthetic_snapshots(n=300).query("cutoff == @CUTOFFS[-1]")
    frame.attrs["cutoffs"] = CUTOFFS[-1:]
    assert "training cutoff" in not_enough_data(frame, CONFIG)
