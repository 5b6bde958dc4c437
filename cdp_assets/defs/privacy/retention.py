"""`ops.retention_log`: the asset that enforces the sources' `retention_days`.

Built by `build_retention_asset(config)`; the privacy definitions add it to the code location.
"""
# No `from __future__ import annotations`: Dagster checks the `context` annotation as a class.

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig, as_of_date
from cdp_assets.contracts.canonical import RETENTION_FIELD
from cdp_assets.defs.catalog import PRIVACY_GROUP, RETENTION_KEY, raw_key, staging_key, table_ref
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.privacy.retention import (
    aged_rows,
    apply_retention,
    retained_sources,
    retention_cutoff,
)
from cdp_assets.reporting.markdown import markdown_table

RETENTION_LOG = table_ref(RETENTION_KEY)
RETENTION_ENFORCED = "retention_enforced"


def _policy(config: CDPConfig) -> pd.DataFrame:
    today = as_of_date(config)
    return pd.DataFrame(
        [
            {
                "source": s.name,
                "kind": s.kind,
                "ages_by": RETENTION_FIELD[s.kind],
                "retention_days": s.retention_days,
                "cutoff": str(retention_cutoff(s.retention_days, today).date()),
            }
            for s in retained_sources(config)
            if s.retention_days is not None
        ]
    )


def build_retention_asset(config: CDPConfig) -> dg.AssetsDefinition | None:
    """The retention asset of the sources with `retention_days`; None when there are none."""
    sources = retained_sources(config)
    if not sources:
        return None
    key = RETENTION_KEY
    policy_text = ", ".join(
        f"{s.name} ({s.kind}, by {RETENTION_FIELD[s.kind]}): {s.retention_days} days"
        for s in sources
    )

    @dg.asset(
        key=key,
        deps=[k for s in sources for k in (raw_key(s), staging_key(s))],
        group_name=PRIVACY_GROUP,
        kinds={"python"},
        description=(
            "Enforces each source's `retention_days` as of the analysis date: staged rows whose "
            "event time is before the cutoff (00:00 UTC of as_of - retention_days) are deleted "
            "with their raw rows, their data-quality issues and the source's older quarantine "
            "rows; rows without an event time are kept. Each run appends the rows deleted per "
            f"source and table to {RETENTION_LOG}. Policy: {policy_text}."
        ),
        metadata={"retention_policy": policy_text},
        tags={"cdp/layer": "ops"},
        check_specs=[
            dg.AssetCheckSpec(
                RETENTION_ENFORCED,
                asset=key,
                blocking=False,
                description="no staged row of a retained source is older than its cutoff (an "
                "error, but does not block)",
            )
        ],
    )
    def _retention(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        today = as_of_date(config)
        run_at = pd.Timestamp.now(tz="UTC").floor("us")
        with wh.transaction() as session:
            deleted = apply_retention(session, config, today)
            log = deleted.assign(run_at=run_at, run_id=context.run.run_id).astype(
                {"run_id": "string"}
            )
            # The log lists deletions; a run that deletes nothing changes no table.
            session.append(RETENTION_LOG, log[log["rows_deleted"] > 0])
            aged = {s.name: aged_rows(session, s, today) for s in sources}
            log_rows = session.row_count(RETENTION_LOG)
        total = int(deleted["rows_deleted"].sum())
        context.log.info(
            f"retention as of {today}: {total:,} rows deleted over {len(sources)} sources"
        )
        check = dg.AssetCheckResult(
            check_name=RETENTION_ENFORCED,
            passed=not any(aged.values()),
            metadata={f"aged_rows_{name}": count for name, count in aged.items()},
            description="staged rows older than their source's cutoff, per source (expected 0)",
        )
        shown = deleted[["source", "table", "rows_deleted"]]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": log_rows,
                "dagster/table_name": str(RETENTION_LOG),
                "as_of": str(today),
                "rows_deleted_total": total,
                "rows_deleted": dg.MetadataValue.md(markdown_table(shown, max_rows=len(shown))),
                "policy": dg.MetadataValue.md(markdown_table(_policy(config), max_rows=100)),
            },
            check_results=[check],
        )

    return _retention
