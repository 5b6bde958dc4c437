"""Point-in-time engagement of every customer at a date, for the learned purchase model.

People who stopped visiting have stopped buying: web sessions, support tickets, surveys and
email opens go on between purchases and stop when a customer lapses, so they tell "alive"
from "gone" sooner than purchases alone. `analytics.customer_features` has the last 30 and 90
days of sessions; this adds what the purchase models need over a year: days since the last
session (and the last session without a purchase: the visits that are not already orders),
since the first session of the year, since the last event of any kind, ticket, survey answer
and email open/click, sessions over 180 and 365 days, and how many visits the customer's own
visit rate would have made since the last one (a lapse score).

Look-back: facts of the LOOKBACK_DAYS before the cutoff only. The learned model is trained on
features at dates up to a year before the date it scores, and a warehouse keeps web events for
a limited time (the demo: `retention_days: 400`); an unbounded look-back would describe a
customer by more history at scoring than at training. A year is also what the reads cost.

Point in time: only facts strictly before the cutoff — UTC midnight after `as_of`, the same
instant `customer_features` uses — are read; a session straddling the cutoff counts with its
events before it. Every source table is optional (an absent one is an empty, typed stand-in),
so the same SQL runs on any configuration, on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import numpy as np
import pandas as pd

from cdp_assets.analytics.features import AsOf, customer_features, existing_core_tables
from cdp_assets.ml.purchase_history import FeaturesAt
from cdp_assets.warehouse import TableRef, WarehouseSession

# The core tables engagement reads, with the columns and the SQL types of an empty stand-in.
ENGAGEMENT_INPUTS: dict[str, dict[str, str]] = {
    "events": {
        "customer_id": "VARCHAR",
        "event_type": "VARCHAR",
        "occurred_at": "TIMESTAMP WITH TIME ZONE",
        "session_id": "VARCHAR",
    },
    "orders": {"customer_id": "VARCHAR", "ordered_at": "TIMESTAMP WITH TIME ZONE"},
    "support_tickets": {"customer_id": "VARCHAR", "opened_at": "TIMESTAMP WITH TIME ZONE"},
    "survey_responses": {"customer_id": "VARCHAR", "submitted_at": "TIMESTAMP WITH TIME ZONE"},
    "campaign_events": {
        "customer_id": "VARCHAR",
        "event_type": "VARCHAR",
        "occurred_at": "TIMESTAMP WITH TIME ZONE",
    },
}
# Windows (days before the cutoff) of the session counts; customer_features has 30 and 90.
SESSION_WINDOWS_DAYS = (180, 365)
# Facts older than this (days before the cutoff) are not read (see the module docstring).
LOOKBACK_DAYS = max(SESSION_WINDOWS_DAYS)
# A visit rate is measured over at least this many days, so a customer first seen a week ago
# with two visits does not get a rate of a hundred a year.
MIN_RATE_SPAN_DAYS = 90
COUNT_COLUMNS = (
    *(f"sessions_{d}d" for d in SESSION_WINDOWS_DAYS),
    *(f"browse_sessions_{d}d" for d in SESSION_WINDOWS_DAYS),
    f"email_opens_{LOOKBACK_DAYS}d",
    f"email_clicks_{LOOKBACK_DAYS}d",
)
DAYS_COLUMNS = (
    "days_since_last_session",
    "days_since_last_browse",
    "days_since_first_session",
    "days_since_last_activity",
    "days_since_last_ticket",
    "days_since_last_survey",
    "days_since_last_email_open",
    "days_since_last_email_click",
)
ENGAGEMENT_COLUMNS = (*COUNT_COLUMNS, *DAYS_COLUMNS, "browse_rate_per_year", "browses_missed")


def engagement_tables(session: WarehouseSession) -> frozenset[str]:
    """The names of the `core` tables engagement reads that exist in the warehouse."""
    return frozenset(t for t in ENGAGEMENT_INPUTS if session.table_exists(TableRef("core", t)))


def _source(table: str, tables: Collection[str], at: AsOf) -> str:
    """The rows of `core.<table>` of the LOOKBACK_DAYS strictly before the cutoff (an empty
    typed stand-in when the table does not exist), with the table's time column as `fact_at`."""
    columns = ENGAGEMENT_INPUTS[table]
    time_column = next(c for c, t in columns.items() if t.startswith("TIMESTAMP"))
    if table not in tables:
        typed = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items())
        return f"SELECT {typed}, CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS fact_at WHERE 1 = 0"
    return (
        f"SELECT {', '.join(columns)}, {time_column} AS fact_at FROM {TableRef('core', table).sql} "
        f"WHERE customer_id IS NOT NULL AND {time_column} < {at.instant()} "
        f"AND {time_column} >= {at.instant(LOOKBACK_DAYS)}"
    )


def _days_before(at: AsOf, column: str) -> str:
    """Days (fractional) from `column` to the cutoff."""
    epoch = f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"
    return f"({at.cutoff_epoch} - {epoch}) / 86400.0"


def engagement_sql(as_of: dt.date, tables: Collection[str]) -> str:
    """One SELECT: a row per customer with any engagement fact before the cutoff after
    `as_of`, the raw columns of `engagement_features` (counts and days since)."""
    at = AsOf(as_of)
    sources = ",\n".join(f"e_{t} AS ({_source(t, tables, at)})" for t in ENGAGEMENT_INPUTS)
    windows = ",\n".join(
        f"COUNT(*) FILTER (WHERE ended_at >= {at.instant(d)}) AS sessions_{d}d,\n"
        f"COUNT(*) FILTER (WHERE purchases = 0 AND ended_at >= {at.instant(d)}) "
        f"AS browse_sessions_{d}d"
        for d in SESSION_WINDOWS_DAYS
    )
    return f"""WITH
{sources},
web_sessions AS (
    SELECT customer_id, session_id, MIN(fact_at) AS started_at, MAX(fact_at) AS ended_at,
        COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases
    FROM e_events GROUP BY customer_id, session_id
),
web AS (
    SELECT customer_id,
        {windows},
        MAX(ended_at) AS last_session_at,
        MAX(ended_at) FILTER (WHERE purchases = 0) AS last_browse_at,
        MIN(started_at) AS first_session_at
    FROM web_sessions GROUP BY customer_id
),
email AS (
    SELECT customer_id,
        COUNT(*) FILTER (WHERE event_type = 'open') AS email_opens_{LOOKBACK_DAYS}d,
        COUNT(*) FILTER (WHERE event_type = 'click') AS email_clicks_{LOOKBACK_DAYS}d,
        MAX(fact_at) FILTER (WHERE event_type = 'open') AS last_open_at,
        MAX(fact_at) FILTER (WHERE event_type = 'click') AS last_click_at
    FROM e_campaign_events GROUP BY customer_id
),
tickets AS (SELECT customer_id, MAX(fact_at) AS last_ticket_at FROM e_support_tickets GROUP BY customer_id),
surveys AS (SELECT customer_id, MAX(fact_at) AS last_survey_at FROM e_survey_responses GROUP BY customer_id),
activity AS (
    SELECT customer_id, MAX(fact_at) AS last_activity_at FROM (
        SELECT customer_id, fact_at FROM e_events
        UNION ALL SELECT customer_id, fact_at FROM e_orders
        UNION ALL SELECT customer_id, fact_at FROM e_support_tickets
        UNION ALL SELECT customer_id, fact_at FROM e_survey_responses
        UNION ALL SELECT customer_id, fact_at FROM e_campaign_events
            WHERE event_type IN ('open', 'click')
    ) a GROUP BY customer_id
)
SELECT a.customer_id,
    {", ".join(f"w.sessions_{d}d, w.browse_sessions_{d}d" for d in SESSION_WINDOWS_DAYS)},
    m.email_opens_{LOOKBACK_DAYS}d, m.email_clicks_{LOOKBACK_DAYS}d,
    {_days_before(at, "w.last_session_at")} AS days_since_last_session,
    {_days_before(at, "w.last_browse_at")} AS days_since_last_browse,
    {_days_before(at, "w.first_session_at")} AS days_since_first_session,
    {_days_before(at, "a.last_activity_at")} AS days_since_last_activity,
    {_days_before(at, "t.last_ticket_at")} AS days_since_last_ticket,
    {_days_before(at, "s.last_survey_at")} AS days_since_last_survey,
    {_days_before(at, "m.last_open_at")} AS days_since_last_email_open,
    {_days_before(at, "m.last_click_at")} AS days_since_last_email_click
FROM activity a
LEFT JOIN web w ON w.customer_id = a.customer_id
LEFT JOIN email m ON m.customer_id = a.customer_id
LEFT JOIN tickets t ON t.customer_id = a.customer_id
LEFT JOIN surveys s ON s.customer_id = a.customer_id
ORDER BY a.customer_id"""


def shape_engagement(raw: pd.DataFrame) -> pd.DataFrame:
    """The query's rows typed (counts 0 when absent, days NaN when never), with the derived
    visit rate and lapse score: browse_rate_per_year = sessions without a purchase per year
    since the first session of the look-back (over at least MIN_RATE_SPAN_DAYS), browses_missed = that rate
    times the days since the last one (how many visits an alive customer would have made)."""
    frame = pd.DataFrame({"customer_id": raw["customer_id"].astype(str)})
    for column in COUNT_COLUMNS:
        frame[column] = pd.to_numeric(raw[column]).fillna(0).astype(float)
    for column in DAYS_COLUMNS:
        frame[column] = pd.to_numeric(raw[column]).astype(float)
    span = np.maximum(frame["days_since_first_session"], MIN_RATE_SPAN_DAYS)
    rate = frame[f"browse_sessions_{LOOKBACK_DAYS}d"] / span * 365.0
    frame["browse_rate_per_year"] = rate.where(frame["days_since_first_session"].notna())
    frame["browses_missed"] = frame["browse_rate_per_year"] * frame["days_since_last_browse"] / 365
    return frame.reset_index(drop=True)


def engagement_features(
    session: WarehouseSession, as_of: dt.date, tables: Collection[str] | None = None
) -> pd.DataFrame:
    """ENGAGEMENT_COLUMNS of every customer with an engagement fact before the cutoff after
    `as_of` (customer_id a column). `tables`: the existing core tables (default: looked up)."""
    tables = engagement_tables(session) if tables is None else tables
    return shape_engagement(session.query(engagement_sql(as_of, tables)))


def with_engagement(features: pd.DataFrame, engagement: pd.DataFrame) -> pd.DataFrame:
    """`features` (a customer_features frame) with the engagement columns joined on
    customer_id; a customer without engagement facts gets 0 counts and NaN days."""
    joined = features.assign(customer_id=features["customer_id"].astype(str)).merge(
        engagement, on="customer_id", how="left", validate="one_to_one"
    )
    for column in COUNT_COLUMNS:
        joined[column] = joined[column].fillna(0.0)
    return joined


def ltv_features_at(session: WarehouseSession, sla_hours: float = 24.0) -> FeaturesAt:
    """The point-in-time features of the learned purchase model, bound to a warehouse session:
    `analytics.customer_features` (channel mix, categories, recent web, service, loyalty) with
    the engagement above, both as of the day asked for."""
    core = existing_core_tables(session)
    engagement = engagement_tables(session)

    def features_at(day: dt.date) -> pd.DataFrame:
        features = customer_features(session, day, sla_hours, core)
        return with_engagement(features, engagement_features(session, day, engagement))

    return features_at
