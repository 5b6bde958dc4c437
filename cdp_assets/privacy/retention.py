"""Retention: rows older than their source's `retention_days` are deleted from the warehouse.

A staged row ages by the event time of its kind (`RETENTION_FIELD`: an order by `ordered_at`,
an event by `occurred_at`, ...); a row without that time is kept. For every source with
`retention_days`, with cutoff = the start (00:00 UTC) of `today - retention_days`:

- `staging.<source>`: rows whose event time is before the cutoff;
- `raw.<source>`: the raw rows of those staged rows (same `_file`, `_line`, `_batch_id`), the
  raw rows of the superseded versions of those records (their lineage is in their `superseded`
  issues), and the raw rows behind staging quarantine rows that are deleted — otherwise the
  next staging run would bring them back;
- `ops.data_quality_issues`: the issues of the deleted records (source + record_id);
- `ops.quarantine`: the source's rows quarantined before the cutoff.

Everything happens in SQL inside the caller's transaction (DuckDB and PostgreSQL), in an order
that reads the lineage of the doomed staged rows before they are deleted. Missing tables are
skipped. Running it again deletes nothing more.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import RETENTION_FIELD
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.warehouse import quote_ident

QUARANTINE = TableRef("ops", "quarantine")
ISSUES = TableRef("ops", "data_quality_issues")
SUPERSEDED = "superseded"  # the issue action of a record version replaced by a later one

RETENTION_RESULT_DTYPES: dict[str, str] = {
    "source": "string",
    "table": "string",
    "retention_days": "Int64",
    "cutoff": "datetime64[us, UTC]",
    "rows_deleted": "Int64",
}


def retention_cutoff(retention_days: int, today: dt.date) -> dt.datetime:
    """The first instant that is kept: 00:00 UTC of `today - retention_days`."""
    day = today - dt.timedelta(days=retention_days)
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def retained_sources(config: CDPConfig) -> tuple[SourceConfig, ...]:
    """The sources with a retention period (of the kinds that age)."""
    return tuple(
        s for s in config.sources if s.retention_days is not None and s.kind in RETENTION_FIELD
    )


def _delete(session: WarehouseSession, sql: str, params: dict[str, object]) -> int:
    result = session.conn.execute(sa.text(sql), params)
    return max(int(result.rowcount or 0), 0)


def _apply_source(
    session: WarehouseSession, source: SourceConfig, cutoff: dt.datetime
) -> dict[str, int]:
    """Rows deleted per table for one source."""
    staged = TableRef("staging", source.name)
    raw = TableRef("raw", source.name)
    aged = f"{quote_ident(RETENTION_FIELD[source.kind])} < :cutoff"
    params: dict[str, object] = {"cutoff": cutoff, "source": source.name}
    has_staged = session.table_exists(staged)
    has_raw = session.table_exists(raw)
    has_issues = session.table_exists(ISSUES)
    has_quarantine = session.table_exists(QUARANTINE)
    deleted = {str(raw): 0, str(staged): 0, str(ISSUES): 0, str(QUARANTINE): 0}

    if has_raw:
        # Every reason a raw row goes, read before any of them is deleted; one statement per
        # reason (a single EXISTS each, which both engines run as a semi-join).
        match = "AND {a}.{f} = r._file AND {a}.{l} = r._line AND {a}.{b} = r._batch_id"
        behind: list[str] = []
        if has_staged:
            behind.append(
                f"SELECT 1 FROM {staged.sql} s WHERE s.{aged} "
                + match.format(a="s", f="_file", l="_line", b="_batch_id")
            )
            if has_issues:
                behind.append(
                    f"SELECT 1 FROM {ISSUES.sql} i WHERE i.source = :source "
                    f"AND i.action = '{SUPERSEDED}' "
                    f"AND i.record_id IN (SELECT s.record_id FROM {staged.sql} s WHERE s.{aged}) "
                    + match.format(a="i", f="file", l="line", b="batch_id")
                )
        if has_quarantine:
            behind.append(
                f"SELECT 1 FROM {QUARANTINE.sql} q WHERE q.source = :source "
                "AND q.stage = 'staging' AND q.quarantined_at < :cutoff "
                + match.format(a="q", f="file", l="line", b="batch_id")
            )
        deleted[str(raw)] = sum(
            _delete(session, f"DELETE FROM {raw.sql} AS r WHERE EXISTS ({select})", params)
            for select in behind
        )
    if has_staged:
        if has_issues:
            deleted[str(ISSUES)] = _delete(
                session,
                f"DELETE FROM {ISSUES.sql} WHERE source = :source AND record_id IN "
                f"(SELECT s.record_id FROM {staged.sql} s WHERE s.{aged})",
                params,
            )
        deleted[str(staged)] = _delete(session, f"DELETE FROM {staged.sql} WHERE {aged}", params)
    if has_quarantine:
        deleted[str(QUARANTINE)] = _delete(
            session,
            f"DELETE FROM {QUARANTINE.sql} WHERE source = :source AND quarantined_at < :cutoff",
            params,
        )
    for ref in (raw, staged, ISSUES, QUARANTINE):
        if deleted[str(ref)]:
            session.mark_changed(ref, deletions_only=True)
    return deleted


def apply_retention(session: WarehouseSession, config: CDPConfig, today: dt.date) -> pd.DataFrame:
    """Delete what the sources' retention periods no longer allow (see the module docstring);
    one row per source and table: source, table, retention_days, cutoff, rows_deleted."""
    rows = []
    for source in retained_sources(config):
        assert source.retention_days is not None
        cutoff = retention_cutoff(source.retention_days, today)
        for table, count in _apply_source(session, source, cutoff).items():
            rows.append(
                {
                    "source": source.name,
                    "table": table,
                    "retention_days": source.retention_days,
                    "cutoff": pd.Timestamp(cutoff),
                    "rows_deleted": count,
                }
            )
    frame = pd.DataFrame(rows, columns=list(RETENTION_RESULT_DTYPES))
    return frame.astype(RETENTION_RESULT_DTYPES)


def aged_rows(session: WarehouseSession, source: SourceConfig, today: dt.date) -> int:
    """Staged rows of `source` older than its retention cutoff (0 once retention ran)."""
    staged = TableRef("staging", source.name)
    if source.retention_days is None or not session.table_exists(staged):
        return 0
    cutoff = retention_cutoff(source.retention_days, today)
    field = quote_ident(RETENTION_FIELD[source.kind])
    return int(
        session.scalar(
            f"SELECT COUNT(*) FROM {staged.sql} WHERE {field} < :cutoff", {"cutoff": cutoff}
        )
    )
