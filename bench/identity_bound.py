"""Benchmark: how far the probabilistic matcher is from what its comparisons can tell.

    .venv/bin/python bench/identity_bound.py --records 50000 --population dedupe
        [--seed 7] [--precision 0.998]

On a population of `bench/identity_probabilistic.py` (names, addresses and birth dates only),
every candidate pair that blocking finds is scored (`probabilistic_links` with threshold 0)
and labelled with the generator's truth. Printed, on the links themselves:

- blocking's recall: the true pairs among the candidates, out of all true pairs — no scorer
  of these candidates can find more;
- the matcher at its default threshold, and at the threshold that would have kept precision
  at `--precision` had the truth been known (the most its ranking of the pairs allows);
- a supervised scorer that *was* given the truth: gradient boosting on each pair's comparison
  level per field and its name frequency bits, trained on four fifths of the labelled pairs
  and scoring the fifth (5-fold); its recall at `--precision` is what these comparisons can
  tell at best, with labels no brand has;
- the matcher's calibration: for bands of its match weight, the pairs, how many are true and
  the share, next to the probability the model gives the band.

The last line is the same figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
from identity_probabilistic import generate_records

from cdp_assets.identity.comparisons import FIELDS
from cdp_assets.identity.fellegi_sunter import match_probability
from cdp_assets.identity.probabilistic import ProbabilisticSettings, probabilistic_links

WEIGHT_BANDS = (-np.inf, -2.0, 0.0, 2.0, 3.0, 4.0, 5.0, 5.6, 6.5, 8.0, 10.0, np.inf)
FOLDS = 5


def scored_candidates(records: pd.DataFrame, person: np.ndarray) -> pd.DataFrame:
    """Every candidate pair with its weight, levels and whether it is one person."""
    every_pair = ProbabilisticSettings(threshold=0.0)
    edges = probabilistic_links(records, every_pair).edges
    position = pd.Series(np.arange(len(records)), index=records["node"].to_numpy())
    left = position.reindex(edges["left_node"]).to_numpy()
    right = position.reindex(edges["right_node"]).to_numpy()
    edges["same_person"] = person[left] == person[right]
    return edges


def level_columns(levels: pd.Series) -> pd.DataFrame:
    """Levels like "first_name=exact; birth_date=different" -> one integer code per field (-1: null),
    parsed once per distinct pattern (a few thousand, for millions of pairs)."""
    pattern, distinct = pd.factorize(levels)
    wide = pd.DataFrame(
        [dict(part.split("=", 1) for part in text.split("; ") if part) for text in distinct],
        columns=list(FIELDS),
    )
    codes = wide.apply(lambda column: column.astype("category").cat.codes)
    return codes.iloc[pattern].reset_index(drop=True)


def recall_at_precision(
    score: np.ndarray, same_person: np.ndarray, true_pairs: int, precision: float
) -> tuple[float, float]:
    """The most true pairs (as recall) a threshold on `score` keeps at `precision`, and that
    threshold; (0, nan) when no threshold reaches it."""
    order = np.argsort(-score, kind="stable")
    true_kept = np.cumsum(same_person[order])
    kept = np.arange(1, len(order) + 1)
    reaching = np.flatnonzero(true_kept >= precision * kept)
    if len(reaching) == 0:
        return 0.0, float("nan")
    last = reaching.max()
    return float(true_kept[last] / true_pairs), float(score[order][last])


def supervised_scores(pairs: pd.DataFrame, seed: int) -> np.ndarray:
    """Out-of-fold match probabilities of gradient boosting trained on the truth."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    levels = level_columns(pairs["levels"])
    features = np.column_stack([levels.to_numpy(), pairs["name_frequency"].to_numpy()])
    categorical = [True] * levels.shape[1] + [False]
    label = pairs["same_person"].to_numpy()
    scores = np.zeros(len(pairs))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(features, label):
        model = HistGradientBoostingClassifier(
            max_iter=300, max_leaf_nodes=63, categorical_features=categorical, random_state=seed
        )
        model.fit(features[train], label[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
    return scores


def calibration(pairs: pd.DataFrame) -> list[dict]:
    band = pd.cut(pairs["weight"], WEIGHT_BANDS, right=False)
    rows = []
    for interval, group in pairs.groupby(band, observed=True):
        middle = np.clip([interval.left, interval.right], -4.0, 12.0).mean()
        rows.append(
            {
                "weight_band": f"[{interval.left:g}, {interval.right:g})",
                "pairs": len(group),
                "true": int(group["same_person"].sum()),
                "share_true": round(float(group["same_person"].mean()), 4),
                "model_probability_mid_band": round(
                    float(match_probability(np.array([middle]))[0]), 3
                ),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--population", choices=("dedupe", "link"), default="dedupe")
    parser.add_argument("--precision", type=float, default=0.998)
    args = parser.parse_args()

    records = generate_records(args.records, args.seed, args.population)
    person = records.pop("person").to_numpy()
    records.pop("source")
    sizes = np.bincount(person)
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    start = time.perf_counter()
    pairs = scored_candidates(records, person)
    same = pairs["same_person"].to_numpy()
    default = pairs["probability"].to_numpy() >= ProbabilisticSettings().threshold
    ranked_recall, ranked_weight = recall_at_precision(
        pairs["weight"].to_numpy(), same, true_pairs, args.precision
    )
    supervised = supervised_scores(pairs, args.seed)
    supervised_recall, supervised_cut = recall_at_precision(
        supervised, same, true_pairs, args.precision
    )
    result = {
        "population": args.population,
        "records": args.records,
        "true_pairs": true_pairs,
        "candidate_pairs": len(pairs),
        "blocking_recall": round(float(same.sum() / true_pairs), 4),
        "default_threshold": {
            "precision": round(float(same[default].mean()), 4),
            "recall": round(float(same[default].sum() / true_pairs), 4),
        },
        "target_precision": args.precision,
        "matcher_best_recall": round(ranked_recall, 4),
        "matcher_best_weight": round(ranked_weight, 2),
        "supervised_best_recall": round(supervised_recall, 4),
        "supervised_best_probability": round(supervised_cut, 4),
        "calibration": calibration(pairs),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(
        f"{args.population} {args.records:,} records: true pairs {true_pairs:,}, candidates "
        f"{len(pairs):,}, blocking recall {result['blocking_recall']}"
    )
    print(
        f"  matcher at the default threshold: precision {result['default_threshold']['precision']}"
        f" recall {result['default_threshold']['recall']}"
    )
    print(
        f"  links precision >= {args.precision}: matcher's best recall {result['matcher_best_recall']}"
        f" (weight >= {result['matcher_best_weight']} bits), supervised on the truth "
        f"{result['supervised_best_recall']}"
    )
    for row in result["calibration"]:
        print(
            f"  weight {row['weight_band']:>14}: {row['pairs']:>9,} pairs, {row['true']:>8,} true "
            f"({row['share_true']:.4f}); model {row['model_probability_mid_band']}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
