"""The `by_reason` table of `ml.product_recommendations`' metadata."""

import pandas as pd

from cdp_assets.defs.ml.recommendations import _rows_by_reason


def test_rows_are_counted_by_the_first_word_of_their_reason() -> None:
    reasons = [
        "bought with SKU-1",
        "bought with SKU-2",
        "bought with SKU-1",
        "bought before",
        "viewed with SKU-3",
        "popular in the last 90 days",
        "popular in the last 90 days",
    ]
    recommendations = pd.DataFrame({"reason": pd.Series(reasons, dtype="string")})

    table = _rows_by_reason(recommendations)

    assert list(table.columns) == ["reason", "rows"]
    assert table.to_dict("records") == [
        {"reason": "bought", "rows": 4},
        {"reason": "popular", "rows": 2},
        {"reason": "viewed", "rows": 1},
    ]
