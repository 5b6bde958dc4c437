"""Stable customer ids across runs, and the merge ledger.

Each run's clusters inherit the ids their nodes had in the previous run:
- a cluster whose nodes had no id is a new customer and mints the next id;
- a cluster holding nodes of several previous customers is a merge: the oldest id (the lowest
  number: ids are minted in order) survives, the others become aliases of it;
- a previous customer whose nodes now fall into several clusters is split: the cluster with
  most of its nodes keeps the id, every other part mints a new one;
- a previous customer none of whose nodes remain is retired.
Unchanged input gives unchanged ids, and every superseded id resolves to a current one through
`core.customer_id_aliases`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ASSIGNMENT_DTYPES: dict[str, str] = {"node_key": "string", "customer_id": "string"}
ALIAS_DTYPES: dict[str, str] = {
    "alias_id": "string",  # a superseded id
    "customer_id": "string",  # the current id it resolves to
    "reason": "string",  # merged
    "since": "datetime64[us, UTC]",
}
MERGE_DTYPES: dict[str, str] = {
    "run_at": "datetime64[us, UTC]",
    "event": "string",  # new | merge | split | retired
    "customer_id": "string",  # the id after the event (the survivor, the new part)
    "other_customer_id": "string",  # merge: the absorbed id; split: the id split from
    "nodes": "int64",  # identity nodes in the resulting customer
    "evidence": "string",
}


@dataclass
class IdAssignment:
    customer_ids: pd.Series  # per node (index = node position), null for unresolved nodes
    events: pd.DataFrame  # MERGE_DTYPES
    aliases: pd.DataFrame  # ALIAS_DTYPES, all aliases so far (previous ones re-pointed)


def id_number(ids: pd.Series, prefix: str) -> pd.Series:
    """The sequence number of each id (minted order), NaN for ids of another form. Prefix and
    digits are tested without a regular expression: three times faster on a million ids."""
    text = ids.astype("string")
    digits = text.str.slice(len(prefix))
    usable = (text.str.startswith(prefix) & digits.str.isdecimal()).fillna(False)
    return pd.to_numeric(digits.where(usable), errors="coerce")


def format_ids(numbers: np.ndarray, prefix: str) -> list[str]:
    return [f"{prefix}{n:09d}" for n in numbers]


def _resolve_aliases(aliases: pd.DataFrame) -> pd.DataFrame:
    """Points every alias at the end of its chain (a → b, b → c gives a → c)."""
    target = dict(zip(aliases["alias_id"], aliases["customer_id"], strict=True))
    resolved = []
    for alias in aliases["alias_id"]:
        seen = {alias}
        current = target[alias]
        while current in target and current not in seen:
            seen.add(current)
            current = target[current]
        resolved.append(current)
    return aliases.assign(customer_id=resolved)


def assign_ids(
    node_keys: pd.Series,
    labels: np.ndarray,
    resolved: np.ndarray,
    previous: pd.DataFrame,
    previous_aliases: pd.DataFrame,
    edge_evidence: pd.DataFrame,
    prefix: str,
    run_at: pd.Timestamp,
    issued_top: float = float("nan"),
) -> IdAssignment:
    """Customer id per node.

    `node_keys`: stable key per node; `labels`: cluster label per node; `resolved`: bool per
    node, False for nodes outside any customer (anonymous visitors); `previous`:
    ASSIGNMENT_DTYPES of the last run; `edge_evidence`: left, right, rule, evidence of the
    graph's edges (to explain merges); `issued_top`: the highest id number issued so far
    when `previous` holds only some customers (a resolution of part of the graph).
    """
    n = len(node_keys)
    old = node_keys.map(
        dict(zip(previous["node_key"], previous["customer_id"], strict=True))
    ).to_numpy(dtype=object)
    frame = pd.DataFrame({"label": labels, "old": old, "resolved": resolved})
    frame = frame[frame["resolved"]]

    # Which cluster keeps each previous id: the one holding most of its nodes.
    with_old = frame[frame["old"].notna()]
    holders = with_old.groupby(["old", "label"]).size().rename("count").reset_index()
    holders = holders.sort_values(["old", "count", "label"], ascending=[True, False, True])
    keeper = holders.drop_duplicates("old")
    split_off = holders[~holders.index.isin(keeper.index)]

    # Each cluster's survivor: the oldest id it keeps.
    keeper = keeper.assign(number=id_number(keeper["old"], prefix).fillna(np.inf).to_numpy())
    keeper = keeper.sort_values(["label", "number", "old"])
    survivor = keeper.drop_duplicates("label").set_index("label")["old"]
    absorbed = keeper[keeper.duplicated("label")]

    labels_all = pd.Index(frame["label"].unique())
    fresh = labels_all.difference(survivor.index)
    # Mint in the order of each new cluster's smallest node key: deterministic for the input.
    first_key = _smallest_key(frame["label"].to_numpy(), node_keys.to_numpy()[frame.index])
    fresh_sorted = first_key.reindex(fresh).sort_values(kind="stable").index
    issued = pd.concat(
        [previous["customer_id"], previous_aliases["alias_id"], previous_aliases["customer_id"]]
    )
    top = np.fmax(id_number(issued, prefix).max(), issued_top)
    start = 1 if pd.isna(top) else int(top) + 1
    minted = pd.Series(
        format_ids(np.arange(start, start + len(fresh_sorted)), prefix), index=fresh_sorted
    )
    cluster_id = pd.concat([survivor, minted])

    ids = pd.Series(pd.NA, index=range(n), dtype="string")
    ids[frame.index] = frame["label"].map(cluster_id).to_numpy()

    sizes = frame.groupby("label").size()
    events = _events(
        ids,
        old,
        cluster_id,
        minted,
        absorbed,
        split_off,
        survivor,
        sizes,
        edge_evidence,
        previous,
        run_at,
    )
    aliases = _aliases(previous_aliases, absorbed, survivor, run_at)
    return IdAssignment(ids, events, aliases)


def _smallest_key(labels: np.ndarray, keys: np.ndarray) -> pd.Series:
    """Per cluster label: its smallest node key. One sort of all keys instead of a
    per-cluster `min` (a Python call per cluster: minutes at a million customers)."""
    by_key = pd.DataFrame({"label": labels, "key": keys}).sort_values("key", kind="stable")
    first = by_key.drop_duplicates("label")
    return pd.Series(first["key"].to_numpy(), index=first["label"].to_numpy()).sort_index()


def _merge_evidence(edge_evidence: pd.DataFrame, old: np.ndarray, wanted: set[str]) -> pd.Series:
    """Per previous id in `wanted` (the absorbed ones): up to five links from its nodes to
    nodes of another (or no) id. Only the links that end at a wanted id are read."""
    left_old = pd.Series(old[edge_evidence["left"].to_numpy()], dtype="string")
    right_old = pd.Series(old[edge_evidence["right"].to_numpy()], dtype="string")
    crossing = (left_old.fillna("") != right_old.fillna("")).to_numpy()
    ends = []
    for side in (left_old, right_old):
        take = np.flatnonzero(crossing & side.isin(wanted).to_numpy())
        chosen = edge_evidence.iloc[take]
        text = (
            chosen["rule"].astype("string") + ": " + chosen["evidence"].astype("string").fillna("")
        )
        ends.append(pd.DataFrame({"id": side.to_numpy()[take], "text": text.to_numpy()}))
    both = pd.concat(ends, ignore_index=True)
    return both.groupby("id")["text"].agg(lambda t: "; ".join(t.head(5)))


def _events(
    ids: pd.Series,
    old: np.ndarray,
    cluster_id: pd.Series,
    minted: pd.Series,
    absorbed: pd.DataFrame,
    split_off: pd.DataFrame,
    survivor: pd.Series,
    sizes: pd.Series,
    edge_evidence: pd.DataFrame,
    previous: pd.DataFrame,
    run_at: pd.Timestamp,
) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    split_from = split_off.sort_values("count", ascending=False).drop_duplicates("label")
    split_from = split_from.set_index("label")["old"]
    labels = minted.index
    was_split = labels.isin(split_from.index)
    minted_events = pd.DataFrame(
        {
            "event": np.where(was_split, "split", "new"),
            "customer_id": minted.to_numpy(),
            "other_customer_id": split_from.reindex(labels).to_numpy(),
            "nodes": sizes.reindex(labels).to_numpy(),
            "evidence": np.where(
                was_split,
                "split from its cluster (links removed or records changed)",
                "no earlier customer",
            ),
        }
    )
    if len(absorbed):
        evidence = _merge_evidence(edge_evidence, old, set(absorbed["old"]))
        for row in absorbed.itertuples(index=False):
            rows.append(
                {
                    "event": "merge",
                    "customer_id": survivor[row.label],
                    "other_customer_id": row.old,
                    "nodes": int(sizes[row.label]),
                    "evidence": evidence.get(row.old, "linked through records new in this run"),
                }
            )
    still = set(cluster_id.to_numpy()) | set(split_off["old"])
    gone = sorted(set(previous["customer_id"]) - still - set(absorbed["old"]))
    for customer_id in gone:
        rows.append(
            {
                "event": "retired",
                "customer_id": customer_id,
                "other_customer_id": None,
                "nodes": 0,
                "evidence": "none of its records remain",
            }
        )
    columns = [c for c in MERGE_DTYPES if c != "run_at"]
    events = pd.concat([minted_events, pd.DataFrame(rows, columns=columns)], ignore_index=True)
    events.insert(0, "run_at", run_at)
    return events.astype(MERGE_DTYPES)


def _aliases(
    previous_aliases: pd.DataFrame,
    absorbed: pd.DataFrame,
    survivor: pd.Series,
    run_at: pd.Timestamp,
) -> pd.DataFrame:
    new = pd.DataFrame(
        {
            "alias_id": absorbed["old"].to_numpy(),
            "customer_id": absorbed["label"].map(survivor).to_numpy(),
            "reason": "merged",
            "since": run_at,
        }
    )
    combined = pd.concat([previous_aliases.astype(ALIAS_DTYPES), new.astype(ALIAS_DTYPES)])
    combined = combined.drop_duplicates("alias_id", keep="last").reset_index(drop=True)
    return _resolve_aliases(combined).astype(ALIAS_DTYPES)
