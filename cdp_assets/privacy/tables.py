"""Every warehouse table read as identifier values per row, with the key that deletes a row.

One reader per table shape (raw and staged sources, quarantine and field issues, the identity
tables, and any other table by its column names) serves both erasure and the trace check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import RECORD_ID_FIELD, field_names
from cdp_assets.privacy.candidates import CandidateFilter
from cdp_assets.privacy.identifiers import (
    NAMED_COLUMNS,
    STRING,
    Values,
    free_text_columns,
    named_values,
    node_values,
    raw_columns,
    record_values,
    source_field_values,
    source_text_values,
    staged_columns,
    text_values,
)
from cdp_assets.staging.stage import REISSUED_RULES
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.warehouse import PLATFORM_SCHEMAS, quote_ident

LAYERS: tuple[str, ...] = PLATFORM_SCHEMAS
LINEAGE_KEY: tuple[str, ...] = ("_file", "_line", "_batch_id")
# The canonical fields `source_field_values` reads identifiers from (the others of a source
# are amounts, dates, enums: a candidate search skips them).
IDENTIFIER_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "email_key",
        "phone",
        "loyalty_id",
        "anonymous_id",
        "customer_id",
        "record_id",
        "customer_ref",
        "record_source",
        "source_record_id",
        *RECORD_ID_FIELD.values(),
    }
)
# The ops tables whose rows are written batch by batch, with a `batch_id` column.
BATCHED_OPS: frozenset[str] = frozenset({"ops.quarantine", "ops.data_quality_issues"})
# Tables that hold no personal data, or only salted hashes of it (the privacy bookkeeping).
NOT_PERSONAL: frozenset[str] = frozenset(
    {
        "ops.ingested_files",
        "ops.quality_summary",
        "ops.suppression_list",
        "ops.erasure_log",
        "ops.retention_log",
        "ops._erasure_keys",
        "ops.erasure_trace_ledger",
        "ops.erasure_trace_batches",
        # Ledgers of the increments: batch ids, counts, fingerprints and digests only.
        "ops.staged_batches",
        "ops.staging_state",
        "core.identity_runs",
        # Table names, step names and versions (uuids, hashes) only.
        "ops.data_versions",
        # Scores and contributions by the trees' cell row, no customer id; only the cell rows
        # of the last scoring's customers (`cdp_assets.ml.explain.ScoresByCells`).
        "ml.churn_scores_by_cells",
        "ml.lead_scores_by_cells",
    }
)


@dataclass(frozen=True)
class RowScope:
    """A SQL condition on a table's rows (with its parameters): only those are read."""

    where: str
    params: dict[str, object]


@dataclass
class TableValues:
    """A table's identifier values per row and the columns whose values delete a row."""

    ref: TableRef
    keys: pd.DataFrame
    values: Values

    @property
    def index(self) -> pd.Index:
        return self.keys.index

    def subset(self, rows: np.ndarray) -> TableValues:
        """The rows of the boolean mask `rows` only (their index labels kept)."""
        keys = self.keys[rows]
        kept = keys.index
        return TableValues(self.ref, keys, [(k, s[s.index.isin(kept)]) for k, s in self.values])


def warehouse_tables(session: WarehouseSession) -> list[TableRef]:
    """Every table of the platform's schemas (bookkeeping and temporary tables included)."""
    return session.tables_in(LAYERS)


def personal_tables(session: WarehouseSession) -> list[TableRef]:
    return [
        ref
        for ref in warehouse_tables(session)
        if str(ref) not in NOT_PERSONAL and not ref.table.startswith("_")
    ]


def _source_of(config: CDPConfig, name: str) -> SourceConfig | None:
    return next((s for s in config.sources if s.name == name), None)


def _read(
    session: WarehouseSession,
    ref: TableRef,
    keys: list[str],
    values: list[str],
    rows: CandidateFilter | None,
    searched: list[str] | None = None,
    phones: list[str] | None = None,
    scope: RowScope | None = None,
) -> pd.DataFrame:
    """The key and value columns of `ref`: every row, or with `rows` only those whose
    `searched` columns (default: the value columns) may hold a wanted identifier (evaluated
    in the warehouse, see `candidates`; phone numbers in the `phones` columns only); with
    `scope`, of the rows it selects only."""
    read = list(dict.fromkeys([*keys, *values]))
    conditions, params = [], {}
    if rows is not None:
        where = rows.where(values if searched is None else searched, phones or [])
        conditions.append(where)
        params.update(rows.params_for(where))
    if scope is not None:
        conditions.append(f"({scope.where})")
        params.update(scope.params)
    if not conditions:
        return session.read_table(ref, columns=read)
    return session.read_table(ref, columns=read, where=" AND ".join(conditions), params=params)


def table_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues | None:
    """The table's identifier values, or None when it holds no identifier column. With
    `rows`, of the rows that may hold one of its wanted values only (a superset of those
    that do: the values read decide); with `scope`, of the rows it selects only."""
    columns = session.columns(ref)
    source = _source_of(config, ref.table)
    if ref.schema in ("raw", "staging") and source is not None:
        return _source_values(session, config, ref, source, columns, rows, scope)
    special = _SPECIAL.get(str(ref))
    if special is not None:
        return special(session, config, ref, columns, rows, scope)
    return _named_table_values(session, ref, columns, rows, scope)


def batch_column(config: CDPConfig, ref: TableRef, columns: list[str]) -> str | None:
    """The column naming the ingestion batch of each row, for the tables whose rows are
    written batch by batch (see `new_rows`): raw and staged source tables, the quarantine and
    the field issues. None for any other table."""
    if ref.schema in ("raw", "staging") and _source_of(config, ref.table) is not None:
        return "_batch_id" if all(c in columns for c in LINEAGE_KEY) else None
    if str(ref) in BATCHED_OPS and "batch_id" in columns:
        return "batch_id"
    return None


def rows_outside(ref: TableRef, column: str, proved: TableRef, name: str) -> RowScope:
    """The rows of `ref` the erasure check has not proved clean: those of a batch that
    `proved` (table_name, batch_id) does not list for `name` — a row without a batch
    included — and, in the field issues, every issue of a rule incremental staging writes
    for rows of earlier batches (`REISSUED_RULES`)."""
    outer = f"{ref.sql}.{quote_ident(column)}"
    where = (
        f"NOT EXISTS (SELECT 1 FROM {proved.sql} AS p "
        f"WHERE p.table_name = :_cdp_proved_table AND p.batch_id = {outer})"
    )
    params: dict[str, object] = {"_cdp_proved_table": name}
    if str(ref) == "ops.data_quality_issues":
        rules = ", ".join(f"'{r}'" for r in REISSUED_RULES)
        where += f" OR {ref.sql}.rule IN ({rules})"
    return RowScope(where, params)


def _source_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    source: SourceConfig,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues | None:
    if not all(c in columns for c in LINEAGE_KEY):
        return _named_table_values(session, ref, columns, rows, scope)
    raw = ref.schema == "raw"
    if raw:
        mapping = {f: c for f, c in raw_columns(source).items() if c in columns}
    else:
        present = [c for c in (*field_names(source.kind), "email_key", "record_id") if c in columns]
        mapping = staged_columns(present)
    texts = free_text_columns(source, columns, raw)
    searched = [c for f, c in mapping.items() if f in IDENTIFIER_FIELDS] + texts
    phones = [c for f, c in mapping.items() if f == "phone"] + texts
    read = [*mapping.values(), *texts]
    frame = _read(session, ref, list(LINEAGE_KEY), read, rows, searched, phones, scope)
    values = source_field_values(frame, source, config, mapping)
    values += source_text_values(frame, source, config, raw)
    return TableValues(ref, frame[list(LINEAGE_KEY)], values)


def _quarantine_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues:
    keys = ["source", "stage", "file", "line", "batch_id"]
    values = ["record_id", "raw_payload"]
    frame = _read(session, ref, keys, values, rows, phones=["raw_payload"], scope=scope)
    values = _per_source_text(frame, config, "raw_payload")
    return TableValues(ref, frame[keys], values)


def _issue_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues:
    keys = ["source", "record_id", "file", "line", "batch_id", "field"]
    frame = _read(session, ref, keys, ["record_id", "value"], rows, phones=["value"], scope=scope)
    values = _per_source_text(frame, config, "value")
    return TableValues(ref, frame[keys], values)


def _per_source_text(frame: pd.DataFrame, config: CDPConfig, text_column: str) -> Values:
    """Record ids and identifiers in the free text of ops rows, source by source."""
    values: Values = []
    for name, rows in frame.groupby("source", sort=True):
        source = _source_of(config, str(name))
        region = config.source_country(source) if source else config.default_country
        record_sources = [str(name)]
        if source is not None and source.customer_ref_source:
            record_sources.append(source.customer_ref_source)
        values.append(("record", record_values(str(name), rows["record_id"])))
        values += text_values(rows[text_column], region, record_sources)
    return values


def _xref_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues:
    keys = ["source", "source_record_id", "identity_kind", "customer_id"]
    searched = ["source_record_id", "customer_id"]
    frame = _read(session, ref, keys, searched, rows, phones=["source_record_id"], scope=scope)
    return TableValues(ref, frame, xref_values(frame, config))


def xref_values(frame: pd.DataFrame, config: CDPConfig) -> Values:
    """core.customer_xref rows as identifiers: a record, the record a customer_ref names, an
    anonymous id, or an identifier set."""
    kind = frame["identity_kind"].astype(STRING)
    sources = frame["source"].astype(STRING)
    ref_source = sources.map(
        {s.name: s.customer_ref_source for s in config.sources if s.customer_ref_source}
    ).astype(STRING)
    node_kind = kind.map(
        {"record": "record", "customer_ref": "ref", "anonymous_id": "anon", "identifiers": "ids"}
    ).astype(STRING)
    node_source = sources.where(kind != "customer_ref", ref_source)
    values: Values = [("customer_id", frame["customer_id"].astype(STRING))]
    return values + node_values(node_kind, node_source, frame["source_record_id"])


def _edge_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues:
    keys = ["customer_id", "left_source", "left_record_id", "right_source", "right_record_id"]
    texts = ["customer_id", "left_record_id", "right_record_id", "evidence"]
    phones = ["left_record_id", "right_record_id", "evidence"]
    read = [*keys, "left_kind", "right_kind"]
    frame = _read(session, ref, read, texts, rows, phones=phones, scope=scope)
    values: Values = [("customer_id", frame["customer_id"].astype(STRING))]
    for side in ("left", "right"):
        values += node_values(
            frame[f"{side}_kind"], frame[f"{side}_source"], frame[f"{side}_record_id"]
        )
    values += text_values(frame["evidence"], config.default_country)
    return TableValues(ref, frame[keys], values)


def _node_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues:
    read = ["node_key", "customer_id"]
    frame = _read(session, ref, [], read, rows, phones=["node_key"], scope=scope)
    parts = frame["node_key"].astype(STRING).str.split("|", n=2, expand=True)
    parts = parts.reindex(columns=[0, 1, 2])
    values: Values = [("customer_id", frame["customer_id"].astype(STRING))]
    values += node_values(parts[0], parts[1], parts[2])
    return TableValues(ref, frame[["node_key"]], values)


def _shared_values(
    session: WarehouseSession,
    config: CDPConfig,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues:
    frame = _read(session, ref, ["type"], ["value"], rows, phones=["value"], scope=scope)
    kinds = frame["type"].astype(STRING).map(NAMED_COLUMNS).astype(STRING)
    values: Values = []
    for kind in ("email", "phone", "loyalty_id"):
        values.append((kind, frame["value"].astype(STRING).where(kinds == kind)))
    return TableValues(ref, frame[["type", "value"]], values)


def _named_table_values(
    session: WarehouseSession,
    ref: TableRef,
    columns: list[str],
    rows: CandidateFilter | None = None,
    scope: RowScope | None = None,
) -> TableValues | None:
    picked = [c for c in columns if c in NAMED_COLUMNS]
    if not picked:
        return None
    phones = [c for c in picked if NAMED_COLUMNS[c] == "phone"]
    frame = _read(session, ref, [], picked, rows, phones=phones, scope=scope)
    return TableValues(ref, frame, named_values(frame))


_SPECIAL = {
    "ops.quarantine": _quarantine_values,
    "ops.data_quality_issues": _issue_values,
    "core.customer_xref": _xref_values,
    "core.identity_edges": _edge_values,
    "core.identity_nodes": _node_values,
    "core.shared_identifiers": _shared_values,
}


def each_table(
    session: WarehouseSession,
    config: CDPConfig,
    layers: tuple[str, ...] = LAYERS,
    rows: CandidateFilter | None = None,
) -> Iterator[TableValues]:
    """TableValues of every table of `layers` that may hold personal data (with `rows`, of
    the rows that may hold one of its wanted values)."""
    for ref in personal_tables(session):
        if ref.schema not in layers:
            continue
        found = table_values(session, config, ref, rows)
        if found is not None and len(found.keys):
            yield found
