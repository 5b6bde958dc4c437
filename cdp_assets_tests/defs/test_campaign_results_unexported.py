"""A campaign arm nobody was exported to (no consent on its channel: a brand without a
consent source) was reported with an uplift and a p-value as if the campaign had reached it."""

import datetime as dt

import pandas as pd

from cdp_assets.analytics.campaign_results import (
    NOTE_CONTROL,
    NOTE_NOT_EXPORTED,
    UPLIFT_COLUMNS,
    CampaignDesign,
)
from cdp_assets.defs.analytics.campaign_results import _results, _uplift_figures

DESIGN = CampaignDesign(
    name="winback",
    start=dt.date(2025, 1, 1),
    end=dt.date(2025, 1, 31),
    conversion_window_days=14,
    primary_metric="conversion",
    shares={"email": 0.4, "sms": 0.4, "control": 0.2},
    control_arm="control",
)
AT = pd.Timestamp("2025-01-10 12:00", tz="UTC")


def _inputs() -> dict[str, pd.DataFrame]:
    arms = ["email"] * 20 + ["sms"] * 20 + ["control"] * 10
    ids = [f"C{i:02d}" for i in range(len(arms))]
    assignments = pd.DataFrame(
        {"campaign": "winback", "customer_id": ids, "arm": arms, "assigned_at": AT}
    )
    buyers = ids[:8] + ids[20:30] + ids[40:41]  # some of every arm buy
    orders = pd.DataFrame(
        {
            "customer_id": buyers,
            "order_id": [f"O{i}" for i in range(len(buyers))],
            "ordered_at": AT + pd.Timedelta(days=2),
            "net_amount_base": 10.0,
            "is_purchase": True,
            "coupon_code": pd.Series([None] * len(buyers), dtype="string"),
        }
    )
    # The email arm was exported; the SMS arm's file had no row: nobody had an SMS opt-in.
    exported = pd.DataFrame({"campaign": "winback", "arm": "email", "customer_id": ids[:20]})
    events = pd.DataFrame(columns=["campaign", "customer_id", "event_type", "occurred_at"])
    return {"assignments": assignments, "exported": exported, "events": events, "orders": orders}


def test_an_arm_nobody_was_exported_to_has_no_uplift_and_says_why() -> None:
    results = _results([DESIGN], _inputs(), dt.date(2025, 3, 1), global_control_share=0.0)
    by_arm = results.set_index("arm")
    assert by_arm.loc["email", "exported"] == 20
    assert pd.notna(by_arm.loc["email", "primary_uplift"])
    assert by_arm.loc["sms", "exported"] == 0
    assert by_arm.loc["sms", "assigned"] == 20  # still counted: intention to treat
    assert by_arm.loc["sms", "note"] == NOTE_NOT_EXPORTED
    assert by_arm.loc["sms", list(UPLIFT_COLUMNS)].isna().all()
    assert by_arm.loc["control", "note"] == NOTE_CONTROL
    assert list(_uplift_figures(results)) == ["uplift/winback/email/conversion"]
