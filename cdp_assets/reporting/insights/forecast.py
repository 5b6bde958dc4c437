"""The sales forecast (`ml.sales_forecast`, level total, member all, net revenue, weekly):
the recent weeks' actual net revenue, then the forecast with its 80 % and 95 % intervals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import pandas as pd

from cdp_assets.analytics.features import core_input_sql
from cdp_assets.forecast.periods import ALL, TOTAL, week_index, week_start
from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import money
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import TableRef, WarehouseSession

NAME, TITLE = "forecast", "Sales forecast"
FORECAST = TableRef("ml", "sales_forecast")
HISTORY_WEEKS = 26  # half a year of actuals before the forecast
METRIC, FREQUENCY = "net_revenue", "week"


def total_forecast(table: pd.DataFrame) -> pd.DataFrame:
    """The latest as_of's weekly total net revenue rows, by period_start."""
    rows = table.loc[
        (table["level"] == TOTAL)
        & (table["member"] == ALL)
        & (table["metric"] == METRIC)
        & (table["frequency"] == FREQUENCY)
    ]
    if rows.empty:
        return rows
    rows = rows.loc[rows["as_of"] == rows["as_of"].max()]
    return rows.sort_values("period_start").reset_index(drop=True)


def daily_revenue_sql(
    start: dt.date, as_of: dt.date, timezone: str, tables: Collection[str]
) -> str:
    """Net revenue of purchases per local day from `start` to `as_of` (both included)."""
    local_day = f"CAST((ordered_at AT TIME ZONE '{timezone}') AS DATE)"
    return f"""WITH src_orders AS ({core_input_sql("orders", tables)})
SELECT {local_day} AS day, CAST(SUM(COALESCE(net_amount_base, 0)) AS DOUBLE PRECISION) AS value
FROM src_orders WHERE is_purchase
    AND {local_day} >= CAST('{start.isoformat()}' AS DATE)
    AND {local_day} <= CAST('{as_of.isoformat()}' AS DATE)
GROUP BY {local_day}"""


def weekly_history(daily: pd.DataFrame, as_of: dt.date, weeks: int = HISTORY_WEEKS) -> pd.DataFrame:
    """Daily (day, value) rows summed into the `weeks` weeks anchored on `as_of` (the last one
    ends on it, as the forecast's weeks do), weeks without sales as 0: (period_start, value)."""
    index = week_index(as_of, weeks)
    starts = week_start(pd.to_datetime(daily["day"]), as_of) if len(daily) else pd.Series([])
    values = pd.Series(daily["value"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(starts))
    summed = values.groupby(level=0).sum().reindex(index, fill_value=0.0)
    return pd.DataFrame({"period_start": index, "value": summed.to_numpy()})


def forecast_section(forecast: pd.DataFrame, history: pd.DataFrame, currency: str) -> Section:
    as_of = pd.Timestamp(forecast["as_of"].iloc[0]).date()
    chart = charts.forecast_chart(history, forecast, f"net revenue per week ({currency})")
    rows = [
        (
            f"{r.period_start:%Y-%m-%d}",
            money(r.forecast, currency),
            f"{money(r.lower_80, currency)} – {money(r.upper_80, currency)}",
            f"{money(r.lower_95, currency)} – {money(r.upper_95, currency)}",
        )
        for r in forecast.itertuples()
    ]
    total = float(forecast["forecast"].sum())
    body = page.image(chart, "weekly net revenue, actual and forecast") + page.table(
        ("week starting", "forecast", "80 % interval", "95 % interval"),
        rows,
        f"Model: {forecast['model'].iloc[0]}; forecast made as of {as_of}",
    )
    return Section(
        NAME,
        TITLE,
        "rendered",
        f"Weekly net revenue of the last {len(history)} weeks and the forecast for the next "
        f"{len(forecast)}, with the ranges it falls in 8 and 19 times out of 20.",
        body,
        {"forecast_weeks": len(forecast), "forecast_net_revenue": round(total, 2)},
    )


def build(
    session: WarehouseSession, timezone: str, currency: str, tables: Collection[str]
) -> Section:
    if not session.table_exists(FORECAST):
        return missing(NAME, TITLE, "No sales forecast yet (ml.sales_forecast has not been built).")
    forecast = total_forecast(session.read_table(FORECAST))
    if forecast.empty:
        return missing(NAME, TITLE, "The sales forecast has no weekly total net revenue yet.")
    as_of = pd.Timestamp(forecast["as_of"].iloc[0]).date()
    start = as_of - dt.timedelta(days=7 * HISTORY_WEEKS - 1)
    daily = session.query(daily_revenue_sql(start, as_of, timezone, tables))
    return forecast_section(forecast, weekly_history(daily, as_of), currency)
