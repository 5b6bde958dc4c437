"""The audience sizes table and the size-jump check's figures."""

from __future__ import annotations

import pandas as pd

from cdp_assets.defs.activation.audiences import size_table


def test_changes_read_as_signed_percentages_and_new_audiences_say_so() -> None:
    jumps = pd.DataFrame(
        {
            "audience": pd.array(["likely_churners", "vip", "lapsed", "empty"], dtype="string"),
            "previous_size": pd.array([0, 1000, 410, 0], dtype="Int64"),
            "size": [1378, 1135, 300, 0],
            "change_share": [float("nan"), 0.135, -110 / 410, float("nan")],
            "warn": [True, False, True, False],
        }
    )
    table = size_table(jumps)
    assert table.columns.tolist() == ["audience", "previous_size", "size", "change", "warn"]
    assert table["change"].tolist() == ["new", "+13.5 %", "-26.8 %", "0 %"]
    first_run = jumps.assign(previous_size=pd.array([None] * 4, dtype="Int64"))
    assert size_table(first_run)["change"].tolist() == ["", "", "", ""]
