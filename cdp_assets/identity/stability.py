"""Whether the identity graph moved more than it should between two runs: a jump of the
largest cluster or of the share of single-record customers usually means a bad delivery or a
new identifier that links strangers, not real customers changing."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# The singleton share may move by a fifth of the allowed cluster growth.
SINGLETON_SHARE_FRACTION = 5


def cluster_figures(assignments: pd.DataFrame) -> dict[str, float]:
    """Largest cluster (customer records) and singleton share of a run's node assignments
    (`node_key`, `customer_id`; record nodes are keyed `record|…`); {} with none."""
    if not len(assignments):
        return {}
    is_record = assignments["node_key"].str.startswith("record|").fillna(False)
    per_customer = assignments[is_record.to_numpy(dtype=bool)].groupby("customer_id").size()
    if not len(per_customer):
        return {"largest_cluster_records": 0.0, "singleton_share": 0.0}
    return {
        "largest_cluster_records": float(per_customer.max()),
        "singleton_share": float((per_customer <= 1).mean()),
    }


@dataclass(frozen=True)
class ClusterStability:
    stable: bool
    first_run: bool
    figures: dict[str, float]


def cluster_stability(
    now: dict[str, float], before: dict[str, float], allowed_growth: float
) -> ClusterStability:
    """Stable when the largest cluster grew by at most `allowed_growth` (a share of its size
    before) and the singleton share moved by at most a fifth of that; a first run is stable."""
    if not before:
        return ClusterStability(stable=True, first_run=True, figures={})
    largest_before = before["largest_cluster_records"] or 1.0
    jump = (now["largest_cluster_records"] - largest_before) / largest_before
    singleton_jump = abs(now["singleton_share"] - before["singleton_share"])
    return ClusterStability(
        stable=jump <= allowed_growth
        and singleton_jump <= allowed_growth / SINGLETON_SHARE_FRACTION,
        first_run=False,
        figures={
            "largest_cluster_before": largest_before,
            "largest_cluster_now": now["largest_cluster_records"],
            "singleton_share_before": round(before["singleton_share"], 5),
            "singleton_share_now": now["singleton_share"],
            "allowed_growth": allowed_growth,
        },
    )
