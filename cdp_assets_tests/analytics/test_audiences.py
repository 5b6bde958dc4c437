"""Audience members, membership history across runs, changes and size-jump warnings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from cdp_assets.analytics.audiences import (
    CHANGE_COLUMNS,
    MEMBERSHIP_COLUMNS,
    audience_frame,
    audience_members,
    size_jumps,
    update_membership,
)
from cdp_assets.config import AnalyticsConfig, ConfigError

D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)


def members(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["audience", "customer_id"])


def rows(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples, dates as ISO strings, for readable comparisons."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    return [tuple(r) for r in out.itertuples(index=False)]


# -- members ---------------------------------------------------------------------------------


@pytest.fixture
def customers() -> pd.DataFrame:
    features = pd.DataFrame(
        {
            "customer_id": ["C3", "C1", "C2", "C4"],
            "monetary": [2000.0, 600.0, 50.0, 0.0],
            "recency_days": pd.array([200, 400, 3, None], dtype="Int64"),
            "tenure_days": pd.array([900, 700, 20, None], dtype="Int64"),
            "hours_since_abandoned_cart": [np.nan, 5.0, 30.0, 24.0],
            "latest_nps": pd.array([9, 3, None, 6], dtype="Int64"),
            "loyalty_tier": pd.array(["gold", None, None, None], dtype="string"),
        }
    )
    rfm = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "monetary": [600.0, 50.0, 2000.0],  # already in the features: not joined again
            "rfm_segment": ["At Risk", "New Customers", "Can't Lose Them"],
        }
    )
    return audience_frame(features, rfm)


def test_audience_frame_joins_the_missing_rfm_columns(customers: pd.DataFrame) -> None:
    assert list(customers.columns)[-1] == "rfm_segment"
    assert customers["monetary"].tolist() == [2000.0, 600.0, 50.0, 0.0]
    assert customers["rfm_segment"].isna().tolist() == [False, False, False, True]


def test_default_audiences_pick_the_right_customers(customers: pd.DataFrame) -> None:
    result = audience_members(AnalyticsConfig().audiences, customers)
    assert list(result.columns) == ["audience", "customer_id"]
    assert rows(result) == [
        ("at_risk_high_spenders", "C1"),
        ("at_risk_high_spenders", "C3"),
        ("abandoned_cart_24h", "C1"),
        ("abandoned_cart_24h", "C4"),
        ("lapsed_vips", "C3"),  # gold, 200 days; C1 spent 600 (< 1000) and is not gold
        ("new_customers_30d", "C2"),
        ("detractors", "C1"),
        ("detractors", "C4"),
    ]
    assert str(result["audience"].dtype) == "string"


def test_no_member_gives_an_empty_frame_with_columns(customers: pd.DataFrame) -> None:
    result = audience_members([{"name": "none", "rule": "monetary > 1e9"}], customers)
    assert result.empty and list(result.columns) == ["audience", "customer_id"]


def test_a_bad_rule_is_a_config_error_naming_the_audience(customers: pd.DataFrame) -> None:
    audiences = [
        {"name": "ok", "rule": "monetary > 1"},
        {"name": "typo", "rule": "monetery > 1"},
    ]
    with pytest.raises(ConfigError, match=r"analytics.audiences\[1\] \(typo\): unknown column"):
        audience_members(audiences, customers)
    wrong_kind = [{"name": "wrong", "rule": "rfm_segment == 5"}]
    with pytest.raises(ConfigError, match=r"\[0\] \(wrong\): column 'rfm_segment' holds text"):
        audience_members(wrong_kind, customers)


# -- membership history ----------------------------------------------------------------------


def three_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    history, changes = update_membership(None, members([("vip", "C1"), ("vip", "C2")]), D1)
    history, changes = update_membership(
        history, members([("vip", "C1"), ("vip", "C3"), ("lapsed", "C2")]), D2, changes
    )
    history, changes = update_membership(
        history, members([("vip", "C1"), ("vip", "C2")]), D3, changes
    )
    return history, changes


def test_membership_history_over_three_runs() -> None:
    history, _ = three_runs()
    assert list(history.columns) == list(MEMBERSHIP_COLUMNS)
    assert rows(history) == [
        ("vip", "C1", "2024-05-01", "2024-05-01"),
        ("vip", "C2", "2024-05-01", "2024-05-01"),
        ("lapsed", "C2", "2024-05-02", "2024-05-02"),
        ("vip", "C1", "2024-05-01", "2024-05-02"),  # stays: entered_at unchanged
        ("vip", "C3", "2024-05-02", "2024-05-02"),
        ("vip", "C1", "2024-05-01", "2024-05-03"),
        ("vip", "C2", "2024-05-03", "2024-05-03"),  # came back: entered_at resets
    ]
    assert str(history["entered_at"].dtype) == "datetime64[us]"


def test_changes_keep_every_run() -> None:
    _, changes = three_runs()
    assert list(changes.columns) == list(CHANGE_COLUMNS)
    assert rows(changes) == [
        ("vip", "C1", "added", "2024-05-01"),
        ("vip", "C2", "added", "2024-05-01"),
        ("lapsed", "C2", "added", "2024-05-02"),
        ("vip", "C3", "added", "2024-05-02"),
        ("vip", "C2", "removed", "2024-05-02"),
        ("lapsed", "C2", "removed", "2024-05-03"),  # audience now empty
        ("vip", "C2", "added", "2024-05-03"),
        ("vip", "C3", "removed", "2024-05-03"),
    ]


def test_without_previous_changes_only_the_run_is_returned() -> None:
    history, _ = three_runs()
    _, changes = update_membership(history, members([("vip", "C1")]), dt.date(2024, 5, 4))
    assert rows(changes) == [("vip", "C2", "removed", "2024-05-04")]


def test_rerunning_a_day_is_idempotent() -> None:
    history, changes = three_runs()
    again_history, again_changes = update_membership(
        history, members([("vip", "C2"), ("vip", "C1")]), D3, changes
    )
    pdt.assert_frame_equal(again_history, history)
    pdt.assert_frame_equal(again_changes, changes)


def test_rerunning_a_day_with_new_members_replaces_its_rows() -> None:
    history, changes = three_runs()
    history, changes = update_membership(history, members([("vip", "C1")]), D3, changes)
    assert rows(history[history["as_of"] == pd.Timestamp(D3)]) == [
        ("vip", "C1", "2024-05-01", "2024-05-03")
    ]
    assert rows(changes[changes["as_of"] == pd.Timestamp(D3)]) == [
        ("lapsed", "C2", "removed", "2024-05-03"),
        ("vip", "C3", "removed", "2024-05-03"),
    ]
    assert len(changes) == 7


def test_history_read_back_from_the_warehouse_is_accepted() -> None:
    """Dates come back as timestamps (possibly tz-aware) and ids as objects."""
    history, changes = update_membership(None, members([("vip", "C1")]), D1)
    stored = history.astype({"audience": object, "customer_id": object})
    stored["as_of"] = stored["as_of"].dt.tz_localize("UTC")
    stored["entered_at"] = stored["entered_at"].astype(str)
    new_history, _ = update_membership(stored, members([("vip", "C1")]), D2, changes)
    assert rows(new_history)[-1] == ("vip", "C1", "2024-05-01", "2024-05-02")


# -- size jumps ------------------------------------------------------------------------------


def test_size_jumps_against_the_previous_run() -> None:
    history, _ = update_membership(
        None, members([("a", "C1"), ("a", "C2"), ("b", "C1"), ("b", "C2"), ("gone", "C9")]), D1
    )
    today = [("a", "C1"), ("a", "C3"), ("b", "C1"), ("b", "C2"), ("b", "C3"), ("b", "C4")]
    today += [("new", "C1"), ("new", "C2"), ("new", "C3")]
    history, _ = update_membership(history, members(today), D2)
    jumps = size_jumps(history, D2, warn_share=0.5, audiences=["a", "b", "empty"])
    assert list(jumps.columns) == ["audience", "previous_size", "size", "change_share", "warn"]
    assert jumps["audience"].tolist() == ["a", "b", "empty", "gone", "new"]
    assert jumps["previous_size"].tolist() == [2, 2, 0, 1, 0]
    assert jumps["size"].tolist() == [2, 4, 0, 0, 3]
    np.testing.assert_allclose(jumps["change_share"], [0.0, 1.0, np.nan, -1.0, np.nan])
    assert jumps["warn"].tolist() == [False, True, False, True, True]


def test_a_change_at_the_threshold_does_not_warn() -> None:
    history, _ = update_membership(None, members([("a", "C1"), ("a", "C2")]), D1)
    history, _ = update_membership(history, members([("a", "C1")]), D2)
    jumps = size_jumps(history, D2, warn_share=0.5)
    assert jumps["change_share"].tolist() == [-0.5]
    assert jumps["warn"].tolist() == [False]


def test_first_run_has_no_previous_size_and_no_warning() -> None:
    history, _ = update_membership(None, members([("a", "C1")]), D1)
    jumps = size_jumps(history, D1, warn_share=0.1)
    assert jumps["previous_size"].isna().all()
    assert jumps["size"].tolist() == [1]
    assert not jumps["warn"].any()


def test_predictive_audiences_use_model_scores() -> None:
    import datetime as dt

    from cdp_assets.analytics.audiences import (
        audience_frame,
        audience_members,
        score_frame,
        score_tables_used,
    )

    audiences = [
        {"name": "likely_to_churn", "rule": "churn_probability >= 0.6 and monetary > 100"},
        {"name": "due_soon", "rule": "days_to_next_order between 0 and 14 and p_alive > 0.5"},
        {"name": "big_spenders", "rule": "monetary > 100"},
    ]
    assert score_tables_used(audiences) == ["churn_scores", "customer_ltv"]
    assert score_tables_used(audiences[2:]) == []
    features = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "monetary": [150.0, 90.0, 300.0]}
    ).astype({"customer_id": "string"})
    churn = pd.DataFrame({"customer_id": ["a", "b", "c"], "churn_probability": [0.7, 0.9, 0.2]})
    ltv = pd.DataFrame(
        {
            "customer_id": ["a", "c"],
            "predicted_revenue": [10.0, 80.0],
            "p_alive": [0.4, 0.8],
            "expected_next_order_date": pd.to_datetime(["2026-11-25", "2026-12-01"]),
        }
    )
    scores = score_frame({"churn_scores": churn, "customer_ltv": ltv}, dt.date(2026, 11, 20))
    days = scores.set_index("customer_id")["days_to_next_order"]
    assert days.loc[["a", "c"]].tolist() == [5, 11] and pd.isna(days.loc["b"])
    members = audience_members(audiences, audience_frame(features, scores))
    got = members.groupby("audience")["customer_id"].apply(list).to_dict()
    assert got == {"likely_to_churn": ["a"], "due_soon": ["c"], "big_spenders": ["a", "c"]}
    uplift = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "expected_uplift": [0.08, -0.01, 0.02],
            "best_arm": ["coupon", None, "picks"],
            "uplift_decile": [1, 10, 4],
        }
    )
    persuadable = [{"name": "persuadable", "rule": "uplift_decile <= 3 and best_offer == 'coupon'"}]
    assert score_tables_used(persuadable) == ["uplift_scores"]
    frame = audience_frame(features, score_frame({"uplift_scores": uplift}, dt.date(2026, 11, 20)))
    assert audience_members(persuadable, frame)["customer_id"].tolist() == ["a"]
    # Before any model is promoted the scores are null and match nobody.
    empty = score_frame({}, dt.date(2026, 11, 20))
    members = audience_members(audiences + persuadable, audience_frame(features, empty))
    assert set(members["audience"]) == {"big_spenders"}
