"""`analytics.cohorts`: monthly acquisition cohorts, and the value of customers by how they came.

A customer's cohort is the UTC calendar month of their first purchase. The warehouse
aggregates purchases to one row per (cohort, months since first purchase) — a few hundred
rows however many customers — and pandas completes the triangle up to the month of `as_of`
(the last month is therefore partial). Acquisition comparisons work on one row per buyer with
their first purchase, value and purchases within each horizon, also aggregated in SQL.

Like the features, everything reads only purchases before the cutoff (UTC midnight after
`as_of`), through the same `core` stand-ins, so an orders-only warehouse works and a missing
`core.orders` gives empty results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from cdp_assets.analytics.features import AsOf, core_input_sql, existing_core_tables
from cdp_assets.analytics.rfm import figure_markdown
from cdp_assets.config import HolidayWindow
from cdp_assets.warehouse import WarehouseSession

COHORT_DTYPES: dict[str, str] = {
    "cohort_month": "datetime64[us]",
    "months_since_first": "int64",
    "cohort_customers": "int64",
    "active_customers": "int64",
    "retention_rate": "float64",
    "revenue": "float64",
    "cumulative_revenue_per_customer": "float64",
    "as_of": "datetime64[us]",
}
COMPARISON_DTYPES: dict[str, str] = {
    "comparison": "string",
    "group": "string",
    "horizon_days": "int64",
    "customers": "int64",
    "mean_value": "float64",
    "repeat_rate": "float64",
}
HOLIDAY_GROUPS = ("holiday-acquired", "other")
LOYALTY_GROUPS = ("loyalty member", "non-member")


def _month_index(expr: str) -> str:
    """year * 12 + month - 1 of a TIMESTAMPTZ, in UTC whatever the session time zone."""
    utc = f"({expr} AT TIME ZONE 'UTC')"
    return (
        f"(CAST(EXTRACT(YEAR FROM {utc}) AS INTEGER) * 12 "
        f"+ CAST(EXTRACT(MONTH FROM {utc}) AS INTEGER) - 1)"
    )


def _purchases_cte(at: AsOf, tables: Collection[str] | None) -> str:
    return (
        f"src_orders AS ({core_input_sql('orders', tables)}),\n"
        "purchases AS (\n"
        "    SELECT customer_id, ordered_at, COALESCE(net_amount_base, 0) AS net,\n"
        "        CAST(EXTRACT(EPOCH FROM ordered_at) AS DOUBLE PRECISION) AS t\n"
        "    FROM src_orders\n"
        f"    WHERE is_purchase AND customer_id IS NOT NULL AND ordered_at < {at.instant()}\n"
        ")"
    )


def cohorts_sql(as_of: dt.date, tables: Collection[str] | None = None) -> str:
    """Per (cohort_index, months_since_first): active_customers and revenue, where
    cohort_index = year * 12 + month - 1 of the first purchase (UTC)."""
    at = AsOf(as_of)
    return f"""WITH
{_purchases_cte(at, tables)},
monthly AS (
    SELECT customer_id, {_month_index("ordered_at")} AS month_index, SUM(net) AS revenue
    FROM purchases GROUP BY customer_id, {_month_index("ordered_at")}
),
firsts AS (
    SELECT customer_id, MIN(month_index) AS cohort_index FROM monthly GROUP BY customer_id
)
SELECT f.cohort_index,
    m.month_index - f.cohort_index AS months_since_first,
    COUNT(*) AS active_customers,
    CAST(SUM(m.revenue) AS DOUBLE PRECISION) AS revenue
FROM monthly m JOIN firsts f ON f.customer_id = m.customer_id
GROUP BY f.cohort_index, m.month_index - f.cohort_index
ORDER BY 1, 2"""


def cohort_table(activity: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The full cohort x month triangle (COHORT_DTYPES) from the `cohorts_sql` aggregates:
    every month from each cohort's first to the month of `as_of`, zeros where nobody bought."""
    activity = activity.astype(
        {"cohort_index": "int64", "months_since_first": "int64", "active_customers": "int64"}
    )
    last_index = as_of.year * 12 + as_of.month - 1
    sizes = activity.loc[activity["months_since_first"] == 0].set_index("cohort_index")
    cohort_index = sizes.index.to_numpy(dtype="int64")
    spans = last_index - cohort_index + 1
    grid = pd.DataFrame(
        {
            "cohort_index": np.repeat(cohort_index, spans),
            "months_since_first": np.concatenate([np.arange(n) for n in spans])
            if len(spans)
            else np.array([], dtype="int64"),
        }
    )
    grid = grid.merge(activity, how="left", on=["cohort_index", "months_since_first"])
    grid["active_customers"] = grid["active_customers"].fillna(0)
    grid["revenue"] = grid["revenue"].astype("float64").fillna(0.0)
    grid["cohort_customers"] = grid["cohort_index"].map(sizes["active_customers"])
    grid["retention_rate"] = grid["active_customers"] / grid["cohort_customers"]
    cumulative = grid.groupby("cohort_index")["revenue"].cumsum()
    grid["cumulative_revenue_per_customer"] = cumulative / grid["cohort_customers"]
    years, months = np.divmod(grid["cohort_index"].to_numpy(), 12)
    grid["cohort_month"] = pd.to_datetime({"year": years, "month": months + 1, "day": 1})
    grid["as_of"] = pd.Timestamp(as_of)
    return grid[list(COHORT_DTYPES)].astype(COHORT_DTYPES)


def cohorts(
    session: WarehouseSession, as_of: dt.date, tables: Collection[str] | None = None
) -> pd.DataFrame:
    """Monthly acquisition cohorts as of `as_of` (COHORT_DTYPES)."""
    if tables is None:
        tables = existing_core_tables(session)
    return cohort_table(session.query(cohorts_sql(as_of, tables)), as_of)


def _compact(count: int) -> str:
    """12 → '12', 24_343 → '24k', 1_250_000 → '1.2M' (fits a heatmap cell)."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    return f"{count / 1_000:.0f}k" if count >= 10_000 else str(count)


def retention_heatmap(cohorts: pd.DataFrame, max_cohorts: int = 24, max_months: int = 24) -> str:
    """Retention rate by cohort (rows, the latest `max_cohorts`) and months since the first
    purchase (columns 1 to `max_months`), as a markdown PNG image. Month 0 (always 100 %)
    shows each cohort's size instead; the colour scale runs up to the highest later rate."""
    if cohorts.empty:
        return "_no purchases before as_of: no cohorts_"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recent = cohorts.loc[cohorts["months_since_first"] <= max_months]
    rates = recent.pivot(
        index="cohort_month", columns="months_since_first", values="retention_rate"
    )
    rates = rates.sort_index().tail(max_cohorts)
    sizes = recent.loc[recent["months_since_first"] == 0].set_index("cohort_month")
    values = rates.to_numpy(dtype="float64")
    later = values[:, 1:] if values.shape[1] > 1 else np.zeros((len(values), 0))
    top = float(np.nanmax(later)) if np.isfinite(later).any() else 1.0
    shown = values.copy()
    shown[:, :1] = np.nan  # month 0 is 100 % by definition: left uncoloured
    fig, ax = plt.subplots(figsize=(10, 0.3 * max(len(rates), 4) + 1.5))
    image = ax.imshow(shown, cmap="YlGnBu", vmin=0, vmax=max(top, 1e-9), aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        if col == 0:
            count = int(sizes.loc[rates.index[row], "cohort_customers"])
            ax.text(col, row, _compact(count), ha="center", va="center", fontsize=6)
        elif not np.isnan(value):
            dark = value > 0.6 * top
            ax.text(
                col,
                row,
                f"{value:.0%}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(len(rates.columns)), [str(c) for c in rates.columns], fontsize=7)
    ax.set_yticks(range(len(rates)), [f"{m:%Y-%m}" for m in rates.index], fontsize=7)
    ax.set_xlabel("months since first purchase (month 0: customers acquired)")
    ax.set_ylabel("acquisition cohort")
    ax.set_title("Retention: share of each cohort buying in the month")
    fig.colorbar(image, ax=ax, format=lambda v, _: f"{v:.0%}")
    fig.tight_layout()
    return figure_markdown(fig, "retention heatmap")


# -- acquisition comparisons ---------------------------------------------------------------


def black_friday_weekend(year: int) -> tuple[dt.date, dt.date]:
    """Black Friday (the day after the fourth Thursday of November) and Cyber Monday."""
    first_thursday = 1 + (3 - dt.date(year, 11, 1).weekday()) % 7
    friday = dt.date(year, 11, first_thursday + 22)
    return friday, friday + dt.timedelta(days=3)


def _month_day(text: str) -> int:
    month, day = text.split("-")
    return int(month) * 100 + int(day)


def in_holiday_window(dates: pd.Series, window: HolidayWindow) -> np.ndarray:
    """Whether each date (datetime64, no time zone) falls inside the yearly `window`."""
    if window.black_friday:
        days = dates.to_numpy(dtype="datetime64[D]")
        years = dates.dt.year.to_numpy()
        inside = np.zeros(len(dates), dtype=bool)
        for year in np.unique(years):
            friday, monday = black_friday_weekend(int(year))
            inside |= (days >= np.datetime64(friday)) & (days <= np.datetime64(monday))
        return inside
    md = (dates.dt.month * 100 + dates.dt.day).to_numpy()
    start, end = _month_day(window.start or ""), _month_day(window.end or "")
    if start <= end:
        return (md >= start) & (md <= end)
    return (md >= start) | (md <= end)  # a window across New Year, e.g. 12-20 to 01-06


def holiday_acquired(
    first_order_at: pd.Series, windows: Sequence[HolidayWindow], timezone: str = "UTC"
) -> pd.Series:
    """Whether each first purchase (UTC instants) falls, on the local calendar of `timezone`,
    inside any of the holiday `windows`."""
    local = pd.to_datetime(first_order_at, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    valid = local.notna().to_numpy()
    dates = local.fillna(pd.Timestamp("1970-01-01")).dt.normalize()
    inside = np.zeros(len(local), dtype=bool)
    for window in windows:
        inside |= in_holiday_window(dates, window)
    return pd.Series(inside & valid, index=first_order_at.index)


def _check_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    checked = tuple(int(h) for h in horizons)
    if any(h <= 0 for h in checked):
        raise ValueError(f"value horizons must be positive numbers of days, got {checked}")
    return checked


def customer_acquisition_sql(
    as_of: dt.date, horizons: Sequence[int], tables: Collection[str] | None = None
) -> str:
    """One row per buyer: customer_id, first_order_at, is_loyalty_member and, per horizon N,
    value_Nd (net revenue) and purchases_Nd within N days of the first purchase (inclusive of
    it, before the cutoff)."""
    at = AsOf(as_of)
    horizons = _check_horizons(horizons)
    measures = []
    for days in horizons:
        inside = f"p.t - f.first_t < {days * 86400}"
        measures.append(f"COALESCE(SUM(p.net) FILTER (WHERE {inside}), 0) AS value_{days}d")
        measures.append(f"COUNT(*) FILTER (WHERE {inside}) AS purchases_{days}d")
    selected = ", ".join(f"w.value_{d}d, w.purchases_{d}d" for d in horizons)
    return f"""WITH
{_purchases_cte(at, tables)},
src_customer_profiles AS ({core_input_sql("customer_profiles", tables)}),
firsts AS (
    SELECT customer_id, MIN(ordered_at) AS first_order_at, MIN(t) AS first_t
    FROM purchases GROUP BY customer_id
),
windowed AS (
    SELECT p.customer_id, {", ".join(measures)}
    FROM purchases p JOIN firsts f ON f.customer_id = p.customer_id
    GROUP BY p.customer_id
)
SELECT f.customer_id, f.first_order_at, pr.loyalty_id IS NOT NULL AS is_loyalty_member,
    {selected}
FROM firsts f
JOIN windowed w ON w.customer_id = f.customer_id
LEFT JOIN src_customer_profiles pr ON pr.customer_id = f.customer_id
ORDER BY f.customer_id"""


def customer_acquisition(
    session: WarehouseSession,
    as_of: dt.date,
    horizons: Sequence[int],
    tables: Collection[str] | None = None,
) -> pd.DataFrame:
    """The `customer_acquisition_sql` rows, typed."""
    if tables is None:
        tables = existing_core_tables(session)
    frame = session.query(customer_acquisition_sql(as_of, horizons, tables))
    dtypes = {
        "customer_id": "string",
        "first_order_at": "datetime64[us, UTC]",
        "is_loyalty_member": "bool",
    }
    for days in _check_horizons(horizons):
        dtypes |= {f"value_{days}d": "float64", f"purchases_{days}d": "int64"}
    frame["first_order_at"] = pd.to_datetime(frame["first_order_at"], utc=True)
    frame["is_loyalty_member"] = frame["is_loyalty_member"].fillna(False)
    return frame.astype(dtypes)


def _group_figures(
    acquisition: pd.DataFrame, members: np.ndarray, observed: np.ndarray, days: int
) -> tuple[int, float, float]:
    chosen = members & observed
    n = int(chosen.sum())
    if n == 0:
        return 0, float("nan"), float("nan")
    value = acquisition[f"value_{days}d"].to_numpy(dtype="float64")[chosen]
    repeat = acquisition[f"purchases_{days}d"].to_numpy(dtype="int64")[chosen] >= 2
    return n, float(value.mean()), float(repeat.mean())


def acquisition_comparison(
    acquisition: pd.DataFrame,
    as_of: dt.date,
    windows: Sequence[HolidayWindow],
    horizons: Sequence[int],
    timezone: str = "UTC",
) -> pd.DataFrame:
    """Holiday-acquired customers against the others, and loyalty members against
    non-members: per horizon N, the buyers whose first purchase is at least N days before the
    cutoff, their mean net value within N days and their repeat rate (a second purchase within
    N days). COMPARISON_DTYPES, one row per (comparison, group, horizon).

    `acquisition`: the `customer_acquisition` rows for the same `horizons`.
    """
    horizons = _check_horizons(horizons)
    cutoff = pd.Timestamp(AsOf(as_of).cutoff)
    first = pd.to_datetime(acquisition["first_order_at"], utc=True)
    holiday = holiday_acquired(first, windows, timezone).to_numpy()
    loyal = acquisition["is_loyalty_member"].to_numpy(dtype=bool)
    groups = {
        "holiday_acquisition": {HOLIDAY_GROUPS[0]: holiday, HOLIDAY_GROUPS[1]: ~holiday},
        "loyalty": {LOYALTY_GROUPS[0]: loyal, LOYALTY_GROUPS[1]: ~loyal},
    }
    observed = {days: (first + pd.Timedelta(days=days) <= cutoff).to_numpy() for days in horizons}
    rows = []
    for comparison, members_by_group in groups.items():
        for group, members in members_by_group.items():
            for days in horizons:
                n, value, repeat = _group_figures(acquisition, members, observed[days], days)
                rows.append((comparison, group, days, n, value, repeat))
    frame = pd.DataFrame(rows, columns=list(COMPARISON_DTYPES))
    return frame.astype(COMPARISON_DTYPES)
