"""The table comparison the fault, skip and Celery tests share: equal tables, tables whose
averages differ in their last digits (the warehouse's parallel sums), and real differences."""

from __future__ import annotations

import pandas as pd

from cdp_assets_tests.fault.harness import _canonical_order, table_differences


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


def test_rows_put_in_canonical_order_stay_paired_when_a_number_differs_in_its_last_digits() -> None:
    # Snapshots order rows by a hash of their text; a last-digit difference must not move a
    # row to another place, or every row after it compares with the wrong one.
    months = [f"2026-{m:02d}-01" for m in range(1, 11)]
    values = [str(100 + m) for m in range(10)]
    noisy = [*values[:3], "222.2801428571429", *values[4:]]
    other = [*values[:3], "222.28014285714287", *values[4:]]

    def snapshot(average: list[str]) -> dict[str, pd.DataFrame]:
        frame = pd.DataFrame({"cohort_month": months, "average_value": average})
        return {"analytics.cohorts": _canonical_order(frame)}

    assert table_differences(snapshot(noisy), snapshot(other)) == []
    changed = [*values[:3], "222.2802", *values[4:]]
    assert table_differences(snapshot(noisy), snapshot(changed)) != []
