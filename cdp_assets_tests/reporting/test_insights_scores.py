"""Lifetime value and churn sections on hand-made score tables: pseudonyms instead of ids, the
top customers in order, risk bands and the reasons counted once per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp_assets.reporting.insights import churn, value
from cdp_assets.reporting.insights.churn import band_summary, reason_counts
from cdp_assets.reporting.insights.value import customer_pseudonym, top_customers
from cdp_assets.warehouse import TableRef, Warehouse

SALT = b"test-salt"


def _ltv() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C0000000011", "C0000000012", "C0000000013", "C0000000014"],
            "as_of": pd.Timestamp("2025-03-31"),
            "horizon_days": 365,
            "p_alive": [0.9, 0.5, 0.8, 0.2],
            "expected_purchases": [3.0, 1.0, 2.0, 0.1],
            "expected_order_value": [50.0, 40.0, 100.0, 10.0],
            "predicted_revenue": [150.0, 40.0, 200.0, 150.0],
            "expected_next_order_date": pd.to_datetime(["2025-04-20", None, "2025-05-01", None]),
            "historical_revenue": [500.0, 80.0, 300.0, 900.0],
            "model": "bg_nbd_gamma_gamma",
            "model_version": "ltv-20250331T000000-0123abcd",
        }
    ).astype({"customer_id": "string"})


def _churn() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C0000000011", "C0000000012", "C0000000013", "C0000000014"],
            "churn_probability": [0.1, 0.7, 0.8, 0.4],
            "risk_band": ["low", "high", "high", "medium"],
            "top_reason_1": ["recency_days=30", "recency_days=200", "frequency=1", None],
            "top_reason_2": [None, "recency_days=200", "recency_days=150", None],
            "top_reason_3": [None, "sessions_30d=0", "sessions_30d=0", None],
        }
    ).astype({"customer_id": "string", "risk_band": "string"})


def test_pseudonyms_are_stable_keyed_and_hide_the_id() -> None:
    first = customer_pseudonym(SALT, "C0000000011")
    assert first == customer_pseudonym(SALT, "C0000000011")
    assert first != customer_pseudonym(b"other-salt", "C0000000011")
    assert first != customer_pseudonym(SALT, "C0000000012")
    assert first.startswith("P-") and len(first) == 12 and "0000000011" not in first


def test_top_customers_by_predicted_value_then_history() -> None:
    extra = pd.DataFrame({"customer_id": ["C0000000013"], "rfm_segment": ["Champions"]})
    top = top_customers(_ltv(), extra, SALT, 3)
    expected = [customer_pseudonym(SALT, c) for c in ("C0000000013", "C0000000014", "C0000000011")]
    assert list(top["customer"]) == expected  # 200, then the 150 tie by revenue so far
    assert "customer_id" not in top.columns
    assert list(top["rfm_segment"].fillna("")) == ["Champions", "", ""]


def test_ltv_section_names_no_customer_id() -> None:
    extra = _churn()[["customer_id", "risk_band"]].assign(rfm_segment=pd.NA)
    section = value.ltv_section(_ltv(), extra, SALT, 2, "USD")
    assert section.status == "rendered"
    assert not any(c in section.body for c in _ltv()["customer_id"])
    assert customer_pseudonym(SALT, "C0000000013") in section.body
    assert customer_pseudonym(SALT, "C0000000012") not in section.body  # not in the top 2
    assert section.figures == {"predicted_revenue_total": 540.0, "customers_scored": 4}
    # the top 10 % (one of four customers) bring 200 of 540
    assert "37.0 %" in section.body


def test_band_summary_in_risk_order() -> None:
    bands = band_summary(_churn())
    assert list(bands["band"]) == ["high", "medium", "low"]
    assert list(bands["customers"]) == [2, 1, 1]
    assert bands["mean_probability"].tolist() == pytest.approx([0.75, 0.4, 0.1])
    assert bands["share"].tolist() == pytest.approx([0.5, 0.25, 0.25])


def test_reasons_count_each_customer_once() -> None:
    high = _churn().query("risk_band == 'high'")
    reasons = reason_counts(high)
    assert list(zip(reasons["reason"], reasons["customers"], strict=True)) == [
        ("recency_days", 2),
        ("sessions_30d", 2),
        ("frequency", 1),
    ]
    assert reasons["share"].tolist() == pytest.approx([1.0, 1.0, 0.5])


def test_churn_section_and_missing_scores(warehouse_url: str) -> None:
    section = churn.churn_section(_churn())
    assert section.figures == {"high_risk_customers": 2, "high_risk_share": 0.5}
    assert "recency_days" in section.body and "high-risk customers" in section.body
    warehouse = Warehouse(warehouse_url)
    with warehouse.transaction() as session:
        assert churn.build(session).status == "missing"
        assert value.build(session, SALT, 5, "USD").status == "missing"
        session.replace_table(TableRef("ml", "churn_scores"), _churn().iloc[0:0])
        session.replace_table(TableRef("ml", "customer_ltv"), _ltv().iloc[0:0])
        empty_churn, empty_ltv = churn.build(session), value.build(session, SALT, 5, "USD")
    assert empty_churn.status == "missing" and "promoted" in empty_churn.sentence
    assert empty_ltv.status == "missing" and "promoted" in empty_ltv.sentence


def _old_top_customers(ltv: pd.DataFrame, extra: pd.DataFrame, salt: bytes, n: int):
    """top_customers as it was: a pseudonym for every customer, then one sort."""
    chosen = ltv.assign(
        customer=[customer_pseudonym(salt, str(c)) for c in ltv["customer_id"]]
    ).sort_values(
        ["predicted_revenue", "historical_revenue", "customer"],
        ascending=[False, False, True],
        kind="stable",
    )
    chosen = chosen.head(n).merge(extra, on="customer_id", how="left")
    return chosen.drop(columns="customer_id").reset_index(drop=True)


def _old_reason_counts(scores: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """reason_counts as it was: the feature split out of every customer's reason."""
    long = scores[["top_reason_1", "top_reason_2", "top_reason_3"]].stack().dropna()
    feature = long.astype("string").str.split("=", n=1).str[0].str.strip()
    per_customer = pd.DataFrame(
        {"row": long.index.get_level_values(0), "reason": feature.to_numpy()}
    ).drop_duplicates()
    counts = per_customer.groupby("reason").size().rename("customers").reset_index()
    counts = counts.sort_values(["customers", "reason"], ascending=[False, True], kind="stable")
    counts["share"] = counts["customers"] / len(scores)
    return counts.head(n).reset_index(drop=True)


def test_top_customers_pseudonymise_only_the_candidates_and_pick_the_same() -> None:
    """Many ties on both revenues (also nulls) at the cut: the same rows, in the same order,
    as pseudonymising every customer."""
    rng = np.random.default_rng(3)
    size = 3_000
    ltv = pd.DataFrame(
        {
            "customer_id": pd.Series([f"C{i:010d}" for i in range(size)], dtype="string"),
            "predicted_revenue": rng.choice([0.0, -0.0, 10.0, 25.5, 100.0, np.nan], size),
            "historical_revenue": rng.choice([0.0, 5.0, 7.5, np.nan], size),
        }
    )
    extra = pd.DataFrame({"customer_id": ltv["customer_id"].iloc[::7], "rfm_segment": "x"})
    for n in (0, 1, 3, 10, 500, 2_999, 3_000, 5_000):
        pd.testing.assert_frame_equal(
            top_customers(ltv, extra, SALT, n), _old_top_customers(ltv, extra, SALT, n)
        )


def test_reason_counts_are_those_of_splitting_every_reason() -> None:
    rng = np.random.default_rng(4)
    size = 2_000
    names = np.array(["recency_days=30", "recency_days=31", " frequency =2", "nps", "a=b=c", None])
    scores = pd.DataFrame(
        {f"top_reason_{k}": pd.Series(rng.choice(names, size), dtype="string") for k in (1, 2, 3)}
    )
    for n in (1, 3, 10):
        pd.testing.assert_frame_equal(reason_counts(scores, n), _old_reason_counts(scores, n))
