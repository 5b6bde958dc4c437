"""`analytics.rfm`: recency, frequency and monetary scores 1-5 and the named R x F segments.

Scores are quintiles with ties kept together: a customer's score is one plus the number of
quintile boundaries (20 %, 40 %, 60 %, 80 %) reached by the share of buyers whose value is
strictly worse than theirs:

    score = 1 + floor(5 * (rank_min - 1) / n)        (rank_min: pandas rank method="min")

Equal values always get equal scores, and without ties this is exactly the split into five
equal bins. Ties are resolved towards the lower score, because of frequency: most customers
buy once, and ranking them at the bottom of their tie (rather than the middle, as
`rank(method="average", pct=True)` would) keeps one-time buyers at F = 1 — the cell the
standard map calls New Customers (R5) and Lost (R1). The price is that a heavily tied score
may be skipped: with 60 % one-time buyers, two-order customers jump straight to F = 4.
Recency is scored on the negated `recency_days`, so that R = 5 is the most recent.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cdp_assets.config import RfmSegmentRule

RFM_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "recency_days": "int64",
    "frequency": "int64",
    "monetary": "float64",
    "r_score": "int64",
    "f_score": "int64",
    "m_score": "int64",
    "rfm_score": "string",
    "rfm_segment": "string",
    "as_of": "datetime64[us]",
}
SEGMENT_SUMMARY_COLUMNS: tuple[str, ...] = (
    "segment",
    "customers",
    "share",
    "revenue",
    "revenue_share",
)


def quintile_scores(values: pd.Series) -> pd.Series:
    """Scores 1-5 by quintile of `values` (higher value, higher score); ties score alike,
    at the lowest quintile their tied group reaches (see the module docstring)."""
    n = len(values)
    if n == 0:
        return pd.Series(dtype="int64", index=values.index)
    below = values.rank(method="min").to_numpy(dtype="float64") - 1.0
    scores = 1 + np.floor(5.0 * below / n).astype("int64")
    return pd.Series(np.clip(scores, 1, 5), index=values.index, dtype="int64")


def segment_grid(segments: Sequence[RfmSegmentRule]) -> np.ndarray:
    """A 5 x 5 array: the segment of (r, f) at [r - 1, f - 1], from the first covering rule
    (None where no rule covers the cell)."""
    grid = np.full((5, 5), None, dtype=object)
    for r in range(1, 6):
        for f in range(1, 6):
            grid[r - 1, f - 1] = next((s.name for s in segments if s.covers(r, f)), None)
    return grid


def rfm_scores(features: pd.DataFrame, segments: Sequence[RfmSegmentRule]) -> pd.DataFrame:
    """RFM scores and segments of the customers with at least one purchase (RFM_DTYPES).

    `features`: rows of analytics.customer_features (customer_id, recency_days, frequency,
    monetary, as_of). `segments`: the configured map; the first rule covering a customer's
    (r_score, f_score) names the segment.
    """
    buyers = features.loc[features["frequency"] > 0].sort_values("customer_id")
    buyers = buyers.reset_index(drop=True)
    recency = buyers["recency_days"].astype("int64")
    frequency = buyers["frequency"].astype("int64")
    monetary = buyers["monetary"].astype("float64").fillna(0.0)
    r = quintile_scores(-recency)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    grid = segment_grid(segments)
    rfm_score = r.astype("string") + f.astype("string") + m.astype("string")
    frame = pd.DataFrame(
        {
            "customer_id": buyers["customer_id"],
            "recency_days": recency,
            "frequency": frequency,
            "monetary": monetary,
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_score": rfm_score,
            "rfm_segment": grid[r.to_numpy() - 1, f.to_numpy() - 1],
            "as_of": buyers["as_of"],
        }
    )
    return frame.astype(RFM_DTYPES)


def segment_summary(rfm: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, share of customers, revenue (sum of monetary) and revenue share,
    largest segment first. Shares sum to 1 (revenue shares are 0 when there is no revenue)."""
    if rfm.empty:
        empty = {c: pd.Series(dtype="float64") for c in SEGMENT_SUMMARY_COLUMNS}
        return pd.DataFrame(empty).astype({"segment": "string", "customers": "int64"})
    grouped = rfm.groupby(rfm["rfm_segment"].fillna("(unmapped)"), sort=True)
    summary = pd.DataFrame(
        {"customers": grouped.size(), "revenue": grouped["monetary"].sum()}
    ).rename_axis("segment")
    total_revenue = summary["revenue"].sum()
    summary["share"] = summary["customers"] / summary["customers"].sum()
    summary["revenue_share"] = summary["revenue"] / total_revenue if total_revenue else 0.0
    summary = summary.reset_index().sort_values(
        ["customers", "segment"], ascending=[False, True], kind="stable"
    )
    return summary[list(SEGMENT_SUMMARY_COLUMNS)].reset_index(drop=True)


def empty_scores_note(rfm: pd.DataFrame) -> str:
    """Why a score has no customers, in words, for each of R, F and M that skips one: ties
    share the lowest score of their tie, so a value held by more than a fifth of customers
    covers several quintiles and the scores above it start higher. Empty when none is
    skipped."""
    notes = []
    for letter, score, value in (
        ("R", "r_score", "recency_days"),
        ("F", "f_score", "frequency"),
        ("M", "m_score", "monetary"),
    ):
        if rfm.empty:
            break
        missing = sorted(set(range(1, 6)) - set(rfm[score].astype(int)))
        if not missing:
            continue
        # The lowest score always has customers; the tie just below the first gap made it.
        below = rfm.loc[rfm[score] == missing[0] - 1, value]
        tied = float((rfm[value] == below.mode().iloc[0]).mean()) if len(below) else 0.0
        what = {"R": "days since the last order", "F": "orders", "M": "spend"}[letter]
        notes.append(
            f"{letter} = {', '.join(map(str, missing))} has no customers: {tied:.0%} of "
            f"customers share the same {what}, and equal values share the lowest score of "
            "their tie, so that tie spans more than one quintile."
        )
    return " ".join(notes)


def figure_markdown(fig: object, title: str) -> str:
    """A matplotlib figure as a markdown image (PNG data URI); closes the figure."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![{title}](data:image/png;base64,{encoded})"


def rfm_grid_plot(rfm: pd.DataFrame, segments: Sequence[RfmSegmentRule] | None = None) -> str:
    """The R x F grid as a markdown PNG image: customers per cell, shaded by count, with the
    segment name of each cell (from `segments`, else from the scored customers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.zeros((5, 5), dtype=np.int64)
    cells = rfm.groupby(["r_score", "f_score"]).size()
    for (r, f), n in cells.items():
        counts[int(r) - 1, int(f) - 1] = n
    names = segment_grid(segments) if segments is not None else np.full((5, 5), None, object)
    if segments is None:
        for (r, f), name in rfm.groupby(["r_score", "f_score"])["rfm_segment"].first().items():
            names[int(r) - 1, int(f) - 1] = name
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.imshow(counts, cmap="Blues", origin="lower")
    total = max(int(counts.sum()), 1)
    for r in range(5):
        for f in range(5):
            dark = counts[r, f] > counts.max() * 0.6
            label = f"{names[r, f] or ''}\n{counts[r, f]:,}\n({counts[r, f] / total:.1%})"
            ax.text(
                f,
                r,
                label,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(5), [str(i) for i in range(1, 6)])
    ax.set_yticks(range(5), [str(i) for i in range(1, 6)])
    ax.set_xlabel("frequency score (F)")
    ax.set_ylabel("recency score (R)")
    ax.set_title(f"RFM: customers per R x F cell ({int(counts.sum()):,} buyers)")
    fig.tight_layout()
    return figure_markdown(fig, "R x F")
