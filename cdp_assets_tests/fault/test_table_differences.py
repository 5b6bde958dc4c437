"""The table comparison the fault, skip and Celery tests share: equal tables, tables whose
averages differ in their last digits (the warehouse's parallel sums), and real differences."""

from __future__ import annotations

import pandas as pd

from cdp_assets_tests.fault.harness import table_differences


def _cohorts(average: list[str], month: list[str] | None = None) -> dict[str, pd.DataFrame]:
    return {
        "analytics.cohorts": pd.DataFrame(
            {
                "cohort_month": month or ["2026-10-01", "2026-11-01"],
                "average_value": average,
                "note": [None, "small"],
            }
        )
    }


def test_equal_tables_have_no_difference() -> None:
    assert table_differences(_cohorts(["281.68", "10"]), _cohorts(["281.68", "10"])) == []


def test_an_average_differing_in_its_last_digits_is_the_same_number() -> None:
    # 222.2801428571429 and 222.28014285714287: one sum in another order
    found = table_differences(
        _cohorts(["222.2801428571429", "10"]), _cohorts(["222.28014285714287", "10"])
    )
    assert found == []


def test_a_different_number_or_text_is_a_difference() -> None:
    assert table_differences(_cohorts(["222.2801", "10"]), _cohorts(["222.2802", "10"])) != []
    assert table_differences(_cohorts(["1", "10"]), _cohorts(["1", "10"], ["2026-10-01", "x"]))
    assert table_differences(_cohorts(["1", "10"]), _cohorts(["1", None])) != []
