"""NPS and CSAT on a hand-made set of answers, and comment themes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cdp_assets.analytics.nps import (
    NO_PURCHASES,
    SUMMARY_COLUMNS,
    THEME_COLUMNS,
    comment_themes,
    nps_category,
    nps_summary,
)


@pytest.fixture
def responses() -> pd.DataFrame:
    # 10 answers: 4 promoters (9, 9, 10, 10), 2 passives (7, 8), 3 detractors (0, 5, 6), 1 blank
    # NPS = (4 - 3) / 9 * 100 = 11.1; January: 3P 1p 1D of 5 -> 40; February: 1P 1p 2D -> -25
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C3", "C4", "C5", "C2", "C6", None, "C3"],
            "submitted_at": pd.to_datetime(
                [
                    "2024-01-03T10:00Z",
                    "2024-01-10T10:00Z",
                    "2024-01-15T10:00Z",
                    "2024-01-20T10:00Z",
                    "2024-01-31T23:59Z",
                    "2024-02-01T00:00Z",
                    "2024-02-10T10:00Z",
                    "2024-02-11T10:00Z",
                    "2024-02-12T10:00Z",
                    "2024-02-20T10:00Z",
                ]
            ),
            "nps": pd.array([9, 10, 7, 0, 10, 9, 8, 5, 6, None], dtype="Int64"),
            "csat": pd.array([5, 5, 4, 1, 5, 4, None, 2, 3, 3], dtype="Int64"),
            "comment": [None] * 10,
        }
    )


def test_nps_categories_at_the_boundaries() -> None:
    scores = pd.Series([0, 6, 7, 8, 9, 10, None, 11], dtype="Int64")
    assert nps_category(scores).tolist() == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
        pd.NA,
        pd.NA,  # out of range: not an answer
    ]


def test_overall_nps_and_csat(responses: pd.DataFrame) -> None:
    summary = nps_summary(responses)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    overall = summary[summary["breakdown"] == "overall"].iloc[0]
    assert overall["group"] == "all"
    assert overall[
        ["responses", "nps_responses", "promoters", "passives", "detractors"]
    ].tolist() == [
        10,
        9,
        4,
        2,
        3,
    ]
    assert overall["nps"] == pytest.approx(100 / 9)
    assert overall["csat_responses"] == 9
    assert overall["csat_mean"] == pytest.approx(32 / 9)


def test_nps_by_month(responses: pd.DataFrame) -> None:
    months = nps_summary(responses).query("breakdown == 'month'")
    assert months["group"].tolist() == ["2024-01", "2024-02"]
    assert months["responses"].tolist() == [5, 5]
    assert months["nps"].tolist() == pytest.approx([40.0, -25.0])
    assert months["csat_mean"].tolist() == pytest.approx([4.0, 3.0])  # 20 / 5, 12 / 4


def test_nps_by_segment(responses: pd.DataFrame) -> None:
    segments = pd.DataFrame(
        {"customer_id": ["C1", "C2", "C3"], "rfm_segment": ["Champions", "Champions", "Lost"]}
    )
    by_segment = nps_summary(responses, segments).query("breakdown == 'segment'")
    figures = by_segment.set_index("group")[["responses", "nps_responses", "nps"]]
    # Champions: C1 9, 10; C2 7, 8 -> 2P 2p of 4 = 50; Lost: C3 0, blank -> -100
    # No purchases: C4 10, C5 9, C6 5 -> 2P 1D of 3 = 33.3; no customer: 6 -> -100
    assert figures.loc["Champions"].tolist() == [4, 4, 50.0]
    assert figures.loc["Lost"].tolist() == [2, 1, -100.0]
    assert figures.loc[NO_PURCHASES, "nps"] == pytest.approx(100 / 3)
    assert figures.loc["Unknown customer"].tolist() == [1, 1, -100.0]
    assert by_segment["responses"].sum() == 10


def test_as_of_leaves_out_later_answers(responses: pd.DataFrame) -> None:
    summary = nps_summary(responses, as_of=dt.date(2024, 1, 31))
    overall = summary.iloc[0]
    assert overall["responses"] == 5  # 2024-01-31T23:59Z counts, 2024-02-01T00:00Z does not
    assert overall["nps"] == pytest.approx(40.0)
    assert summary["breakdown"].tolist() == ["overall", "month"]


def test_no_responses_give_an_empty_overall_row(responses: pd.DataFrame) -> None:
    summary = nps_summary(responses.iloc[:0], pd.DataFrame(columns=["customer_id", "rfm_segment"]))
    assert summary["breakdown"].tolist() == ["overall"]
    assert summary.iloc[0]["responses"] == 0
    assert np.isnan(summary.iloc[0]["nps"]) and np.isnan(summary.iloc[0]["csat_mean"])


# -- themes ----------------------------------------------------------------------------------


def commented(rows: list[tuple[int | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "nps": pd.array([r[0] for r in rows], dtype="Int64"),
            "comment": [r[1] for r in rows],
        }
    )


def test_themes_pick_a_term_only_detractors_use() -> None:
    responses = commented(
        [
            (10, "Great quality and fast delivery"),
            (9, "Fast delivery, great quality"),
            (10, "Love the quality"),
            (8, "Delivery was fine"),
            (2, "Still waiting for my refund"),
            (1, "Refund took weeks, terrible"),
            (4, "No refund yet and slow delivery"),
            (0, None),
            (3, "   "),
        ]
    )
    themes = comment_themes(responses, top_n=3)
    assert list(themes.columns) == list(THEME_COLUMNS)
    detractors = themes[themes["group"] == "detractors"]
    promoters = themes[themes["group"] == "promoters"]
    assert detractors.iloc[0]["term"] == "refund"
    assert detractors.iloc[0]["responses"] == 3
    assert "refund" not in set(promoters["term"])
    assert promoters.iloc[0]["term"] == "quality"
    assert promoters.iloc[0]["responses"] == 3
    assert len(promoters) == 3 and len(detractors) == 3
    assert (themes["score"] > 0).all()


def test_themes_include_bigrams() -> None:
    responses = commented(
        [(1, "late delivery again"), (2, "late delivery and rude staff"), (9, "lovely")]
    )
    themes = comment_themes(responses)
    assert "late delivery" in set(themes["term"])


def test_min_df_drops_terms_used_once() -> None:
    responses = commented([(1, "broken zipper"), (2, "broken seam"), (9, "lovely")])
    themes = comment_themes(responses, min_df=2)
    assert themes["term"].tolist() == ["broken"]


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [(9, None), (1, "")],
        [(9, "the and of"), (1, "it is")],  # only stop words
        [(None, "great"), (7, "fine")],  # no promoter or detractor
    ],
)
def test_no_usable_comments_give_an_empty_frame(rows: list[tuple[int | None, str | None]]) -> None:
    themes = comment_themes(commented(rows))
    assert themes.empty
    assert list(themes.columns) == list(THEME_COLUMNS)
