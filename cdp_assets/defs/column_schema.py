"""Every table asset's columns in the UI: warehouse type, description, PII tag.

Two moments, one description source (`cdp_assets.contracts.column_docs`):
- definition time: tables whose columns the code knows get `dagster/column_schema` in their
  AssetSpec metadata, so the schema shows before the first run;
- run time: every table asset's computation is wrapped so that each materialization it reports
  carries the schema read back from the warehouse (information_schema) after the table was
  written: what the UI shows is what a downstream job reads, on DuckDB and PostgreSQL alike.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster._core.definitions.decorators.op_decorator import DecoratedOpFunction
from dagster._record import replace

from cdp_assets.activation.campaign_assignment import ASSIGNMENT_DTYPES as CAMPAIGN_ASSIGNMENT
from cdp_assets.analytics.campaign_results import (
    CAMPAIGN_RESULT_DESCRIPTIONS,
    CAMPAIGN_RESULT_DTYPES,
)
from cdp_assets.analytics.cohorts import COHORT_DTYPES, COMPARISON_DTYPES
from cdp_assets.analytics.rfm import RFM_DTYPES
from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import RAW_LINEAGE_DTYPES, staging_contract
from cdp_assets.contracts.column_docs import ColumnDoc, column_doc, raw_doc
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES
from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.contracts.golden_profile import GOLDEN_PROFILE_DTYPES
from cdp_assets.contracts.ltv import LTV_DTYPES
from cdp_assets.contracts.uplift import UPLIFT_SCORE_DTYPES
from cdp_assets.defs.activation.campaigns import CAMPAIGN_LOG_DTYPES
from cdp_assets.defs.activation.exports import EXPORT_LOG_DTYPES
from cdp_assets.defs.catalog import TRAINING_GROUP
from cdp_assets.defs.resources import WarehouseResource, warehouse_kind
from cdp_assets.defs.spec_defaults import rebuilt_op
from cdp_assets.forecast.demand import DEMAND_COLUMNS
from cdp_assets.forecast.periods import SALES_FORECAST_COLUMNS
from cdp_assets.forecast.stockout import STOCKOUT_COLUMNS
from cdp_assets.identity.facts import FACT_COLUMNS
from cdp_assets.identity.nodes import COMBO_DTYPES
from cdp_assets.identity.resolve import IDENTITY_EDGE_DTYPES, XREF_DTYPES
from cdp_assets.identity.shared import SHARED_DTYPES
from cdp_assets.identity.stable_ids import ALIAS_DTYPES, MERGE_DTYPES
from cdp_assets.identity.stable_ids import ASSIGNMENT_DTYPES as NODE_ASSIGNMENT
from cdp_assets.ingest.naming import raw_column_name
from cdp_assets.ml.churn import CHURN_SCORE_DTYPES
from cdp_assets.ml.leads import LEAD_SCORE_DTYPES
from cdp_assets.ml.recommendations import RECOMMENDATION_DTYPES
from cdp_assets.privacy.erasure import ERASURE_LOG_DTYPES
from cdp_assets.privacy.retention import RETENTION_RESULT_DTYPES
from cdp_assets.reporting.quality_summary import SUMMARY_COLUMNS as QUALITY_SUMMARY_COLUMNS
from cdp_assets.warehouse import TableRef
from cdp_assets.warehouse.warehouse import sql_type

COLUMN_SCHEMA = "dagster/column_schema"
PII_TAG = "pii"


# Tables whose columns are known when the Definitions load ("schema.table" -> pandas dtypes).
# Most dicts are the domain code's own; the few tables whose domain code lists column names
# only are typed here.
DEFINED_DTYPES: dict[str, Mapping[str, str]] = {
    "ops.quality_summary": {
        **{c: "Int64" for c in QUALITY_SUMMARY_COLUMNS},
        "source": "string",
        "quarantine_share": "float64",
    },
    "ops.erasure_log": ERASURE_LOG_DTYPES,
    "ops.retention_log": RETENTION_RESULT_DTYPES
    | {"run_at": "datetime64[us, UTC]", "run_id": "string"},
    "core.customer_profiles": GOLDEN_PROFILE_DTYPES,
    "core.customer_xref": XREF_DTYPES,
    "core.identity_edges": IDENTITY_EDGE_DTYPES,
    "core.identity_merges": MERGE_DTYPES,
    "core.identity_nodes": NODE_ASSIGNMENT,
    "core.customer_id_aliases": ALIAS_DTYPES,
    "core.shared_identifiers": SHARED_DTYPES,
    "core.fact_identities": COMBO_DTYPES | {"customer_id": "string"},
    "core.order_items": {
        "customer_id": "string",
        "source": "string",
        "order_source": "string",
        **{
            c: staging_contract("order_items")[c]
            for c in ("order_id", "product_id", "product_name", "category", "quantity")
        },
        "unit_price": "float64",
        "unit_price_base": "float64",
        "ordered_at": "datetime64[us, UTC]",
        "status": "string",
    },
    "analytics.customer_features": FEATURE_DTYPES,
    "ml.product_demand": DEMAND_COLUMNS,
    "ml.sales_forecast": SALES_FORECAST_COLUMNS,
    "ml.stockout_risk": STOCKOUT_COLUMNS,
    "analytics.rfm": RFM_DTYPES,
    "analytics.cohorts": COHORT_DTYPES,
    "analytics.acquisition_value": COMPARISON_DTYPES,
    "analytics.campaign_results": CAMPAIGN_RESULT_DTYPES,
    "analytics.nps": {
        "breakdown": "string",
        "group": "string",
        **{c: "int64" for c in ("responses", "nps_responses", "promoters", "passives")},
        "detractors": "int64",
        "nps": "float64",
        "csat_responses": "int64",
        "csat_mean": "float64",
    },
    "analytics.nps_themes": {
        "group": "string",
        "term": "string",
        "score": "float64",
        "responses": "int64",
    },
    "analytics.support_summary": {
        "breakdown": "string",
        "group": "string",
        **{c: "int64" for c in ("rank", "tickets")},
        "share": "float64",
        **{c: "int64" for c in ("open_tickets", "resolved_tickets")},
        "median_resolution_hours": "float64",
        **{c: "int64" for c in ("sla_decided", "sla_breaches")},
        "sla_breach_rate": "float64",
    },
    "ml.churn_scores": CHURN_SCORE_DTYPES,
    "ml.lead_scores": LEAD_SCORE_DTYPES,
    "ml.customer_ltv": LTV_DTYPES,
    "ml.product_recommendations": RECOMMENDATION_DTYPES,
    "ml.uplift_scores": UPLIFT_SCORE_DTYPES,
    "activation.audience_membership": {
        "audience": "string",
        "customer_id": "string",
        "entered_at": "datetime64[us]",
        "as_of": "datetime64[us]",
    },
    "activation.audience_changes": {
        "audience": "string",
        "customer_id": "string",
        "change": "string",
        "as_of": "datetime64[us]",
    },
    "activation.customer_360": CUSTOMER_360_DTYPES,
    "activation.audience_exports": EXPORT_LOG_DTYPES,
    "activation.campaign_exports": CAMPAIGN_LOG_DTYPES,
    "activation.campaign_assignments": CAMPAIGN_ASSIGNMENT,
}
# Descriptions a domain module keeps next to the code that computes the columns.
DOMAIN_DESCRIPTIONS: dict[str, Mapping[str, str]] = {
    "analytics.campaign_results": CAMPAIGN_RESULT_DESCRIPTIONS,
}
# The canonical kind of each core fact table (core.orders -> orders).
FACT_KINDS: dict[str, str] = {table: kind for kind, (table, _) in FACT_COLUMNS.items()}
FACT_KINDS["order_items"] = "order_items"


# -- types --------------------------------------------------------------------------------------
def warehouse_type(dtype: str, dialect: str) -> str:
    """The column type a pandas dtype is stored as, spelt as the warehouse's
    information_schema spells it (upper case)."""
    created = sql_type(dtype, dialect)
    if created == "TIMESTAMPTZ":
        return "TIMESTAMP WITH TIME ZONE"
    if created == "TIMESTAMP" and dialect == "postgresql":
        return "TIMESTAMP WITHOUT TIME ZONE"
    return created


def read_warehouse_columns(conn: sa.Connection, ref: TableRef) -> list[tuple[str, str]]:
    """(name, type) of a table's columns in order; empty when the table does not exist."""
    rows = conn.execute(
        sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
        ),
        {"schema": ref.schema, "table": ref.table},
    )
    return [(str(name), str(data_type).upper()) for name, data_type in rows]


# -- which table, and how its columns are described ---------------------------------------------
class TableColumnDocs:
    """Column descriptions of the tables one configuration builds."""

    def __init__(self, config: CDPConfig) -> None:
        self.sources: dict[str, SourceConfig] = {s.name: s for s in config.sources}
        self.dialect = "postgresql" if warehouse_kind(config) == "postgres" else "duckdb"

    def doc(self, ref: TableRef, column: str) -> ColumnDoc:
        source = self.sources.get(ref.table)
        if ref.schema == "raw" and source is not None:
            fields = tuple(f for f, raw in source.columns.items() if raw_column_name(raw) == column)
            return raw_doc(column, fields, source.kind)
        kind = None
        if ref.schema == "staging" and source is not None:
            kind = source.kind
        elif ref.schema == "core":
            kind = FACT_KINDS.get(ref.table)
        extra = DOMAIN_DESCRIPTIONS.get(f"{ref.schema}.{ref.table}")
        return column_doc(ref.schema, ref.table, column, kind=kind, extra=extra)

    def defined_dtypes(self, ref: TableRef) -> Mapping[str, str] | None:
        """The table's columns as the code declares them, None when only a run knows them.
        Raw tables: the mapped source columns (as text) and lineage; unmapped source columns
        appear after the first run."""
        source = self.sources.get(ref.table)
        if ref.schema == "raw" and source is not None:
            mapped = dict.fromkeys(map(raw_column_name, source.columns.values()), "string")
            return mapped | RAW_LINEAGE_DTYPES
        if ref.schema == "staging" and source is not None:
            return staging_contract(source.kind)
        if ref.schema == "core" and ref.table in FACT_KINDS and ref.table != "order_items":
            kind = FACT_KINDS[ref.table]
            staged = staging_contract(kind)
            dtypes = {"customer_id": "string", "source": "string"}
            dtypes |= {c: staged[c] for c in FACT_COLUMNS[kind][1]}
            if kind == "orders":
                dtypes |= {"net_amount_base": "float64", "is_purchase": "boolean"}
            return dtypes
        return DEFINED_DTYPES.get(f"{ref.schema}.{ref.table}")

    def schema(
        self,
        ref: TableRef,
        columns: list[tuple[str, str]],
        given: dg.TableSchema | None = None,
    ) -> dg.TableSchema:
        """`columns` (name, warehouse type) described; a description or PII tag the asset gave
        itself (`given`) fills what the column docs do not know."""
        own = {c.name: c for c in given.columns} if given is not None else {}
        described = []
        for name, type_ in columns:
            doc = self.doc(ref, name)
            text = doc.description
            if not doc.described and name in own and own[name].description:
                text = own[name].description
            pii = doc.pii or (name in own and PII_TAG in (own[name].tags or {}))
            described.append(
                dg.TableColumn(name, type_, description=text, tags={PII_TAG: ""} if pii else {})
            )
        return dg.TableSchema(columns=described)

    def defined_schema(self, ref: TableRef) -> dg.TableSchema | None:
        dtypes = self.defined_dtypes(ref)
        if dtypes is None:
            return None
        columns = [(name, warehouse_type(dtype, self.dialect)) for name, dtype in dtypes.items()]
        return self.schema(ref, columns)


def table_of(key: dg.AssetKey) -> TableRef | None:
    return TableRef(key.path[0], key.path[-1]) if len(key.path) >= 2 else None


# -- run time -----------------------------------------------------------------------------------
def _warehouse_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> WarehouseResource | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, WarehouseResource):
            return value
    return None


def with_warehouse_schema(
    event: Any, docs: TableColumnDocs, warehouse: WarehouseResource, default_key: dg.AssetKey | None
) -> Any:
    """A MaterializeResult with the schema of its table as the warehouse holds it now (the
    asset has committed its write before reporting it); anything else unchanged."""
    if isinstance(event, (tuple, list)) and not hasattr(event, "_fields"):
        return type(event)(with_warehouse_schema(e, docs, warehouse, default_key) for e in event)
    if not isinstance(event, dg.MaterializeResult):
        return event
    key = event.asset_key or default_key
    ref = table_of(key) if key is not None else None
    if ref is None:
        return event
    with warehouse.get().engine.connect() as conn:
        columns = read_warehouse_columns(conn, ref)
    if not columns:  # not a warehouse table (a model, a file)
        return event
    metadata = dict(event.metadata or {})
    given = metadata.get(COLUMN_SCHEMA)
    given_schema = given.schema if isinstance(given, dg.TableSchemaMetadataValue) else given
    metadata[COLUMN_SCHEMA] = docs.schema(
        ref, columns, given_schema if isinstance(given_schema, dg.TableSchema) else None
    )
    return replace(event, metadata=metadata)


def schema_reporting(
    fn: Callable[..., Any], docs: TableColumnDocs, default_key: dg.AssetKey | None
) -> Callable[..., Any]:
    """`fn` (an asset's compute function) with its materializations carrying the schema of
    the table they wrote. An asset without the warehouse resource is left as it is."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generate(*args: Any, **kwargs: Any) -> Iterator[Any]:
            warehouse = _warehouse_of(args, kwargs)
            for event in fn(*args, **kwargs):
                yield (
                    event
                    if warehouse is None
                    else with_warehouse_schema(event, docs, warehouse, default_key)
                )

        return generate

    @functools.wraps(fn)
    def compute(*args: Any, **kwargs: Any) -> Any:
        warehouse = _warehouse_of(args, kwargs)
        result = fn(*args, **kwargs)
        if warehouse is None:
            return result
        return with_warehouse_schema(result, docs, warehouse, default_key)

    return compute


def _with_reporting_op(
    assets_def: dg.AssetsDefinition, docs: TableColumnDocs
) -> dg.AssetsDefinition:
    op = assets_def.op
    compute_fn = op.compute_fn
    if not isinstance(compute_fn, DecoratedOpFunction):
        return assets_def
    default_key = assets_def.key if len(assets_def.keys) == 1 else None
    rebuilt = rebuilt_op(op, lambda fn: schema_reporting(fn, docs, default_key), op.pool)
    return assets_def.__class__.dagster_internal_init(
        **{**assets_def.get_attributes_dict(), "node_def": rebuilt}
    )


# -- definition time ----------------------------------------------------------------------------
# The tag of an asset whose output is a file, not a warehouse table (the insights report).
WRITES_TAG, WRITES_FILE = "cdp/writes", "file"


def is_table_asset(spec: dg.AssetSpec) -> bool:
    """Every asset writes a warehouse table of its key, except model training (model store)
    and assets tagged as writing a file."""
    return (
        spec.group_name != TRAINING_GROUP
        and spec.tags.get(WRITES_TAG) != WRITES_FILE
        and table_of(spec.key) is not None
    )


def with_defined_schema(spec: dg.AssetSpec, docs: TableColumnDocs) -> dg.AssetSpec:
    ref = table_of(spec.key)
    if not is_table_asset(spec) or ref is None:
        return spec
    schema = docs.defined_schema(ref)
    if schema is None:
        return spec
    return spec.replace_attributes(metadata={**spec.metadata, COLUMN_SCHEMA: schema})


def with_column_schemas(defs: dg.Definitions, config: CDPConfig) -> dg.Definitions:
    """Column schemas on every table asset: in its spec when the code knows the columns, and
    on each materialization from the warehouse."""
    docs = TableColumnDocs(config)
    assets = []
    for asset in defs.assets or []:
        if isinstance(asset, dg.AssetsDefinition):
            asset = asset.map_asset_specs(lambda spec: with_defined_schema(spec, docs))
            if asset.is_executable:
                asset = _with_reporting_op(asset, docs)
        assets.append(asset)
    return replace(defs, assets=assets)
