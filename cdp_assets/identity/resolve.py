"""Identity resolution end to end, without Dagster: records and fact identities in, customer
ids, cross-reference, explained edges and the merge ledger out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.config import IdentityConfig
from cdp_assets.identity.changed_records import (
    RecordChanges,
    kept_links,
    match_view,
    record_changes,
)
from cdp_assets.identity.components import (
    MAX_RESTRICTED_NODE_SHARE,
    Restriction,
    StoredIdentity,
    candidate_values,
    changed_combos,
    changed_records,
    record_fingerprints,
    referencing_nodes,
    restrict,
    shared_of,
)
from cdp_assets.identity.graph import (
    EDGE_DTYPES,
    RULE_WEIGHTS,
    SplitResult,
    cluster_facts,
    enforce_limits,
    identifier_edges,
)
from cdp_assets.identity.match_parameters import MatchParameters
from cdp_assets.identity.membership import string_isin
from cdp_assets.identity.memory import release_memory
from cdp_assets.identity.nodes import GraphNodes
from cdp_assets.identity.probabilistic import (
    KnownMatches,
    ProbabilisticResult,
    ProbabilisticSettings,
    frozen_links,
    probabilistic_links,
)
from cdp_assets.identity.shared import shared_identifiers
from cdp_assets.identity.stable_ids import (
    ASSIGNMENT_DTYPES,
    IdAssignment,
    assign_ids,
    id_number,
)

XREF_DTYPES: dict[str, str] = {
    "source": "string",
    "source_record_id": "string",
    "identity_kind": "string",  # record | customer_ref | identifiers | anonymous_id
    "customer_id": "string",
    "match_rule": "string",  # the strongest link that joins it, or `own_record`
    "match_score": "float64",  # that link's weight
}
IDENTITY_EDGE_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "left_source": "string",
    "left_record_id": "string",
    "left_kind": "string",
    "right_source": "string",
    "right_record_id": "string",
    "right_kind": "string",
    "rule": "string",
    "weight": "float64",
    "evidence": "string",
    "status": "string",  # linked | cut (and why)
}


@dataclass
class IdentityResolution:
    node_customer: pd.Series  # customer id per node (null: anonymous)
    xref: pd.DataFrame  # XREF_DTYPES
    edges: pd.DataFrame  # IDENTITY_EDGE_DTYPES
    assignments: pd.DataFrame  # ASSIGNMENT_DTYPES: the state the next run starts from
    ids: IdAssignment
    shared: pd.DataFrame
    splits: pd.DataFrame
    match_parameters: pd.DataFrame
    stats: dict[str, float | int] = field(default_factory=dict)
    matching: MatchOutcome | None = None  # how the probabilistic links were made
    record_state: pd.DataFrame | None = None  # per record: record_hash, customer_id
    scope: str = "whole graph"  # what was clustered again, and why
    restriction: Restriction | None = None  # the touched components (None: whole graph)
    # core.fact_identities rows to insert, and stored rows of no customer to delete (set by
    # the caller, which holds the fact combinations)
    fact_rows: tuple[pd.DataFrame, pd.DataFrame] | None = None


@dataclass(frozen=True)
class Matching:
    """How the probabilistic links are made.

    No `parameters`: learnt from the records (a full resolution). `parameters` alone: a full
    resolution scored with them (frozen). With `previous_view` and `previous_links` too (the
    last resolution's match view and `core.identity_edges`): incremental — only the pairs of
    new or changed records are found and scored, the other links are kept; when more than
    `max_changed_share` of the records changed, or a blocking block crossed its size limit,
    it learns them in full instead (and says why). `erased_records`: records that left the
    previous view since it was stored (erasure deletes their rows): counted as removed, and
    when a block of the present records is so close to its size limit that they may have
    held it over, the resolution is full too.
    """

    parameters: MatchParameters | None = None
    previous_view: pd.DataFrame | None = None
    previous_links: pd.DataFrame | None = None
    max_changed_share: float = 0.05
    erased_records: int = 0

    @property
    def incremental(self) -> bool:
        return self.previous_view is not None and self.previous_links is not None


@dataclass
class MatchOutcome:
    """mode: full (learnt), frozen or incremental; `view`: the match view to store;
    `learnt`: the parameters a full resolution learnt (to store); `touched`: the nodes of the
    records whose pairs were scored again (incremental); `changes`: how the view compared
    with the stored one (incremental: only the rows that differ are written)."""

    mode: str
    reason: str
    view: pd.DataFrame
    learnt: MatchParameters | None = None
    touched: np.ndarray | None = None
    stats: dict[str, int] = field(default_factory=dict)
    changes: RecordChanges | None = None  # incremental: the view compared with the stored one


def node_keys(nodes: pd.DataFrame) -> pd.Series:
    return nodes["kind"] + "|" + nodes["source"] + "|" + nodes["source_record_id"]


def _known_matches(records: pd.DataFrame, identifier: pd.DataFrame) -> KnownMatches:
    """Record pairs joined by a usable email, phone or loyalty id: training labels for m."""
    is_record = identifier["left"].isin(records["node"]) & identifier["right"].isin(records["node"])
    pairs = identifier[is_record]
    return KnownMatches(
        pairs["left"].to_numpy(dtype=np.int64),
        pairs["right"].to_numpy(dtype=np.int64),
        pairs["rule"].to_numpy(dtype=object),
    )


def _settings(config: IdentityConfig) -> ProbabilisticSettings:
    settings = config.probabilistic
    return ProbabilisticSettings(
        threshold=settings.threshold,
        max_block_size=settings.max_block_size,
        u_sample_pairs=settings.u_sample_pairs,
        seed=settings.seed,
    )


def _graph_edges(links: pd.DataFrame) -> pd.DataFrame:
    """The matcher's links as graph edges with their evidence."""
    edges = pd.DataFrame(
        {
            "left": links["left_node"].to_numpy(dtype="int64"),
            "right": links["right_node"].to_numpy(dtype="int64"),
            "rule": "probabilistic",
            "weight": links["weight"].to_numpy(dtype="float64"),
            "evidence": (
                links["levels"].astype("string")
                + " (p="
                + links["probability"].round(4).astype("string")
                + _name_frequency_text(links["name_frequency"])
                + ", blocking: "
                + links["rule"].astype("string")
                + ")"
            ).to_numpy(),
        }
    )
    return edges.astype(EDGE_DTYPES)


def _match(
    masked: pd.DataFrame,
    config: IdentityConfig,
    known: Callable[[], KnownMatches],
    matching: Matching,
) -> tuple[pd.DataFrame, ProbabilisticResult, MatchOutcome]:
    """Probabilistic edges of the records (shared values blanked), as `matching` says."""
    view = match_view(masked)
    settings = _settings(config)
    reason = "parameters learnt from all records"
    if matching.parameters is not None and matching.incremental:
        incremental = _incremental_match(masked, view, settings, matching)
        if not isinstance(incremental, str):
            return incremental
        reason = incremental
    elif matching.parameters is not None:
        result = frozen_links(masked, matching.parameters, settings)
        outcome = MatchOutcome("frozen", "parameters of the last full resolution", view)
        return _graph_edges(result.edges), result, outcome
    result = probabilistic_links(masked, settings, known())
    outcome = MatchOutcome("full", reason, view, learnt=result.learnt)
    return _graph_edges(result.edges), result, outcome


def _incremental_match(
    masked: pd.DataFrame,
    view: pd.DataFrame,
    settings: ProbabilisticSettings,
    matching: Matching,
) -> tuple[pd.DataFrame, ProbabilisticResult, MatchOutcome] | str:
    """The pairs of the new or changed records (and of every record in a block whose size
    limit they crossed) scored with the stored parameters, and the previous links between
    untouched records kept; or why a full resolution is needed (too many changes)."""
    assert matching.parameters is not None and matching.previous_view is not None
    changes = record_changes(view, matching.previous_view)
    count = changes.count + matching.erased_records
    share = count / max(len(masked), 1)
    if share > matching.max_changed_share:
        return (
            f"{count:,} new, changed, removed or erased records ({share:.1%}) are more "
            f"than identity.incremental_max_changed_share ({matching.max_changed_share:.0%})"
        )
    ghosts = changes.ghosts.assign(node=-1)
    both = pd.concat([masked, ghosts], ignore_index=True)
    touched = np.r_[changes.touched, np.zeros(len(ghosts), dtype=bool)]
    result = frozen_links(both, matching.parameters, settings, touched, matching.erased_records)
    assert result.touched is not None
    widened = result.touched[: len(masked)]
    kept = kept_links(matching.previous_links, masked, widened)
    edges = pd.concat([kept, _graph_edges(result.edges)], ignore_index=True)
    edges = edges.sort_values(["left", "right"], ignore_index=True).astype(EDGE_DTYPES)
    counts = {
        "new": changes.new,
        "changed": changes.changed,
        "removed": changes.removed + matching.erased_records,
    }
    outcome = MatchOutcome(
        "incremental",
        f"{count:,} new, changed, removed or erased records ({share:.2%})"
        + _suspect_blocks_text(result.stats, int(widened.sum() - changes.touched.sum())),
        view,
        touched=masked["node"].to_numpy()[widened],
        stats=counts | {"pairs_scored": int(result.stats["candidate_pairs"])},
        changes=changes,
    )
    return edges, result, outcome


def _suspect_blocks_text(stats: dict, records: int) -> str:
    """What was re-matched beyond the changed records, and why (empty: nothing)."""
    blocks = int(stats.get("blocks_changing_skip", 0)) + int(stats.get("blocks_near_limit", 0))
    if not blocks:
        return ""
    return (
        f"; {records:,} more records re-matched: those of {blocks} blocking block(s) whose "
        "skip by identity.probabilistic.max_block_size changed, or may have (erasures)"
    )


def _name_frequency_text(bits: pd.Series) -> pd.Series:
    """ ", name frequency +2.3 bits" where the shared names' rarity moved the weight."""
    text = ", name frequency " + bits.map("{:+.1f}".format).astype("string") + " bits"
    return text.where(bits.abs() >= 0.05, "")


def _override_pairs(pairs: tuple, records: pd.DataFrame) -> list[tuple[int, int]]:
    index = pd.Series(
        records["node"].to_numpy(), index=records["source"] + ":" + records["record_id"]
    )
    out = []
    for pair in pairs:
        if pair.left in index.index and pair.right in index.index:
            out.append((int(index[pair.left]), int(index[pair.right])))
    return out


def _without_shared(records: pd.DataFrame, shared: pd.DataFrame) -> pd.DataFrame:
    """Records with shared identifier values blanked: a household's landline is no evidence
    that two of its members are one person."""
    out = records.copy(deep=False)  # only the masked columns are new
    for column in ("email_key", "phone", "loyalty_id"):
        values = shared.loc[shared["type"] == column, "value"]
        if len(values):
            out[column] = out[column].mask(string_isin(out[column], values))
    return out


def _known_nodes(graph: GraphNodes, shared: pd.DataFrame) -> np.ndarray:
    """Nodes that make a customer: records, references, and identifier sets with at least one
    identifier that is not shared. Anonymous ids only join customers through links."""
    kind = graph.nodes["kind"].to_numpy()
    known = np.isin(kind, ["record", "ref"])
    ids_nodes = graph.occurrences.merge(
        shared[["type", "value"]], on=["type", "value"], how="left", indicator=True
    )
    usable = ids_nodes.loc[ids_nodes["_merge"] == "left_only", "node"].unique()
    known[usable[kind[usable] == "ids"]] = True
    return known


@dataclass
class _Clusters:
    """Clustering, limits and stable ids of one graph (the whole one, or touched components)."""

    labels: np.ndarray
    split: SplitResult
    ids: IdAssignment
    kept: pd.DataFrame
    edge_count: int


def _cluster_and_assign(
    records: pd.DataFrame,
    graph: GraphNodes,
    edges: pd.DataFrame,
    shared: pd.DataFrame,
    previous: pd.DataFrame,
    previous_aliases: pd.DataFrame,
    config: IdentityConfig,
    run_at: pd.Timestamp,
    issued_top: float = float("nan"),
) -> _Clusters:
    n = len(graph.nodes)
    is_record = np.zeros(n, dtype=bool)
    is_record[records["node"].to_numpy()] = True
    cannot = _override_pairs(config.cannot_link, records)
    split = enforce_limits(
        n, edges, cluster_facts(records, n), config.profile_limits, is_record, cannot
    )
    labels = split.labels
    known = _known_nodes(graph, shared)
    resolved_label = pd.Series(known).groupby(labels).transform("any").to_numpy()
    keys = node_keys(graph.nodes)
    kept = edges.merge(split.removed[["left", "right", "rule"]], how="left", indicator=True)
    kept = kept[kept["_merge"] == "left_only"].drop(columns="_merge")
    edge_count = len(edges)
    del edges  # the caller holds no reference: a gigabyte at a million customers
    release_memory()
    ids = assign_ids(
        keys,
        labels,
        resolved_label,
        previous,
        previous_aliases,
        kept,
        config.id_prefix,
        run_at,
        issued_top,
    )
    return _Clusters(labels, split, ids, kept, edge_count)


def _must_edges(config: IdentityConfig, records: pd.DataFrame) -> pd.DataFrame:
    must = _override_pairs(config.must_link, records)
    must_edges = pd.DataFrame(
        {
            "left": [a for a, _ in must],
            "right": [b for _, b in must],
            "rule": "must_link",
            "weight": RULE_WEIGHTS["must_link"],
            "evidence": "identity.must_link",
        }
    )
    return must_edges.astype(EDGE_DTYPES)


@dataclass
class _Changes:
    """What changed since the stored resolution, found before matching."""

    nodes: np.ndarray  # new or changed records and combos, carriers of flipped values
    customers: pd.Series  # previous customers of removed or changed records and combos


def _changes_and_shared(
    records: pd.DataFrame,
    fingerprints: np.ndarray,
    graph: GraphNodes,
    density: pd.DataFrame,
    config: IdentityConfig,
    stored: StoredIdentity,
) -> tuple[_Changes, pd.DataFrame]:
    """The changed nodes and the shared-identifier guard, computed again only for the values
    whose status can change (see `identity.components`)."""
    record_nodes, record_customers, arrived_or_gone = changed_records(
        records, fingerprints, stored.records
    )
    combo_nodes, combo_customers, removed = changed_combos(graph.combo_nodes, stored.combos)
    changed = np.union1d(record_nodes, combo_nodes)
    changed = np.union1d(changed, referencing_nodes(graph.combo_nodes, arrived_or_gone))
    removed_values = pd.concat(
        [
            pd.DataFrame({"type": column, "value": removed[column]})
            for column in ("email_key", "phone", "loyalty_id")
        ],
        ignore_index=True,
    ).dropna()
    values = candidate_values(graph, changed, stored.shared, density, config)
    values = pd.concat([values, removed_values.astype("string")], ignore_index=True)
    values = values.drop_duplicates(ignore_index=True)
    shared = shared_of(values, graph, records, density, config)
    before = stored.shared[["type", "value"]].astype("string")
    flips = before.merge(shared[["type", "value"]], how="outer", indicator=True)
    flips = flips[flips["_merge"] != "both"][["type", "value"]]
    occ = graph.occurrences
    flipped = occ.merge(flips, on=["type", "value"], how="inner")["node"]
    removed_nodes = occ.merge(removed_values, on=["type", "value"], how="inner")["node"]
    nodes = graph.nodes
    named = (
        string_isin(
            nodes["source_record_id"],
            pd.concat([removed["anonymous_id"], removed["customer_ref"]]).dropna(),
        )
        & nodes["kind"].isin(["anon", "ref", "record"]).to_numpy()
    )
    seeds = np.unique(
        np.r_[
            changed,
            flipped.to_numpy(dtype=np.int64),
            removed_nodes.to_numpy(dtype=np.int64),
            nodes.loc[named, "node"].to_numpy(dtype=np.int64),
        ]
    )
    customers = pd.concat([record_customers, combo_customers]).astype("object")
    return _Changes(seeds, customers), shared


def resolve_identities(
    records: pd.DataFrame,
    graph: GraphNodes,
    density: pd.DataFrame,
    previous: pd.DataFrame,
    previous_aliases: pd.DataFrame,
    config: IdentityConfig,
    run_at: pd.Timestamp,
    matching: Matching = Matching(),  # noqa: B008 - frozen
    stored: StoredIdentity | None = None,
) -> IdentityResolution:
    """Resolves every node of `graph` to a customer id (see the package docs for the rules).

    `matching` says whether the probabilistic links are learnt, frozen or incremental. An
    incremental resolution given the `stored` state of the last one resolves only the
    components touched by what changed (`identity.components`) and keeps every other
    customer as stored: `xref`, `edges` and `assignments` then hold the rows of the
    re-resolved components only (`restriction` says which), `node_customer` every node."""
    n = len(graph.nodes)
    fingerprints = record_fingerprints(records)
    changes = None
    if stored is not None and matching.incremental:
        changes, shared = _changes_and_shared(records, fingerprints, graph, density, config, stored)
    else:
        shared = shared_identifiers(graph.occurrences, records, density, config)
    login = graph.links.assign(weight=RULE_WEIGHTS["login"], evidence="anonymous id seen with it")
    login = login.astype(EDGE_DTYPES)
    must_edges = _must_edges(config, records)
    release_memory()
    parameters = pd.DataFrame()
    prob_stats: dict[str, float | int] = {}
    outcome = None
    prob_edges = pd.DataFrame(columns=list(EDGE_DTYPES)).astype(EDGE_DTYPES)
    det: pd.DataFrame | None = None
    if config.probabilistic.enabled and len(records) > 1:

        def known() -> KnownMatches:
            nonlocal det
            if det is None:
                det = identifier_edges(graph.occurrences, shared)
            return _known_matches(records, det)

        masked = _without_shared(records, shared)
        prob_edges, result, outcome = _match(masked, config, known, matching)
        del masked
        parameters = result.parameters
        prob_stats = {
            f"probabilistic_{k}": v
            for k, v in result.stats.items()
            if isinstance(v, int | float | str)
        }
    restriction = None
    scope = "whole graph"
    if changes is not None and outcome is not None and outcome.mode == "incremental":
        assert outcome.touched is not None
        links = pd.concat([login, must_edges, prob_edges], ignore_index=True)
        seeds = np.union1d(changes.nodes, outcome.touched.astype(np.int64))
        keys = node_keys(graph.nodes)
        restriction = restrict(graph, keys, seeds, changes.customers, links, shared, stored)
        restriction.current_keys = keys
        share = len(restriction.nodes) / max(n, 1)
        if share > MAX_RESTRICTED_NODE_SHARE:
            scope = (
                f"whole graph: the touched components hold {share:.0%} of the nodes "
                f"(more than {MAX_RESTRICTED_NODE_SHARE:.0%})"
            )
            restriction = None
        else:
            scope = (
                f"touched components: {len(restriction.nodes):,} of {n:,} nodes "
                f"({share:.2%}), {len(restriction.customers):,} previous customers"
            )
    elif matching.incremental and stored is None:
        scope = "whole graph: no stored record fingerprints"
    if restriction is not None:
        assert stored is not None
        return _resolve_restricted(
            records,
            fingerprints,
            graph,
            [login, must_edges, prob_edges],
            shared,
            previous,
            previous_aliases,
            config,
            run_at,
            restriction,
            outcome,
            parameters,
            prob_stats,
            scope,
        )
    if det is None:
        det = identifier_edges(graph.occurrences, shared)
    handed = [pd.concat([det, login, must_edges, prob_edges], ignore_index=True)]
    del det, login, must_edges
    release_memory()
    # The edges are handed over, not kept: the step frees them before assigning ids.
    clusters = _cluster_and_assign(
        records,
        graph,
        handed.pop().astype(EDGE_DTYPES),
        shared,
        previous,
        previous_aliases,
        config,
        run_at,
    )
    ids = clusters.ids
    node_customer = ids.customer_ids
    keys = node_keys(graph.nodes)
    assignments, xref, edge_table = _graph_tables(graph, keys, node_customer, clusters)
    splits = clusters.split.splits
    stats = _stats(node_customer, graph, clusters.edge_count, shared, splits) | prob_stats
    if outcome is not None and outcome.touched is not None:
        stats |= _touched_stats(outcome, clusters.labels, prob_edges)
    return IdentityResolution(
        node_customer,
        xref,
        edge_table,
        assignments.reset_index(drop=True),
        ids,
        shared,
        splits,
        parameters,
        stats,
        outcome,
        record_state=_record_state(records, fingerprints, node_customer),
        scope=scope,
    )


def _record_state(
    records: pd.DataFrame, fingerprints: np.ndarray, node_customer: pd.Series
) -> pd.DataFrame:
    """Per record (row order of `records`): its fingerprint and customer id, stored with the
    match view for the next incremental resolution (and erasure)."""
    return pd.DataFrame(
        {
            "record_hash": fingerprints,
            "customer_id": node_customer.to_numpy()[records["node"].to_numpy()],
        }
    )


def _subgraph(
    records: pd.DataFrame, graph: GraphNodes, nodes: np.ndarray
) -> tuple[pd.DataFrame, GraphNodes]:
    """The records and graph of `nodes` (sorted global nodes), renumbered 0..k-1 in the same
    order: every tie the full resolution breaks by node number breaks the same way."""

    def local(values: pd.Series | np.ndarray) -> np.ndarray:
        return np.searchsorted(nodes, np.asarray(values, dtype=np.int64))

    def inside(values: pd.Series) -> np.ndarray:
        return np.isin(values.to_numpy(dtype=np.int64), nodes)

    sub_records = records[inside(records["node"])].copy()
    sub_records["node"] = local(sub_records["node"])
    sub_nodes = graph.nodes.iloc[nodes].copy()
    sub_nodes["node"] = np.arange(len(nodes), dtype=np.int64)
    occ = graph.occurrences[inside(graph.occurrences["node"])].copy()
    occ["node"] = local(occ["node"])
    links = graph.links[inside(graph.links["left"])].copy()
    links["left"] = local(links["left"])
    links["right"] = local(links["right"])
    combos = graph.combo_nodes
    has_node = combos["node"].notna().to_numpy()
    combo_node = combos["node"].to_numpy(dtype="float64")
    picked = has_node & np.isin(np.nan_to_num(combo_node, nan=-1).astype(np.int64), nodes)
    sub_combos = combos[picked].copy()
    sub_combos["node"] = pd.array(local(sub_combos["node"].astype("int64")), dtype="Int64")
    return sub_records.reset_index(drop=True), GraphNodes(
        sub_nodes.reset_index(drop=True), occ, links, sub_combos
    )


def _local_edges(edges: pd.DataFrame, nodes: np.ndarray) -> pd.DataFrame:
    """The edges between `nodes` (sorted global nodes), renumbered as `_subgraph` does."""
    inside = np.isin(edges["left"].to_numpy(dtype=np.int64), nodes)
    out = edges[inside].copy()
    out["left"] = np.searchsorted(nodes, out["left"].to_numpy(dtype=np.int64))
    out["right"] = np.searchsorted(nodes, out["right"].to_numpy(dtype=np.int64))
    return out.astype(EDGE_DTYPES)


def _resolve_restricted(
    records: pd.DataFrame,
    fingerprints: np.ndarray,
    graph: GraphNodes,
    links: list[pd.DataFrame],
    shared: pd.DataFrame,
    previous: pd.DataFrame,
    previous_aliases: pd.DataFrame,
    config: IdentityConfig,
    run_at: pd.Timestamp,
    restriction: Restriction,
    outcome: MatchOutcome,
    parameters: pd.DataFrame,
    prob_stats: dict[str, float | int],
    scope: str,
) -> IdentityResolution:
    """Clustering, limits and stable ids of the touched components alone; every other node
    keeps its stored customer id."""
    nodes = restriction.nodes
    sub_records, sub_graph = _subgraph(records, graph, nodes)
    det = identifier_edges(sub_graph.occurrences, shared)
    edges = pd.concat(
        [det, *(_local_edges(frame, nodes) for frame in links)], ignore_index=True
    ).astype(EDGE_DTYPES)
    issued = pd.concat(
        [previous["customer_id"], previous_aliases["alias_id"], previous_aliases["customer_id"]]
    )
    issued_top = float(id_number(issued.drop_duplicates(), config.id_prefix).max())
    in_scope = string_isin(previous["customer_id"], restriction.customers)
    clusters = _cluster_and_assign(
        sub_records,
        sub_graph,
        edges,
        shared,
        previous[in_scope],
        previous_aliases,
        config,
        run_at,
        issued_top,
    )
    sub_customer = clusters.ids.customer_ids
    node_customer = pd.Series(restriction.previous_customer, dtype="string")
    node_customer.iloc[nodes] = sub_customer.to_numpy()
    keys = node_keys(sub_graph.nodes)
    restriction.touched_keys = keys
    assignments, xref, edge_table = _graph_tables(sub_graph, keys, sub_customer, clusters)
    splits = clusters.split.splits
    stats = _stats(node_customer, graph, clusters.edge_count, shared, splits) | prob_stats
    labels = np.full(len(graph.nodes), -1, dtype=np.int64)
    labels[nodes] = nodes[clusters.labels]
    stats |= _touched_stats(outcome, labels, links[-1]) | restriction.stats
    return IdentityResolution(
        node_customer,
        xref,
        edge_table,
        assignments.reset_index(drop=True),
        clusters.ids,
        shared,
        splits,
        parameters,
        stats,
        outcome,
        record_state=_record_state(records, fingerprints, node_customer),
        scope=scope,
        restriction=restriction,
    )


def _graph_tables(
    graph: GraphNodes, keys: pd.Series, node_customer: pd.Series, clusters: _Clusters
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The identity nodes' assignments, the xref and the edge table of a clustered graph
    (the whole one, or the touched components)."""
    assignments = pd.DataFrame({"node_key": keys, "customer_id": node_customer})[
        node_customer.notna().to_numpy()
    ].astype(ASSIGNMENT_DTYPES)
    xref = _xref(graph, node_customer, clusters.kept)
    edge_table = _edge_table(graph, node_customer, clusters.kept, clusters.split.removed)
    return assignments, xref, edge_table


def _touched_stats(
    outcome: MatchOutcome, labels: np.ndarray, prob_edges: pd.DataFrame
) -> dict[str, int]:
    """What an incremental resolution re-resolved: the records whose pairs were scored again,
    those they linked to, and the clusters (components) holding any of them."""
    linked = prob_edges[
        np.isin(prob_edges["left"], outcome.touched) | np.isin(prob_edges["right"], outcome.touched)
    ]
    nodes = np.unique(np.r_[outcome.touched, linked["left"], linked["right"]]).astype(np.int64)
    return {
        "records_new": outcome.stats["new"],
        "records_changed": outcome.stats["changed"],
        "records_removed": outcome.stats["removed"],
        "records_re_resolved": len(nodes),
        "pairs_scored": outcome.stats["pairs_scored"],
        "components_touched": len(np.unique(labels[nodes])),
    }


def _best_link(n: int, edges: pd.DataFrame) -> pd.DataFrame:
    """Per node: the rule and weight of its strongest incident link."""
    both = pd.concat(
        [
            edges[["left", "rule", "weight"]].rename(columns={"left": "node"}),
            edges[["right", "rule", "weight"]].rename(columns={"right": "node"}),
        ]
    )
    best = both.sort_values(["node", "weight"], ascending=[True, False]).drop_duplicates("node")
    return best.set_index("node").reindex(range(n))


def _xref(graph: GraphNodes, node_customer: pd.Series, edges: pd.DataFrame) -> pd.DataFrame:
    nodes = graph.nodes
    best = _best_link(len(nodes), edges)
    records = nodes[nodes["kind"] == "record"]
    record_rows = pd.DataFrame(
        {
            "source": records["source"],
            "source_record_id": records["source_record_id"],
            "identity_kind": "record",
            "node": records["node"],
        }
    )
    combos = graph.combo_nodes[graph.combo_nodes["node"].notna()]
    kind = np.select(
        [
            combos["customer_ref"].notna(),
            combos[["email_key", "phone", "loyalty_id"]].notna().any(axis=1),
        ],
        ["customer_ref", "identifiers"],
        default="anonymous_id",
    )
    fact_id = nodes["source_record_id"].to_numpy()[combos["node"].to_numpy(dtype="int64")]
    fact_rows = pd.DataFrame(
        {
            "source": combos["source"].to_numpy(),
            "source_record_id": np.where(
                kind == "customer_ref", combos["customer_ref"].to_numpy(dtype=object), fact_id
            ),
            "identity_kind": kind,
            "node": combos["node"].to_numpy(dtype="int64"),
        }
    ).drop_duplicates(["source", "source_record_id", "identity_kind"])
    xref = pd.concat([record_rows, fact_rows], ignore_index=True)
    xref["customer_id"] = node_customer.to_numpy()[xref["node"].to_numpy()]
    link = best.reindex(xref["node"].to_numpy())
    xref["match_rule"] = np.where(
        xref["identity_kind"].eq("customer_ref")
        & nodes["kind"].to_numpy()[xref["node"]].__eq__("record"),
        "customer_ref",
        link["rule"].fillna("own_record").to_numpy(),
    )
    xref["match_score"] = link["weight"].to_numpy()
    xref = xref[xref["customer_id"].notna()]
    xref = xref.sort_values(["source", "identity_kind", "source_record_id"], ignore_index=True)
    return xref[list(XREF_DTYPES)].astype(XREF_DTYPES)


def _edge_table(
    graph: GraphNodes, node_customer: pd.Series, kept: pd.DataFrame, removed: pd.DataFrame
) -> pd.DataFrame:
    nodes = graph.nodes.set_index("node")
    frames = [kept.assign(status="linked")]
    if len(removed):
        frames.append(removed.assign(status="cut: " + removed["reason"].astype("string")))
    edges = pd.concat(frames, ignore_index=True)
    left = nodes.reindex(edges["left"].to_numpy())
    right = nodes.reindex(edges["right"].to_numpy())
    table = pd.DataFrame(
        {
            "customer_id": node_customer.to_numpy()[edges["left"].to_numpy()],
            "left_source": left["source"].to_numpy(),
            "left_record_id": left["source_record_id"].to_numpy(),
            "left_kind": left["kind"].to_numpy(),
            "right_source": right["source"].to_numpy(),
            "right_record_id": right["source_record_id"].to_numpy(),
            "right_kind": right["kind"].to_numpy(),
            "rule": edges["rule"].to_numpy(),
            "weight": edges["weight"].to_numpy(),
            "evidence": edges["evidence"].to_numpy(),
            "status": edges["status"].to_numpy(),
        }
    )
    return table.astype(IDENTITY_EDGE_DTYPES)


def _stats(
    node_customer: pd.Series,
    graph: GraphNodes,
    edge_count: int,
    shared: pd.DataFrame,
    splits: pd.DataFrame,
) -> dict[str, float | int]:
    records = graph.nodes["kind"].to_numpy() == "record"
    # Records per customer, from one factorisation of the ids (not a groupby of strings).
    codes, distinct = pd.factorize(node_customer, use_na_sentinel=True)
    held = codes >= 0
    per_customer = np.bincount(codes[held], weights=records[held], minlength=len(distinct))
    customers = len(distinct)
    singletons = float(np.count_nonzero(per_customer <= 1))
    return {
        "customers": customers,
        "nodes": len(graph.nodes),
        "customer_records": int(records.sum()),
        "largest_cluster_records": int(per_customer.max()) if customers else 0,
        "singleton_share": round(singletons / customers, 5) if customers else 0.0,
        "edges": edge_count,
        "shared_identifiers": len(shared),
        "clusters_split": len(splits),
    }
