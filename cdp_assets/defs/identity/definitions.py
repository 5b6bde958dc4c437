"""`core` layer wiring: identity resolution, golden profiles and resolved facts."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.canonical import staging_contract
from cdp_assets.defs.ingestion.staging import staging_key
from cdp_assets.defs.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
    project_config,
    warehouse_kind,
)
from cdp_assets.identity.facts import (
    FACT_COLUMNS,
    FACT_IDENTITIES,
    IDENTITY_KINDS,
    combos_sql,
    density_sql,
    order_items_sql,
    resolved_fact_sql,
)
from cdp_assets.identity.golden import GOLDEN_PROFILE_DTYPES
from cdp_assets.identity.nodes import COMBO_DTYPES, graph_nodes
from cdp_assets.identity.profiles import activity_rows, customer_profiles
from cdp_assets.identity.records import customer_records
from cdp_assets.identity.resolve import XREF_DTYPES, resolve_identities
from cdp_assets.identity.shared import DENSITY_DTYPES
from cdp_assets.identity.stable_ids import ALIAS_DTYPES, ASSIGNMENT_DTYPES
from cdp_assets.reporting.markdown import counts_table, markdown_table, masked_preview
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame

CORE_GROUP = "core"


def privacy_deps(config: CDPConfig) -> list[dg.AssetKey]:
    """Core rebuilds after erasure and retention, so a nightly run never re-resolves rows
    they are about to delete."""
    deps = []
    if config.sources_of_kind("erasure_requests"):
        deps.append(dg.AssetKey(["ops", "erasure_log"]))
    if any(s.retention_days for s in config.sources):
        deps.append(dg.AssetKey(["ops", "retention_log"]))
    return deps


# Rebuild when an upstream table changes, but never past a failed blocking check.
CORE_AUTOMATION = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
XREF = TableRef("core", "customer_xref")
EDGES = TableRef("core", "identity_edges")
MERGES = TableRef("core", "identity_merges")
ALIASES = TableRef("core", "customer_id_aliases")
NODES = TableRef("core", "identity_nodes")
SHARED = TableRef("core", "shared_identifiers")
PROFILES = TableRef("core", "customer_profiles")

XREF_KEY = dg.AssetKey(["core", "customer_xref"])
PROFILES_KEY = dg.AssetKey(["core", "customer_profiles"])
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
PROFILE_PII = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_key",
    "phone",
    "birth_date",
    "street",
    "postal_code",
    "loyalty_id",
)
CHECK_IDS_STABLE = "cluster_figures_stable"
CHECK_XREF_IN_PROFILES = "xref_points_at_profiles"
CHECK_UNIQUE = "customer_id_unique"
CHECK_LIMITS = "profiles_within_limits"
CHECK_RESOLVED_SHARE = "resolved_share"


def _customer_sources(config: CDPConfig) -> list[str]:
    return [s.name for s in config.sources_of_kind("customers")]


def _fact_sources(config: CDPConfig) -> list[tuple[str, str]]:
    return [(s.kind, s.name) for s in config.sources if s.kind in IDENTITY_KINDS]


def _read_staged(session: WarehouseSession, config: CDPConfig) -> dict[str, pd.DataFrame]:
    return {
        name: session.read_table(TableRef("staging", name), dtypes=staging_contract("customers"))
        for name in _customer_sources(config)
    }


def _read_combos(session: WarehouseSession, config: CDPConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    combos, density = [], []
    for kind, name in _fact_sources(config):
        if not session.table_exists(TableRef("staging", name)):
            continue
        combos.append(session.query(combos_sql(kind, name)))
        sql = density_sql(kind, name)
        if sql:
            density.append(session.query(sql))
    combo = pd.concat(combos, ignore_index=True) if combos else pd.DataFrame()
    dense = pd.concat(density, ignore_index=True) if density else pd.DataFrame()
    dense = (
        dense.groupby(["type", "value"], as_index=False)["max_rows_per_day"].max()
        if len(dense)
        else dense
    )
    return coerce_frame(combo, COMBO_DTYPES), coerce_frame(dense, DENSITY_DTYPES)


def _previous_state(session: WarehouseSession) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    previous = session.read_table(NODES, dtypes=ASSIGNMENT_DTYPES)
    aliases = session.read_table(ALIASES, dtypes=ALIAS_DTYPES)
    stats: dict[str, float] = {}
    if len(previous):
        kinds = previous["node_key"].str.split("|", n=1).str[0]
        per = previous[kinds == "record"].groupby("customer_id").size()
        stats = {
            "largest_cluster_records": float(per.max()) if len(per) else 0.0,
            "singleton_share": float((per <= 1).mean()) if len(per) else 0.0,
        }
    return previous, aliases, stats


def _stability_check(stats: dict, before: dict, growth: float) -> dg.AssetCheckResult:
    if not before:
        return dg.AssetCheckResult(
            check_name=CHECK_IDS_STABLE, passed=True, metadata={"note": "first run"}
        )
    largest_before = before["largest_cluster_records"] or 1.0
    jump = (stats["largest_cluster_records"] - largest_before) / largest_before
    singleton_jump = abs(stats["singleton_share"] - before["singleton_share"])
    return dg.AssetCheckResult(
        check_name=CHECK_IDS_STABLE,
        passed=jump <= growth and singleton_jump <= growth / 5,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "largest_cluster_before": largest_before,
            "largest_cluster_now": stats["largest_cluster_records"],
            "singleton_share_before": round(before["singleton_share"], 5),
            "singleton_share_now": stats["singleton_share"],
            "allowed_growth": growth,
        },
    )


def build_identity_asset(config: CDPConfig) -> dg.AssetsDefinition:
    deps = [staging_key(config.source(n)) for n in _customer_sources(config)]
    deps += [staging_key(config.source(n)) for _, n in _fact_sources(config)]
    deps += privacy_deps(config)
    specs = [
        dg.AssetSpec(
            ["core", name],
            description=text,
            group_name=CORE_GROUP,
            kinds={"python", "pandas", warehouse_kind(config)},
            deps=deps,
            tags={"cdp/layer": "core"},
            automation_condition=CORE_AUTOMATION,
        )
        for name, text in IDENTITY_OUTPUTS.items()
    ]

    @dg.multi_asset(
        name="identity_resolution",
        specs=specs,
        pool=WAREHOUSE_POOL,
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
        limits, manual overrides, and stable customer ids with a merge ledger."""
        wh = warehouse.get()
        run_at = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("us")
        with wh.transaction() as session:
            records = customer_records(_read_staged(session, config), config)
            combos, density = _read_combos(session, config)
            previous, aliases, before = _previous_state(session)
        graph = graph_nodes(records, combos, config)
        result = resolve_identities(
            records, graph, density, previous, aliases, config.identity, run_at
        )
        fact_map = graph.combo_nodes.assign(
            customer_id=result.node_customer.reindex(
                graph.combo_nodes["node"].astype("float").to_numpy()
            ).to_numpy()
        ).drop(columns="node")
        with wh.transaction() as session:
            session.replace_table(XREF, result.xref)
            session.replace_table(EDGES, result.edges)
            session.replace_table(ALIASES, result.ids.aliases)
            session.replace_table(NODES, result.assignments)
            session.replace_table(SHARED, result.shared)
            session.replace_table(
                FACT_IDENTITIES, fact_map.astype(COMBO_DTYPES | {"customer_id": "string"})
            )
            session.append(MERGES, result.ids.events)
        events = result.ids.events["event"].value_counts()
        context.log.info(f"identity: {result.stats}")
        stats = result.stats
        yield_meta = {
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
                counts_table(
                    result.edges.groupby(["rule", "status"]).size(), ["rule", "status"], "edges"
                )
            ),
            "xref_by_rule": dg.MetadataValue.md(
                counts_table(
                    result.xref.groupby(["source", "match_rule"]).size(),
                    ["source", "match_rule"],
                    "rows",
                )
            ),
        }
        if len(result.shared):
            yield_meta["shared_by_rule"] = dg.MetadataValue.md(
                counts_table(
                    result.shared.groupby(["type", "rule"]).size(), ["type", "rule"], "values"
                )
            )
        if len(result.match_parameters):
            yield_meta["match_weights"] = dg.MetadataValue.md(
                markdown_table(result.match_parameters.round(4), max_rows=60)
            )
        for key, value in stats.items():
            if key.startswith("probabilistic_"):
                yield_meta[key] = value
        check = _stability_check(
            {k: float(stats[k]) for k in ("largest_cluster_records", "singleton_share")},
            before,
            config.identity.max_cluster_growth,
        )
        tables = {
            "customer_xref": result.xref,
            "identity_edges": result.edges,
            "customer_id_aliases": result.ids.aliases,
            "identity_nodes": result.assignments,
            "shared_identifiers": result.shared,
            "fact_identities": fact_map,
        }
        yield dg.MaterializeResult(
            asset_key=XREF_KEY,
            metadata=yield_meta
            | {
                "dagster/row_count": len(result.xref),
                "preview": dg.MetadataValue.md(markdown_table(result.xref, max_rows=10)),
            },
            check_results=[check],
        )
        for name, frame in tables.items():
            if name == "customer_xref":
                continue
            meta: dict[str, object] = {"dagster/row_count": len(frame)}
            if name == "identity_edges":
                meta["preview"] = dg.MetadataValue.md(markdown_table(frame, max_rows=10))
            yield dg.MaterializeResult(asset_key=["core", name], metadata=meta)
        yield dg.MaterializeResult(
            asset_key=["core", "identity_merges"],
            metadata={
                "events_this_run": len(result.ids.events),
                "by_event": dg.MetadataValue.md(counts_table(events, "event", "customers")),
                "merges_and_splits": dg.MetadataValue.md(
                    markdown_table(
                        result.ids.events[result.ids.events["event"].isin(["merge", "split"])],
                        max_rows=10,
                    )
                ),
            },
        )

    return identity_resolution


def _profiles_over_limits(records: pd.DataFrame, config: CDPConfig) -> int:
    """Customers whose records carry more distinct emails or phones than the limits allow."""
    limits = config.identity.profile_limits
    distinct = records.groupby("customer_id")[["email_key", "phone"]].nunique()
    return int(
        ((distinct["email_key"] > limits.emails) | (distinct["phone"] > limits.phones)).sum()
    )


def _profile_checks(
    session: WarehouseSession, config: CDPConfig, over_limits: int
) -> list[dg.AssetCheckResult]:
    orphans = int(
        session.scalar(
            f"SELECT COUNT(*) FROM {XREF.sql} x LEFT JOIN {PROFILES.sql} p "
            "ON p.customer_id = x.customer_id WHERE p.customer_id IS NULL"
        )
    )
    total = session.row_count(PROFILES)
    distinct = int(session.scalar(f"SELECT COUNT(DISTINCT customer_id) FROM {PROFILES.sql}"))
    limits = config.identity.profile_limits
    return [
        dg.AssetCheckResult(
            check_name=CHECK_XREF_IN_PROFILES,
            passed=orphans == 0,
            metadata={"xref_rows_without_profile": orphans},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_UNIQUE,
            passed=total == distinct,
            metadata={"profiles": total, "distinct_ids": distinct},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_LIMITS,
            passed=over_limits == 0,
            metadata={
                "profiles_over_limits": over_limits,
                "max_emails": limits.emails,
                "max_phones": limits.phones,
            },
        ),
    ]


def _activity_sql(config: CDPConfig) -> str | None:
    parts = []
    for kind, (table, _) in FACT_COLUMNS.items():
        if config.sources_of_kind(kind):
            time = {
                "orders": "ordered_at",
                "events": "occurred_at",
                "survey_responses": "submitted_at",
                "support_tickets": "opened_at",
            }[kind]
            parts.append(
                f"SELECT customer_id, MIN({time}) AS first_at, MAX({time}) AS last_at "
                f"FROM core.{table} WHERE customer_id IS NOT NULL GROUP BY customer_id"
            )
    if not parts:
        return None
    union = " UNION ALL ".join(parts)
    return (
        "SELECT customer_id, MIN(first_at) AS first_at, MAX(last_at) AS last_at "
        f"FROM ({union}) a GROUP BY customer_id"
    )


def build_profiles_asset(config: CDPConfig, fact_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=PROFILES_KEY,
        deps=[XREF_KEY, *fact_keys],
        group_name=CORE_GROUP,
        kinds={"python", "pandas", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        tags={"cdp/layer": "core", "cdp/pii": "true"},
        automation_condition=CORE_AUTOMATION,
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_XREF_IN_PROFILES,
                asset=PROFILES_KEY,
                blocking=True,
                description="every xref row's customer_id has a profile",
            ),
            dg.AssetCheckSpec(
                CHECK_UNIQUE, asset=PROFILES_KEY, blocking=True, description="customer_id is unique"
            ),
            dg.AssetCheckSpec(
                CHECK_LIMITS,
                asset=PROFILES_KEY,
                blocking=True,
                description="no profile over the distinct email / phone limits",
            ),
        ],
    )
    def customer_profiles_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Golden records, one row per customer: best name, email, phone, birth date, address
        and loyalty data by source trust, then recency, then completeness, with the winning
        source and record of each; consent per channel (any opt-out wins, an opt-in needs a
        confirmed double opt-in and must be the latest event); first and last seen over
        records and facts; sources and record counts."""
        wh = warehouse.get()
        with wh.transaction() as session:
            records = customer_records(_read_staged(session, config), config)
            xref = session.read_table(XREF, dtypes=XREF_DTYPES)
            sql = _activity_sql(config)
            activity = session.query(sql) if sql else pd.DataFrame()  # first/last per customer
        profiles, records = customer_profiles(records, xref, activity_rows(activity))
        with wh.transaction() as session:
            session.replace_table(PROFILES, profiles)
            over_limits = _profiles_over_limits(records, config)
            checks = _profile_checks(session, config, over_limits)
        meta = {
            "dagster/row_count": len(profiles),
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(c, t, tags={"pii": ""} if c in PROFILE_PII else {})
                    for c, t in GOLDEN_PROFILE_DTYPES.items()
                ]
            ),
            "pii_columns": ", ".join(PROFILE_PII),
            "email_consent": int(profiles["email_consent"].sum()),
            "sms_consent": int(profiles["sms_consent"].sum()),
            "ads_consent": int(profiles["ads_consent"].sum()),
            "with_email": int(profiles["email"].notna().sum()),
            "with_phone": int(profiles["phone"].notna().sum()),
            "records_per_customer": dg.MetadataValue.md(
                counts_table(
                    profiles["record_count"].clip(upper=10).value_counts().sort_index(),
                    "records (10 = 10+)",
                    "customers",
                )
            ),
            "preview": dg.MetadataValue.md(masked_preview(profiles, PROFILE_PII)),
        }
        context.log.info(f"{len(profiles):,} customer profiles")
        return dg.MaterializeResult(metadata=meta, check_results=checks)

    return customer_profiles_asset


def build_fact_asset(config: CDPConfig, kind: str) -> dg.AssetsDefinition:
    table, _ = FACT_COLUMNS[kind]
    key = dg.AssetKey(["core", table])
    sources = [s.name for s in config.sources_of_kind(kind)]

    @dg.asset(
        key=key,
        name=None,
        deps=[XREF_KEY, *[staging_key(config.source(s)) for s in sources]],
        group_name=CORE_GROUP,
        kinds={"sql", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        tags={"cdp/layer": "core"},
        description=f"Every staged {kind.replace('_', ' ')} row of "
        f"{', '.join(sources)} with its customer_id (null when anonymous), joined in SQL."
        + (
            " Amounts in the base currency; net_amount_base is 0 for cancelled and refunded "
            "orders; is_purchase marks completed and partially refunded ones."
            if kind == "orders"
            else ""
        ),
        automation_condition=CORE_AUTOMATION,
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_RESOLVED_SHARE,
                asset=key,
                description="share of rows resolved to a customer (warns under half)",
            )
        ],
    )
    def _fact(warehouse: WarehouseResource) -> dg.MaterializeResult:
        ref = TableRef("core", table)
        with warehouse.get().transaction() as session:
            rows = session.replace_table_as(ref, resolved_fact_sql(kind, config))
            resolved = int(
                session.scalar(f"SELECT COUNT(*) FROM {ref.sql} WHERE customer_id IS NOT NULL")
            )
            by_source = session.query(
                f"SELECT source, COUNT(*) AS rows, COUNT(customer_id) AS resolved "
                f"FROM {ref.sql} GROUP BY source ORDER BY source"
            )
        share = resolved / rows if rows else 1.0
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "resolved_rows": resolved,
                "resolved_share": round(share, 5),
                "by_source": dg.MetadataValue.md(markdown_table(by_source)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_RESOLVED_SHARE,
                    passed=share >= 0.5 or kind == "events",
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"resolved_share": round(share, 5), "rows": rows},
                )
            ],
        )

    return _fact


def build_order_items_asset(config: CDPConfig) -> dg.AssetsDefinition:
    sources = [s.name for s in config.sources_of_kind("order_items")]

    @dg.asset(
        key=["core", "order_items"],
        deps=[dg.AssetKey(["core", "orders"]), *[staging_key(config.source(s)) for s in sources]],
        group_name=CORE_GROUP,
        kinds={"sql", warehouse_kind(config)},
        pool=WAREHOUSE_POOL,
        tags={"cdp/layer": "core"},
        automation_condition=CORE_AUTOMATION,
    )
    def order_items(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Order lines of every order_items source joined to core.orders by order id: the
        order's customer_id, time and status, and unit prices in the base currency at the
        order's rate. Lines whose order is unknown keep a null customer_id."""
        ref = TableRef("core", "order_items")
        with warehouse.get().transaction() as session:
            rows = session.replace_table_as(ref, order_items_sql(config))
            orphans = int(
                session.scalar(f"SELECT COUNT(*) FROM {ref.sql} WHERE order_source IS NULL")
            )
        return dg.MaterializeResult(
            metadata={"dagster/row_count": rows, "lines_without_order": orphans}
        )

    return order_items


@dg.definitions
def identity() -> dg.Definitions:
    config = project_config()
    if not _customer_sources(config) and not _fact_sources(config):
        return dg.Definitions()
    assets = [build_identity_asset(config)]
    fact_keys = []
    for kind in IDENTITY_KINDS:
        if config.sources_of_kind(kind):
            assets.append(build_fact_asset(config, kind))
            fact_keys.append(dg.AssetKey(["core", FACT_COLUMNS[kind][0]]))
    if config.sources_of_kind("order_items") and config.sources_of_kind("orders"):
        assets.append(build_order_items_asset(config))
    assets.append(build_profiles_asset(config, fact_keys))
    return dg.Definitions(assets=assets)
