"""`core.customer_profiles`: golden records, one row per customer, with their blocking checks."""

import dagster as dg
import pandas as pd
import sqlalchemy as sa

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
from cdp_assets.defs.unchanged import forced_recompute, skip_when_inputs_unchanged
from cdp_assets.identity.facts import activity_sql
from cdp_assets.identity.membership import string_isin
from cdp_assets.identity.profile_inputs import (
    PROFILE_INPUT_DTYPES,
    ProfileInputs,
    customers_to_replace,
)
from cdp_assets.identity.profiles import profiles_over_limits, records_with_customers
from cdp_assets.identity.resolve import XREF_DTYPES
from cdp_assets.reporting.markdown import markdown_table, masked_preview
from cdp_assets.warehouse import TableRef, WarehouseSession
from cdp_assets.warehouse.versions import code_digest

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


# Per number of customer records (10 or more as 10): the customers and their figures, read
# from the published table (an incremental run holds only the profiles it computed).
_FIGURES_SQL = (
    "SELECT CASE WHEN record_count >= 10 THEN 10 ELSE record_count END AS records, "
    "COUNT(*) AS customers, "
    "SUM(CASE WHEN email_consent THEN 1 ELSE 0 END) AS email_consent, "
    "SUM(CASE WHEN sms_consent THEN 1 ELSE 0 END) AS sms_consent, "
    "SUM(CASE WHEN ads_consent THEN 1 ELSE 0 END) AS ads_consent, "
    "SUM(CASE WHEN email IS NOT NULL THEN 1 ELSE 0 END) AS with_email, "
    "SUM(CASE WHEN phone IS NOT NULL THEN 1 ELSE 0 END) AS with_phone "
    "FROM {table} GROUP BY 1 ORDER BY 1"
)
PREVIEW_ROWS = 10


def _figures(session: WarehouseSession) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(figures per number of records, the first profiles by customer_id) of the table."""
    figures = session.query(_FIGURES_SQL.format(table=PROFILES.sql))
    preview = session.query(
        f"SELECT * FROM {PROFILES.sql} ORDER BY customer_id LIMIT {PREVIEW_ROWS}"
    )
    return figures, preview


def _metadata(figures: pd.DataFrame, preview: pd.DataFrame, config: CDPConfig) -> dict[str, object]:
    """`figures`: per `records` (customer records, 10 meaning 10 or more) the `customers` and
    their email_consent, sms_consent, ads_consent, with_email and with_phone counts."""
    total = int(figures["customers"].sum())
    ads = int(figures["ads_consent"].sum())

    def count(column: str) -> int:
        return int(figures[column].sum())

    return {
        "dagster/row_count": total,
        "pii_columns": ", ".join(PROFILE_PII),
        "email_consent": count("email_consent"),
        "sms_consent": count("sms_consent"),
        "ads_consent": ads,
        "ads_consent_note": _ads_note(ads, total, config),
        "with_email": count("with_email"),
        "with_phone": count("with_phone"),
        "records_per_customer": dg.MetadataValue.md(
            markdown_table(
                pd.DataFrame(
                    {
                        "customer records": [
                            "10 or more" if n == 10 else str(n) for n in figures["records"]
                        ],
                        "customers": figures["customers"].to_numpy(),
                    }
                ),
                max_rows=11,
            )
            + "\n\n0 customer records: a customer known only from facts (orders, events, "
            "tickets) by an id or email that no accounts, CRM or loyalty source holds, such "
            "as a guest checkout."
        ),
        "preview": dg.MetadataValue.md(masked_preview(preview, PROFILE_PII)),
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


# Each customer's input digest as of the last computation (see `profile_inputs`), and the
# work table of the customers whose rows an incremental run replaces.
PROFILE_INPUTS = TableRef("core", "customer_profile_inputs")
CHANGED_PROFILES = TableRef("core", "_changed_profiles")


def _read_inputs(
    session: WarehouseSession, config: CDPConfig, fact_kinds: list[str]
) -> ProfileInputs:
    xref = session.read_table(XREF, dtypes=XREF_DTYPES)
    records = records_with_customers(read_customer_records(session, config), xref)
    sql = activity_sql(fact_kinds)
    span = session.query(sql) if sql else None  # first/last fact per customer
    return ProfileInputs(
        records=records,
        xref=xref,
        span=span if span is not None and len(span) else None,
        opt_outs=_campaign_opt_outs(session, config),
    )


def _stored_digests(session: WarehouseSession) -> pd.DataFrame | None:
    """The digests the published profiles were computed from; None when either table is
    missing or they do not hold the same customers' count (a table written by other means):
    every profile is computed then."""
    if not session.table_exists(PROFILES) or not session.table_exists(PROFILE_INPUTS):
        return None
    if session.row_count(PROFILES) != session.row_count(PROFILE_INPUTS):
        return None
    return session.read_table(PROFILE_INPUTS, dtypes=PROFILE_INPUT_DTYPES)


def _write_changed(
    session: WarehouseSession, profiles: pd.DataFrame, digests: pd.DataFrame, replaced: pd.Index
) -> None:
    """The rows of the `replaced` customers give way to their new `profiles` (none for a
    customer who is gone) and their new digests, in both tables."""
    if len(replaced) == 0:
        return
    ids = pd.DataFrame({"customer_id": pd.array(replaced, dtype="string")})
    session.replace_table(CHANGED_PROFILES, ids)
    mine = f"customer_id IN (SELECT customer_id FROM {CHANGED_PROFILES.sql})"
    session.delete_where(PROFILES, mine, {})
    session.delete_where(PROFILE_INPUTS, mine, {})
    session.conn.execute(sa.text(f"DROP TABLE IF EXISTS {CHANGED_PROFILES.sql}"))
    session.append(PROFILES, profiles)
    session.append(PROFILE_INPUTS, digests[string_isin(digests["customer_id"], replaced)])


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
        records and facts; sources and record counts. Only the customers whose inputs changed
        since the last run are computed again (`core.customer_profile_inputs`)."""
        wh = warehouse.get()
        with wh.transaction() as session:
            inputs = _read_inputs(session, config, fact_kinds)
            stored = None if forced_recompute(context) else _stored_digests(session)
        digests = inputs.digests(code_digest())
        replaced = customers_to_replace(stored, digests)
        profiles = inputs.profiles() if replaced is None else inputs.of(replaced).profiles()
        limits = config.identity.profile_limits
        with wh.transaction() as session:
            if replaced is None:
                session.replace_table(PROFILES, profiles)
                session.replace_table(PROFILE_INPUTS, digests)
            else:
                _write_changed(session, profiles, digests, replaced)
            over_limits = profiles_over_limits(inputs.records, limits.emails, limits.phones)
            checks = [_limits_check(config, over_limits)]
            figures, preview = _figures(session)
        metadata = _metadata(figures, preview, config)
        metadata["profiles_computed"] = len(profiles)
        context.log.info(
            f"{metadata['dagster/row_count']:,} customer profiles, {len(profiles):,} computed"
        )
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return customer_profiles_asset
