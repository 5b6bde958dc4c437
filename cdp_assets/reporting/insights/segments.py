"""RFM segments now and their movement since a month earlier.

The month-earlier segments are recomputed with the same domain code (customer features as of
that day, then `rfm_scores` with the configured map) rather than kept in a history table: the
platform can compute any past date exactly, so the comparison needs no extra table, works from
the first run, and stays right after a backfill or an erasure (a history table would still
hold erased customers). The price is one more feature query per report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

import pandas as pd

from cdp_assets.analytics.features import customer_features
from cdp_assets.analytics.rfm import RFM_DTYPES, rfm_scores
from cdp_assets.config import RfmSegmentRule
from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import count, percent, relative_change, signed_percent
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import TableRef, WarehouseSession

NAME, TITLE = "rfm", "RFM segments and their movement"
RFM = TableRef("analytics", "rfm")
NOT_YET_BUYER = "(not a buyer yet)"
NO_LONGER = "(no longer a customer)"
UNMAPPED = "(unmapped)"


def month_earlier(as_of: dt.date) -> dt.date:
    """The same day a calendar month earlier (31 March → 28 or 29 February)."""
    return (pd.Timestamp(as_of) - pd.DateOffset(months=1)).date()


def movement_matrix(before: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    """Customers by segment a month earlier (rows) and now (columns), from two frames of
    (customer_id, rfm_segment). A customer only in `now` comes from NOT_YET_BUYER; one only in
    `before` (erased or merged since) goes to NO_LONGER."""
    merged = before[["customer_id", "rfm_segment"]].merge(
        now[["customer_id", "rfm_segment"]],
        on="customer_id",
        how="outer",
        suffixes=("_before", "_now"),
        indicator=True,
    )
    source = merged["rfm_segment_before"].astype("string").fillna(UNMAPPED)
    source = source.mask(merged["_merge"] == "right_only", NOT_YET_BUYER)
    target = merged["rfm_segment_now"].astype("string").fillna(UNMAPPED)
    target = target.mask(merged["_merge"] == "left_only", NO_LONGER)
    matrix = pd.crosstab(source.rename("before"), target.rename("now"))
    return matrix.astype("int64")


def segment_changes(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers now and a month earlier, stayed, came in, left; largest now first."""
    names = sorted(
        (set(matrix.index) | set(matrix.columns)) - {NOT_YET_BUYER, NO_LONGER},
    )
    full = matrix.reindex(index=names + [NOT_YET_BUYER], columns=names + [NO_LONGER]).fillna(0)
    full = full.astype("int64")
    rows = []
    for name in names:
        now = int(full[name].sum())
        before = int(full.loc[name].sum())
        stayed = int(full.loc[name, name])
        rows.append((name, now, before, stayed, now - stayed, before - stayed))
    frame = pd.DataFrame(rows, columns=["segment", "now", "before", "stayed", "came_in", "left"])
    return frame.sort_values(["now", "segment"], ascending=[False, True], kind="stable")


def _main_flows(matrix: pd.DataFrame, n: int = 8) -> list[tuple[str, str, int]]:
    flows = matrix.stack()
    flows = flows[
        (flows > 0) & (flows.index.get_level_values(0) != flows.index.get_level_values(1))
    ]
    top = flows.sort_values(ascending=False, kind="stable").head(n)
    return [(str(a), str(b), int(v)) for (a, b), v in top.items()]


def segments_section(
    before: pd.DataFrame, now: pd.DataFrame, as_of: dt.date, earlier: dt.date
) -> Section:
    matrix = movement_matrix(before, now)
    changes = segment_changes(matrix)
    total = max(int(changes["now"].sum()), 1)
    rows = [
        (
            r.segment,
            count(r.now),
            percent(r.now / total),
            count(r.before),
            signed_percent(relative_change(r.now, r.before)),
            count(r.stayed),
            count(r.came_in),
            count(r.left),
        )
        for r in changes.itertuples()
    ]
    chart = charts.paired_bar_chart(
        list(changes["segment"]),
        list(changes["now"]),
        list(changes["before"]),
        (f"{as_of}", f"{earlier}"),
        "customers",
    )
    flows = _main_flows(matrix)
    body = (
        page.image(chart, "customers per RFM segment now and a month earlier")
        + page.table(
            (
                "segment",
                "customers",
                "share",
                "a month earlier",
                "change",
                "stayed",
                "came in",
                "left",
            ),
            rows,
        )
        + (
            page.table(("from", "to", "customers"), flows, "The largest moves between segments")
            if flows
            else ""
        )
    )
    return Section(
        NAME,
        TITLE,
        "rendered",
        f"How many buying customers are in each RFM segment on {as_of} against {earlier} "
        "(recomputed for that day), and where they moved.",
        body,
        {"segments": int((changes["now"] > 0).sum()), "buyers": int(changes["now"].sum())},
    )


def build(
    session: WarehouseSession,
    segments: Sequence[RfmSegmentRule],
    sla_hours: float,
    tables: Collection[str],
) -> Section:
    if not session.table_exists(RFM):
        return missing(NAME, TITLE, "No RFM segments yet (analytics.rfm has not been built).")
    now = session.read_table(RFM, dtypes=RFM_DTYPES)
    if now.empty:
        return missing(NAME, TITLE, "No customer has bought yet, so there are no RFM segments.")
    # The month before the date analytics.rfm was scored for (the run's analysis date).
    scored_on = pd.Timestamp(now["as_of"].iloc[0]).date()
    earlier = month_earlier(scored_on)
    features = customer_features(session, earlier, sla_hours, tables)
    before = rfm_scores(features, segments)
    return segments_section(before, now, scored_on, earlier)
