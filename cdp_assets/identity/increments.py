"""Whether identity resolution has anything to do: a digest of everything it reads, compared
with the digest of the last resolution.

The digest covers the content of every staging table the resolution reads (customer records
and the fact sources that name people; each table summarised in the warehouse as its row
count and the sum of a hash of every row's columns but the lineage ones, so it costs one
scan and no transfer) and the
settings that shape the graph (`identity` section, and each source's name, kind and
`customer_ref_source`). Equal digests mean equal inputs, so the resolution would give what
the last one gave: the step then re-resolves nothing and says so.

Between full resolutions, changed inputs are resolved incrementally when the last full
resolution's matching parameters are stored and the settings are unchanged (see
`resolve.Matching`). A full resolution still runs when it is due (`identity.full_resolution_every_days` after the
last full one), when a run asks for it (run tag `FULL_RESOLUTION_TAG`), when the last run did
not write every identity table, or when one of them is missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

FULL_RESOLUTION_TAG = "cdp/identity_full_resolution"
# A full resolution scored with the stored parameters of the last full one instead of learning
# them: what an incremental resolution must equal (a check; it keeps the stored parameters).
FROZEN_RESOLUTION_TAG = "cdp/identity_frozen_resolution"
RUN_DTYPES: dict[str, str] = {
    "run_at": "datetime64[us, UTC]",
    "mode": "string",  # full | incremental | frozen | unchanged
    "reason": "string",  # why this mode
    "input_digest": "string",
    "tables_written": "string",  # comma list of the identity tables this run wrote
}


def table_digest_sql(table_sql: str, dialect: str, columns: Sequence[str]) -> str:
    """One row (`n`, `h`): row count and an order-independent sum of a hash of `columns` of
    every row (lineage columns left out by the caller: a batch id is not identity input)."""
    quoted = ", ".join('"' + column.replace('"', '""') + '"' for column in columns)
    if dialect == "postgresql":
        row_hash = f"('x' || substr(md5(ROW({quoted})::text), 1, 15))::bit(60)::bigint"
        return (
            f"SELECT COUNT(*) AS n, CAST(COALESCE(SUM({row_hash}), 0) AS TEXT) AS h "
            f"FROM {table_sql}"
        )
    return (
        f"SELECT COUNT(*) AS n, CAST(COALESCE(SUM(hash({quoted})), 0) AS VARCHAR) AS h "
        f"FROM {table_sql}"
    )


def settings_digest(settings: object) -> str:
    """sha256 of the identity settings alone: stored parameters are usable while it holds."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def input_digest(tables: Mapping[str, tuple[int, str] | None], settings: object) -> str:
    """sha256 of the per-table summaries (None: the table does not exist) and the settings
    (anything JSON-serialisable)."""
    payload = {
        "tables": {name: list(value) if value else None for name, value in sorted(tables.items())},
        "settings": settings,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ResolutionPlan:
    """What this run does: `mode` full, incremental or unchanged, and why (shown in the
    metadata). An incremental plan may still resolve in full (too many changes)."""

    mode: str
    reason: str

    @property
    def resolves(self) -> bool:
        return self.mode in RESOLVING_MODES


RESOLVING_MODES = ("full", "incremental", "frozen")


def plan_resolution(
    runs: pd.DataFrame,
    digest: str,
    now: pd.Timestamp,
    full_every_days: int | None,
    forced: bool,
    all_tables: Iterable[str],
    missing_tables: Iterable[str],
    incremental_blocker: str | None = "incremental resolution not asked for",
) -> ResolutionPlan:
    """Decide from the run ledger (`RUN_DTYPES`, oldest first) whether and how to resolve; an
    `unchanged` run is compared through the last resolution (full or incremental) before it.

    Resolves in full when forced, on the first run, when a table is missing or the last
    resolution did not write them all, or when the last full resolution is `full_every_days`
    days old or more. Otherwise, when the inputs differ from the last resolution's, resolves
    incrementally unless `incremental_blocker` says why it cannot (no stored parameters of
    the last full resolution, changed settings), and in full then; else nothing.
    """
    if forced:
        return ResolutionPlan("full", f"forced by run tag {FULL_RESOLUTION_TAG}")
    resolutions = runs[runs["mode"].isin(RESOLVING_MODES)]
    fulls = runs[runs["mode"] == "full"]
    if len(fulls) == 0:
        return ResolutionPlan("full", "first resolution")
    missing = sorted(missing_tables)
    if missing:
        return ResolutionPlan("full", f"identity table(s) missing: {', '.join(missing)}")
    last = resolutions.iloc[-1]
    written = set(str(last["tables_written"]).split(","))
    if not set(all_tables) <= written:
        return ResolutionPlan("full", "the last resolution wrote only some identity tables")
    if full_every_days is not None:
        age = now - fulls.iloc[-1]["run_at"]
        if age >= pd.Timedelta(days=full_every_days):
            days = age / dt.timedelta(days=1)
            return ResolutionPlan(
                "full",
                f"periodic full resolution: the last one is {days:.1f} days old "
                f"(identity.full_resolution_every_days = {full_every_days})",
            )
    if last["input_digest"] == digest:
        return ResolutionPlan("unchanged", "inputs unchanged since the last resolution")
    if incremental_blocker is None:
        return ResolutionPlan("incremental", "new, changed or removed records or facts")
    return ResolutionPlan(
        "full", f"new or changed records, facts or identity settings ({incremental_blocker})"
    )


def run_row(
    run_at: pd.Timestamp, plan: ResolutionPlan, digest: str, tables: Iterable[str]
) -> pd.DataFrame:
    """The run ledger's row for this run."""
    row = {
        "run_at": [run_at],
        "mode": [plan.mode],
        "reason": [plan.reason],
        "input_digest": [digest],
        "tables_written": [",".join(sorted(tables))],
    }
    return pd.DataFrame(row).astype(RUN_DTYPES)
