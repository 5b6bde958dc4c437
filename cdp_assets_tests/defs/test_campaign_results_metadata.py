"""Campaign results as the metadata shows them: each uplift beside the metric it measures."""

from __future__ import annotations

import pandas as pd

from cdp_assets.defs.analytics.campaign_results import _uplift_figures, results_table


def _results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign": ["autumn_winback", "vip_early_access"],
            "arm": ["personalised", "offer"],
            "primary_metric": ["conversion", "revenue"],
            "assigned": [576, 243],
            "primary_uplift": [0.013712, 7.483111],
            "srm_detected": [False, False],
        }
    )


def test_each_uplift_is_shown_with_its_metric() -> None:
    table = results_table(_results())
    assert table.columns.tolist() == [
        "campaign",
        "arm",
        "primary_metric",
        "assigned",
        "primary_uplift",
    ]
    assert table["primary_uplift"].tolist() == [0.0137, 7.4831]
    assert _uplift_figures(_results()) == {
        "uplift/autumn_winback/personalised/conversion": 0.013712,
        "uplift/vip_early_access/offer/revenue": 7.483111,
    }
