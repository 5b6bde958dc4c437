"""`ops.quality_summary`: per-source ingestion and validation figures over the ops tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from cdp_assets.contracts.canonical import ISSUE_DTYPES, LEDGER_DTYPES, QUARANTINE_DTYPES
from cdp_assets.defs.catalog import (
    ISSUES,
    LEDGER,
    OPS_GROUP,
    QUALITY_SUMMARY_KEY,
    QUARANTINE,
    privacy_deps,
    staging_key,
    table_ref,
)
from cdp_assets.defs.charts import chart
from cdp_assets.defs.resources import WarehouseResource, project_config
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.reporting.quality_summary import (
    quality_summary,
    quarantine_share_plot,
    top_quarantine_reasons,
)
from cdp_assets.warehouse import TableRef
from cdp_assets.warehouse.versions import read_versions, table_name

SUMMARY = table_ref(QUALITY_SUMMARY_KEY)


def _ops_table_versions(resources: Mapping[str, Any]) -> dict[str, Any]:
    """The versions of the ops tables the summary reads besides its upstream assets'
    (`absent` for a table not created yet; None, so computed, for one without a version)."""
    refs = (LEDGER, QUARANTINE, ISSUES)
    with resources["warehouse"].get().transaction() as session:
        found = read_versions(session, [table_name(ref) for ref in refs])
        return {
            table_name(ref): found.get(table_name(ref)) if session.table_exists(ref) else "absent"
            for ref in refs
        }


@dg.definitions
def ops_quality() -> dg.Definitions:
    config = project_config()
    sources = [s.name for s in config.sources]

    @dg.asset(
        key=QUALITY_SUMMARY_KEY,
        deps=[staging_key(s) for s in config.sources] + privacy_deps(config),
        group_name=OPS_GROUP,
        kinds={"python", "pandas"},
    )
    @skip_when_inputs_unchanged(config, extra=_ops_table_versions, uses_as_of=False)
    def quality_summary_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Per source: files and rows read, exact duplicates, rows of erased people suppressed,
        rows quarantined at ingestion and at staging, superseded versions, rows staged, rows
        removed since (erasure, retention) and field issues — the ledger of where every row
        went — over ops.ingested_files, ops.quarantine and ops.data_quality_issues."""
        wh = warehouse.get()
        with wh.transaction() as session:
            ledger = session.read_table(LEDGER, dtypes=LEDGER_DTYPES)
            quarantine = session.read_table(QUARANTINE, dtypes=QUARANTINE_DTYPES)
            issues = session.read_table(ISSUES, dtypes=ISSUE_DTYPES)
            staged = {s: session.row_count(TableRef("staging", s)) for s in sources}
            raw = {s: session.row_count(TableRef("raw", s)) for s in sources}
            summary = quality_summary(sources, ledger, quarantine, issues, staged, raw)
            session.replace_table(SUMMARY, summary)
        reasons = top_quarantine_reasons(quarantine)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(summary),
                "dagster/table_name": str(SUMMARY),
                "rows_read": int(summary["rows_read"].sum()),
                "rows_staged": int(summary["rows_staged"].sum()),
                "rows_quarantined": int(len(quarantine)),
                "summary": dg.MetadataValue.md(markdown_table(summary, max_rows=50)),
                "top_quarantine_reasons": dg.MetadataValue.md(markdown_table(reasons)),
                # Numbers plot over time in the UI's Plots view; the chart shows the latest run.
                "quarantine_share_percent": _percent(len(quarantine), summary["rows_read"].sum()),
                **(
                    chart(
                        "quarantine share by source",
                        "Share of each source's rows read that were quarantined, by stage "
                        "(ingestion, staging); the rules and samples are on each staging asset.",
                        quarantine_share_plot(summary),
                    )
                    if len(summary)
                    else {}
                ),
            }
        )

    return dg.Definitions(assets=[quality_summary_asset])


def _percent(part: float, whole: float) -> float:
    return round(100 * float(part) / float(whole), 3) if whole else 0.0
