"""How good a binary score is: ranking, probability accuracy, calibration, drift, and plots.

Every function takes plain arrays (`y_true` of 0/1, `score` of floats) so that models and
simple rules are judged the same way. Plots come back as markdown PNG images, the form the
Dagster UI shows in asset metadata.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from cdp_assets.analytics.rfm import figure_markdown

CALIBRATION_BINS = 10
PSI_BINS = 10
PSI_EPSILON = 1e-4
METRIC_NAMES: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "brier",
    "lift_top_decile",
    "calibration_error",
)


def _arrays(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length ({len(y)} vs {len(s)})")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return len(y) > 0 and 0 < y.sum() < len(y)


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y, s = _arrays(y_true, score)
    return float(roc_auc_score(y, s)) if _both_classes(y) else float("nan")


def pr_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the precision-recall curve as average precision; NaN without positives."""
    y, s = _arrays(y_true, score)
    return float(average_precision_score(y, s)) if y.sum() > 0 else float("nan")


def brier(y_true: ArrayLike, probability: ArrayLike) -> float:
    """Mean squared error of a probability against the 0/1 outcome."""
    y, p = _arrays(y_true, probability)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def _positives_in_top(y: np.ndarray, s: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Expected positives among the `positions` highest-scored cases. Cases tied on a score
    share it pro rata, so the answer never depends on the order the rows came in."""
    values, group = np.unique(-s, return_inverse=True)
    counts = np.bincount(group, minlength=len(values))
    positives = np.bincount(group, weights=y, minlength=len(values))
    cum_counts = np.concatenate(([0], np.cumsum(counts)))
    cum_positives = np.concatenate(([0.0], np.cumsum(positives)))
    at = np.clip(np.searchsorted(cum_counts, positions, side="right") - 1, 0, len(values) - 1)
    return cum_positives[at] + (positions - cum_counts[at]) * positives[at] / counts[at]


def top_decile_lift(y_true: ArrayLike, score: ArrayLike, fraction: float = 0.1) -> float:
    """Positive rate among the highest-scored `fraction` of cases over the overall rate.

    The top slice holds ceil(fraction * n) cases; cases tied at its edge count pro rata, so
    a constant score has a lift of exactly 1.
    """
    y, s = _arrays(y_true, score)
    base = y.mean() if len(y) else 0.0
    if base == 0:
        return float("nan")
    top = max(int(np.ceil(fraction * len(y))), 1)
    return float(_positives_in_top(y, s, np.array([top]))[0] / top / base)


def calibration_table(
    y_true: ArrayLike, probability: ArrayLike, bins: int = CALIBRATION_BINS
) -> pd.DataFrame:
    """Equal-width probability bins: bin, lower, upper, mean_predicted, observed_rate, count.

    Empty bins are kept (count 0, NaN means) so that every table has the same rows.
    """
    y, p = _arrays(y_true, probability)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.bincount(index, weights=p, minlength=bins) / count
        observed = np.bincount(index, weights=y, minlength=bins) / count
    return pd.DataFrame(
        {
            "bin": np.arange(1, bins + 1),
            "lower": edges[:-1],
            "upper": edges[1:],
            "mean_predicted": mean_predicted,
            "observed_rate": observed,
            "count": count.astype(np.int64),
        }
    )


def expected_calibration_error(
    y_true: ArrayLike, probability: ArrayLike, bins: int = CALIBRATION_BINS
) -> float:
    """Count-weighted mean gap between predicted and observed rates over the bins."""
    table = calibration_table(y_true, probability, bins)
    used = table[table["count"] > 0]
    if used.empty:
        return float("nan")
    gaps = (used["mean_predicted"] - used["observed_rate"]).abs()
    return float((gaps * used["count"]).sum() / used["count"].sum())


def population_stability_index(
    reference: ArrayLike, current: ArrayLike, bins: int = PSI_BINS, epsilon: float = PSI_EPSILON
) -> float:
    """PSI of `current` scores against `reference` scores.

    Bins are the reference's quantiles (merged where they coincide); shares are floored at
    `epsilon` so that an empty bin gives a large but finite term. 0 means the same
    distribution; above 0.2 is usually read as a real shift.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1)
    cur_share = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1)
    expected = np.maximum(ref_share / len(ref), epsilon)
    actual = np.maximum(cur_share / len(cur), epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def classification_metrics(
    y_true: ArrayLike, score: ArrayLike, is_probability: bool = True
) -> dict[str, float]:
    """roc_auc, pr_auc, brier, lift_top_decile and calibration_error of one score.

    A score that is only a ranking (`is_probability=False`) gets NaN for the Brier score and
    the calibration error: they would measure the scale, not the model.
    """
    y, s = _arrays(y_true, score)
    return {
        "roc_auc": roc_auc(y, s),
        "pr_auc": pr_auc(y, s),
        "brier": brier(y, s) if is_probability else float("nan"),
        "lift_top_decile": top_decile_lift(y, s),
        "calibration_error": expected_calibration_error(y, s) if is_probability else float("nan"),
    }


def decile_lift_table(y_true: ArrayLike, score: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """decile (1 = highest scores), count, positives, rate, lift, cumulative_share_of_positives.

    Decile d holds the cases ranked ceil((d-1) n / bins) to ceil(d n / bins); tied scores
    across a boundary are shared pro rata (positives may be fractional).
    """
    y, s = _arrays(y_true, score)
    edges = np.ceil(np.arange(bins + 1) * len(y) / bins).astype(np.int64)
    cumulative = _positives_in_top(y, s, edges) if len(y) else np.zeros(bins + 1)
    count = np.diff(edges)
    positives = np.diff(cumulative)
    base = y.mean() if len(y) else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = positives / count
        share = cumulative[1:] / max(y.sum(), 1)
    return pd.DataFrame(
        {
            "decile": np.arange(1, bins + 1),
            "count": count,
            "positives": positives,
            "rate": rate,
            "lift": rate / base if base else np.nan,
            "cumulative_share_of_positives": share,
        }
    )


# -- plots -----------------------------------------------------------------------------------


def _pyplot():  # noqa: ANN202 - the matplotlib.pyplot module
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_curve_plot(y_true: ArrayLike, scores: Mapping[str, ArrayLike]) -> str:
    """ROC curves of several scores on the same outcomes, as a markdown PNG image."""
    plt = _pyplot()
    y = np.asarray(y_true, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, score in scores.items():
        s = np.asarray(score, dtype=np.float64)
        if not _both_classes(y):
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return figure_markdown(fig, "ROC curve")


def calibration_plot(y_true: ArrayLike, probabilities: Mapping[str, ArrayLike]) -> str:
    """Mean predicted against observed rate per probability bin, as a markdown PNG image."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, probability in probabilities.items():
        table = calibration_table(y_true, probability)
        used = table[table["count"] > 0]
        ece = expected_calibration_error(y_true, probability)
        ax.plot(
            used["mean_predicted"],
            used["observed_rate"],
            marker="o",
            label=f"{name} (ECE {ece:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        title="Calibration",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return figure_markdown(fig, "Calibration curve")


def lift_chart(y_true: ArrayLike, scores: Mapping[str, ArrayLike]) -> str:
    """Lift per score decile (1 = highest scores) for each score, as a markdown PNG image."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(len(scores), 1)
    for i, (name, score) in enumerate(scores.items()):
        table = decile_lift_table(y_true, score)
        ax.bar(
            table["decile"] + (i - (len(scores) - 1) / 2) * width, table["lift"], width, label=name
        )
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="score decile (1 = highest)", ylabel="lift", title="Lift by decile")
    ax.set_xticks(range(1, 11))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_markdown(fig, "Lift chart")


def feature_importance_plot(importances: pd.DataFrame, top: int = 15) -> str:
    """Horizontal bars of `importance` (with `importance_std` error bars when present) for
    the `top` features of a frame with a `feature` column, as a markdown PNG image."""
    plt = _pyplot()
    shown = importances.sort_values("importance", ascending=False).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(shown) + 1.2))
    error = shown.get("importance_std")
    ax.barh(shown["feature"], shown["importance"], xerr=error, color="#4c72b0")
    ax.set(xlabel="drop in holdout ROC AUC when shuffled", title="Feature importance")
    fig.tight_layout()
    return figure_markdown(fig, "Feature importances")
