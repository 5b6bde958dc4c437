"""The identity graph: links between nodes, connected components, and oversized clusters split
along their weakest links.

Every link is an edge with a rule and a weight (log2 odds of a match, as the probabilistic
matcher reports them; deterministic rules get fixed weights above any probabilistic one), so
that a person can read why two records joined and the splitter knows which links to cut first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cdp_assets.config import ProfileLimits

EDGE_DTYPES: dict[str, str] = {
    "left": "int64",
    "right": "int64",
    "rule": "string",  # email_key | phone | loyalty_id | login | must_link | probabilistic
    "weight": "float64",
    "evidence": "string",  # the shared value, or the comparison levels
}

# Deterministic links outrank every probabilistic one; a shared phone is the weakest of them.
RULE_WEIGHTS: dict[str, float] = {
    "must_link": 1_000.0,
    "loyalty_id": 60.0,
    "email_key": 55.0,
    "login": 50.0,
    "phone": 45.0,
}


def identifier_edges(occurrences: pd.DataFrame, shared: pd.DataFrame) -> pd.DataFrame:
    """Star edges per usable identifier value: every node carrying it to the lowest node."""
    usable = occurrences.merge(
        shared[["type", "value"]], on=["type", "value"], how="left", indicator=True
    )
    usable = usable[usable["_merge"] == "left_only"].drop(columns="_merge")
    usable = usable.sort_values(["type", "value", "node"], kind="stable")
    anchor = usable.groupby(["type", "value"], sort=False)["node"].transform("first")
    star = usable[usable["node"] != anchor]
    edges = pd.DataFrame(
        {
            "left": anchor[star.index].to_numpy(),
            "right": star["node"].to_numpy(),
            "rule": star["type"].to_numpy(),
            "weight": star["type"].map(RULE_WEIGHTS).to_numpy(dtype="float64"),
            "evidence": star["value"].to_numpy(),
        }
    )
    return edges.astype(EDGE_DTYPES)


def components(n_nodes: int, edges: pd.DataFrame) -> np.ndarray:
    """Component label per node (labels are arbitrary; see `canonical_labels`)."""
    if n_nodes == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(edges), dtype=np.int8), (edges["left"], edges["right"])),
        shape=(n_nodes, n_nodes),
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel components by their lowest node, so labels do not depend on edge order."""
    if len(labels) == 0:
        return labels
    first = pd.Series(np.arange(len(labels))).groupby(labels).transform("min")
    return first.to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class ClusterFacts:
    """Per customer record: the values the profile limits count."""

    email_key: np.ndarray
    phone: np.ndarray
    birth_date: np.ndarray  # folded so that a day/month transposition counts once


def cluster_facts(records: pd.DataFrame, n_nodes: int) -> ClusterFacts:
    """Arrays over all nodes (facts of non-record nodes are null)."""

    def spread(values: pd.Series) -> np.ndarray:
        out = np.full(n_nodes, None, dtype=object)
        out[records["node"].to_numpy()] = values.astype(object).where(values.notna(), None)
        return out

    birth = records["birth_date"]
    low = np.minimum(birth.dt.month, birth.dt.day)
    high = np.maximum(birth.dt.month, birth.dt.day)
    folded = (
        birth.dt.year.astype("string") + "-" + low.astype("string") + "-" + high.astype("string")
    )
    return ClusterFacts(spread(records["email_key"]), spread(records["phone"]), spread(folded))


def _over_limits(nodes: np.ndarray, facts: ClusterFacts, limits: ProfileLimits) -> list[str]:
    """The limits this set of nodes breaks (empty when it may be one customer)."""
    broken = []
    for name, values, limit in (
        ("emails", facts.email_key, limits.emails),
        ("phones", facts.phone, limits.phones),
        ("birth_dates", facts.birth_date, limits.birth_dates),
    ):
        distinct = {v for v in values[nodes] if v is not None}
        if len(distinct) > limit:
            broken.append(f"{len(distinct)} {name} > {limit}")
    return broken


@dataclass
class SplitResult:
    labels: np.ndarray
    removed: pd.DataFrame  # edges cut, EDGE_DTYPES + reason
    splits: pd.DataFrame  # one row per split cluster: nodes, parts, reason


def split_cluster(
    nodes: np.ndarray,
    edges: pd.DataFrame,
    facts: ClusterFacts,
    limits: ProfileLimits,
    is_record: np.ndarray,
    cannot_link: list[tuple[int, int]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cuts the weakest edges of one cluster until every part keeps within the limits and no
    cannot-link pair shares a part. Returns (kept edges, removed edges)."""
    kept = edges.sort_values(["weight", "left", "right"], kind="stable").reset_index(drop=True)
    removed = []
    while len(kept):
        index = {n: i for i, n in enumerate(nodes)}
        labels = components(
            len(nodes),
            pd.DataFrame({"left": kept["left"].map(index), "right": kept["right"].map(index)}),
        )
        bad_parts = [
            part
            for part in np.unique(labels)
            if _part_broken(nodes[labels == part], facts, limits, is_record, cannot_link)
        ]
        if not bad_parts:
            break
        bad_nodes = set(nodes[np.isin(labels, bad_parts)].tolist())
        in_bad = kept["left"].isin(bad_nodes)
        weakest = kept[in_bad]["weight"].min()
        cut = in_bad & (kept["weight"] == weakest)
        first = kept.index[cut][:1]  # one edge at a time: the weakest, lowest nodes first
        removed.append(kept.loc[first])
        kept = kept.drop(first).reset_index(drop=True)
    removed_frame = pd.concat(removed, ignore_index=True) if removed else edges.iloc[:0]
    return kept, removed_frame


def _part_broken(
    part: np.ndarray,
    facts: ClusterFacts,
    limits: ProfileLimits,
    is_record: np.ndarray,
    cannot_link: list[tuple[int, int]],
) -> bool:
    if _over_limits(part, facts, limits):
        return True
    if int(is_record[part].sum()) > limits.records:
        return True
    members = set(part.tolist())
    return any(a in members and b in members for a, b in cannot_link)


def enforce_limits(
    n_nodes: int,
    edges: pd.DataFrame,
    facts: ClusterFacts,
    limits: ProfileLimits,
    is_record: np.ndarray,
    cannot_link: list[tuple[int, int]],
) -> SplitResult:
    """Components of the graph, with clusters over the profile limits or holding a
    cannot-link pair split along their weakest links."""
    labels = canonical_labels(components(n_nodes, edges))
    label_series = pd.Series(labels)
    sizes = label_series.value_counts()
    candidates = set()
    for values, limit in (
        (facts.email_key, limits.emails),
        (facts.phone, limits.phones),
        (facts.birth_date, limits.birth_dates),
    ):
        present = pd.Series(values).notna()
        distinct = (
            pd.DataFrame({"label": labels[present], "v": values[present]})
            .groupby("label")["v"]
            .nunique()
        )
        candidates |= set(distinct[distinct > limit].index.tolist())
    records_per = pd.Series(is_record.astype(int)).groupby(labels).sum()
    candidates |= set(records_per[records_per > limits.records].index.tolist())
    for a, b in cannot_link:
        if labels[a] == labels[b]:
            candidates.add(int(labels[a]))
    candidates &= set(sizes[sizes > 1].index.tolist())

    kept_edges = [edges[~pd.Series(labels[edges["left"]]).isin(candidates).to_numpy()]]
    removed_edges = []
    split_rows = []
    for label in sorted(candidates):
        nodes = np.flatnonzero(labels == label)
        in_cluster = edges[labels[edges["left"].to_numpy()] == label]
        pairs = [(a, b) for a, b in cannot_link if labels[a] == label and labels[b] == label]
        reasons = _over_limits(nodes, facts, limits)
        if int(is_record[nodes].sum()) > limits.records:
            reasons.append(f"{int(is_record[nodes].sum())} records > {limits.records}")
        if pairs:
            reasons.append(f"{len(pairs)} cannot-link pair(s)")
        kept, removed = split_cluster(nodes, in_cluster, facts, limits, is_record, pairs)
        kept_edges.append(kept)
        removed_edges.append(removed.assign(reason="; ".join(reasons)))
        split_rows.append(
            {
                "cluster_node": int(label),
                "nodes": len(nodes),
                "edges_cut": len(removed),
                "reason": "; ".join(reasons),
            }
        )
    final_edges = pd.concat(kept_edges, ignore_index=True)
    final = canonical_labels(components(n_nodes, final_edges)) if candidates else labels
    removed_frame = (
        pd.concat(removed_edges, ignore_index=True)
        if removed_edges
        else edges.iloc[:0].assign(reason=pd.Series(dtype="string"))
    )
    splits = pd.DataFrame(split_rows, columns=["cluster_node", "nodes", "edges_cut", "reason"])
    return SplitResult(final, removed_frame, splits)
