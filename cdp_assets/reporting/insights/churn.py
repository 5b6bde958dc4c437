"""Churn risk bands (`ml.churn_scores`) and the reasons the model gives most often."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.reporting.insights import charts, page
from cdp_assets.reporting.insights.formatting import count, percent
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.warehouse import TableRef, WarehouseSession

NAME, TITLE = "churn", "Churn risk"
CHURN = TableRef("ml", "churn_scores")
BANDS = ("high", "medium", "low")
REASON_COLUMNS = ("top_reason_1", "top_reason_2", "top_reason_3")


def band_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per risk band (high, medium, low, then any other): customers, share, mean probability."""
    grouped = scores.groupby(scores["risk_band"].fillna("unknown"))
    summary = pd.DataFrame(
        {"customers": grouped.size(), "mean_probability": grouped["churn_probability"].mean()}
    )
    order = [b for b in BANDS if b in summary.index] + sorted(set(summary.index) - set(BANDS))
    summary = summary.reindex(order).rename_axis("band").reset_index()
    summary["share"] = summary["customers"] / summary["customers"].sum()
    return summary


def reason_counts(scores: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The features named most often among the customers' top three reasons ("feature=value":
    the feature counts), with the share of the customers naming each; most common first."""
    present = [c for c in REASON_COLUMNS if c in scores.columns]
    if not present or scores.empty:
        return pd.DataFrame({"reason": [], "customers": [], "share": []})
    long = scores[present].stack().dropna().astype("string")
    # the feature of each distinct reason, found once: many customers share a reason
    codes, distinct = pd.factorize(long)
    features = np.array([str(r).split("=", 1)[0].strip() for r in distinct], dtype=object)
    per_customer = pd.DataFrame(
        {"row": long.index.get_level_values(0), "reason": features[codes]}
    ).drop_duplicates()
    counts = per_customer.groupby("reason").size().rename("customers").reset_index()
    counts = counts.sort_values(["customers", "reason"], ascending=[False, True], kind="stable")
    counts["share"] = counts["customers"] / len(scores)
    return counts.head(n).reset_index(drop=True)


def churn_section(scores: pd.DataFrame) -> Section:
    bands = band_summary(scores)
    at_risk = scores.loc[scores["risk_band"] == "high"]
    focus, who = (at_risk, "high-risk") if len(at_risk) else (scores, "scored")
    reasons = reason_counts(focus)
    chart = charts.bar_chart(list(bands["band"]), list(bands["customers"]), "customers")
    body = page.image(chart, "customers per churn risk band") + page.table(
        ("risk band", "customers", "share", "mean churn probability"),
        [
            (r.band, count(r.customers), percent(r.share), percent(r.mean_probability))
            for r in bands.itertuples()
        ],
    )
    if len(reasons):
        body += page.table(
            ("reason (feature)", f"{who} customers", "share"),
            [(r.reason, count(r.customers), percent(r.share)) for r in reasons.itertuples()],
            f"What raises the risk of the {who} customers most often",
        )
    else:
        body += page.paragraph(
            "The model in use gives no per-customer reasons (churn comes from the purchase "
            "model while the history is too short to train the classifier)."
        )
    high = int(len(at_risk))
    return Section(
        NAME,
        TITLE,
        "rendered",
        "How many buying customers are at low, medium or high risk of not buying again, and "
        "what most often puts them at risk.",
        body,
        {"high_risk_customers": high, "high_risk_share": round(high / len(scores), 4)},
    )


def build(session: WarehouseSession) -> Section:
    if not session.table_exists(CHURN):
        return missing(NAME, TITLE, "No churn scores yet (ml.churn_scores has not been built).")
    scores = session.read_table(CHURN)
    if scores.empty:
        return missing(NAME, TITLE, "No churn scores yet: no churn model has been promoted.")
    return churn_section(scores)
