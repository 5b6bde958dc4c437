"""Which part of the identity graph an incremental resolution must resolve again: the
components touched by new, changed or removed records and fact identities, closed so that
resolving them alone gives what a full resolution of the whole graph gives them.

A customer of the last resolution is *untouched* when none of its nodes changed, no edge of
the new graph reaches it from outside, and every edge inside it is as it was; clustering,
profile limits and stable ids then leave it exactly as stored. The affected nodes are

- records that are new, or whose matching fields changed (a fingerprint of the raw fields,
  stored with the match view), and the customers of removed and changed records;
- fact identity nodes of new or removed identity combinations (and the customers of removed
  ones);
- every carrier of an identifier value whose shared status changed. Status is computed again
  only for the values that can flip: values carried by a new or changed record or
  combination, values shared at the last resolution (a carrier may have left), and values
  over the fact-density limit now. Any other value has the carriers it had, so its status
  and star edges are unchanged;
- records the matcher scored again (their old and new probabilistic links).

They are closed over the previous customers (every node of a customer holding an affected
node, and customers joined by a link the over-merge protection cut, as one split cluster was
one component) and over the new graph's edges (every carrier of a usable value, logins,
probabilistic and must-link edges), until nothing is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cdp_assets.config import IdentityConfig
from cdp_assets.identity.key_join import outer_join_rows
from cdp_assets.identity.membership import string_isin, string_positions
from cdp_assets.identity.nodes import COMBO_DTYPES, GraphNodes
from cdp_assets.identity.records import MATCHING_FIELDS
from cdp_assets.identity.shared import shared_identifiers

# Resolving the touched components alone pays while they are a small part of the graph;
# beyond this share of the nodes the whole graph is resolved (same result, less bookkeeping).
MAX_RESTRICTED_NODE_SHARE = 0.5
# A record's matching fields (its key aside): what a changed record is told by.
FINGERPRINT_FIELDS: tuple[str, ...] = tuple(
    f for f in MATCHING_FIELDS if f not in ("node", "source", "record_id")
)
COMBO_KEY: list[str] = list(COMBO_DTYPES)  # a fact identity combination: source and its keys


def record_fingerprints(records: pd.DataFrame) -> np.ndarray:
    """A hash of every field of a record the resolution reads (raw, before shared values are
    blanked): equal fingerprints, equal record as far as identity is concerned."""
    fields = pd.DataFrame(
        {f: records[f].astype("string") if f in records else pd.NA for f in FINGERPRINT_FIELDS}
    ).astype("string")
    return pd.util.hash_pandas_object(fields, index=False).to_numpy().astype(np.int64)


@dataclass(frozen=True)
class StoredIdentity:
    """What the last resolution left that the restriction compares with.

    `assignments`: core.identity_nodes (node_key, customer_id); `shared`:
    core.shared_identifiers; `records`: source, record_id, record_hash, customer_id of the
    stored match view; `combos`: core.fact_identities; `cut`: keys of both ends of the cut
    edges of core.identity_edges (left_key, right_key)."""

    assignments: pd.DataFrame
    shared: pd.DataFrame
    records: pd.DataFrame
    combos: pd.DataFrame
    cut: pd.DataFrame


@dataclass
class Restriction:
    """`nodes`: the sorted global nodes to resolve again; `customers`: the previous customer
    ids they held (their rows are replaced); `previous_customer`: the previous customer id per global node."""

    nodes: np.ndarray
    customers: np.ndarray
    previous_customer: np.ndarray
    stats: dict[str, int]
    touched_keys: pd.Series | None = None
    current_keys: pd.Series | None = None


def candidate_values(
    graph: GraphNodes,
    changed_nodes: np.ndarray,
    stored_shared: pd.DataFrame,
    density: pd.DataFrame,
    config: IdentityConfig,
) -> pd.DataFrame:
    """(type, value) pairs whose shared status may differ from the last resolution's."""
    occ = graph.occurrences
    parts = [
        occ.loc[np.isin(occ["node"].to_numpy(), changed_nodes), ["type", "value"]],
        stored_shared[["type", "value"]],
    ]
    if len(density):
        dense = density[density["max_rows_per_day"] > config.max_fact_rows_per_day]
        parts.append(dense[["type", "value"]])
    return pd.concat(parts, ignore_index=True).astype("string").drop_duplicates(ignore_index=True)


def shared_of(
    values: pd.DataFrame,
    graph: GraphNodes,
    records: pd.DataFrame,
    density: pd.DataFrame,
    config: IdentityConfig,
) -> pd.DataFrame:
    """The shared-identifier guard over `values` only (it judges each value by its own
    carriers, so this is the full guard's verdict for them)."""
    occ = graph.occurrences.merge(values, on=["type", "value"], how="inner")
    occ = occ.sort_values(["node", "type", "value"], kind="stable", ignore_index=True)
    dense = density.merge(values, on=["type", "value"], how="inner") if len(density) else density
    shared = shared_identifiers(occ, records, dense, config)
    return shared.sort_values(["type", "value"], ignore_index=True)


def _key_customer(keys: pd.Series, assignments: pd.DataFrame) -> np.ndarray:
    """The stored customer id of each node key (NaN: none)."""
    position = string_positions(keys, assignments["node_key"])
    out = np.full(len(keys), np.nan, dtype=object)
    held = position >= 0
    out[held] = assignments["customer_id"].to_numpy(dtype=object)[position[held]]
    return out


def changed_records(
    records: pd.DataFrame, fingerprints: np.ndarray, stored: pd.DataFrame
) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """(nodes of new or changed records, previous customer ids of changed or removed ones,
    record ids of new or removed ones); `fingerprints`: `record_fingerprints(records)`."""
    key = ["source", "record_id"]
    joined = outer_join_rows(records, stored, key)
    now, before = joined["left"].to_numpy(), joined["right"].to_numpy()
    new, removed = before < 0, now < 0
    both = ~new & ~removed
    changed = both.copy()
    stored_hash = stored["record_hash"].iloc[before[both]].reset_index(drop=True)
    differs = pd.Series(fingerprints[now[both]]).ne(stored_hash).fillna(True)
    changed[both] = differs.to_numpy(dtype=bool)
    nodes = records["node"].to_numpy(dtype=np.int64)[now[new | changed]]
    customers = stored["customer_id"].iloc[before[removed | changed]].dropna()
    ids = pd.concat(
        [
            records["record_id"].iloc[now[new]].astype("string"),
            stored["record_id"].iloc[before[removed]].astype("string"),
        ],
        ignore_index=True,
    )
    return nodes, customers.reset_index(drop=True), ids


def referencing_nodes(combo_nodes: pd.DataFrame, record_ids: pd.Series) -> np.ndarray:
    """Nodes of the combinations whose customer reference names one of `record_ids`: a
    reference is the named record's node while the record exists and a node of its own
    otherwise, so a record that arrives or goes moves them although they did not change."""
    named = string_isin(combo_nodes["customer_ref"], record_ids.dropna())
    nodes = combo_nodes.loc[named, "node"].dropna()
    return nodes.to_numpy(dtype=np.int64)


def changed_combos(
    combo_nodes: pd.DataFrame, stored: pd.DataFrame
) -> tuple[np.ndarray, pd.Series, pd.DataFrame]:
    """(nodes of new combos, previous customer ids of removed combos, the removed combos)."""
    key = [c for c in COMBO_KEY if c in combo_nodes.columns]
    joined = outer_join_rows(combo_nodes, stored, key)
    now, before = joined["left"].to_numpy(), joined["right"].to_numpy()
    nodes = combo_nodes["node"].iloc[now[before < 0]].dropna().to_numpy(dtype=np.int64)
    removed = stored.iloc[before[now < 0]].reset_index(drop=True)
    removed_keys = removed[key].astype({c: "string" for c in key})
    return nodes, removed["customer_id"].dropna(), removed_keys


def restrict(
    graph: GraphNodes,
    keys: pd.Series,
    seeds: np.ndarray,
    seed_customers: pd.Series,
    edges: pd.DataFrame,
    shared: pd.DataFrame,
    stored: StoredIdentity,
) -> Restriction:
    """The closed set of nodes to resolve again (see the module docs).

    `keys`: node key per global node; `seeds`: affected nodes; `seed_customers`: previous
    customers affected without a node (removed records or combos); `edges`: every new edge
    that is not an identifier star (logins, must-links, probabilistic links)."""
    n = len(graph.nodes)
    previous = _key_customer(keys, stored.assignments)
    # Every stored customer, those without a node now (all their records removed) included:
    # a cut link may have joined one to a customer that is still there.
    customers = pd.Index(pd.unique(stored.assignments["customer_id"].to_numpy(dtype=object)))
    group = _customer_groups(customers, stored)
    codes = customers.get_indexer(pd.Index(previous))
    node_group = np.where(codes >= 0, group[np.maximum(codes, 0)], -1)

    occ = graph.occurrences
    usable_occ = occ[~_is_shared(occ, shared)]
    value_code = _value_codes(usable_occ)
    occ_node = usable_occ["node"].to_numpy(dtype=np.int64)
    left = edges["left"].to_numpy(dtype=np.int64)
    right = edges["right"].to_numpy(dtype=np.int64)

    inside = np.zeros(n, dtype=bool)
    inside[seeds] = True
    # Customers holding a node that no longer exists (a removed record or combination, or an
    # order's reference node that became the record it names) are touched too.
    gone = ~string_isin(stored.assignments["node_key"], keys)
    seed_customers = pd.concat(
        [seed_customers.astype("object"), stored.assignments["customer_id"][gone].astype("object")]
    )
    seed_codes = customers.get_indexer(pd.Index(seed_customers.unique()))
    groups = np.unique(group[seed_codes[seed_codes >= 0]])
    while True:
        inside |= np.isin(node_group, groups)  # every node of a touched customer group
        grown = inside.copy()
        values = np.unique(value_code[inside[occ_node]])
        grown[occ_node[np.isin(value_code, values)]] = True  # every carrier of a usable value
        hit = inside[left] | inside[right]
        grown[left[hit]] = True
        grown[right[hit]] = True
        now_groups = np.union1d(groups, np.unique(node_group[grown & (node_group >= 0)]))
        if len(now_groups) == len(groups) and grown.sum() == inside.sum():
            break
        inside, groups = grown, now_groups
    nodes = np.flatnonzero(inside)
    touched_customers = customers[np.isin(group, groups)].to_numpy(dtype=object)
    stats = {
        "nodes_re_resolved": len(nodes),
        "customers_re_resolved": len(touched_customers),
    }
    return Restriction(nodes, np.sort(touched_customers.astype(str)), previous, stats)


def _is_shared(occ: pd.DataFrame, shared: pd.DataFrame) -> np.ndarray:
    """Bool per occurrence: its (type, value) is shared."""
    out = np.zeros(len(occ), dtype=bool)
    types = occ["type"].to_numpy(dtype=object)
    for kind, values in shared.groupby("type", observed=True)["value"]:
        of_kind = types == kind
        out[of_kind] = string_isin(occ["value"][of_kind], values)
    return out


def _value_codes(occ: pd.DataFrame) -> np.ndarray:
    """One int64 code per distinct (type, value) of the occurrences."""
    kind = pd.factorize(occ["type"])[0].astype(np.int64)
    value = pd.factorize(occ["value"])[0].astype(np.int64)
    return kind * (int(value.max(initial=-1)) + 1) + value


def _customer_groups(customers: pd.Index, stored: StoredIdentity) -> np.ndarray:
    """Per stored customer (in `customers` order): a group label joining customers that a
    cut link joined (one component before the over-merge protection split it)."""
    count = len(customers)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    lookup = pd.Series(
        stored.assignments["customer_id"].to_numpy(), index=stored.assignments["node_key"]
    )
    left = customers.get_indexer(pd.Index(lookup.reindex(stored.cut["left_key"]).to_numpy()))
    right = customers.get_indexer(pd.Index(lookup.reindex(stored.cut["right_key"]).to_numpy()))
    both = (left >= 0) & (right >= 0)
    graph = coo_matrix(
        (np.ones(int(both.sum()), dtype=np.int8), (left[both], right[both])), shape=(count, count)
    )
    return connected_components(graph, directed=False)[1].astype(np.int64)


EDGE_ENDS = ("left", "right")


def stale_unresolved_edges(
    stored: pd.DataFrame, touched_keys: pd.Series, current_keys: pd.Series
) -> pd.DataFrame:
    """The stored edges of no customer (`stored`: rows of core.identity_edges whose customer
    id is null) that an incremental resolution replaces: those touching a re-resolved node
    or a node that no longer exists. Edges of customers are replaced by customer id."""
    if stored.empty:
        return stored
    stale = np.zeros(len(stored), dtype=bool)
    for end in EDGE_ENDS:
        key = (
            stored[f"{end}_kind"].astype(str)
            + "|"
            + stored[f"{end}_source"].astype(str)
            + "|"
            + stored[f"{end}_record_id"].astype(str)
        )
        stale |= string_isin(key, touched_keys) | ~string_isin(key, current_keys)
    return stored[stale].reset_index(drop=True)


def touched_fact_identities(
    fact_map: pd.DataFrame, node: pd.Series, restriction: Restriction, stored: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What an incremental resolution writes of core.fact_identities: (rows to insert, keys
    of stored rows of no customer to delete); the stored rows of the touched customers are
    deleted by customer id.

    `fact_map`: every current combination with its customer id; `node`: its node (null for
    a combination that names nobody); `stored`: core.fact_identities as the last resolution
    left it. A combination is written again when its node was re-resolved or it names
    nobody; a stored row of no customer is deleted when its combination is gone or is
    written again. Every other row is as stored: its node kept its customer."""
    key = [c for c in COMBO_KEY if c in fact_map.columns]
    nodes = node.astype("float").to_numpy()
    touched = np.isnan(nodes) | np.isin(
        np.nan_to_num(nodes, nan=-1).astype(np.int64), restriction.nodes
    )
    insert = fact_map[touched].reset_index(drop=True)
    unresolved = stored.loc[stored["customer_id"].isna(), key].astype("string")
    now = fact_map[key].astype("string").assign(_touched=touched)
    now = now.drop_duplicates(key)
    joined = unresolved.merge(now, on=key, how="left")
    stale = joined["_touched"].isna() | joined["_touched"].fillna(False).astype(bool)
    return insert, unresolved[stale.to_numpy()].reset_index(drop=True)
