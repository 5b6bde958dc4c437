"""analytics.campaign_results: hand-counted figures, the statistics against independent
computations and published values, SRM, CUPED, interval coverage on simulated experiments."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cdp_assets.analytics.campaign_results import (
    CAMPAIGN_RESULT_COLUMNS,
    CAMPAIGN_RESULT_DTYPES,
    EVENT_COLUMNS,
    NOTE_CONTROL,
    NOTE_EMPTY_CONTROL,
    NOTE_FEW_CONVERTERS,
    NOTE_NO_CONTROL,
    NOTE_TOO_FEW,
    CampaignDesign,
    campaign_results,
    cumulative_conversion_curves,
    cumulative_conversion_plot,
    newcombe_difference,
    uplift_plot,
)

UPLIFT_COLUMNS = [
    "conversion_uplift",
    "conversion_uplift_low",
    "conversion_uplift_high",
    "conversion_p_value",
    "revenue_uplift",
    "revenue_uplift_low",
    "revenue_uplift_high",
    "revenue_p_value",
    "cuped_revenue_uplift",
    "cuped_revenue_uplift_low",
    "cuped_revenue_uplift_high",
    "cuped_revenue_p_value",
    "incremental_conversions",
    "incremental_revenue",
    "primary_uplift",
    "primary_low",
    "primary_high",
    "primary_p_value",
]

SPRING = CampaignDesign(
    name="spring",
    start=dt.date(2025, 3, 1),
    end=dt.date(2025, 3, 10),
    conversion_window_days=7,
    primary_metric="conversion",
    shares={"offer": 0.5, "control": 0.5},
    control_arm="control",
    coupon_codes={"offer": "SPRING10"},
)


def _utc(values: list[str]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601")).astype(
        "datetime64[us, UTC]"
    )


def _frame(columns: list[str], rows: list[tuple], times: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame[times] = _utc(frame[times].tolist())
    return frame


ASSIGNMENTS = _frame(
    ["campaign", "customer_id", "arm", "assigned_at"],
    [
        ("spring", "A", "offer", "2025-03-01 10:00"),
        ("spring", "B", "offer", "2025-03-02 12:00"),
        ("spring", "C", "offer", "2025-03-15 09:00"),  # window runs past as_of
        ("spring", "D", "control", "2025-03-01 08:00"),
        ("spring", "E", "control", "2025-03-03 08:00"),
        ("spring", "F", "control", "2025-03-05 08:00"),
        ("spring", "G", "offer", "2025-03-25 08:00"),  # after as_of
        ("spring", "A", "control", "2025-03-04 08:00"),  # re-assignment: the first one wins
        ("spring", "H", "mystery", "2025-03-02 08:00"),  # an arm the design does not plan
        ("other", "A", "offer", "2025-03-01 08:00"),  # a campaign not asked for
    ],
    "assigned_at",
)
ORDERS = _frame(
    ["customer_id", "order_id", "ordered_at", "net_amount_base", "is_purchase", "coupon_code"],
    [
        ("A", "o1", "2025-03-03 10:00", 50.0, True, "SPRING10"),  # in window, redeemed
        ("A", "o1", "2025-03-03 10:00", 50.0, True, "SPRING10"),  # the same order twice
        ("A", "o2", "2025-03-08 09:59:59", 20.0, True, None),  # last second of the window
        ("A", "o3", "2025-03-08 10:00", 999.0, True, None),  # just outside the window
        ("A", "o4", "2025-02-20 10:00", 30.0, True, None),  # before assignment: pre-period
        ("B", "o5", "2025-03-04 10:00", 40.0, False, "SPRING10"),  # not a purchase
        ("B", "o6", "2025-03-01 10:00", 15.0, True, None),  # before assignment: pre-period
        ("C", "o7", "2025-03-21 00:00", 70.0, True, None),  # in window, after as_of
        ("C", "o8", "2025-03-20 23:59", 25.0, True, "SPRING10"),  # in window, redeemed
        ("D", "o9", "2025-03-05 10:00", 10.0, True, "SPRING10"),  # control using the code
        ("F", "o10", "2025-03-06 00:00", None, True, None),  # a purchase without an amount
        ("X", "o11", "2025-03-05 10:00", 80.0, True, None),  # not assigned
        ("H", "o12", "2025-03-05 10:00", 80.0, True, None),  # unplanned arm
    ],
    "ordered_at",
)
ORDERS["coupon_code"] = ORDERS["coupon_code"].astype("string")
EVENTS = _frame(
    ["campaign", "customer_id", "event_type", "occurred_at"],
    [
        ("spring", "A", "send", "2025-03-01 11:00"),
        ("spring", "A", "delivered", "2025-03-01 11:01"),
        ("spring", "A", "open", "2025-03-01 12:00"),
        ("spring", "A", "open", "2025-03-02 12:00"),  # a second open, same customer
        ("spring", "A", "click", "2025-03-02 12:01"),
        ("spring", "A", "unsubscribe", "2025-03-25 12:00"),  # after as_of
        ("spring", "B", "send", "2025-03-02 13:00"),
        ("spring", "B", "delivered", "2025-03-02 13:01"),
        ("spring", "B", "complaint", "2025-03-02 14:00"),
        ("spring", "C", "send", "2025-03-15 10:00"),
        ("spring", "C", "bounce", "2025-03-15 10:01"),
        ("spring", "X", "send", "2025-03-02 13:00"),  # not assigned
        ("other", "A", "send", "2025-03-02 13:00"),  # another campaign
    ],
    "occurred_at",
)
EXPORTED = pd.DataFrame(
    [
        ("spring", "offer", "A"),
        ("spring", "offer", "A"),
        ("spring", "offer", "B"),
        ("spring", "offer", "C"),
        ("spring", "offer", "G"),  # assigned after as_of
        ("spring", "offer", "E"),  # a control customer in the offer's file
    ],
    columns=["campaign", "arm", "customer_id"],
)


def _spring(as_of: dt.date) -> pd.DataFrame:
    return campaign_results([SPRING], ASSIGNMENTS, EXPORTED, EVENTS, ORDERS, as_of).set_index("arm")


def test_columns_are_documented_and_typed() -> None:
    frame = campaign_results([SPRING], ASSIGNMENTS, EXPORTED, EVENTS, ORDERS, dt.date(2025, 3, 20))
    assert list(frame.columns) == list(CAMPAIGN_RESULT_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == CAMPAIGN_RESULT_DTYPES
    assert all(text for _, text in CAMPAIGN_RESULT_COLUMNS.values())


def test_hand_counted_figures() -> None:
    frame = _spring(dt.date(2025, 3, 20))
    assert frame.index.tolist() == ["offer", "control"]  # the order of shares
    offer, control = frame.loc["offer"], frame.loc["control"]
    assert frame["is_control"].tolist() == [False, True]
    assert frame["assigned"].tolist() == [3, 3]  # G after as_of, A's re-assignment ignored
    assert frame["observed_share"].tolist() == [0.5, 0.5]
    assert frame["unplanned_assigned"].tolist() == [1, 1]
    assert frame["exported"].tolist() == [4, 0]  # A, B, C and E (G assigned after as_of)
    assert frame["exported_off_arm"].tolist() == [0, 1]  # E
    engagement = ["sent", "delivered", "opened", "clicked", "bounced", "unsubscribed"]
    assert offer[engagement].tolist() == [3, 2, 1, 1, 1, 0]
    assert offer["complained"] == 1
    assert control[engagement + ["complained"]].tolist() == [0] * 7
    assert offer["delivery_rate"] == pytest.approx(2 / 3)
    assert offer["open_rate"] == 0.5 and offer["click_rate"] == 0.5
    # no division by zero: nothing sent or delivered to the control
    assert control[["delivery_rate", "open_rate", "click_rate"]].isna().all()
    # offer: A (50 + 20; o1 once, o3 at the window's end, o4 before), C (25; o7 after as_of)
    assert offer["converters"] == 2 and offer["revenue"] == 95.0
    # control: D (10) and F (a purchase without an amount)
    assert control["converters"] == 2 and control["revenue"] == 10.0
    assert frame["conversion_rate"].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert frame["revenue_per_assigned"].tolist() == pytest.approx([95 / 3, 10 / 3])
    assert frame["pre_period_revenue_per_assigned"].tolist() == pytest.approx([15.0, 0.0])
    assert offer["coupon_code"] == "SPRING10" and pd.isna(control["coupon_code"])
    assert offer["coupon_redemptions"] == 2  # o1 (once) and o8; not B's cancelled o5
    assert pd.isna(control["coupon_redemptions"])  # no code for the control (D's o9)
    assert frame["window_complete"].tolist() == [False, True]  # C's window ends on 22 March
    assert frame["assignment_open"].tolist() == [False, False]
    assert offer["conversion_uplift"] == 0.0
    assert offer["revenue_uplift"] == pytest.approx(85 / 3)
    assert offer["incremental_revenue"] == pytest.approx(85.0)
    assert offer["incremental_conversions"] == 0.0
    assert frame["srm_p_value"].tolist() == [1.0, 1.0]
    assert frame["srm_detected"].tolist() == [False, False]
    assert offer["note"] == NOTE_FEW_CONVERTERS and control["note"] == NOTE_CONTROL
    assert control[UPLIFT_COLUMNS].isna().all()
    primary = ["primary_uplift", "primary_low", "primary_high", "primary_p_value"]
    conversion = [
        "conversion_uplift",
        "conversion_uplift_low",
        "conversion_uplift_high",
        "conversion_p_value",
    ]
    assert offer[primary].tolist() == offer[conversion].tolist()


def test_facts_after_as_of_are_ignored() -> None:
    frame = _spring(dt.date(2025, 3, 5))  # the cutoff is 6 March 00:00 UTC
    assert frame["assigned"].tolist() == [2, 3]  # C is assigned on 15 March
    assert frame["converters"].tolist() == [1, 1]  # A's o1; D's o9 (F's o10 is at the cutoff)
    assert frame["revenue"].tolist() == [50.0, 10.0]
    assert frame["sent"].tolist() == [2, 0]
    assert frame["bounced"].tolist() == [0, 0]
    assert frame["exported"].tolist() == [3, 0]  # A, B, E
    assert frame["window_complete"].tolist() == [False, False]
    assert frame["assignment_open"].tolist() == [True, True]


def test_revenue_is_the_primary_metric_when_asked() -> None:
    design = CampaignDesign(
        "spring", SPRING.start, SPRING.end, 7, "revenue", SPRING.shares, "control", {}
    )
    offer = campaign_results(
        [design], ASSIGNMENTS, EXPORTED, EVENTS, ORDERS, dt.date(2025, 3, 20)
    ).iloc[0]
    assert offer["primary_uplift"] == pytest.approx(85 / 3)
    assert offer["primary_low"] == offer["revenue_uplift_low"]
    assert offer["primary_high"] == offer["revenue_uplift_high"]
    assert offer["primary_p_value"] == offer["revenue_p_value"]
    assert pd.isna(offer["coupon_redemptions"])  # no codes in this design


# ----------------------------------------------------------------------------- statistics

TWO_ARMS = CampaignDesign(
    "test", dt.date(2025, 1, 1), dt.date(2025, 1, 31), 14, "conversion",
    {"treatment": 0.5, "control": 0.5}, "control", {},
)  # fmt: skip
ASSIGNED_AT = pd.Timestamp("2025-01-10 12:00", tz="UTC")


def _experiment_frames(
    revenue: dict[str, np.ndarray], pre: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assignments of one campaign and orders giving each customer exactly `revenue` in the
    window (one order if positive) and `pre` in the pre-period."""
    arms = np.concatenate([np.full(len(v), arm) for arm, v in revenue.items()])
    y = np.concatenate(list(revenue.values()))
    x = np.concatenate([pre[arm] for arm in revenue])
    ids = pd.Series(np.arange(len(y))).map("c{:06d}".format)
    assignments = pd.DataFrame(
        {"campaign": "test", "customer_id": ids, "arm": arms, "assigned_at": ASSIGNED_AT}
    )
    bought = y > 0
    had = x > 0
    orders = pd.DataFrame(
        {
            "customer_id": pd.concat([ids[bought], ids[had]], ignore_index=True),
            "order_id": [f"w{i}" for i in range(bought.sum())]
            + [f"p{i}" for i in range(had.sum())],
            "ordered_at": np.concatenate(
                [
                    np.full(bought.sum(), ASSIGNED_AT + pd.Timedelta(days=3)),
                    np.full(had.sum(), ASSIGNED_AT - pd.Timedelta(days=30)),
                ]
            ),
            "net_amount_base": np.concatenate([y[bought], x[had]]),
            "is_purchase": True,
            "coupon_code": pd.Series(pd.NA, index=range(bought.sum() + had.sum()), dtype="string"),
        }
    )
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], utc=True)
    return assignments, orders


def _run(design: CampaignDesign, assignments: pd.DataFrame, orders: pd.DataFrame, **kw):
    empty_exports = pd.DataFrame(columns=["campaign", "arm", "customer_id"])
    empty_events = pd.DataFrame(columns=["campaign", "customer_id", "event_type", "occurred_at"])
    return campaign_results(
        [design] if isinstance(design, CampaignDesign) else design,
        assignments,
        empty_exports,
        empty_events,
        orders,
        dt.date(2025, 6, 30),
        **kw,
    )


def test_newcombe_interval_matches_the_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10
    published = {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
        (6, 7, 2, 7): (0.0582, 0.8062),
        (5, 56, 0, 29): (-0.0381, 0.1926),
        (0, 10, 0, 20): (-0.1611, 0.2775),
        (10, 10, 0, 20): (0.6791, 1.0000),
    }
    k1, n1, k0, n0 = (np.array(column) for column in zip(*published, strict=True))
    _, low, high = newcombe_difference(k1, n1, k0, n0)
    expected = np.array(list(published.values()))
    assert low == pytest.approx(expected[:, 0], abs=6e-5)
    assert high == pytest.approx(expected[:, 1], abs=6e-5)


def test_tests_match_independent_computations() -> None:
    rng = np.random.default_rng(7)
    n1, n0 = 900, 700
    pre = {"treatment": rng.gamma(2.0, 20.0, n1), "control": rng.gamma(2.0, 20.0, n0)}
    revenue = {
        arm: np.where(rng.random(len(x)) < rate, 0.5 * x + rng.gamma(2.0, 15.0, len(x)), 0.0)
        for (arm, x), rate in zip(pre.items(), (0.30, 0.25), strict=True)
    }
    assignments, orders = _experiment_frames(revenue, pre)
    row = _run(TWO_ARMS, assignments, orders).set_index("arm").loc["treatment"]
    y1, y0 = revenue["treatment"], revenue["control"]

    # two-proportion z-test by hand, pooled rate
    k1, k0 = (y1 > 0).sum(), (y0 > 0).sum()
    assert row["converters"] == k1
    p1, p0, pooled = k1 / n1, k0 / n0, (k1 + k0) / (n1 + n0)
    z = (p1 - p0) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    assert row["conversion_uplift"] == pytest.approx(p1 - p0)
    assert row["conversion_p_value"] == pytest.approx(2 * (1 - stats.norm.cdf(abs(z))))

    # Welch against scipy on the per-customer revenues (non-buyers 0)
    welch = stats.ttest_ind(y1, y0, equal_var=False)
    interval = welch.confidence_interval(0.95)
    assert row["revenue_uplift"] == pytest.approx(y1.mean() - y0.mean())
    assert row["revenue_p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
    assert row["revenue_uplift_low"] == pytest.approx(interval.low, rel=1e-9)
    assert row["revenue_uplift_high"] == pytest.approx(interval.high, rel=1e-9)

    # CUPED: theta over both arms, then Welch on the adjusted values
    x1, x0 = pre["treatment"], pre["control"]
    x, y = np.concatenate([x1, x0]), np.concatenate([y1, y0])
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    adjusted = stats.ttest_ind(
        y1 - theta * (x1 - x.mean()), y0 - theta * (x0 - x.mean()), equal_var=False
    )
    cuped_interval = adjusted.confidence_interval(0.95)
    assert row["cuped_revenue_p_value"] == pytest.approx(adjusted.pvalue, rel=1e-9)
    assert row["cuped_revenue_uplift_low"] == pytest.approx(cuped_interval.low, rel=1e-9)
    assert row["cuped_revenue_uplift_high"] == pytest.approx(cuped_interval.high, rel=1e-9)
    assert row["pre_period_revenue_per_assigned"] == pytest.approx(x1.mean())

    # another confidence level moves the intervals the same way
    row90 = _run(TWO_ARMS, assignments, orders, confidence=0.9).iloc[0]
    assert row90["revenue_uplift_low"] == pytest.approx(welch.confidence_interval(0.9).low)


def test_sample_ratio_mismatch() -> None:
    design = CampaignDesign(
        "test", dt.date(2025, 1, 1), dt.date(2025, 1, 31), 14, "conversion",
        {"a": 0.5, "b": 0.5}, None, {},
    )  # fmt: skip
    for counts, detected in (((1000, 1000), False), ((1000, 1200), True)):
        revenue = {arm: np.zeros(n) for arm, n in zip("ab", counts, strict=True)}
        assignments, orders = _experiment_frames(revenue, revenue)
        frame = _run(design, assignments, orders)
        expected = stats.chisquare(counts, np.full(2, sum(counts) / 2)).pvalue
        assert frame["srm_p_value"].tolist() == pytest.approx([expected] * 2)
        assert frame["srm_detected"].tolist() == [detected] * 2
    assert expected < 1e-4  # 1,000 vs 1,200: chi2 = 18.2


def test_cuped_narrows_the_interval_and_finds_the_effect() -> None:
    rng = np.random.default_rng(11)
    n, effect = 4000, 5.0
    level = {arm: rng.gamma(2.0, 25.0, n) for arm in ("treatment", "control")}
    pre = {arm: v + rng.normal(0, 10, n).clip(-v + 1) for arm, v in level.items()}
    revenue = {
        "treatment": level["treatment"] + effect + rng.normal(0, 10, n),
        "control": level["control"] + rng.normal(0, 10, n),
    }
    revenue = {arm: v.clip(0.01) for arm, v in revenue.items()}
    assignments, orders = _experiment_frames(revenue, pre)
    row = _run(TWO_ARMS, assignments, orders).iloc[0]
    plain = row["revenue_uplift_high"] - row["revenue_uplift_low"]
    cuped = row["cuped_revenue_uplift_high"] - row["cuped_revenue_uplift_low"]
    assert cuped < 0.5 * plain
    assert row["cuped_revenue_uplift_low"] < effect < row["cuped_revenue_uplift_high"]
    assert row["cuped_revenue_uplift"] == pytest.approx(effect, abs=1.0)


def _simulated_experiments(
    rng: np.random.Generator, experiments: int, per_arm: int, rates: tuple[float, float]
) -> tuple[list[CampaignDesign], pd.DataFrame, pd.DataFrame, float]:
    """`experiments` campaigns of two equal arms, treatment converting at rates[0], control at
    rates[1], buyers spending lognormal amounts (treatment 10 % more). Returns the designs,
    assignments, orders and the true revenue uplift per assigned customer."""
    designs = [
        CampaignDesign(
            f"e{i:03d}",
            dt.date(2025, 1, 1),
            dt.date(2025, 1, 31),
            14,
            "conversion",
            {"treatment": 0.5, "control": 0.5},
            "control",
            {},
        )  # fmt: skip
        for i in range(experiments)
    ]
    size = experiments * 2 * per_arm
    treated = np.tile(np.repeat([True, False], per_arm), experiments)
    ids = pd.Series(np.arange(size)).map("c{:07d}".format)
    assignments = pd.DataFrame(
        {
            "campaign": np.repeat([d.name for d in designs], 2 * per_arm),
            "customer_id": ids,
            "arm": np.where(treated, "treatment", "control"),
            "assigned_at": ASSIGNED_AT + pd.to_timedelta(rng.integers(0, 86_400, size), "s"),
        }
    )
    bought = rng.random(size) < np.where(treated, rates[0], rates[1])
    mu, sigma, lift = 3.5, 0.8, 1.1
    amount = rng.lognormal(mu, sigma, size) * np.where(treated, lift, 1.0)
    orders = pd.DataFrame(
        {
            "customer_id": ids[bought].to_numpy(),
            "order_id": ids[bought].to_numpy(),
            "ordered_at": assignments["assigned_at"][bought].reset_index(drop=True)
            + pd.to_timedelta(rng.integers(0, 13 * 86_400, bought.sum()), "s"),
            "net_amount_base": amount[bought],
            "is_purchase": True,
            "coupon_code": pd.Series(pd.NA, index=range(bought.sum()), dtype="string"),
        }
    )
    mean_amount = np.exp(mu + sigma**2 / 2)
    true_revenue = rates[0] * lift * mean_amount - rates[1] * mean_amount
    return designs, assignments, orders, true_revenue


def test_intervals_cover_the_true_uplift() -> None:
    rates = (0.12, 0.10)
    designs, assignments, orders, true_revenue = _simulated_experiments(
        np.random.default_rng(2025), experiments=400, per_arm=600, rates=rates
    )
    frame = _run(designs, assignments, orders)
    treated = frame[~frame["is_control"]]
    assert len(treated) == 400
    true_conversion = rates[0] - rates[1]
    covered = (treated["conversion_uplift_low"] <= true_conversion) & (
        true_conversion <= treated["conversion_uplift_high"]
    )
    assert 0.92 <= covered.mean() <= 0.98
    covered = (treated["revenue_uplift_low"] <= true_revenue) & (
        true_revenue <= treated["revenue_uplift_high"]
    )
    assert 0.92 <= covered.mean() <= 0.98


# ----------------------------------------------------------------------------- edge cases


def test_no_control_arm_and_an_empty_control_arm_give_null_uplifts() -> None:
    no_control = CampaignDesign(
        "no-control", dt.date(2025, 1, 1), dt.date(2025, 1, 31), 14, "conversion",
        {"a": 0.5, "b": 0.5}, None, {},
    )  # fmt: skip
    empty_control = CampaignDesign(
        "empty-control", dt.date(2025, 1, 1), dt.date(2025, 1, 31), 14, "revenue",
        {"a": 0.8, "control": 0.2}, "control", {},
    )  # fmt: skip
    assignments = pd.DataFrame(
        {
            "campaign": ["no-control"] * 4 + ["empty-control"] * 3,
            "customer_id": list("pqrsPQR"),
            "arm": ["a", "a", "b", "b", "a", "a", "a"],
            "assigned_at": ASSIGNED_AT,
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["p", "P"],
            "order_id": ["1", "2"],
            "ordered_at": [ASSIGNED_AT + pd.Timedelta(days=1)] * 2,
            "net_amount_base": [10.0, 20.0],
            "is_purchase": [True, True],
            "coupon_code": pd.Series([None, None], dtype="string"),
        }
    )
    frame = _run([no_control, empty_control], assignments, orders)
    assert frame[["campaign", "arm"]].values.tolist() == [
        ["no-control", "a"],
        ["no-control", "b"],
        ["empty-control", "a"],
        ["empty-control", "control"],
    ]
    assert frame[UPLIFT_COLUMNS].isna().all().all()
    assert frame["note"].tolist() == [NOTE_NO_CONTROL] * 2 + [NOTE_EMPTY_CONTROL] * 2
    assert frame["assigned"].tolist() == [2, 2, 3, 0]
    assert frame["conversion_rate"].tolist()[:3] == pytest.approx([0.5, 0.0, 1 / 3])
    assert pd.isna(frame["conversion_rate"].iloc[3])  # nobody assigned: no rate
    assert pd.isna(frame["revenue_per_assigned"].iloc[3])
    # 3 vs 0 against 80/20: chi2 = 0.75, p = 0.386
    assert frame["srm_p_value"].iloc[2] == pytest.approx(stats.chisquare([3, 0], [2.4, 0.6]).pvalue)


def test_a_single_treated_customer_has_no_revenue_interval() -> None:
    revenue = {"treatment": np.array([30.0]), "control": np.array([0.0, 10.0, 0.0])}
    assignments, orders = _experiment_frames(revenue, {k: v * 0 for k, v in revenue.items()})
    row = _run(TWO_ARMS, assignments, orders).iloc[0]
    assert row["note"] == NOTE_TOO_FEW
    assert row["revenue_uplift"] == pytest.approx(30.0 - 10 / 3)
    assert pd.isna(row["revenue_uplift_low"]) and pd.isna(row["revenue_p_value"])
    assert pd.isna(row["cuped_revenue_uplift_low"])
    assert row["conversion_uplift"] == pytest.approx(1 - 1 / 3)
    assert row["conversion_uplift_low"] < row["conversion_uplift"] < row["conversion_uplift_high"]


def test_empty_inputs_give_an_empty_typed_frame() -> None:
    empty = pd.DataFrame()
    frame = campaign_results([], empty, empty, empty, empty, dt.date(2025, 1, 1))
    assert frame.empty
    assert {c: str(t) for c, t in frame.dtypes.items()} == CAMPAIGN_RESULT_DTYPES
    # a design without any facts yet: its arms, zero counts, null rates and uplifts
    frame = campaign_results([SPRING], empty, empty, empty, empty, dt.date(2025, 3, 1))
    assert {c: str(t) for c, t in frame.dtypes.items()} == CAMPAIGN_RESULT_DTYPES
    assert frame["arm"].tolist() == ["offer", "control"]
    assert frame["assigned"].tolist() == [0, 0]
    assert frame[["observed_share", "conversion_rate", "srm_p_value"]].isna().all().all()
    assert frame[UPLIFT_COLUMNS].isna().all().all()
    assert frame["note"].tolist() == [NOTE_EMPTY_CONTROL] * 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shares": {"a": 0.5, "control": 0.4}}, "sum"),
        ({"control_arm": "nobody"}, "control arm"),
        ({"coupon_codes": {"ghost": "X"}}, "unknown arms"),
        ({"conversion_window_days": 0}, "window"),
    ],
)
def test_inconsistent_designs_are_refused(change: dict, message: str) -> None:
    fields = {
        "name": "bad",
        "start": dt.date(2025, 1, 1),
        "end": dt.date(2025, 1, 31),
        "conversion_window_days": 7,
        "primary_metric": "conversion",
        "shares": {"a": 0.5, "control": 0.5},
        "control_arm": "control",
        "coupon_codes": {},
    }
    empty = pd.DataFrame()
    with pytest.raises(ValueError, match=message):
        campaign_results(
            [CampaignDesign(**{**fields, **change})],
            empty,
            empty,
            empty,
            empty,
            dt.date(2025, 2, 1),
        )


# ----------------------------------------------------------------------------- plots


def test_cumulative_curves_follow_the_observed_customers() -> None:
    curves = cumulative_conversion_curves([SPRING], ASSIGNMENTS, ORDERS, dt.date(2025, 3, 20))
    offer = curves[curves["arm"] == "offer"].set_index("day")
    assert offer.index.tolist() == list(range(8))
    # A buys exactly 2 days after assignment (converted within 3 days, not 2); C buys 5 days
    # 15 hours after, but only 5 full days of C have been observed by the end of as_of
    assert offer.loc[0, ["observed", "converted"]].tolist() == [3, 0]
    assert offer.loc[2, ["observed", "converted"]].tolist() == [3, 0]
    assert offer.loc[3, ["observed", "converted"]].tolist() == [3, 1]
    assert offer.loc[5, "share"] == pytest.approx(1 / 3)
    assert offer.loc[6, ["observed", "converted"]].tolist() == [2, 1]  # A and B only


def _is_png(markdown: str, title: str) -> bool:
    prefix = f"![{title}](data:image/png;base64,"
    return markdown.startswith(prefix) and base64.b64decode(markdown[len(prefix) : -1])[:4] == (
        b"\x89PNG"
    )


def test_plots_are_markdown_pngs() -> None:
    results = campaign_results(
        [SPRING], ASSIGNMENTS, EXPORTED, EVENTS, ORDERS, dt.date(2025, 3, 20)
    )
    assert _is_png(uplift_plot(results), "Campaign uplift")
    assert _is_png(uplift_plot(results.iloc[0:0]), "Campaign uplift")
    assert _is_png(
        cumulative_conversion_plot([SPRING], ASSIGNMENTS, ORDERS, dt.date(2025, 3, 20)),
        "Cumulative conversion by arm",
    )


def test_vectorised_join_matches_a_plain_merge() -> None:
    """Random overlapping campaigns, re-assignments, duplicate orders and events: the figures
    equal those of a straightforward pandas merge of every order with every assignment."""
    rng = np.random.default_rng(3)
    designs = [
        CampaignDesign(
            f"k{i}",
            dt.date(2025, 1, 1),
            dt.date(2025, 3, 1),
            window,
            "conversion",
            {"x": 0.4, "y": 0.4, "control": 0.2},
            "control",
            {"x": f"X{i}", "y": "Y"},
        )  # fmt: skip
        for i, window in enumerate((7, 14, 30))
    ]
    n_rows, n_customers = 3000, 1500
    start = pd.Timestamp("2025-01-01", tz="UTC")

    def instants(size: int, days: int) -> pd.Series:
        return start + pd.to_timedelta(rng.integers(-60 * 86_400, days * 86_400, size), "s")

    customers = pd.Series(np.arange(n_customers)).map("u{:05d}".format).to_numpy()
    assignments = pd.DataFrame(
        {
            "campaign": rng.choice(["k0", "k1", "k2", "zz"], n_rows),
            "customer_id": rng.choice(customers, n_rows),
            "arm": rng.choice(["x", "y", "control"], n_rows, p=[0.4, 0.4, 0.2]),
            "assigned_at": instants(n_rows, 60),
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": rng.choice(customers, 4 * n_rows),
            "order_id": [f"o{i}" for i in range(4 * n_rows)],
            "ordered_at": instants(4 * n_rows, 120),
            "net_amount_base": rng.gamma(2.0, 30.0, 4 * n_rows).round(2),
            "is_purchase": rng.random(4 * n_rows) < 0.9,
            "coupon_code": pd.Series(
                rng.choice(np.array(["X0", "X1", "Y", None], dtype=object), 4 * n_rows),
                dtype="string",
            ),
        }
    )
    orders = pd.concat([orders, orders.sample(200, random_state=1)], ignore_index=True)
    events = pd.DataFrame(
        {
            "campaign": rng.choice(["k0", "k1", "k2"], 4 * n_rows),
            "customer_id": rng.choice(customers, 4 * n_rows),
            "event_type": rng.choice(list(EVENT_COLUMNS), 4 * n_rows),
            "occurred_at": instants(4 * n_rows, 120),
        }
    )
    as_of = dt.date(2025, 3, 15)
    empty = pd.DataFrame(columns=["campaign", "arm", "customer_id"])
    got = campaign_results(designs, assignments, empty, events, orders, as_of, 90)

    cutoff = pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    first = (
        assignments[(assignments["assigned_at"] < cutoff) & (assignments["campaign"] != "zz")]
        .sort_values("assigned_at", kind="stable")
        .drop_duplicates(["campaign", "customer_id"])
    )
    windows = {d.name: pd.Timedelta(days=d.conversion_window_days) for d in designs}
    codes = {(d.name, arm): code for d in designs for arm, code in d.coupon_codes.items()}
    purchases = orders[orders["is_purchase"] & (orders["ordered_at"] < cutoff)].drop_duplicates()
    pairs = first.merge(purchases, on="customer_id")
    end = pairs["assigned_at"] + pairs["campaign"].map(windows)
    in_window = pairs[(pairs["ordered_at"] >= pairs["assigned_at"]) & (pairs["ordered_at"] < end)]
    pre = pairs[
        (pairs["ordered_at"] < pairs["assigned_at"])
        & (pairs["ordered_at"] >= pairs["assigned_at"] - pd.Timedelta(days=90))
    ]
    keys = ["campaign", "arm"]
    redeemed = in_window[
        in_window["coupon_code"].fillna("-").to_numpy(dtype=object)
        == np.array(
            [codes.get(k, "") for k in zip(in_window["campaign"], in_window["arm"], strict=True)]
        )
    ]
    seen = events[events["occurred_at"] < cutoff].merge(first, on=["campaign", "customer_id"])
    expected = pd.DataFrame(
        {
            "assigned": first.groupby(keys).size(),
            "converters": in_window.groupby(keys)["customer_id"].nunique(),
            "revenue": in_window.groupby(keys)["net_amount_base"].sum(),
            "pre": pre.groupby(keys)["net_amount_base"].sum(),
            "coupon_redemptions": redeemed.groupby(keys).size(),
            "opened": seen[seen["event_type"] == "open"].groupby(keys)["customer_id"].nunique(),
        }
    ).fillna(0)
    actual = got.set_index(keys)
    actual["pre"] = actual["pre_period_revenue_per_assigned"] * actual["assigned"]
    assert len(expected) == 9 and expected["converters"].sum() > 100
    for column in expected:
        assert actual.loc[expected.index, column].fillna(0).to_numpy(dtype=float) == (
            pytest.approx(expected[column].to_numpy(dtype=float))
        ), column


def test_the_marketing_programme_compares_everyone_with_the_global_control_group() -> None:
    from cdp_assets.analytics.campaign_results import PROGRAMME, marketing_programme

    design = CampaignDesign(
        name="a",
        start=dt.date(2026, 9, 1),
        end=dt.date(2026, 9, 30),
        conversion_window_days=14,
        primary_metric="conversion",
        shares={"offer": 0.8, "control": 0.2},
        control_arm="control",
    )
    later = dataclasses.replace(design, name="b", conversion_window_days=21)
    at = pd.Timestamp("2026-09-02", tz="UTC")
    assignments = pd.DataFrame(
        {
            "campaign": ["a", "a", "a", "b", "b"],
            "customer_id": ["c1", "c2", "c3", "c1", "c4"],
            "arm": ["offer", "control", "global_control", "offer", "global_control"],
            "assigned_at": [at, at, at, at + pd.Timedelta(days=5), at],
        }
    )
    assert marketing_programme([design], assignments, 0.0) is None
    programme, rows = marketing_programme([design, later], assignments, 0.05)
    assert programme.name == PROGRAMME and programme.conversion_window_days == 21
    assert programme.shares == {"marketed": 0.95, "global_control": 0.05}
    assert programme.control_arm == "global_control"
    arms = rows.set_index("customer_id")["arm"].to_dict()
    assert arms == {
        "c1": "marketed",
        "c2": "marketed",
        "c3": "global_control",
        "c4": "global_control",
    }
    assert (rows["assigned_at"] == at).all()  # c1's first assignment
