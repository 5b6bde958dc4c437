"""`raw.<source>`: one asset per configured source, appending only files not ingested before."""
# No `from __future__ import annotations`: Dagster checks the `context` annotation as a class.

import datetime as dt
import json

import dagster as dg
import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig, ConfigError, SourceConfig
from cdp_assets.config.loader import landing_dir, source_url
from cdp_assets.contracts.canonical import LEDGER_DTYPES, RAW_LINEAGE_DTYPES
from cdp_assets.defs.catalog import LEDGER, QUARANTINE, RAW_GROUP, raw_key
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.ingest import IngestBatch, SourceReadError, ingest_source
from cdp_assets.ingest.batch import UNREADABLE_RULE
from cdp_assets.ingest.ledger import claim_source, nothing_landed
from cdp_assets.ingest.readers import STRING
from cdp_assets.ingest.sql_snapshots import (
    DatabaseFileState,
    database_file_state,
    snapshot_name,
)
from cdp_assets.privacy.suppression import (
    RowSuppressor,
    SuppressionError,
    load_suppressed,
    privacy_salt,
)
from cdp_assets.reporting.markdown import counts_table, markdown_table
from cdp_assets.warehouse import TableRef, Warehouse, WarehouseSession
from cdp_assets.warehouse.versions import read_versions, recorded_inputs
from cdp_assets.warehouse.warehouse import set_data_version

BATCH_CONSERVATION = "batch_conservation"
# Run tag: "true" reads again the source's files quarantined whole (unreadable_file), e.g.
# after a wrong `encoding` was corrected; the ledger would otherwise skip their bytes for ever.
REREAD_UNREADABLE_TAG = "cdp/reread_unreadable_files"


def _wants_reread(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(REREAD_UNREADABLE_TAG, "").strip().lower() in ("true", "1", "yes")


def release_unreadable_files(session: WarehouseSession, source: SourceConfig) -> list[str]:
    """Forgets the files of `source` that were quarantined whole (their ledger row and their
    `unreadable_file` quarantine entry), so that this batch reads them again; returns them.
    Runs in the batch's transaction: if the new read fails, nothing is forgotten."""
    if not (session.table_exists(QUARANTINE) and session.table_exists(LEDGER)):
        return []
    found = session.query(
        f"SELECT DISTINCT file, batch_id FROM {QUARANTINE.sql} "
        "WHERE source = :source AND stage = 'ingest' AND rule = :rule ORDER BY file",
        {"source": source.name, "rule": UNREADABLE_RULE},
    )
    for file, batch_id in found.itertuples(index=False):
        where = "source = :source AND file = :file AND batch_id = :batch"
        params = {"source": source.name, "file": file, "batch": batch_id}
        session.delete_where(QUARANTINE, where + " AND stage = 'ingest'", params)
        session.delete_where(LEDGER, where, params)
    return list(dict.fromkeys(found["file"]))


def _read_state(
    session: WarehouseSession, source: SourceConfig
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The source's ledger rows, the row hashes and the columns raw.<source> already holds."""
    ledger = session.read_table(
        LEDGER, dtypes=LEDGER_DTYPES, where="source = :source", params={"source": source.name}
    )
    ref = TableRef("raw", source.name)
    if session.table_exists(ref):
        hashes = session.query(f"SELECT _row_hash FROM {ref.sql}")["_row_hash"].to_numpy()
        return ledger, hashes, session.columns(ref)
    return ledger, np.array([], dtype="int64"), []


class RawAppender:
    """Appends a batch's rows to raw.<source> file by file (memory holds one file), leaving
    the table with the columns, in the order, that one append of the whole batch gives it:
    a new table gets the batch's source columns, first seen first, then lineage."""

    def __init__(self, session: WarehouseSession, ref: TableRef) -> None:
        self.session = session
        self.ref = ref
        self.existed = session.table_exists(ref)
        self.rows = 0

    def append(self, rows: pd.DataFrame) -> None:
        self.session.append(self.ref, rows)
        self.rows += len(rows)

    def finish(self, columns: list[str]) -> None:
        """After the last file: `columns` are the batch's source columns. A batch that loaded
        no row leaves the table as it was."""
        if not self.rows:
            return
        # Columns of files none of whose rows was loaded (exact duplicates) still count.
        self.session.append(
            self.ref, pd.DataFrame({c: pd.Series([], dtype=STRING) for c in columns})
        )
        if not self.existed:
            self.session.order_columns(self.ref, [*columns, *RAW_LINEAGE_DTYPES])


def _write_batch(session: WarehouseSession, source: SourceConfig, batch: IngestBatch) -> None:
    """Quarantined lines and ledger rows, in the transaction that appended the raw rows."""
    if len(batch.quarantine):
        session.append(QUARANTINE, batch.quarantine)
    if len(batch.ledger):
        session.append(LEDGER, batch.ledger)


def _conservation_check(
    session: WarehouseSession, source: SourceConfig, batch: IngestBatch, batch_id: str
) -> dg.AssetCheckResult:
    """Per file of the batch: read = loaded + quarantined + exact duplicates, and the
    warehouse holds exactly the loaded and quarantined rows the ledger claims."""
    ref = TableRef("raw", source.name)
    loaded_in_table = (
        int(session.scalar(f"SELECT COUNT(*) FROM {ref.sql} WHERE _batch_id = :b", {"b": batch_id}))
        if session.table_exists(ref)
        else 0
    )
    quarantined_in_table = (
        int(
            session.scalar(
                f"SELECT COUNT(*) FROM {QUARANTINE.sql} WHERE source = :s AND batch_id = :b "
                "AND stage = 'ingest'",
                {"s": source.name, "b": batch_id},
            )
        )
        if session.table_exists(QUARANTINE)
        else 0
    )
    ledger = batch.ledger
    read = int(ledger["rows_read"].sum()) if len(ledger) else 0
    loaded = int(ledger["rows_loaded"].sum()) if len(ledger) else 0
    quarantined = int(ledger["rows_quarantined"].sum()) if len(ledger) else 0
    duplicates = int(ledger["exact_duplicates"].sum()) if len(ledger) else 0
    suppressed = int(ledger["rows_suppressed"].sum()) if len(ledger) else 0
    per_file_ok = (
        bool(
            (
                ledger["rows_read"]
                == ledger["rows_loaded"]
                + ledger["rows_quarantined"]
                + ledger["exact_duplicates"]
                + ledger["rows_suppressed"]
            ).all()
        )
        if len(ledger)
        else True
    )
    passed = (
        per_file_ok
        and read == loaded + quarantined + duplicates + suppressed
        and loaded == loaded_in_table
        and quarantined == quarantined_in_table
    )
    return dg.AssetCheckResult(
        check_name=BATCH_CONSERVATION,
        passed=passed,
        metadata={
            "rows_read": read,
            "rows_loaded": loaded,
            "rows_quarantined": quarantined,
            "exact_duplicates": duplicates,
            "rows_suppressed": suppressed,
            "rows_in_raw_table_for_batch": loaded_in_table,
            "rows_in_quarantine_for_batch": quarantined_in_table,
        },
        description="rows read = loaded + quarantined + exact duplicates + suppressed (erased "
        "people), for every file",
    )


def _suppressor(
    session: WarehouseSession, source: SourceConfig, config: CDPConfig
) -> RowSuppressor | None:
    """Rows of erased people are not loaded again; erasure requests themselves always are."""
    if source.kind == "erasure_requests" or not session.table_exists(
        TableRef("ops", "suppression_list")
    ):
        return None
    salt = privacy_salt(config)
    suppressed = load_suppressed(session, salt)
    return RowSuppressor(source, config, salt, suppressed) if suppressed else None


def _metadata(source: SourceConfig, batch: IngestBatch, total_rows: int) -> dict[str, object]:
    ledger = batch.ledger
    ingested = ledger[ledger["status"] == "ingested"] if len(ledger) else ledger
    duplicates = ledger[ledger["status"] == "duplicate_file"] if len(ledger) else ledger
    meta: dict[str, object] = {
        "dagster/row_count": total_rows,
        "dagster/table_name": f"raw.{source.name}",
        "new_files": len(ingested),
        "duplicate_files": len(duplicates),
        "rows_read": int(ledger["rows_read"].sum()) if len(ledger) else 0,
        "rows_loaded": int(ledger["rows_loaded"].sum()) if len(ledger) else 0,
        "rows_quarantined": int(ledger["rows_quarantined"].sum()) if len(ledger) else 0,
        "exact_duplicates": int(ledger["exact_duplicates"].sum()) if len(ledger) else 0,
        "rows_suppressed": int(ledger["rows_suppressed"].sum()) if len(ledger) else 0,
    }
    if len(ledger):
        meta["files"] = dg.MetadataValue.md(
            markdown_table(
                ledger[
                    [
                        "file",
                        "status",
                        "encoding",
                        "rows_read",
                        "rows_loaded",
                        "rows_quarantined",
                        "exact_duplicates",
                        "rows_suppressed",
                        "duplicate_of",
                    ]
                ],
                max_rows=40,
            )
        )
    if len(batch.quarantine):
        meta["quarantine_by_rule"] = dg.MetadataValue.md(
            counts_table(batch.quarantine["rule"].value_counts(), "rule")
        )
        meta["quarantine_sample"] = dg.MetadataValue.md(
            markdown_table(batch.quarantine[["file", "line", "rule", "reason"]], max_rows=10)
        )
    return meta


def _database_state(config: CDPConfig, source: SourceConfig) -> DatabaseFileState | None:
    """The state of a sql source's database when it is a SQLite file (else None)."""
    if source.format != "sql":
        return None
    statement = source.query or f"SELECT * FROM {source.table}"
    return database_file_state(source_url(config, source.name), statement)


def _trusted_snapshot(
    session: WarehouseSession, source: SourceConfig, database: DatabaseFileState | None
) -> str | None:
    """The content hash of the snapshot read when the database file and statement were last
    in this state, if one was recorded (`_remember_snapshot`)."""
    if database is None:
        return None
    name = snapshot_name(source.name)
    if read_versions(session, [name]).get(name) != database.fingerprint:
        return None
    return recorded_inputs(session, name).get("content_hash")


def _remember_snapshot(
    session: WarehouseSession,
    source: SourceConfig,
    database: DatabaseFileState | None,
    batch: IngestBatch,
    ingested_at: pd.Timestamp,
) -> None:
    """Records which snapshot the database gave in its state before the read, unless it was
    modified too close to the read to be trusted (committed with the batch)."""
    if database is None or batch.sql_content_hash is None:
        return
    if database.settled_before(pd.Timestamp(ingested_at)):
        inputs = json.dumps({"content_hash": batch.sql_content_hash})
        set_data_version(session, snapshot_name(source.name), database.fingerprint, inputs)


def ingest_into_warehouse(
    wh: Warehouse,
    source: SourceConfig,
    config: CDPConfig,
    batch_id: str,
    ingested_at: pd.Timestamp,
    reread_unreadable: bool = False,
) -> tuple[IngestBatch, dg.AssetCheckResult, int]:
    """The raw step without Dagster: one batch of `source` appended to raw.<source>, its
    quarantine and ledger rows, in one transaction; (batch, conservation check, table rows).
    `reread_unreadable`: files quarantined whole before are read again
    (`release_unreadable_files`; the batch's `files_read_again`). Raises dg.Failure (the message names source, file and key)
    when the source cannot be read as configured."""
    try:
        # One transaction for the whole batch: rows are appended file by file as they are
        # read, and a file that cannot be read rolls back the files before it. The claim comes
        # first: a concurrent run of this source waits until this one commits, then reads a
        # ledger that lists the files this one loaded.
        with wh.transaction() as session:
            claim_source(session, source.name)
            released = release_unreadable_files(session, source) if reread_unreadable else []
            ledger, known_hashes, known_columns = _read_state(session, source)
            suppressor = _suppressor(session, source, config)
            appender = RawAppender(session, TableRef("raw", source.name))
            database = _database_state(config, source)  # before the read: see sql_snapshots
            trusted = _trusted_snapshot(session, source, database)
            batch = ingest_source(
                source,
                config,
                ledger=ledger,
                known_row_hashes=known_hashes,
                batch_id=batch_id,
                ingested_at=ingested_at,
                known_columns=known_columns,
                sink=appender.append,
                suppressor=suppressor,
                sql_unchanged=trusted,
            )
            if trusted is None:  # a snapshot taken on trust is already recorded
                _remember_snapshot(session, source, database, batch, ingested_at)
            appender.finish(batch.columns)
            _write_batch(session, source, batch)
            check = _conservation_check(session, source, batch, batch_id)
            total = session.row_count(TableRef("raw", source.name))
    except SuppressionError as exc:
        raise dg.Failure(description=f"{source.name}: {exc}") from None
    except (SourceReadError, ConfigError) as exc:
        raise dg.Failure(description=str(exc)) from None
    batch.files_read_again = released
    return batch, check, total


def _never_landed(wh: Warehouse, source: SourceConfig, config: CDPConfig) -> str | None:
    """A warning when a file source's glob matches no file and none was ever ingested (a
    misspelt `path` or `landing_dir`); files ingested and then moved away say nothing."""
    reason = nothing_landed(landing_dir(config), source)
    if reason is None or not wh.table_exists(LEDGER):
        return reason
    ingested = wh.query(
        f"SELECT COUNT(*) AS n FROM {LEDGER.sql} WHERE source = :source", {"source": source.name}
    )
    return reason if int(ingested["n"].iloc[0]) == 0 else None


def build_raw_asset(source: SourceConfig, config: CDPConfig) -> dg.AssetsDefinition:
    key = raw_key(source)
    location = (
        f"`{source.path}` under the landing folder"
        if source.format != "sql"
        else f"{'table `' + source.table + '`' if source.table else 'a query'} over SQLAlchemy"
    )

    @dg.asset(
        key=key,
        group_name=RAW_GROUP,
        kinds={"python", source.format},
        description=(
            f"Source `{source.name}` ({source.kind}, {source.format}) as read from {location}, "
            "every column as text, with lineage columns (_file, _line, _batch_id, "
            "_ingested_at, _row_hash). Each run appends only files whose content was not "
            "ingested before (ledger: ops.ingested_files); malformed lines go to ops.quarantine."
        ),
        metadata={"source_kind": source.kind, "format": source.format, "trust": source.trust},
        tags={"cdp/layer": "raw", "cdp/source_kind": source.kind},
        check_specs=[
            dg.AssetCheckSpec(
                BATCH_CONSERVATION,
                asset=key,
                blocking=True,
                description="rows read = loaded + quarantined + exact duplicates for each file; blocks "
                "downstream assets when it fails",
            )
        ],
    )
    def _raw(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        ingested_at = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("us")
        batch_id = f"{ingested_at:%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
        batch, check, total = ingest_into_warehouse(
            wh, source, config, batch_id, ingested_at, reread_unreadable=_wants_reread(context)
        )
        released = batch.files_read_again
        if released:
            context.log.info(
                f"{source.name}: read again {len(released)} file(s) quarantined whole before "
                f"(run tag {REREAD_UNREADABLE_TAG}): {', '.join(released[:10])}"
            )
        context.log.info(
            f"{source.name}: {batch.rows_loaded:,} rows loaded, {len(batch.quarantine):,} "
            f"quarantined, {batch.rows_suppressed:,} of erased people suppressed, from "
            f"{len(batch.ledger):,} files"
        )
        quarantine = batch.quarantine
        for reason in quarantine.loc[quarantine["rule"] == UNREADABLE_RULE, "reason"]:
            context.log.warning(f"file quarantined whole, not read: {reason}")
        metadata = _metadata(source, batch, total)
        if released:
            metadata["unreadable_files_read_again"] = len(released)
        empty = _never_landed(wh, source, config)
        if empty is not None:
            context.log.warning(empty)
            metadata["warning"] = empty
        return dg.MaterializeResult(metadata=metadata, check_results=[check])

    return _raw
