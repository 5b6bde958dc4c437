"""Lifetime value: the distribution of predicted revenue and the top customers by it.

The report is a file people forward, so no customer appears by name, email, phone or even
platform id: each is shown as a pseudonym, a keyed hash of the customer id with the platform's
privacy salt (`privacy.salt_env` / `privacy.salt_file`). The data team, who hold the salt, can
find the customer again (`customer_pseudonym` over `activation.customer_360`); a reader of the
file cannot.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import count, money, percent
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import TableRef, WarehouseSession

NAME, TITLE = "ltv", "Lifetime value"
LTV = TableRef("ml", "customer_ltv")
RFM = TableRef("analytics", "rfm")
CHURN = TableRef("ml", "churn_scores")
PSEUDONYM_PURPOSE = b"insights-report-customer\x1f"


def customer_pseudonym(salt: bytes, customer_id: str) -> str:
    """'P-' and 10 hex digits of HMAC-SHA256(salt, purpose + customer id): stable across
    reports, meaningless without the salt."""
    digest = hmac.new(salt, PSEUDONYM_PURPOSE + customer_id.encode("utf-8"), hashlib.sha256)
    return "P-" + digest.hexdigest()[:10]


def _top_by_value(ltv: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first `n` rows by predicted then historical revenue (highest first, stable), and
    every later row tied with the n-th on both: all the pseudonym can order among (only these
    customers get one, not every customer)."""
    ranked = ltv.sort_values(
        ["predicted_revenue", "historical_revenue"], ascending=[False, False], kind="stable"
    )
    if len(ranked) <= n:
        return ranked
    if n <= 0:
        return ranked.iloc[:1]  # one, so that the empty top has the pseudonyms' type
    keys = ranked[["predicted_revenue", "historical_revenue"]].iloc[n - 1 :]
    values = keys.to_numpy(dtype=np.float64, na_value=np.nan)
    tied = ((values == values[0]) | (np.isnan(values) & np.isnan(values[0]))).all(axis=1)
    stop = n - 1 + (int(np.argmin(tied)) if not tied.all() else len(tied))
    return ranked.iloc[:stop]


def top_customers(ltv: pd.DataFrame, extra: pd.DataFrame, salt: bytes, n: int) -> pd.DataFrame:
    """The `n` customers with the highest predicted revenue (ties: the higher historical
    revenue, then the pseudonym), with `extra` columns (customer_id, rfm_segment, risk_band)
    joined; customer_id is replaced by its pseudonym."""
    candidates = _top_by_value(ltv, n)
    chosen = candidates.assign(
        customer=[customer_pseudonym(salt, str(c)) for c in candidates["customer_id"]]
    ).sort_values(
        ["predicted_revenue", "historical_revenue", "customer"],
        ascending=[False, False, True],
        kind="stable",
    )
    chosen = chosen.head(n).merge(extra, on="customer_id", how="left")
    return chosen.drop(columns="customer_id").reset_index(drop=True)


def distribution_chart(ltv: pd.DataFrame, currency: str) -> str:
    plt = charts.pyplot()
    values = ltv["predicted_revenue"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    top = float(np.quantile(values, 0.99)) if len(values) else 1.0
    ax.hist(np.clip(values, 0, top), bins=40, color=charts.PALETTE[0])
    ax.set_xlabel(f"predicted net revenue ({currency}; the top 1 % shown in the last bar)")
    ax.set_ylabel("customers")
    ax.spines[["top", "right"]].set_visible(False)
    return charts.figure_source(fig)


def ltv_section(
    ltv: pd.DataFrame, extra: pd.DataFrame, salt: bytes, n: int, currency: str
) -> Section:
    horizon = int(ltv["horizon_days"].iloc[0])
    revenue = ltv["predicted_revenue"].astype("float64")
    total = float(revenue.sum())
    top_decile = float(revenue.nlargest(max(len(revenue) // 10, 1)).sum())
    share = top_decile / total if total else None
    top = top_customers(ltv, extra, salt, n)
    rows = [
        (
            i + 1,
            r.customer,
            money(r.predicted_revenue, currency, 2),
            money(r.historical_revenue, currency, 2),
            percent(r.p_alive, 0),
            "" if pd.isna(r.expected_next_order_date) else f"{r.expected_next_order_date:%Y-%m-%d}",
            "" if pd.isna(r.rfm_segment) else r.rfm_segment,
            "" if pd.isna(r.risk_band) else r.risk_band,
        )
        for i, r in enumerate(top.itertuples())
    ]
    body = (
        page.image(distribution_chart(ltv, currency), "distribution of predicted revenue")
        + page.paragraph(
            f"Expected net revenue of today's {count(len(ltv))} buyers in the next {horizon} "
            f"days: {money(total, currency)}; the top 10 % of them bring {percent(share)} of it."
        )
        + (
            page.table(
                (
                    "rank",
                    "customer (pseudonym)",
                    f"predicted revenue, {horizon} days",
                    "revenue so far",
                    "still active",
                    "next order expected",
                    "RFM segment",
                    "churn risk",
                ),
                rows,
                f"Top {len(rows)} customers by predicted value",
            )
            if rows
            else ""
        )
    )
    return Section(
        NAME,
        TITLE,
        "rendered",
        f"How much each buying customer is expected to spend in the next {horizon} days, and "
        "who is expected to spend the most (shown under pseudonyms).",
        body,
        {"predicted_revenue_total": round(total, 2), "customers_scored": len(ltv)},
    )


def build(session: WarehouseSession, salt: bytes, n: int, currency: str) -> Section:
    if not session.table_exists(LTV):
        return missing(NAME, TITLE, "No lifetime values yet (ml.customer_ltv has not been built).")
    ltv = session.read_table(LTV)
    if ltv.empty:
        return missing(
            NAME, TITLE, "No lifetime values yet: no LTV model has been trained and promoted."
        )
    extra = pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if session.table_exists(RFM):
        extra = session.read_table(RFM, columns=["customer_id", "rfm_segment"])
    if session.table_exists(CHURN):
        risk = session.read_table(CHURN, columns=["customer_id", "risk_band"])
        extra = extra.merge(risk, on="customer_id", how="outer")
    for column in ("rfm_segment", "risk_band"):
        if column not in extra.columns:
            extra[column] = pd.Series(dtype="string")
    return ltv_section(ltv, extra, salt, n, currency)
