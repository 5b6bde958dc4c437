"""Survey insight: Net Promoter Score and CSAT overall, by month and by RFM segment, and the
themes of promoters' and detractors' comments.

NPS = % promoters (9-10) - % detractors (0-6) among the answers with an NPS score (passives
score 7-8), from -100 to 100. Responses without an NPS answer still count for CSAT.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

SUMMARY_COLUMNS: tuple[str, ...] = (
    "breakdown",  # overall | month | segment
    "group",  # all | YYYY-MM | the RFM segment
    "responses",
    "nps_responses",
    "promoters",
    "passives",
    "detractors",
    "nps",
    "csat_responses",
    "csat_mean",
)
THEME_COLUMNS: tuple[str, ...] = ("group", "term", "score", "responses")
NO_PURCHASES = "No purchases"
UNKNOWN_CUSTOMER = "Unknown customer"
THEME_GROUPS: dict[str, str] = {"promoters": "promoter", "detractors": "detractor"}
SMALL_CORPUS = 20  # below this many comments a term used once can be a theme (min_df=1)


def nps_category(scores: pd.Series) -> pd.Series:
    """'promoter' (9-10), 'passive' (7-8), 'detractor' (0-6), or null (no valid answer)."""
    values = _scores(scores, 0, 10)
    category = np.select(
        [values >= 9, values >= 7, values >= 0], ["promoter", "passive", "detractor"], ""
    )
    return pd.Series(category, index=scores.index, dtype="string").replace("", pd.NA)


def nps_summary(
    responses: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """NPS and CSAT overall, by month of `submitted_at` (UTC) and, when `segments` (customer_id,
    rfm_segment) is given, by the customer's RFM segment — 'No purchases' for customers
    without one, 'Unknown customer' for responses without a customer_id.

    With `as_of`, only responses submitted before the end of that day (UTC) count.
    Columns: SUMMARY_COLUMNS; `nps` and `csat_mean` are null for a group without answers.
    """
    frame = _responses_until(responses, as_of)
    frame = frame.assign(
        category=nps_category(frame["nps"]),
        csat_value=_scores(frame["csat"], 1, 5),
        month=utc_timestamps(frame["submitted_at"]).dt.strftime("%Y-%m").astype("string"),
    )
    parts = [_summarise(frame.assign(group="all"), "overall")]
    parts.append(_summarise(frame.assign(group=frame["month"]), "month").sort_values("group"))
    if segments is not None:
        by_segment = _summarise(frame.assign(group=_segment_of(frame, segments)), "segment")
        parts.append(by_segment.sort_values(["responses", "group"], ascending=[False, True]))
    return pd.concat(parts, ignore_index=True).loc[:, list(SUMMARY_COLUMNS)]


def _summarise(frame: pd.DataFrame, breakdown: str) -> pd.DataFrame:
    """One row per value of `group` (the overall breakdown always has its 'all' row)."""
    category = frame["category"]
    flags = pd.DataFrame(
        {
            "group": frame["group"].astype("string"),
            "responses": 1,
            "promoters": category.eq("promoter").fillna(False).astype("int64"),
            "passives": category.eq("passive").fillna(False).astype("int64"),
            "detractors": category.eq("detractor").fillna(False).astype("int64"),
            "csat_responses": frame["csat_value"].notna().astype("int64"),
            "csat_sum": frame["csat_value"].fillna(0.0),
        }
    )
    counts = flags.groupby("group", sort=False, dropna=False).sum()
    if breakdown == "overall" and counts.empty:
        counts = counts.reindex(pd.Index(["all"], dtype="string", name="group"), fill_value=0)
    counts["nps_responses"] = counts["promoters"] + counts["passives"] + counts["detractors"]
    counts["nps"] = _percent_difference(
        counts["promoters"], counts["detractors"], counts["nps_responses"]
    )
    counts["csat_mean"] = counts["csat_sum"] / counts["csat_responses"].where(
        counts["csat_responses"] > 0
    )
    counts = counts.reset_index().assign(breakdown=breakdown)
    integer = [
        "responses",
        "nps_responses",
        "promoters",
        "passives",
        "detractors",
        "csat_responses",
    ]
    return counts.astype(
        {
            "breakdown": "string",
            "group": "string",
            **dict.fromkeys(integer, "int64"),
            "nps": "float64",
            "csat_mean": "float64",
        }
    )


def _percent_difference(plus: pd.Series, minus: pd.Series, total: pd.Series) -> pd.Series:
    """100 * (plus - minus) / total; NaN where total is 0."""
    return 100.0 * (plus - minus) / total.where(total > 0)


def _segment_of(frame: pd.DataFrame, segments: pd.DataFrame) -> pd.Series:
    lookup = segments.dropna(subset=["customer_id"]).drop_duplicates("customer_id")
    segment = frame["customer_id"].map(lookup.set_index("customer_id")["rfm_segment"])
    segment = segment.astype("string").fillna(NO_PURCHASES)
    return segment.mask(frame["customer_id"].isna(), UNKNOWN_CUSTOMER)


# -- comment themes --------------------------------------------------------------------------


def comment_themes(
    responses: pd.DataFrame, top_n: int = 15, min_df: int | None = None
) -> pd.DataFrame:
    """The top `top_n` TF-IDF terms (words and two-word phrases, English stop words removed) of
    promoters' and of detractors' comments: (group, term, score, responses).

    The vectoriser is fitted on every comment with an NPS answer (passives included, so a
    term common to all groups weighs less); `score` is the term's mean TF-IDF weight over the
    group's comments and `responses` how many of them use it. `min_df` (documents a term must
    appear in) defaults to 2, or 1 under SMALL_CORPUS comments. No usable comments give an
    empty frame.
    """
    frame = _commented(responses)
    if frame.empty:
        return _empty_themes()
    if min_df is None:
        min_df = 1 if len(frame) < SMALL_CORPUS else 2
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        stop_words="english",
        strip_accents="unicode",
        sublinear_tf=True,
        min_df=min_df,
    )
    try:
        weights = vectorizer.fit_transform(frame["comment"]).tocsr()
    except ValueError:  # nothing left after stop words and min_df
        return _empty_themes()
    terms = vectorizer.get_feature_names_out()
    parts = []
    for group in THEME_GROUPS:
        rows = np.flatnonzero(frame["category"].eq(THEME_GROUPS[group]).fillna(False).to_numpy())
        if len(rows):
            parts.append(_top_terms(weights[rows], terms, group, top_n))
    if not parts:
        return _empty_themes()
    return pd.concat(parts, ignore_index=True)


def _commented(responses: pd.DataFrame) -> pd.DataFrame:
    """Responses with an NPS answer and a non-blank comment: (comment, category)."""
    comment = responses["comment"].astype("string").str.strip()
    frame = pd.DataFrame({"comment": comment, "category": nps_category(responses["nps"])})
    keep = frame["comment"].fillna("").ne("") & frame["category"].notna()
    return frame[keep.to_numpy()].reset_index(drop=True)


def _top_terms(
    weights: sparse.csr_matrix, terms: np.ndarray, group: str, top_n: int
) -> pd.DataFrame:
    score = np.asarray(weights.mean(axis=0)).ravel()
    used = np.asarray((weights > 0).sum(axis=0)).ravel()
    table = pd.DataFrame({"group": group, "term": terms, "score": score, "responses": used})
    table = table[table["responses"] > 0]
    table = table.sort_values(["score", "term"], ascending=[False, True]).head(top_n)
    return table.astype({"group": "string", "term": "string", "responses": "int64"}).reset_index(
        drop=True
    )


def _empty_themes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": pd.Series(dtype="string"),
            "term": pd.Series(dtype="string"),
            "score": pd.Series(dtype="float64"),
            "responses": pd.Series(dtype="int64"),
        }
    )


# -- helpers ---------------------------------------------------------------------------------


def _scores(values: pd.Series, low: int, high: int) -> np.ndarray:
    """Answers as floats; missing or out-of-range answers as NaN."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where((numbers >= low) & (numbers <= high), numbers, np.nan)


def utc_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps in UTC; naive ones are taken to be UTC already (as core tables store them)."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def day_end_utc(as_of: dt.date) -> pd.Timestamp:
    """The end of the `as_of` day (midnight after it) in UTC: facts before it count."""
    day = pd.Timestamp(as_of)
    day = day.tz_localize(None) if day.tzinfo is not None else day
    return day.normalize().tz_localize("UTC") + pd.Timedelta(days=1)


def _responses_until(responses: pd.DataFrame, as_of: dt.date | None) -> pd.DataFrame:
    if as_of is None:
        return responses.reset_index(drop=True)
    end = day_end_utc(as_of)
    return responses[(utc_timestamps(responses["submitted_at"]) < end).to_numpy()].reset_index(
        drop=True
    )
