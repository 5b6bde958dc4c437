"""The warehouse: tables in schemas per layer, on DuckDB (default) or PostgreSQL.

Pure Python + SQLAlchemy, no Dagster: the Dagster resource and IO manager wrap this class.
Bulk paths are each engine's fast one (DuckDB reads the pandas frame natively, PostgreSQL
takes COPY); a table is replaced inside one transaction, so readers never see half a table.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import threading
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from cdp_assets.warehouse.arrow_frames import arrow_readable, frame_of_arrow

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENGINES: dict[tuple[str, bool], sa.Engine] = {}  # by (url, read_only)
_ENGINES_LOCK = threading.Lock()
BATCH_ROWS = 262_144  # rows per record batch when a table is streamed (`read_batches`)
# Tables whose rows are unique by these columns, enforced on PostgreSQL (where two runs can
# write at once) by a unique index that `append` adds when it is missing. The file ledger: a
# file's content is claimed by one ingestion run only.
UNIQUE_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ops", "ingested_files"): ("source", "file", "content_hash"),
}

# information_schema data types (DuckDB's and PostgreSQL's spellings, lower case) of the column
# types `sql_type` creates, as Arrow types; any other type is left for Arrow to infer.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "varchar": pa.string(),
    "text": pa.string(),
    "character varying": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "double precision": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
    "timestamp without time zone": pa.timestamp("us"),
}


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message names the table."""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_ident(name: str, what: str) -> str:
    if not _IDENT.match(name):
        raise WarehouseError(f"invalid {what} name {name!r}")
    return name


def sql_type(dtype: Any, dialect: str) -> str:
    """The column type a pandas dtype is stored as."""
    dtype = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "BIGINT"
    if pd.api.types.is_float_dtype(dtype):
        return "DOUBLE PRECISION" if dialect == "postgresql" else "DOUBLE"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "TIMESTAMPTZ"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "TIMESTAMP"
    return "TEXT" if dialect == "postgresql" else "VARCHAR"


def duckdb_file(url: str) -> Path | None:
    """The database file of a `duckdb:///path` URL (None for other URLs and in-memory DuckDB)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "duckdb" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _read_only_args(url: str) -> dict[str, Any]:
    """Connection arguments that make every connection of an engine refuse writes."""
    backend = sa.engine.make_url(url).get_backend_name()
    if backend == "duckdb":
        return {"read_only": True}
    if backend == "postgresql":
        return {"options": "-c default_transaction_read_only=on"}
    raise WarehouseError(f"a read-only warehouse is not supported on {backend}")


def get_engine(url: str, *, read_only: bool = False) -> sa.Engine:
    """One engine per URL (and mode) per process (DuckDB allows a single writer process per
    file). A `read_only` engine cannot write: a DuckDB file opened read-only, PostgreSQL
    sessions with `default_transaction_read_only`."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get((url, read_only))
        if engine is None:
            file = duckdb_file(url)
            if file is not None and not read_only:
                file.parent.mkdir(parents=True, exist_ok=True)
            connect_args = _read_only_args(url) if read_only else {}
            engine = sa.create_engine(url, connect_args=connect_args)
            if engine.dialect.name == "duckdb":

                @sa.event.listens_for(engine, "connect")
                def _utc(dbapi_connection: Any, _record: Any) -> None:
                    dbapi_connection.execute("SET TimeZone='UTC'")

            _ENGINES[(url, read_only)] = engine
        return engine


def release_duckdb_cache(url: str, above_bytes: int) -> int:
    """Closes the pooled connections of this process's writing engine for a DuckDB `url` when
    DuckDB's buffer pool holds more than `above_bytes`, and returns what it held (0: nothing
    released). DuckDB keeps every block a query read cached in its buffer pool while a
    connection to the file is open, up to 80 % of the machine's memory; a run of many steps in
    one process (the in-process executor) would carry every earlier step's reads into the
    next step's peak. Closing the connections frees the pool; the next connection opens the
    file again (milliseconds; its blocks come back from the operating system's file cache)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get((url, False))
    if engine is None or engine.dialect.name != "duckdb":
        return 0
    with engine.connect() as conn:
        held = conn.exec_driver_sql(
            "SELECT COALESCE(SUM(memory_usage_bytes), 0) FROM duckdb_memory()"
        ).scalar()
    if int(held or 0) <= above_bytes:
        return 0
    engine.dispose()
    return int(held)


def dispose_engines() -> None:
    """Close every cached engine (tests, and before another process opens a DuckDB file)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def coerce_frame(df: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Columns in contract order with contract dtypes; missing columns become NA."""
    out = {}
    for column, dtype in dtypes.items():
        series = df[column] if column in df.columns else pd.Series(pd.NA, index=df.index)
        out[column] = _as_dtype(series, dtype)
    return pd.DataFrame(out, index=df.index)


def _as_dtype(series: pd.Series, dtype: str) -> pd.Series:
    if dtype.startswith("datetime64"):
        converted = pd.to_datetime(series, utc="UTC" in dtype)
        return converted.astype(dtype)
    if dtype == "Int64":
        return pd.to_numeric(series).astype("Int64")
    if dtype == "boolean":
        return series.astype("boolean")
    if dtype == "string":
        if pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype):
            return series.astype("string")
        return series.astype("string")
    return series.astype(dtype)


@dataclass(frozen=True)
class TableRef:
    schema: str
    table: str

    def __post_init__(self) -> None:
        _check_ident(self.schema, "schema")
        _check_ident(self.table, "table")

    @property
    def sql(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


class WarehouseSession:
    """Operations inside one open transaction (see `Warehouse.transaction`)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        # Tables this transaction wrote, each with whether rows may have been added or changed
        # (False: rows were only deleted); each gets a new version in `ops.data_versions` when
        # the transaction commits (see `record_table_versions`).
        self.changed: dict[TableRef, bool] = {}
        # Tables whose rows already there may have been changed (or the table replaced): every
        # write but `append` and `delete_where`, unless its caller says otherwise. Each gets a
        # new `rewrites:` version (see `record_table_versions`).
        self.rewritten: set[TableRef] = set()

    def mark_changed(
        self, ref: TableRef, deletions_only: bool = False, rows_rewritten: bool = True
    ) -> None:
        """Record that this transaction wrote `ref` (the write methods below do it; a caller
        writing with its own SQL through `conn` says so here, and whether it only deleted).
        `rows_rewritten=False`: the write only added rows, or changed only columns that no
        reader of identifiers reads (`cdp_assets.privacy.tables`) — the rows already there
        hold the identifiers they held. Anything else must leave it True: the erasure check
        trusts it to search only the rows added since its last proof."""
        if ref.table.startswith("_"):
            return
        self.changed[ref] = self.changed.get(ref, False) or not deletions_only
        if rows_rewritten and not deletions_only:
            self.rewritten.add(ref)

    # -- reading -----------------------------------------------------------------------------

    # information_schema rather than SQLAlchemy reflection: it works the same on both engines.
    def table_exists(self, ref: TableRef) -> bool:
        found = self.conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = :schema AND table_name = :table"
            ),
            {"schema": ref.schema, "table": ref.table},
        ).scalar()
        return bool(found)

    def tables_in(self, schemas: Iterable[str]) -> list[TableRef]:
        """The tables of `schemas` (one catalog query), in schema and name order."""
        wanted = sorted(set(schemas))
        if not wanted:
            return []
        rows = self.conn.execute(
            sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN :schemas AND table_type = 'BASE TABLE' "
                "ORDER BY table_schema, table_name"
            ).bindparams(sa.bindparam("schemas", expanding=True)),
            {"schemas": wanted},
        ).all()
        return [TableRef(str(schema), str(table)) for schema, table in rows]

    def columns(self, ref: TableRef) -> list[str]:
        rows = self.conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
            ),
            {"schema": ref.schema, "table": ref.table},
        )
        return [r[0] for r in rows]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        if self.dialect == "duckdb":
            raw = self.conn.connection.driver_connection
            # DuckDB's own result → pandas conversion is far faster than row fetching, and
            # through Arrow faster again where text is concerned (`arrow_frames`).
            result = raw.execute(_duckdb_params(sql), dict(params or {}))
            described = result.description or []
            names, types = [d[0] for d in described], [str(d[1]) for d in described]
            if not described or not arrow_readable(types, names):
                return result.df()
            with warnings.catch_warnings():
                # "an extra copy of the rows": the price of reading within this connection's
                # transaction (`sql()` relations refuse to run beside an unfinished result)
                warnings.filterwarnings("ignore", "Arrow output on a DB-API result")
                table = result.to_arrow_table()
            frame = frame_of_arrow(table)
            if frame is None:  # unreachable while arrow_readable agrees with frame_of_arrow
                raise WarehouseError(f"unexpected result types {types} of: {sql}")
            return frame
        result = self.conn.execute(sa.text(sql), dict(params or {}))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def read_table(
        self,
        ref: TableRef,
        *,
        columns: list[str] | None = None,
        dtypes: Mapping[str, str] | None = None,
        where: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """The table as a frame; with `dtypes`, shaped to that contract (even if absent)."""
        if not self.table_exists(ref):
            if dtypes is not None:
                return coerce_frame(pd.DataFrame(), dtypes)
            raise WarehouseError(f"table {ref} does not exist; materialize its asset first")
        select = ", ".join(quote_ident(c) for c in columns) if columns else "*"
        sql = f"SELECT {select} FROM {ref.sql}"
        if where:
            sql += f" WHERE {where}"
        df = self.query(sql, params)
        return coerce_frame(df, dtypes) if dtypes is not None else df

    def arrow_schema(self, ref: TableRef) -> pa.Schema:
        """The table's columns as an Arrow schema (types `sql_type` creates; others as null,
        for Arrow to infer)."""
        rows = self.conn.execute(
            sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
            ),
            {"schema": ref.schema, "table": ref.table},
        )
        return pa.schema(
            [pa.field(name, _ARROW_TYPES.get(str(kind).lower(), pa.null())) for name, kind in rows]
        )

    def read_batches(self, ref: TableRef, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The table's rows as Arrow record batches of about `batch_rows` rows, streamed: only
        one batch is in memory at a time. Columns typed by `arrow_schema`."""
        schema = self.arrow_schema(ref)
        sql = f"SELECT * FROM {ref.sql}"
        if self.dialect == "duckdb":
            raw = self.conn.connection.driver_connection
            reader = raw.sql(sql).to_arrow_reader(batch_rows)
            try:
                for batch in reader:
                    yield _conform(pa.Table.from_batches([batch]), schema)
            finally:
                reader.close()  # a reader left open blocks the connection
            return
        result = self.conn.execution_options(stream_results=True).execute(sa.text(sql))
        columns = list(result.keys())
        for part in result.partitions(batch_rows):
            frame = pd.DataFrame(part, columns=columns, dtype=object)
            yield _conform(pa.Table.from_pandas(frame, preserve_index=False), schema)

    def read_batches_where(
        self,
        ref: TableRef,
        where: str,
        params: Mapping[str, Any] | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """The rows of `ref` matching `where`, streamed as `read_batches` streams the whole
        table (one batch in memory at a time, columns typed by `arrow_schema`)."""
        schema = self.arrow_schema(ref)
        sql = f"SELECT * FROM {ref.sql} WHERE {where}"
        if self.dialect == "duckdb":
            raw = self.conn.connection.driver_connection
            relation = raw.sql(_duckdb_params(sql), params=dict(params or {}))
            reader = relation.to_arrow_reader(batch_rows)
            try:
                for batch in reader:
                    yield _conform(pa.Table.from_batches([batch]), schema)
            finally:
                reader.close()
            return
        # The option on the statement, not the connection: later statements of the
        # transaction must not run through a server-side cursor too.
        statement = sa.text(sql).execution_options(stream_results=True)
        result = self.conn.execute(statement, dict(params or {}))
        columns = list(result.keys())
        for part in result.partitions(batch_rows):
            frame = pd.DataFrame(part, columns=columns, dtype=object)
            yield _conform(pa.Table.from_pandas(frame, preserve_index=False), schema)

    def row_count(self, ref: TableRef) -> int:
        if not self.table_exists(ref):
            return 0
        return int(self.scalar(f"SELECT COUNT(*) FROM {ref.sql}"))

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.conn.execute(sa.text(sql), dict(params or {})).scalar()

    # -- writing -----------------------------------------------------------------------------

    def ensure_schema(self, schema: str) -> None:
        _check_ident(schema, "schema")
        if self.dialect == "postgresql":
            # Two transactions creating one schema at once (steps side by side on workers, on a
            # new warehouse): the second would fail on the catalog's unique index; it waits for
            # the first instead, then finds the schema.
            exists = "SELECT 1 FROM pg_namespace WHERE nspname = :schema"
            if self.scalar(exists, {"schema": schema}):
                return
            self.take_turns(f"create schema {schema}")
        self.conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"))

    def create_table(self, ref: TableRef, df: pd.DataFrame) -> None:
        cols = ", ".join(
            f"{quote_ident(str(c))} {sql_type(df[c].dtype, self.dialect)}" for c in df.columns
        )
        self.conn.execute(sa.text(f"CREATE TABLE {ref.sql} ({cols})"))

    def replace_table(self, ref: TableRef, df: pd.DataFrame) -> int:
        """Write `df` as the new content of `ref` (atomic within the transaction)."""
        replacement = self.replacement(ref)
        replacement.append(df)
        return replacement.finish()

    def replacement(self, ref: TableRef) -> TableReplacement:
        """A new content for `ref`, written chunk by chunk (see `TableReplacement`)."""
        return TableReplacement(self, ref)

    def replace_table_as(
        self, ref: TableRef, select_sql: str, params: Mapping[str, Any] | None = None
    ) -> int:
        """The result of `select_sql` becomes the content of `ref`, computed inside the
        warehouse (atomic within the transaction, like `replace_table`)."""
        self.ensure_schema(ref.schema)
        staging = TableRef(ref.schema, f"_new_{ref.table}"[:63])
        self.conn.execute(sa.text(f"DROP TABLE IF EXISTS {staging.sql}"))
        self.conn.execute(
            sa.text(f"CREATE TABLE {staging.sql} AS {select_sql}"), dict(params or {})
        )
        self.conn.execute(sa.text(f"DROP TABLE IF EXISTS {ref.sql}"))
        self.conn.execute(sa.text(f"ALTER TABLE {staging.sql} RENAME TO {quote_ident(ref.table)}"))
        self.mark_changed(ref)
        return self.row_count(ref)

    def append(self, ref: TableRef, df: pd.DataFrame) -> int:
        """Append rows, creating the table or adding new columns as needed."""
        self.ensure_schema(ref.schema)
        if not self.table_exists(ref) and self.dialect == "postgresql":
            # As for the schema: a second transaction creating the table waits for the first.
            self.take_turns(f"create table {ref}")
        if not self.table_exists(ref):
            self.create_table(ref, df)
            self.mark_changed(ref)
        else:
            existing = set(self.columns(ref))
            for column in df.columns:
                if column not in existing:
                    self.conn.execute(
                        sa.text(
                            f"ALTER TABLE {ref.sql} ADD COLUMN {quote_ident(str(column))} "
                            f"{sql_type(df[column].dtype, self.dialect)}"
                        )
                    )
        key = UNIQUE_KEYS.get((ref.schema, ref.table))
        if key is not None:
            self.ensure_unique_index(ref, key)
        if len(df):
            self._bulk_insert(ref, df)
            self.mark_changed(ref, rows_rewritten=False)
        return len(df)

    def take_turns(self, name: str) -> None:
        """Waits until no other transaction holds the turn `name`, then holds it until this
        transaction ends (a PostgreSQL advisory lock); concurrent runs writing the same tables
        then run one after the other. DuckDB has a single writing process: nothing to do."""
        if self.dialect == "postgresql":
            self.conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)}
            )

    def ensure_unique_index(self, ref: TableRef, columns: tuple[str, ...]) -> bool:
        """On PostgreSQL, a unique index of `ref` over `columns`, created when missing (an
        existing warehouse is migrated on its next write). Returns whether it exists: rows
        already repeating the key leave it missing (see `repeated_keys`), and other engines
        have none (DuckDB has a single writer)."""
        if self.dialect != "postgresql":
            return False
        name = f"{ref.table}_unique_key"[:63]
        if self._index_exists(ref.schema, name):
            return True
        # One migration at a time (held to the end of the transaction): a second would fail
        # creating the same index name.
        self.take_turns(f"index:{ref}")
        if self._index_exists(ref.schema, name):
            return True
        if self.repeated_keys(ref, columns, limit=1):
            return False
        cols = ", ".join(quote_ident(c) for c in columns)
        self.conn.execute(
            sa.text(f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_ident(name)} ON {ref.sql} ({cols})")
        )
        return True

    def _index_exists(self, schema: str, name: str) -> bool:
        return bool(
            self.scalar(
                "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = :schema AND indexname = :name",
                {"schema": schema, "name": name},
            )
        )

    def repeated_keys(self, ref: TableRef, columns: tuple[str, ...], limit: int = 10) -> list:
        """Up to `limit` values of `columns` that more than one row of `ref` holds."""
        cols = ", ".join(quote_ident(c) for c in columns)
        rows = self.conn.execute(
            sa.text(
                f"SELECT {cols}, COUNT(*) FROM {ref.sql} GROUP BY {cols} HAVING COUNT(*) > 1 "
                f"ORDER BY {cols} LIMIT {int(limit)}"
            )
        )
        return [tuple(r) for r in rows]

    def order_columns(self, ref: TableRef, columns: list[str]) -> None:
        """Rebuild `ref` with its columns in the order of `columns` (which must name each of
        them once), keeping types and rows; nothing happens when they are in that order."""
        if self.columns(ref) == columns:
            return
        select = ", ".join(quote_ident(c) for c in columns)
        self.replace_table_as(ref, f"SELECT {select} FROM {ref.sql}")

    def delete_where(self, ref: TableRef, where: str, params: Mapping[str, Any]) -> None:
        if self.table_exists(ref):
            result = self.conn.execute(
                sa.text(f"DELETE FROM {ref.sql} WHERE {where}"), dict(params)
            )
            if result.rowcount != 0:  # -1: the driver does not say
                self.mark_changed(ref, deletions_only=True)

    def _bulk_insert(self, ref: TableRef, df: pd.DataFrame) -> None:
        if self.dialect == "duckdb":
            raw = self.conn.connection.driver_connection
            # DuckDB finds the frame by its variable name (a replacement scan). Not register():
            # a registered view stays in the catalog until the transaction ends, holding every
            # frame appended in it in memory, even after unregister().
            _cdp_frame = df  # noqa: F841 - read by DuckDB, by name
            raw.execute(f"INSERT INTO {ref.sql} BY NAME SELECT * FROM _cdp_frame")
        elif self.dialect == "postgresql":
            _copy_into_postgres(self.conn, ref, df)
        else:
            df.to_sql(ref.table, self.conn, schema=ref.schema, if_exists="append", index=False)


class TableReplacement:
    """The new content of a table, appended chunk by chunk to a side table `_new_<table>` in
    the session's transaction; `finish` swaps it in. Readers see the old table until the
    transaction commits, and a failure before then leaves the old table as it was."""

    def __init__(self, session: WarehouseSession, ref: TableRef) -> None:
        self.session = session
        self.ref = ref
        self.side = TableRef(ref.schema, f"_new_{ref.table}"[:63])
        self.rows = 0
        self._created = False
        session.ensure_schema(ref.schema)
        session.conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.side.sql}"))

    def append(self, df: pd.DataFrame) -> None:
        """Append a chunk; the first one (even empty) fixes the columns and their types."""
        if not self._created:
            self.session.create_table(self.side, df)
            self._created = True
        if len(df):
            self.session._bulk_insert(self.side, df)
        self.rows += len(df)

    def finish(self) -> int:
        """Swap the new content in; returns its row count."""
        if not self._created:
            raise WarehouseError(f"no content was written to replace {self.ref}")
        conn = self.session.conn
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.ref.sql}"))
        conn.execute(
            sa.text(f"ALTER TABLE {self.side.sql} RENAME TO {quote_ident(self.ref.table)}")
        )
        self.session.mark_changed(self.ref)
        return self.rows


DATA_VERSIONS_SCHEMA = "ops"
DATA_VERSIONS_TABLE = "data_versions"
# `rewrites:<schema>.<table>`: a version that moves only when rows already in the table may
# have changed (a replacement, an UPDATE, SQL a caller did not declare an append); appends and
# deletions leave it. A table without one has never been rewritten since the ledger knew it.
REWRITES_PREFIX = "rewrites:"
# The platform's schemas, one per layer.
PLATFORM_SCHEMAS: tuple[str, ...] = (
    "raw", "staging", "ops", "core", "analytics", "ml", "activation",
)  # fmt: skip


def record_table_versions(session: WarehouseSession) -> None:
    """Give every table the transaction wrote a new version in `ops.data_versions` (name,
    version, changed_at), committed with the writes themselves: a step that reads the version
    of each table it depends on knows, without reading a row, whether any of them changed
    since it last ran (`cdp_assets.warehouse.versions`). `additions` changes only when rows
    may have been added or changed, not when rows were only deleted: what the erasure check
    needs (a deletion cannot bring an erased identifier back). A table whose rows already
    there may have changed also gets a new `rewrites:` version (see `mark_changed`)."""
    for ref, grown in sorted(session.changed.items(), key=lambda item: str(item[0])):
        version = uuid.uuid4().hex
        set_data_version(session, f"table:{ref}", version, additions=version if grown else None)
        if ref in session.rewritten:
            set_data_version(session, f"{REWRITES_PREFIX}{ref}", version)
    session.changed.clear()
    session.rewritten.clear()


def _create_data_versions(session: WarehouseSession, ledger: TableRef) -> None:
    """The ledger, with a first version for every table a warehouse from before it already
    holds (their writes were not recorded; from here on every write is)."""
    session.conn.execute(
        sa.text(
            f"CREATE TABLE {ledger.sql} (name VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, "
            "changed_at TIMESTAMP NOT NULL, inputs VARCHAR, additions VARCHAR)"
        )
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for ref in session.tables_in(PLATFORM_SCHEMAS):
        if ref.table.startswith("_") or ref == ledger:
            continue
        session.conn.execute(
            sa.text(
                f"INSERT INTO {ledger.sql} (name, version, changed_at, additions) "
                "VALUES (:name, :version, :changed_at, :version)"
            ),
            {"name": f"table:{ref}", "version": uuid.uuid4().hex, "changed_at": now},
        )


def set_data_version(
    session: WarehouseSession,
    name: str,
    version: str,
    inputs: str | None = None,
    additions: str | None = None,
) -> None:
    """Upsert one row of `ops.data_versions`, creating the ledger when it is missing
    (`inputs`: for a step, what its version was computed from, as JSON; `additions`: None
    keeps the one recorded)."""
    ledger = TableRef(DATA_VERSIONS_SCHEMA, DATA_VERSIONS_TABLE)
    session.ensure_schema(ledger.schema)
    if not session.table_exists(ledger):
        session.take_turns(f"create table {ledger}")
        if not session.table_exists(ledger):
            _create_data_versions(session, ledger)
    session.conn.execute(
        sa.text(
            f"INSERT INTO {ledger.sql} AS v (name, version, changed_at, inputs, additions) "
            "VALUES (:name, :version, :changed_at, :inputs, :additions) ON CONFLICT (name) "
            "DO UPDATE SET version = excluded.version, changed_at = excluded.changed_at, "
            "inputs = excluded.inputs, additions = COALESCE(excluded.additions, v.additions)"
        ),
        {
            "name": name,
            "version": version,
            "changed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            "inputs": inputs,
            "additions": additions,
        },
    )


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks (`pg_advisory_xact_lock`)."""
    return int.from_bytes(
        hashlib.sha256(f"cdp_assets:{name}".encode()).digest()[:8], "big", signed=True
    )


def _conform(table: pa.Table, schema: pa.Schema) -> pa.RecordBatch:
    """One record batch with `schema`'s types where it knows them (null: as read)."""
    fields = [
        field if field.type != pa.null() else table.schema.field(field.name) for field in schema
    ]
    arrays = [
        table.column(field.name).cast(field.type).combine_chunks()
        if len(table)
        else pa.array([], field.type)
        for field in fields
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _duckdb_params(sql: str) -> str:
    # SQLAlchemy-style :name → DuckDB's $name
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"$\1", sql)


def _copy_into_postgres(conn: sa.Connection, ref: TableRef, df: pd.DataFrame) -> None:
    if not len(df):
        return
    cols = ", ".join(quote_ident(str(c)) for c in df.columns)
    buffer = io.StringIO()
    frame = df.copy()
    for column in frame.columns:
        dtype = frame[column].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            frame[column] = frame[column].map(lambda v: v.isoformat() if pd.notna(v) else None)
    # NULL is COPY csv's unquoted empty field; an empty string is therefore stored as NULL.
    frame.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL, na_rep="")
    payload = buffer.getvalue()
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {ref.sql} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy,
    ):
        copy.write(payload)


class Warehouse:
    """A SQLAlchemy URL and the operations the platform performs on it."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        """`read_only`: for readers (reports, notebooks) that must never write or, on
        DuckDB, hold the file open for writing."""
        self.url = url
        self.engine = get_engine(url, read_only=read_only)
        self.dialect = self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[WarehouseSession]:
        """All writes inside commit together, or none of them does."""
        with self.engine.begin() as conn:
            session = WarehouseSession(conn)
            yield session
            if session.changed:
                record_table_versions(session)

    def read_table(self, ref: TableRef, **kwargs: Any) -> pd.DataFrame:
        with self.transaction() as session:
            return session.read_table(ref, **kwargs)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        with self.transaction() as session:
            return session.query(sql, params)

    def table_exists(self, ref: TableRef) -> bool:
        with self.transaction() as session:
            return session.table_exists(ref)

    def replace_table(self, ref: TableRef, df: pd.DataFrame) -> int:
        with self.transaction() as session:
            return session.replace_table(ref, df)

    def row_count(self, ref: TableRef) -> int:
        with self.transaction() as session:
            return session.row_count(ref)
