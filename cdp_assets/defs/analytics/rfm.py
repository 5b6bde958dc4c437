"""`analytics.rfm`: recency, frequency and monetary scores and the named segments."""

import dagster as dg

from cdp_assets.analytics.rfm import (
    empty_scores_note,
    rfm_grid_plot,
    rfm_scores,
    segment_summary,
)
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.defs.catalog import ANALYTICS_GROUP, FEATURES, FEATURES_KEY, RFM, RFM_KEY
from cdp_assets.defs.charts import chart
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.defs.table_checks import table_checks
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession

CHECK_SCORES = "scores_within_1_to_5"
CHECK_SHARES = "segment_shares_sum_to_100"
SCORE_COLUMNS = ("r_score", "f_score", "m_score")


def build_rfm_asset(config: CDPConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=RFM_KEY,
        deps=[FEATURES_KEY],
        group_name=ANALYTICS_GROUP,
        kinds={"pandas", "matplotlib"},
    )
    @skip_when_inputs_unchanged(config)
    def rfm(warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Recency, frequency and monetary scores 1-5 (quintiles; equal values share a score)
        of every customer with a purchase, the score string and the named segment from the
        R x F map in cdp.yaml (analytics.rfm_segments). Segment sizes and revenue shares, and
        the R x F grid, in metadata."""
        wh = warehouse.get()
        with wh.transaction() as session:
            features = session.read_table(FEATURES, dtypes=FEATURE_DTYPES)
            scores = rfm_scores(features, config.analytics.rfm_segments)
            session.replace_table(RFM, scores)
        summary = segment_summary(scores)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(scores),
                "customers_scored": len(scores),
                # Each segment's share of customers as a number: the Plots view draws it
                # run after run.
                **{
                    f"share_percent/{row.segment}": round(100 * float(row.share), 2)
                    for row in summary.itertuples()
                },
                "segments": dg.MetadataValue.md(markdown_table(summary, max_rows=20)),
                "empty_scores": empty_scores_note(scores) or "none: every score has customers",
                **chart(
                    "R x F grid",
                    "Customers in each recency (rows, 5 = most recent) and frequency (columns, "
                    "5 = most orders) score, shaded by count and labelled with the segment the "
                    "map in cdp.yaml gives the cell.",
                    rfm_grid_plot(scores, config.analytics.rfm_segments),
                ),
            },
        )

    return rfm


def build_rfm_checks() -> dg.AssetChecksDefinition:
    """The RFM table's blocking checks, from the published table."""
    specs = [
        dg.AssetCheckSpec(
            CHECK_SCORES,
            asset=RFM_KEY,
            blocking=True,
            description="every R, F and M score is an integer from 1 to 5; blocks "
            "downstream assets when it fails",
        ),
        dg.AssetCheckSpec(
            CHECK_SHARES,
            asset=RFM_KEY,
            blocking=True,
            description="the segments' customer shares sum to 100% (within 1e-9): every "
            "scored customer is in exactly one segment; blocks downstream assets when it "
            "fails",
        ),
    ]
    return table_checks("rfm_checks", specs, _rfm_checks, reads=(RFM,))


def _rfm_checks(session: WarehouseSession) -> list[dg.AssetCheckResult]:
    """In SQL: the table can hold every buyer, and the check runs apart from the asset."""
    scores = " OR ".join(f"{c} IS NULL OR {c} NOT BETWEEN 1 AND 5" for c in SCORE_COLUMNS)
    figures = session.query(
        f"SELECT COUNT(*) AS customers, COALESCE(SUM(CASE WHEN {scores} THEN 1 ELSE 0 END), 0) "
        f"AS out_of_range FROM {RFM.sql}"
    ).iloc[0]
    customers, out_of_range = int(figures["customers"]), int(figures["out_of_range"])
    segments = session.query(
        f"SELECT COALESCE(rfm_segment, '(unmapped)') AS segment, COUNT(*) AS customers "
        f"FROM {RFM.sql} GROUP BY 1"
    )
    total_share = float((segments["customers"] / customers).sum()) if customers else 1.0
    return [
        dg.AssetCheckResult(
            check_name=CHECK_SCORES,
            passed=out_of_range == 0,
            metadata={"customers": customers, "scores_out_of_range": out_of_range},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_SHARES,
            passed=customers == 0 or abs(total_share - 1.0) < 1e-9,
            metadata={"share_sum": round(total_share * 100, 6)},
        ),
    ]
