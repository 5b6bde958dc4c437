"""`python -m cdp_assets.reporting.summary`: what the last run left in the warehouse."""

from __future__ import annotations

import json
import sys

import pandas as pd

from cdp_assets.config import CDPConfig, ConfigError, load_config, resolve_path, warehouse_url
from cdp_assets.config.secrets import mask_secrets, mask_url
from cdp_assets.contracts.canonical import QUARANTINE_DTYPES
from cdp_assets.privacy.erasure import ERASURE_COUNTS_NOTE
from cdp_assets.reporting.insights.report import LATEST_NAME
from cdp_assets.reporting.quality_summary import SUMMARY_COLUMNS, top_quarantine_reasons
from cdp_assets.warehouse import TableRef, Warehouse, dispose_engines
from cdp_assets.warehouse.warehouse import duckdb_file


def render_summary(warehouse: Warehouse, url: str) -> str:
    """The summary text; `url` is shown with its credentials masked."""
    shown = mask_url(url)
    summary_ref = TableRef("ops", "quality_summary")
    if not warehouse.table_exists(summary_ref):
        return f"No ops.quality_summary in {shown}: materialize the asset graph first (make demo)."
    summary = warehouse.read_table(summary_ref)
    quarantine = warehouse.read_table(TableRef("ops", "quarantine"), dtypes=QUARANTINE_DTYPES)
    # the conservation columns, without the file counts and the share
    columns = [
        c
        for c in SUMMARY_COLUMNS
        if c not in ("files_ingested", "duplicate_files", "quarantine_share")
    ]
    totals = summary[columns[1:]].sum()
    table = pd.concat([summary[columns], pd.DataFrame([{"source": "TOTAL", **totals}])])
    lines = [
        "",
        "Rows per source (read = duplicates + suppressed + quarantined + loaded; "
        "loaded = quarantined + superseded + staged + removed by erasure or retention):",
        "",
    ]
    lines.append(table.to_string(index=False))
    lines += ["", "Top quarantine reasons:", ""]
    reasons = top_quarantine_reasons(quarantine, n=10)
    lines.append(reasons.to_string(index=False) if len(reasons) else "  none")
    lines += identity_lines(warehouse)
    lines += downstream_lines(warehouse)
    lines += activation_lines(warehouse)
    lines += campaign_lines(warehouse)
    lines += ["", f"Warehouse: {shown}"]
    return "\n".join(lines)


def identity_lines(warehouse: Warehouse) -> list[str]:
    """Customers, how records joined them, and what the identity ledger recorded."""
    if not warehouse.table_exists(TableRef("core", "customer_profiles")):
        return []
    figures = warehouse.query(
        "SELECT (SELECT COUNT(*) FROM core.customer_profiles) AS customers, "
        "(SELECT COUNT(*) FROM core.customer_xref WHERE identity_kind = 'record') AS records, "
        "(SELECT COUNT(*) FROM core.customer_xref) AS xref_rows, "
        "(SELECT COUNT(*) FROM core.identity_edges WHERE status = 'linked') AS links, "
        "(SELECT COUNT(*) FROM core.identity_edges WHERE status <> 'linked') AS cut, "
        "(SELECT COUNT(*) FROM core.shared_identifiers) AS shared"
    ).iloc[0]
    by_rule = warehouse.query(
        "SELECT rule, COUNT(*) AS links FROM core.identity_edges WHERE status = 'linked' "
        "GROUP BY rule ORDER BY links DESC"
    )
    ledger = warehouse.query(
        "SELECT event, COUNT(*) AS customers FROM core.identity_merges GROUP BY event "
        "ORDER BY customers DESC"
    )
    return [
        "",
        f"Customers: {figures['customers']:,} profiles from {figures['records']:,} customer "
        f"records ({figures['xref_rows']:,} xref rows); {figures['links']:,} links, "
        f"{figures['cut']:,} cut by the profile limits, {figures['shared']:,} shared "
        "identifier values not used for linking.",
        "",
        by_rule.to_string(index=False),
        "",
        "Identity ledger (all runs):",
        "",
        ledger.to_string(index=False),
    ]


def downstream_lines(warehouse: Warehouse) -> list[str]:
    """RFM segments, audience sizes and the rows each model scored."""
    lines: list[str] = []
    if warehouse.table_exists(TableRef("analytics", "rfm")):
        segments = warehouse.query(
            "SELECT rfm_segment AS segment, COUNT(*) AS customers FROM analytics.rfm "
            "GROUP BY rfm_segment ORDER BY customers DESC"
        )
        lines += ["", "RFM segments:", "", segments.to_string(index=False)]
    if warehouse.table_exists(TableRef("activation", "audience_membership")):
        sizes = warehouse.query(
            "SELECT audience, COUNT(*) AS members FROM activation.audience_membership "
            "WHERE as_of = (SELECT MAX(as_of) FROM activation.audience_membership) "
            "GROUP BY audience ORDER BY audience"
        )
        lines += ["", "Audiences (latest run):", "", sizes.to_string(index=False)]
    scored = [
        f"{table} {warehouse.row_count(TableRef('ml', table)):,}"
        for table in ("churn_scores", "customer_ltv", "lead_scores", "product_recommendations")
        if warehouse.table_exists(TableRef("ml", table))
    ]
    if scored:
        lines += ["", "Model outputs (rows): " + ", ".join(scored)]
    if warehouse.table_exists(TableRef("ml", "stockout_risk")):
        risk = warehouse.query(
            "SELECT COUNT(*) AS locations, SUM(CASE WHEN at_risk THEN 1 ELSE 0 END) AS at_risk, "
            "COUNT(DISTINCT CASE WHEN at_risk THEN product_id END) AS products "
            "FROM ml.stockout_risk"
        ).iloc[0]
        lines += [
            "",
            f"Stock-out risk: {int(risk['at_risk'] or 0):,} of {int(risk['locations']):,} "
            f"product-locations ({int(risk['products']):,} products) may run out before the "
            "lead time",
        ]
    return lines


def activation_lines(warehouse: Warehouse) -> list[str]:
    """The customer 360 table, the latest export of each audience and destination, and the
    erasure requests processed."""
    lines: list[str] = []
    if warehouse.table_exists(TableRef("activation", "customer_360")):
        rows = warehouse.row_count(TableRef("activation", "customer_360"))
        lines += ["", f"Customer 360: {rows:,} rows (activation.customer_360)"]
    if warehouse.table_exists(TableRef("activation", "audience_exports")):
        exports = warehouse.query(
            "SELECT destination, audience, channel, rows, additions, removals, excluded "
            "FROM activation.audience_exports e WHERE exported_at = (SELECT MAX(exported_at) "
            "FROM activation.audience_exports x WHERE x.destination = e.destination "
            "AND x.audience = e.audience) ORDER BY destination, audience"
        )
        exports["left_out"] = exports["excluded"].map(_left_out)
        lines += ["", "Audience exports (latest per destination and audience):", ""]
        lines.append(exports.drop(columns="excluded").to_string(index=False))
    if warehouse.table_exists(TableRef("ops", "erasure_log")):
        log = warehouse.query(
            "SELECT status, COUNT(*) AS requests, CAST(SUM(customers_erased) AS BIGINT) AS "
            "profiles_erased, CAST(SUM(rows_deleted) AS BIGINT) AS rows_deleted "
            "FROM ops.erasure_log GROUP BY status ORDER BY status"
        )
        suppressed = warehouse.row_count(TableRef("ops", "suppression_list"))
        lines += ["", f"Erasure requests ({suppressed:,} identifiers suppressed):", ""]
        lines.append(log.to_string(index=False) if len(log) else "  none")
        if len(log):
            lines += ["", f"  {ERASURE_COUNTS_NOTE}"]
        lines += ambiguous_request_lines(warehouse)
    return lines


def ambiguous_request_lines(warehouse: Warehouse) -> list[str]:
    """Requests whose latest outcome is `ambiguous` (their identifiers name more than one
    person): nobody was erased; each line says what would settle it."""
    log = warehouse.read_table(TableRef("ops", "erasure_log"))
    if "resolution_hint" not in log.columns or log.empty:
        return []
    latest = log.sort_values("completed_at").groupby("request_id", sort=False).tail(1)
    pending = latest[latest["status"] == "ambiguous"].sort_values("request_id")
    if pending.empty:
        return []
    lines = ["", "Ambiguous erasure requests (nobody erased; they wait for one more identifier):"]
    lines += [
        f"  {r.request_id}: matches {int(r.people_matched)} people; {r.resolution_hint}"
        for r in pending.itertuples()
    ]
    return lines


def campaign_lines(warehouse: Warehouse) -> list[str]:
    """Each campaign arm: assigned, exported, conversion, revenue per assigned customer and
    the primary metric's uplift against control with its interval."""
    lines: list[str] = []
    if warehouse.table_exists(TableRef("activation", "campaign_assignments")):
        sizes = warehouse.query(
            "SELECT campaign, arm, COUNT(*) AS assigned FROM activation.campaign_assignments "
            "GROUP BY campaign, arm ORDER BY campaign, arm"
        )
        lines += ["", "Campaign assignments:", ""]
        lines.append(sizes.to_string(index=False) if len(sizes) else "  none")
    if not warehouse.table_exists(TableRef("analytics", "campaign_results")):
        return lines
    results = warehouse.read_table(TableRef("analytics", "campaign_results"))
    if results.empty:
        return lines
    shown = pd.DataFrame(
        {
            "campaign": results["campaign"],
            "arm": results["arm"],
            "assigned": results["assigned"],
            "exported": results["exported"],
            "conversion": results["conversion_rate"].map(_percent),
            "revenue/assigned": results["revenue_per_assigned"].round(2),
            "uplift (95% CI)": [
                _uplift(r.primary_metric, r.primary_uplift, r.primary_low, r.primary_high)
                for r in results.itertuples()
            ],
            "p": results["primary_p_value"].map(lambda p: "" if pd.isna(p) else f"{p:.3f}"),
            "note": results["note"].fillna(""),
        }
    )
    lines += ["", "Campaign results (intention to treat, primary metric against control):", ""]
    lines.append(shown.to_string(index=False))
    return lines


def insights_report_lines(config: CDPConfig) -> list[str]:
    """Where the customer insights report is (activation/insights_report writes it)."""
    latest = resolve_path(config, config.reporting.report_dir) / LATEST_NAME
    if not latest.exists():
        return ["", f"No insights report yet at {latest} (activation/insights_report)."]
    return ["", f"Customer insights report (open it in a browser): {latest}"]


def _percent(value: object) -> str:
    return "" if pd.isna(value) else f"{float(value):.1%}"  # type: ignore[arg-type]


def _uplift(metric: object, uplift: object, low: object, high: object) -> str:
    if pd.isna(uplift):
        return ""
    if metric == "conversion":
        return f"{float(uplift):+.1%} [{float(low):+.1%}, {float(high):+.1%}]"
    return f"{float(uplift):+.2f} [{float(low):+.2f}, {float(high):+.2f}]"


def _left_out(excluded: str) -> str:
    counts = {k: v for k, v in json.loads(excluded or "{}").items() if v}
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def main() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    url = warehouse_url(config)
    try:
        file = duckdb_file(url)
        if file is not None and not file.exists():
            print(f"No warehouse at {file}: materialize the asset graph first (make demo).")
            return 1
        # Read-only: the summary never writes, and never holds a DuckDB file open for writing.
        text = render_summary(Warehouse(url, read_only=True), url)
    except Exception as exc:  # noqa: BLE001 - any failure is reported the same way, masked
        message = mask_secrets(f"{type(exc).__name__}: {exc}", url)
        print(f"Cannot read the warehouse {mask_url(url)}: {message}", file=sys.stderr)
        return 1
    finally:
        dispose_engines()
    print(text)
    print("\n".join(insights_report_lines(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
