"""`identity_resolution`: the identity graph's tables, from one resolution of every customer
record and fact identity."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.canonical import LINEAGE_COLUMNS
from cdp_assets.defs.catalog import CORE_GROUP, XREF_KEY, privacy_deps, staging_key
from cdp_assets.defs.identity.staged import fact_sources, read_combos, read_customer_records
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.identity.changed_records import (
    MATCH_VIEW_DTYPES,
    StoredViewChanges,
    stored_view_changes,
)
from cdp_assets.identity.components import (
    StoredIdentity,
    stale_unresolved_edges,
    touched_fact_identities,
)
from cdp_assets.identity.facts import FACT_IDENTITIES
from cdp_assets.identity.increments import (
    FROZEN_RESOLUTION_TAG,
    FULL_RESOLUTION_TAG,
    RUN_DTYPES,
    ResolutionPlan,
    input_digest,
    plan_resolution,
    run_row,
    settings_digest,
    table_digest_sql,
)
from cdp_assets.identity.match_parameters import (
    LEVEL_DTYPES,
    NAME_SHARE_DTYPES,
    MatchParameters,
)
from cdp_assets.identity.memory import release_memory
from cdp_assets.identity.nodes import COMBO_DTYPES, graph_nodes
from cdp_assets.identity.probabilistic import readable_weights
from cdp_assets.identity.records import MATCHING_FIELDS
from cdp_assets.identity.resolve import (
    IDENTITY_EDGE_DTYPES,
    IdentityResolution,
    Matching,
    resolve_identities,
)
from cdp_assets.identity.shared import SHARED_DTYPES
from cdp_assets.identity.stability import cluster_figures, cluster_stability
from cdp_assets.identity.stable_ids import ALIAS_DTYPES, ASSIGNMENT_DTYPES
from cdp_assets.reporting.markdown import counts_table, markdown_table, masked_preview
from cdp_assets.warehouse import TableRef, Warehouse, WarehouseSession, coerce_frame
from cdp_assets.warehouse.versions import ContentMemo

CHECK_IDS_STABLE = "cluster_figures_stable"
IDENTITY_OUTPUTS = {
    "customer_xref": "one row per source identity record (customer records, fact customer "
    "references, identifier sets, linked anonymous ids) with its customer_id, match rule and "
    "score",
    "identity_edges": "every link between two records: rule or comparison levels, weight, and "
    "whether it holds or was cut by the over-merge protection",
    "identity_merges": "the ledger: one row per new customer, merge, split or retired id per run",
    "customer_id_aliases": "superseded customer ids and the current id each resolves to",
    "identity_nodes": "the id every identity node holds: where the next run starts from",
    "shared_identifiers": "identifier values not used for linking, with the rule that caught "
    "them (blocked, too many records, conflicting people, dense facts)",
    "fact_identities": "distinct identity combinations of the fact sources and their customer "
    "id, joined to fact rows in SQL",
}
# The stable-id state: the next run starts from it, so its tables are written together or not
# at all (an alias lost between them would leave a downstream id unresolvable).
STABLE_ID_STATE = ("identity_nodes", "customer_id_aliases", "identity_merges")
NODES = TableRef("core", "identity_nodes")
EDGES = TableRef("core", "identity_edges")
ALIASES = TableRef("core", "customer_id_aliases")
MERGES = TableRef("core", "identity_merges")
# The resolution ledger: one row per full resolution, with the digest of its inputs; the next
# run compares its own digest with the last one's. A run that changes nothing writes nothing,
# this table included (a second run on the same data leaves every table as it was).
RUNS = TableRef("core", "identity_runs")
# What an incremental resolution starts from besides the stable-id state: the matching
# parameters the last full resolution learnt (with its run_at: usable only while it is the
# last full one) and the match view of every record at the last resolution.
MATCH_LEVELS = TableRef("core", "identity_match_levels")
NAME_SHARES = TableRef("core", "identity_name_shares")
MATCH_RECORDS = TableRef("core", "identity_match_records")
STORED_VIEW_DTYPES = MATCH_VIEW_DTYPES | {
    "customer_id": "string",
    "rows_written": "int64",
    "record_hash": "Int64",  # fingerprint of the record's raw fields (`identity.components`)
}
SHARED = TableRef("core", "shared_identifiers")


INCREMENTAL_STATS = (
    "records_new",
    "records_changed",
    "records_removed",
    "records_re_resolved",
    "pairs_scored",
    "components_touched",
    "nodes_re_resolved",
    "customers_re_resolved",
    "match_view_rows_inserted",
    "match_view_rows_deleted",
)


def _previous_state(session: WarehouseSession) -> tuple[pd.DataFrame, pd.DataFrame]:
    previous = session.read_table(NODES, dtypes=ASSIGNMENT_DTYPES)
    return previous, session.read_table(ALIASES, dtypes=ALIAS_DTYPES)


def _resolve(
    wh: Warehouse,
    config: CDPConfig,
    previous: pd.DataFrame,
    aliases: pd.DataFrame,
    run_at: pd.Timestamp,
    matching: Matching,
    stored: StoredIdentity | None = None,
) -> tuple[IdentityResolution, pd.DataFrame]:
    """One resolution of every record and fact identity, and the fact identities' customer
    ids. Inputs are dropped as soon as they are used: at a million customers every frame
    held a step longer than needed is a gigabyte of peak memory."""
    with wh.transaction() as session:
        records = read_customer_records(session, config, MATCHING_FIELDS)
        combos, density = read_combos(session, config)
    release_memory()  # the staging frames the records were built from
    graph = graph_nodes(records, combos, config)
    del combos  # graph.combo_nodes holds them now
    release_memory()  # graph_nodes' temporaries: ~150 MB per 100,000 customers
    result = resolve_identities(
        records, graph, density, previous, aliases, config.identity, run_at, matching, stored
    )
    del records, density
    fact_map = graph.combo_nodes
    del graph  # the identity tables are built: only the combos remain needed
    node = fact_map.pop("node")
    fact_map["customer_id"] = result.node_customer.reindex(
        node.astype("float").to_numpy()
    ).to_numpy()
    fact_map = fact_map.astype(COMBO_DTYPES | {"customer_id": "string"})
    if result.restriction is not None:
        assert stored is not None
        result.fact_rows = touched_fact_identities(
            fact_map, node, result.restriction, stored.combos
        )
    del node
    release_memory()
    return result, fact_map


def _identity_settings(config: CDPConfig) -> dict[str, object]:
    """The settings that shape the graph (in the input digest and the parameters' digest)."""
    return {
        "identity": config.identity.model_dump(
            mode="json",
            exclude={
                "full_resolution_every_days",
                "max_cluster_growth",
                "incremental_max_changed_share",
            },
        ),
        "sources": [[s.name, s.kind, s.customer_ref_source] for s in config.sources],
    }


def _incremental_blocker(
    session: WarehouseSession, config: CDPConfig, runs: pd.DataFrame
) -> str | None:
    """Why this run cannot resolve incrementally (None: it can)."""
    if config.identity.incremental_max_changed_share is None:
        return "identity.incremental_max_changed_share is null"
    if not config.identity.probabilistic.enabled:
        return "probabilistic matching is off"
    for ref in (MATCH_LEVELS, NAME_SHARES, MATCH_RECORDS):
        if not session.table_exists(ref):
            return f"no stored {ref.table}"
    learnt = session.query(
        f"SELECT MAX(learnt_at) AS learnt_at, MAX(settings_digest) AS digest "
        f"FROM {MATCH_LEVELS.sql}"
    ).iloc[0]
    fulls = runs.loc[runs["mode"] == "full", "run_at"]
    if len(fulls) == 0 or pd.isna(learnt["learnt_at"]):
        return "no stored matching parameters"
    if _utc(learnt["learnt_at"]) != _utc(fulls.iloc[-1]):
        return "the last full resolution stored no matching parameters"
    if learnt["digest"] != settings_digest(_identity_settings(config)):
        return "identity settings changed since the parameters were learnt"
    return None


def _utc(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _matching(
    session: WarehouseSession, config: CDPConfig, plan: ResolutionPlan
) -> tuple[Matching, ResolutionPlan]:
    """What the matcher starts from: nothing for a full resolution; the stored parameters for
    a frozen one; and the last match view and probabilistic links for an incremental one,
    with how many rows of the view erasure deleted since it was written (their old blocks
    are unknown: see `Matching.erased_records`)."""
    if plan.mode not in ("incremental", "frozen"):
        return Matching(), plan
    parameters = MatchParameters.from_tables(
        session.read_table(MATCH_LEVELS, dtypes=LEVEL_DTYPES),
        session.read_table(NAME_SHARES, dtypes=NAME_SHARE_DTYPES),
    )
    if plan.mode == "frozen":
        return Matching(parameters), plan
    view = session.read_table(MATCH_RECORDS, dtypes=STORED_VIEW_DTYPES)
    erased = int(view["rows_written"].iloc[0]) - len(view) if len(view) else 0
    columns = ["left_source", "left_record_id", "right_source", "right_record_id"]
    links = session.query(
        f"SELECT {', '.join(columns)}, rule, weight, evidence FROM {EDGES.sql} "
        "WHERE rule = 'probabilistic'"
    ).astype({c: IDENTITY_EDGE_DTYPES[c] for c in [*columns, "rule", "weight", "evidence"]})
    share = config.identity.incremental_max_changed_share
    share = share if share is not None else 0.0
    return Matching(parameters, view, links, share, erased), plan


def _stored_identity(
    session: WarehouseSession, view: pd.DataFrame | None, previous: pd.DataFrame
) -> StoredIdentity | None:
    """What the last resolution left for an incremental one restricted to the touched
    components (None: the stored match view has no record fingerprints — written before
    they were stored — so the whole graph is resolved once)."""
    if view is None or view["record_hash"].isna().any():
        return None
    combos = session.read_table(FACT_IDENTITIES, dtypes=COMBO_DTYPES | {"customer_id": "string"})
    cut = session.query(
        "SELECT left_kind || '|' || left_source || '|' || left_record_id AS left_key, "
        "right_kind || '|' || right_source || '|' || right_record_id AS right_key "
        f"FROM {EDGES.sql} WHERE status <> 'linked'"
    ).astype("string")
    return StoredIdentity(
        assignments=previous,
        shared=session.read_table(SHARED, dtypes=SHARED_DTYPES),
        records=view[["source", "record_id", "record_hash", "customer_id"]],
        combos=combos,
        cut=cut,
    )


def _stored_view(view: pd.DataFrame, record_state: pd.DataFrame) -> pd.DataFrame:
    """The match view with each record's customer id, so that erasure finds and deletes an
    erased customer's rows (names, birth date, address), the row count written, and each
    record's fingerprint (what the next incremental resolution compares). `record_state` is
    in the view's row order (the records')."""
    stored = view.assign(
        customer_id=record_state["customer_id"].to_numpy(),
        record_hash=record_state["record_hash"].to_numpy(),
    )
    return stored.assign(rows_written=len(stored)).astype(STORED_VIEW_DTYPES)


def _view_changes(result: IdentityResolution, matching: Matching) -> StoredViewChanges | None:
    """An incremental resolution's rows of the stored match view that differ from the
    stored ones (None: the view is written whole)."""
    outcome = result.matching
    if outcome is None or outcome.changes is None or matching.previous_view is None:
        return None
    assert result.record_state is not None
    now = _stored_view(outcome.view, result.record_state)
    changes = stored_view_changes(now, matching.previous_view, outcome.changes)
    if changes is not None:
        result.stats["match_view_rows_inserted"] = len(changes.insert)
        result.stats["match_view_rows_deleted"] = len(changes.delete)
    return changes


def _matching_state(
    result: IdentityResolution, config: CDPConfig, run_at: pd.Timestamp, view: bool = True
) -> dict[TableRef, pd.DataFrame]:
    """The matching state this resolution leaves: its match view (unless `view` is False:
    written by its changes), and the parameters a full resolution learnt (an incremental one
    keeps the stored ones)."""
    outcome = result.matching
    if outcome is None:
        return {}
    assert result.record_state is not None
    state = {}
    if view:
        state[MATCH_RECORDS] = _stored_view(outcome.view, result.record_state)
    if outcome.learnt is not None:
        digest = settings_digest(_identity_settings(config))
        state[MATCH_LEVELS], state[NAME_SHARES] = outcome.learnt.as_tables(run_at, digest)
    return state


def _tables(result: IdentityResolution, fact_map: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each output table by name; identity_merges is appended, the others replaced."""
    return {
        "customer_xref": result.xref,
        "identity_edges": result.edges,
        "customer_id_aliases": result.ids.aliases,
        "identity_nodes": result.assignments,
        "shared_identifiers": result.shared,
        "fact_identities": fact_map.astype(COMBO_DTYPES | {"customer_id": "string"}),
        "identity_merges": result.ids.events,
    }


def tables_to_write(selected: set[str]) -> set[str]:
    """The selected tables, widened to the whole stable-id state when part of it is selected."""
    if selected & set(STABLE_ID_STATE):
        return selected | set(STABLE_ID_STATE)
    return selected


def _write(session: WarehouseSession, tables: dict[str, pd.DataFrame], names: set[str]) -> None:
    for name in sorted(names):
        ref = _table_ref(name)
        if name == "identity_merges":
            session.append(ref, tables[name])
        else:
            session.replace_table(ref, tables[name])


# Keys of what an incremental resolution clustered again, for the deletions of its rows
# (leading underscore: a work table, dropped in the same transaction, never versioned).
STALE_VIEW = TableRef("core", "_stale_match_records")
TOUCHED_CUSTOMERS = TableRef("core", "_touched_customers")
TOUCHED_EDGES = TableRef("core", "_touched_edges")
TOUCHED_FACTS = TableRef("core", "_touched_facts")
EDGE_KEY = [
    "left_kind",
    "left_source",
    "left_record_id",
    "right_kind",
    "right_source",
    "right_record_id",
    "rule",
]


def _write_touched(
    session: WarehouseSession,
    tables: dict[str, pd.DataFrame],
    result: IdentityResolution,
    stored: StoredIdentity,
) -> None:
    """The rows of the re-resolved components replace those of the customers they held, in
    customer_xref, identity_nodes and identity_edges (and the edges of unresolved nodes among
    them) and core.fact_identities; the small tables are replaced when they changed; the
    ledger is appended. One
    transaction, as a full write."""
    assert result.restriction is not None
    customers = pd.DataFrame({"customer_id": result.restriction.customers}).astype("string")
    session.replace_table(TOUCHED_CUSTOMERS, customers)
    in_touched = f"customer_id IN (SELECT customer_id FROM {TOUCHED_CUSTOMERS.sql})"
    for name in ("customer_xref", "identity_nodes", "identity_edges"):
        session.delete_where(_table_ref(name), in_touched, {})
    session.replace_table(TOUCHED_EDGES, _unresolved_edges(session, result))
    match = " AND ".join(f"t.{c} = {EDGES.sql}.{c}" for c in EDGE_KEY)
    session.delete_where(
        EDGES,
        f"customer_id IS NULL AND EXISTS (SELECT 1 FROM {TOUCHED_EDGES.sql} t WHERE {match})",
        {},
    )
    for name in ("customer_xref", "identity_nodes", "identity_edges", "identity_merges"):
        session.append(_table_ref(name), tables[name])
    if not _same(tables["shared_identifiers"], stored.shared):
        session.replace_table(SHARED, tables["shared_identifiers"])
    assert result.fact_rows is not None
    insert, stale = result.fact_rows
    session.delete_where(FACT_IDENTITIES, in_touched, {})
    if len(stale):
        session.replace_table(TOUCHED_FACTS, stale)
        match = " AND ".join(
            f"t.{c} IS NOT DISTINCT FROM {FACT_IDENTITIES.sql}.{c}" for c in stale.columns
        )
        session.delete_where(
            FACT_IDENTITIES,
            f"customer_id IS NULL AND EXISTS (SELECT 1 FROM {TOUCHED_FACTS.sql} t WHERE {match})",
            {},
        )
    session.append(FACT_IDENTITIES, insert)
    for ref in (TOUCHED_CUSTOMERS, TOUCHED_EDGES, TOUCHED_FACTS):
        session.conn.execute(sa.text(f"DROP TABLE IF EXISTS {ref.sql}"))
    previous_aliases = session.read_table(ALIASES, dtypes=ALIAS_DTYPES)
    if not _same(tables["customer_id_aliases"], previous_aliases):
        session.replace_table(ALIASES, tables["customer_id_aliases"])


def _write_view_changes(session: WarehouseSession, changes: StoredViewChanges) -> None:
    """The stored match view's rows that differ are replaced (deleted by key, inserted), and
    every row carries the new row count: the table then holds what writing it whole would."""
    if len(changes.delete):
        session.replace_table(STALE_VIEW, changes.delete)
        match = " AND ".join(f"t.{c} = {MATCH_RECORDS.sql}.{c}" for c in changes.delete.columns)
        session.delete_where(
            MATCH_RECORDS, f"EXISTS (SELECT 1 FROM {STALE_VIEW.sql} t WHERE {match})", {}
        )
        session.conn.execute(sa.text(f"DROP TABLE IF EXISTS {STALE_VIEW.sql}"))
    session.append(MATCH_RECORDS, changes.insert)
    updated = session.conn.execute(
        sa.text(f"UPDATE {MATCH_RECORDS.sql} SET rows_written = :n WHERE rows_written <> :n"),
        {"n": changes.rows_written},
    )
    if updated.rowcount != 0:  # a count, not an identifier: the rows hold what they held
        session.mark_changed(MATCH_RECORDS, rows_rewritten=False)


def _unresolved_edges(session: WarehouseSession, result: IdentityResolution) -> pd.DataFrame:
    """Stored edges of no customer (anonymous ids, identifier sets with only shared values)
    that touch a re-resolved node or a node that no longer exists: to delete."""
    restriction = result.restriction
    assert restriction is not None
    assert restriction.touched_keys is not None and restriction.current_keys is not None
    columns = ", ".join(EDGE_KEY)
    stored = session.query(f"SELECT {columns} FROM {EDGES.sql} WHERE customer_id IS NULL")
    stored = coerce_frame(stored, dict.fromkeys(EDGE_KEY, "string"))
    return stale_unresolved_edges(stored, restriction.touched_keys, restriction.current_keys)


def _same(now: pd.DataFrame, before: pd.DataFrame) -> bool:
    """Equal rows, in any order."""
    if len(now) != len(before) or list(now.columns) != list(before.columns):
        return False
    columns = list(now.columns)
    a = now.astype("string").sort_values(columns, ignore_index=True)
    b = before.astype("string").sort_values(columns, ignore_index=True)
    return a.equals(b)


@dataclass(frozen=True)
class Published:
    """What the identity tables hold after the write, for the metadata: row counts, and
    edges and xref rows by rule (an incremental resolution holds only the re-resolved rows,
    so it counts them in the warehouse)."""

    rows: dict[str, int]
    edges_by_rule: pd.Series
    xref_by_rule: pd.Series


def _published_frames(tables: dict[str, pd.DataFrame]) -> Published:
    return Published(
        {name: len(frame) for name, frame in tables.items()},
        tables["identity_edges"].groupby(["rule", "status"]).size(),
        tables["customer_xref"].groupby(["source", "match_rule"]).size(),
    )


def _published_sql(session: WarehouseSession, tables: dict[str, pd.DataFrame]) -> Published:
    rows = {name: len(frame) for name, frame in tables.items()}
    for name in ("customer_xref", "identity_edges", "identity_nodes"):
        rows[name] = session.row_count(_table_ref(name))
    rows["identity_merges"] = len(tables["identity_merges"])  # this run's events

    def counts(ref: TableRef, keys: list[str]) -> pd.Series:
        cols = ", ".join(keys)
        frame = session.query(f"SELECT {cols}, COUNT(*) AS n FROM {ref.sql} GROUP BY {cols}")
        return frame.astype({k: "string" for k in keys}).set_index(keys)["n"].sort_index()

    return Published(
        rows,
        counts(EDGES, ["rule", "status"]),
        counts(_table_ref("customer_xref"), ["source", "match_rule"]),
    )


def _xref_metadata(
    result: IdentityResolution, events: pd.Series, published: Published
) -> dict[str, object]:
    stats = result.stats
    meta: dict[str, object] = {
        "customers": stats["customers"],
        "customer_records": stats["customer_records"],
        "largest_cluster_records": stats["largest_cluster_records"],
        "singleton_share": stats["singleton_share"],
        "shared_identifiers": stats["shared_identifiers"],
        "clusters_split": stats["clusters_split"],
        "new_customers": int(events.get("new", 0)),
        "merges": int(events.get("merge", 0)),
        "splits": int(events.get("split", 0)),
        "retired": int(events.get("retired", 0)),
        "edges_by_rule": dg.MetadataValue.md(
            counts_table(published.edges_by_rule, ["rule", "status"], "edges")
        ),
        "xref_by_rule": dg.MetadataValue.md(
            counts_table(published.xref_by_rule, ["source", "match_rule"], "rows")
        ),
    }
    if len(result.shared):
        meta["shared_by_rule"] = dg.MetadataValue.md(
            counts_table(result.shared.groupby(["type", "rule"]).size(), ["type", "rule"], "values")
        )
    weights = readable_weights(result.match_parameters)
    if len(weights):
        meta["match_weights"] = dg.MetadataValue.md(markdown_table(weights, max_rows=60))
    meta |= {k: v for k, v in stats.items() if k.startswith("probabilistic_")}
    return meta | {
        "dagster/row_count": published.rows["customer_xref"],
        "preview": dg.MetadataValue.md(masked_preview(result.xref)),
    }


def _stability_check(
    result: IdentityResolution, before: dict[str, float], config: CDPConfig
) -> dg.AssetCheckResult:
    now = {k: float(result.stats[k]) for k in ("largest_cluster_records", "singleton_share")}
    verdict = cluster_stability(now, before, config.identity.max_cluster_growth)
    if verdict.first_run:
        return dg.AssetCheckResult(
            check_name=CHECK_IDS_STABLE, passed=True, metadata={"note": "first run"}
        )
    return dg.AssetCheckResult(
        check_name=CHECK_IDS_STABLE,
        passed=verdict.stable,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=verdict.figures,
    )


def _result(
    name: str,
    tables: dict[str, pd.DataFrame],
    result: IdentityResolution,
    before: dict[str, float],
    config: CDPConfig,
    plan: ResolutionPlan,
    digest: str,
    published: Published,
) -> dg.MaterializeResult:
    events = result.ids.events["event"].value_counts()
    version = dg.DataVersion(digest[:16])
    resolution = {"resolution": plan.mode, "resolution_reason": plan.reason}
    resolution |= {key: result.stats[key] for key in INCREMENTAL_STATS if key in result.stats}
    if name == "customer_xref":
        return dg.MaterializeResult(
            asset_key=XREF_KEY,
            metadata=resolution | _xref_metadata(result, events, published),
            check_results=[_stability_check(result, before, config)],
            data_version=version,
        )
    if name == "identity_merges":
        merges = result.ids.events[result.ids.events["event"].isin(["merge", "split"])]
        return dg.MaterializeResult(
            asset_key=["core", name],
            metadata=resolution
            | {
                "events_this_run": len(result.ids.events),
                "by_event": dg.MetadataValue.md(counts_table(events, "event", "customers")),
                "merges_and_splits": dg.MetadataValue.md(masked_preview(merges)),
            },
            data_version=version,
        )
    meta: dict[str, object] = resolution | {"dagster/row_count": published.rows[name]}
    if name == "identity_edges":
        meta["preview"] = dg.MetadataValue.md(masked_preview(tables[name]))
    return dg.MaterializeResult(asset_key=["core", name], metadata=meta, data_version=version)


def _unchanged_results(
    selected: set[str], plan: ResolutionPlan, digest: str
) -> Iterator[dg.MaterializeResult]:
    """Nothing re-resolved: every selected table is reported as it stands, with why."""
    metadata = {
        "resolution": plan.mode,
        "resolution_reason": plan.reason,
        "note": "inputs unchanged since the last resolution: nothing re-resolved or rewritten",
    }
    for name in IDENTITY_OUTPUTS:
        if name not in selected:
            continue
        checks = []
        if name == "customer_xref":
            checks = [
                dg.AssetCheckResult(
                    check_name=CHECK_IDS_STABLE, passed=True, metadata={"note": plan.reason}
                )
            ]
        yield dg.MaterializeResult(
            asset_key=["core", name],
            metadata=metadata,
            check_results=checks,
            data_version=dg.DataVersion(digest[:16]),
        )


IDENTITY_INPUT = "identity_input"  # the ContentMemo of the staged tables' digests


def inputs_digest(
    session: WarehouseSession, config: CDPConfig, memo: ContentMemo | None = None
) -> str:
    """The digest of everything the resolution reads (see `identity.increments`); each
    table's part is taken from `memo` (kept per table version) when it holds it."""
    memo = ContentMemo(IDENTITY_INPUT) if memo is None else memo
    names = [s.name for s in config.sources_of_kind("customers")]
    names += [name for _, name in fact_sources(config)]
    tables: dict[str, tuple[int, str] | None] = {}
    for name in names:
        ref = TableRef("staging", name)
        if not session.table_exists(ref):
            tables[name] = None
            continue
        summary = memo.value(session, ref, lambda ref=ref: _table_summary(session, ref))
        tables[name] = (int(summary[0]), str(summary[1]))
    return input_digest(tables, _identity_settings(config))


def _table_summary(session: WarehouseSession, ref: TableRef) -> list:
    """[rows, digest] of a staged table's identity input (lineage columns left out)."""
    columns = [c for c in session.columns(ref) if c not in LINEAGE_COLUMNS]
    row = session.query(table_digest_sql(ref.sql, session.dialect, columns)).iloc[0]
    return [int(row["n"]), str(row["h"])]


def _plan(
    session: WarehouseSession,
    config: CDPConfig,
    digest: str,
    run_at: pd.Timestamp,
    forced: bool,
    frozen: bool = False,
) -> ResolutionPlan:
    runs = session.read_table(RUNS, dtypes=RUN_DTYPES).sort_values("run_at", kind="stable")
    blocker = _incremental_blocker(session, config, runs) if len(runs) else "first resolution"
    if frozen:
        if blocker is not None:
            raise ValueError(f"{FROZEN_RESOLUTION_TAG}: no usable stored parameters ({blocker})")
        return ResolutionPlan("frozen", f"run tag {FROZEN_RESOLUTION_TAG}: stored parameters")
    missing = [name for name in IDENTITY_OUTPUTS if not session.table_exists(_table_ref(name))]
    return plan_resolution(
        runs,
        digest,
        run_at,
        config.identity.full_resolution_every_days,
        forced,
        IDENTITY_OUTPUTS,
        missing,
        blocker,
    )


def _actual_plan(plan: ResolutionPlan, result: IdentityResolution) -> ResolutionPlan:
    """An incremental plan that resolved in full (too many changes) is recorded as full."""
    outcome = result.matching
    if plan.mode == "incremental" and (outcome is None or outcome.mode != "incremental"):
        why = outcome.reason if outcome is not None else "no probabilistic matching"
        return ResolutionPlan("full", why)
    return plan


def _table_ref(name: str) -> TableRef:
    return FACT_IDENTITIES if name == "fact_identities" else TableRef("core", name)


def build_identity_asset(config: CDPConfig) -> dg.AssetsDefinition:
    customer_sources = config.sources_of_kind("customers")
    deps = [staging_key(s) for s in customer_sources]
    deps += [staging_key(config.source(n)) for _, n in fact_sources(config)]
    deps += privacy_deps(config)
    specs = [
        dg.AssetSpec(
            ["core", name],
            description=text,
            group_name=CORE_GROUP,
            kinds={"python", "pandas"},
            deps=deps,
            tags={"cdp/layer": "core"},
        )
        for name, text in IDENTITY_OUTPUTS.items()
    ]

    @dg.multi_asset(
        name="identity_resolution",
        specs=specs,
        can_subset=True,
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_IDS_STABLE,
                asset=XREF_KEY,
                description="largest cluster and singleton share do not jump between runs (warn)",
            )
        ],
    )
    def identity_resolution(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """Stitches records into customers: deterministic links over shared identifiers (email
        key, E.164 phone, loyalty id, customer references, logins of anonymous ids),
        Fellegi–Sunter links for records that share none, over-merge protection, profile
        limits, manual overrides, and stable customer ids with a merge ledger. Any subset of
        the tables can be refreshed; the stable-id state (identity_nodes, customer_id_aliases,
        identity_merges) is always written whole."""
        wh = warehouse.get()
        run_at = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("us")
        selected = {key.path[-1] for key in context.selected_asset_keys}
        tags = context.run.tags
        forced = tags.get(FULL_RESOLUTION_TAG, "").lower() in ("1", "true", "yes")
        frozen = tags.get(FROZEN_RESOLUTION_TAG, "").lower() in ("1", "true", "yes")
        memo = ContentMemo(IDENTITY_INPUT)
        with wh.transaction() as session:
            digest = inputs_digest(session, config, memo)
            plan = _plan(session, config, digest, run_at, forced, frozen)
        context.log.info(f"identity: {plan.mode} ({plan.reason})")
        if not plan.resolves:
            if memo.pending:
                with wh.transaction() as session:
                    memo.record(session)
            yield from _unchanged_results(selected, plan, digest)
            return
        with wh.transaction() as session:
            previous, aliases = _previous_state(session)
            matching, plan = _matching(session, config, plan)
            stored, whole_graph = None, "only some identity tables selected"
            if matching.erased_records:
                # Erasure deleted rows of the stored state (shared values among them), which
                # the restriction compares against: the whole graph is clustered once.
                whole_graph = "records erased since the last resolution"
            elif selected == set(IDENTITY_OUTPUTS):
                stored = _stored_identity(session, matching.previous_view, previous)
                whole_graph = "the stored match view has no record fingerprints (older run)"
        result, fact_map = _resolve(wh, config, previous, aliases, run_at, matching, stored)
        view_changes = _view_changes(result, matching)
        del matching
        plan = _actual_plan(plan, result)
        if plan.mode == "incremental":
            scope = result.scope if stored is not None else f"whole graph: {whole_graph}"
            plan = ResolutionPlan(plan.mode, f"{plan.reason}; clustered: {scope}")
        tables = _tables(result, fact_map)
        written = tables_to_write(selected)
        with wh.transaction() as session:
            if result.restriction is not None:
                assert stored is not None
                _write_touched(session, tables, result, stored)
            else:
                _write(session, tables, written)
            if view_changes is not None:
                _write_view_changes(session, view_changes)
            state = _matching_state(result, config, run_at, view=view_changes is None)
            for ref, frame in state.items():
                session.replace_table(ref, frame)
            session.append(RUNS, run_row(run_at, plan, digest, written))
            memo.record(session)
            published = (
                _published_sql(session, tables)
                if result.restriction is not None
                else _published_frames(tables)
            )
        del stored
        context.log.info(f"identity: {result.stats}")
        if written != selected:
            context.log.info(f"written with the selection (stable-id state): {written - selected}")
        before = cluster_figures(previous)
        for name in IDENTITY_OUTPUTS:
            if name in selected:
                yield _result(name, tables, result, before, config, plan, digest, published)

    return identity_resolution
