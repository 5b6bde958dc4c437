"""`core.customer_profiles`: golden records, one row per customer, with their blocking checks."""

import dagster as dg
import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.contracts.canonical import OPT_OUT_EVENT_TYPES
from cdp_assets.contracts.golden_profile import PROFILE_PII
from cdp_assets.defs.catalog import (
    CORE_GROUP,
    PROFILES,
    PROFILES_KEY,
    XREF,
    XREF_KEY,
    fact_key,
    table_ref,
)
from cdp_assets.defs.identity.staged import read_customer_records
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.defs.table_checks import table_checks
from cdp_assets.defs.unchanged import skip_when_inputs_unchanged
from cdp_assets.identity.consent import apply_campaign_opt_outs
from cdp_assets.identity.facts import activity_sql
from cdp_assets.identity.profiles import activity_rows, customer_profiles, profiles_over_limits
from cdp_assets.identity.resolve import XREF_DTYPES
from cdp_assets.reporting.markdown import markdown_table, masked_preview
from cdp_assets.warehouse import WarehouseSession

CHECK_XREF_IN_PROFILES = "xref_points_at_profiles"
CHECK_UNIQUE = "customer_id_unique"
CHECK_LIMITS = "profiles_within_limits"


def _limits_check(config: CDPConfig, over_limits: int) -> dg.AssetCheckResult:
    limits = config.identity.profile_limits
    return dg.AssetCheckResult(
        check_name=CHECK_LIMITS,
        passed=over_limits == 0,
        metadata={
            "profiles_over_limits": over_limits,
            "max_emails": limits.emails,
            "max_phones": limits.phones,
        },
    )


def _table_checks(session: WarehouseSession) -> list[dg.AssetCheckResult]:
    """Every xref row points at a profile; customer_id is unique (from the published tables)."""
    orphans = int(
        session.scalar(
            f"SELECT COUNT(*) FROM {XREF.sql} x LEFT JOIN {PROFILES.sql} p "
            "ON p.customer_id = x.customer_id WHERE p.customer_id IS NULL"
        )
    )
    total = session.row_count(PROFILES)
    distinct = int(session.scalar(f"SELECT COUNT(DISTINCT customer_id) FROM {PROFILES.sql}"))
    return [
        dg.AssetCheckResult(
            check_name=CHECK_XREF_IN_PROFILES,
            passed=orphans == 0,
            metadata={"xref_rows_without_profile": orphans},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_UNIQUE,
            passed=total == distinct,
            metadata={"profiles": total, "distinct_ids": distinct},
        ),
    ]


def build_profile_checks() -> dg.AssetChecksDefinition:
    """The profiles' table checks, re-runnable on their own."""
    specs = [
        dg.AssetCheckSpec(
            CHECK_XREF_IN_PROFILES,
            asset=PROFILES_KEY,
            blocking=True,
            description="every xref row's customer_id has a profile; blocks downstream assets",
        ),
        dg.AssetCheckSpec(
            CHECK_UNIQUE,
            asset=PROFILES_KEY,
            blocking=True,
            description="customer_id is unique; blocks downstream assets",
        ),
    ]
    return table_checks("customer_profiles_checks", specs, _table_checks, reads=(XREF, PROFILES))


def _campaign_opt_outs(session: WarehouseSession, config: CDPConfig) -> pd.DataFrame:
    """customer_id, channel, occurred_at of every unsubscribe and complaint of a campaign,
    on each channel the campaign is sent on."""
    ref = table_ref(fact_key("campaign_events"))
    if not config.sources_of_kind("campaign_events") or not session.table_exists(ref):
        return pd.DataFrame(columns=["customer_id", "channel", "occurred_at"])
    types = ", ".join(f"'{t}'" for t in OPT_OUT_EVENT_TYPES)
    events = session.query(
        f"SELECT customer_id, campaign_id, occurred_at FROM {ref.sql} "
        f"WHERE event_type IN ({types}) AND customer_id IS NOT NULL"
    )
    channels = pd.Series(config.campaign_channels(), dtype=object)
    events["channel"] = events["campaign_id"].map(channels)
    return events.explode("channel").dropna(subset=["channel"])[
        ["customer_id", "channel", "occurred_at"]
    ]


def _metadata(profiles: pd.DataFrame, config: CDPConfig) -> dict[str, object]:
    records = profiles["record_count"].clip(upper=10).value_counts().sort_index()
    ads = int(profiles["ads_consent"].sum())
    return {
        "dagster/row_count": len(profiles),
        "pii_columns": ", ".join(PROFILE_PII),
        "email_consent": int(profiles["email_consent"].sum()),
        "sms_consent": int(profiles["sms_consent"].sum()),
        "ads_consent": ads,
        "ads_consent_note": _ads_note(ads, len(profiles), config),
        "with_email": int(profiles["email"].notna().sum()),
        "with_phone": int(profiles["phone"].notna().sum()),
        "records_per_customer": dg.MetadataValue.md(
            markdown_table(
                pd.DataFrame(
                    {
                        "customer records": [
                            "10 or more" if n == 10 else str(n) for n in records.index
                        ],
                        "customers": records.to_numpy(),
                    }
                ),
                max_rows=11,
            )
            + "\n\n0 customer records: a customer known only from facts (orders, events, "
            "tickets) by an id or email that no accounts, CRM or loyalty source holds, such "
            "as a guest checkout."
        ),
        "preview": dg.MetadataValue.md(masked_preview(profiles, PROFILE_PII)),
    }


def _ads_note(ads: int, customers: int, config: CDPConfig) -> str:
    """Why ads_consent is what it is: an opt-out (only an `ads_opt_out` record removes it)."""
    mapped = [
        s.name
        for s in config.sources_of_kind("customers")
        if s.source_column("ads_opt_out") or "ads_opt_out" in s.defaults
    ]
    basis = "ads consent is opt-out: true unless a record of the customer says ads_opt_out"
    if not mapped:
        return f"{basis}; no customers source maps ads_opt_out, so all {customers:,} are true"
    return f"{basis} (mapped in {', '.join(mapped)}); {customers - ads:,} opted out"


def build_profiles_asset(config: CDPConfig, fact_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    fact_kinds = [s.kind for s in config.sources]

    @dg.asset(
        key=PROFILES_KEY,
        deps=[XREF_KEY, *fact_keys],
        group_name=CORE_GROUP,
        kinds={"python", "pandas"},
        tags={"cdp/layer": "core", "cdp/pii": "true"},
        check_specs=[
            # Evaluated from the resolution in memory; the table checks are build_profile_checks.
            dg.AssetCheckSpec(
                CHECK_LIMITS,
                asset=PROFILES_KEY,
                blocking=True,
                description="no profile over the distinct email / phone limits (identity "
                "profile limits in cdp.yaml); blocks downstream assets",
            )
        ],
    )
    @skip_when_inputs_unchanged(config)
    def customer_profiles_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Golden records, one row per customer: best name, email, phone, birth date, address
        and loyalty data by source trust, then recency, then completeness, with the winning
        source and record of each; consent per channel (any opt-out wins, an opt-in needs a
        confirmed double opt-in and must be the latest event; a campaign's unsubscribe or
        complaint is an opt-out of its channels); first and last seen over
        records and facts; sources and record counts."""
        wh = warehouse.get()
        with wh.transaction() as session:
            records = read_customer_records(session, config)
            xref = session.read_table(XREF, dtypes=XREF_DTYPES)
            sql = activity_sql(fact_kinds)
            activity = session.query(sql) if sql else pd.DataFrame()  # first/last per customer
            opt_outs = _campaign_opt_outs(session, config)
        profiles, records = customer_profiles(records, xref, activity_rows(activity))
        profiles = apply_campaign_opt_outs(profiles, opt_outs)
        limits = config.identity.profile_limits
        with wh.transaction() as session:
            session.replace_table(PROFILES, profiles)
            over_limits = profiles_over_limits(records, limits.emails, limits.phones)
            checks = [_limits_check(config, over_limits)]
        context.log.info(f"{len(profiles):,} customer profiles")
        return dg.MaterializeResult(metadata=_metadata(profiles, config), check_results=checks)

    return customer_profiles_asset
