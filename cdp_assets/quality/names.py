"""Person and place names: trimmed, NFC, internal whitespace collapsed, case and script kept.

Names are never re-cased or transliterated: "McDonald", "van der Berg", "王小明" and "ÖZTÜRK"
reach the profile as written; matching code compares case-folded keys of its own.
"""

from __future__ import annotations

import pandas as pd

from cdp_assets.quality.text import clean_text

# Canonical string fields that hold names or address lines: whitespace runs collapse to one
# space. Other string fields (comments, URLs, categories) are only trimmed.
NAME_LIKE_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "full_name",
        "street",
        "city",
        "region",
        "loyalty_tier",
        "product_name",
        "category",
        "purchase_for",
        "source",
    }
)


def clean_name(series: pd.Series) -> pd.Series:
    """A name column: trimmed, NFC, whitespace runs collapsed; empty becomes null."""
    return clean_text(series, collapse_whitespace=True)
