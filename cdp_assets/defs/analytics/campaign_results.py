"""`analytics.campaign_results`: what each campaign's arms did, against control."""

import datetime as dt

import dagster as dg
import pandas as pd

from cdp_assets.activation.campaign_assignment import ASSIGNMENT_DTYPES, GLOBAL_CONTROL
from cdp_assets.analytics.campaign_results import (
    CAMPAIGN_RESULT_DTYPES,
    CampaignDesign,
    campaign_results,
    cumulative_conversion_plot,
    design_of,
    marketing_programme,
    uplift_plot,
    without_unexported_arms,
)
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    ANALYTICS_GROUP,
    CAMPAIGN_ASSIGNMENTS,
    CAMPAIGN_ASSIGNMENTS_KEY,
    CAMPAIGN_EXPORTS_KEY,
    CAMPAIGN_RECIPIENTS,
    CAMPAIGN_RESULTS,
    CAMPAIGN_RESULTS_KEY,
    ORDERS_KEY,
    fact_key,
    table_ref,
)
from cdp_assets.defs.charts import chart
from cdp_assets.defs.resources import WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.identity.membership import string_isin
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import WarehouseSession

CHECK_SRM = "no_sample_ratio_mismatch"
SHOWN = [
    "campaign",
    "arm",
    "primary_metric",
    "assigned",
    "exported",
    "open_rate",
    "click_rate",
    "converters",
    "conversion_rate",
    "revenue_per_assigned",
    "primary_uplift",
    "primary_low",
    "primary_high",
    "primary_p_value",
    "coupon_redemptions",
    "note",
]


def _inputs(session: WarehouseSession, config: CDPConfig) -> dict[str, pd.DataFrame]:
    """Assignments (the global control group included), who was exported, campaign events and
    the purchases of assigned customers."""
    assignments = session.read_table(CAMPAIGN_ASSIGNMENTS, dtypes=ASSIGNMENT_DTYPES)
    exported = (
        session.query(f"SELECT DISTINCT campaign, arm, customer_id FROM {CAMPAIGN_RECIPIENTS.sql}")
        if session.table_exists(CAMPAIGN_RECIPIENTS)
        else pd.DataFrame(columns=["campaign", "arm", "customer_id"])
    )
    events_ref = table_ref(fact_key("campaign_events"))
    events = (
        session.query(
            "SELECT campaign_id AS campaign, customer_id, event_type, occurred_at "
            f"FROM {events_ref.sql} WHERE customer_id IS NOT NULL"
        )
        if session.table_exists(events_ref)
        else pd.DataFrame(columns=["campaign", "customer_id", "event_type", "occurred_at"])
    )
    ids = assignments["customer_id"].unique()
    orders = session.query(
        "SELECT customer_id, order_id, ordered_at, net_amount_base, is_purchase, coupon_code "
        f"FROM {table_ref(ORDERS_KEY).sql} WHERE customer_id IS NOT NULL"
    )
    orders = orders[string_isin(orders["customer_id"], ids)]
    return {"assignments": assignments, "exported": exported, "events": events, "orders": orders}


def _results(
    designs: list[CampaignDesign],
    inputs: dict[str, pd.DataFrame],
    as_of: dt.date,
    global_control_share: float,
) -> pd.DataFrame:
    """Each campaign's arms (the global control group is not an arm of a campaign: it is left
    out there), then the marketing programme as a whole against the global control group."""
    everyone = inputs["assignments"]
    # A campaign is measured from the day its first customers' windows open.
    opened = everyone["assigned_at"] < pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    started = set(everyone.loc[opened, "campaign"].unique())
    designs = [d for d in designs if d.name in started]
    in_arms = everyone[everyone["arm"] != GLOBAL_CONTROL]
    results = campaign_results(designs, **(inputs | {"assignments": in_arms}), as_of=as_of)
    # The platform exports every treated arm: one nobody was exported to was never reached.
    results = without_unexported_arms(results)
    programme = marketing_programme(designs, everyone, global_control_share)
    if programme is None:
        return results
    design, rows = programme
    total = campaign_results([design], **(inputs | {"assignments": rows}), as_of=as_of)
    return pd.concat([results, total], ignore_index=True).astype(CAMPAIGN_RESULT_DTYPES)


def build_campaign_results_asset(config: CDPConfig) -> dg.AssetsDefinition:
    deps = [CAMPAIGN_ASSIGNMENTS_KEY, CAMPAIGN_EXPORTS_KEY, ORDERS_KEY]
    if config.sources_of_kind("campaign_events"):
        deps.append(fact_key("campaign_events"))

    @dg.asset(
        key=CAMPAIGN_RESULTS_KEY,
        deps=deps,
        group_name=ANALYTICS_GROUP,
        kinds={"pandas", "scipy", "matplotlib"},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_SRM,
                asset=CAMPAIGN_RESULTS_KEY,
                description="each campaign's assigned counts fit its planned shares (chi-square, "
                "warn below p = 0.001): a mismatch means the assignment or the data is broken",
            )
        ],
    )
    @skip_when_inputs_unchanged(config)
    def campaign_results_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """By campaign and arm, intention-to-treat by assignment: assigned, exported, delivery,
        open and click rates, converters and revenue in the conversion window, revenue per
        assigned customer, coupon redemptions, and each arm's uplift against control with 95 %
        intervals and p-values (conversion: two proportions; revenue: Welch; CUPED on
        pre-period spend), incremental conversions and revenue, and the sample-ratio check. A
        campaign without a control arm says uplift cannot be measured. The last rows,
        campaign `all_campaigns`, compare every assigned customer with the global control
        group held out of every campaign: the total lift of marketing."""
        as_of = analysis_date(context, config)
        designs = [design_of(c) for c in config.campaigns]
        with warehouse.get().transaction() as session:
            inputs = _inputs(session, config)
            results = _results(designs, inputs, as_of, config.activation.global_control_share)
            session.replace_table(CAMPAIGN_RESULTS, results)
        srm = results.drop_duplicates("campaign")
        mismatched = srm.loc[srm["srm_detected"].fillna(False).astype(bool), "campaign"]
        shown = results_table(results)
        curves = cumulative_conversion_plot(designs, inputs["assignments"], inputs["orders"], as_of)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(results),
                "as_of": str(as_of),
                "results": dg.MetadataValue.md(markdown_table(shown, max_rows=60)),
                **_uplift_figures(results),
                **chart(
                    "uplift by arm",
                    "Each arm's uplift against its control on its campaign's primary metric "
                    "(conversion in percentage points; revenue per assigned customer in the "
                    "base currency), with its 95 % interval: an interval crossing zero is no "
                    "measured effect.",
                    uplift_plot(results),
                ),
                **chart(
                    "cumulative conversion",
                    "Share of each arm's assigned customers who have converted, day by day "
                    "since the campaign started.",
                    curves,
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_SRM,
                    passed=mismatched.empty,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "campaigns_with_mismatch": ", ".join(mismatched) or "none",
                        "srm_p_values": dg.MetadataValue.json(
                            {
                                str(r.campaign): None
                                if pd.isna(r.srm_p_value)
                                else float(r.srm_p_value)
                                for r in srm.itertuples()
                            }
                        ),
                    },
                )
            ],
        )

    return campaign_results_asset


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """The columns of the results shown in the metadata, the primary metric named beside its
    uplift (a conversion share and an amount of money side by side otherwise), figures to
    four decimals."""
    return results[[c for c in SHOWN if c in results.columns]].round(4)


def _uplift_figures(results: pd.DataFrame) -> dict[str, float]:
    """Each treated arm's primary uplift as a number (`uplift/<campaign>/<arm>/<metric>`: a
    conversion share or revenue per assigned customer), so the UI plots it run after run;
    arms without a measured uplift are left out."""
    measured = results.dropna(subset=["primary_uplift"]) if len(results) else results
    return {
        f"uplift/{row.campaign}/{row.arm}/{row.primary_metric}": round(float(row.primary_uplift), 6)
        for row in measured.itertuples()
    }
