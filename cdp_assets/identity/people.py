"""Could two records with these first names be the same person? Used to tell a household's
shared landline from one person's two records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from cdp_assets.identity.name_keys import match_key, nickname_equivalent

SIMILAR_NAME = 0.85  # Jaro-Winkler similarity at which two spellings are one name


def _same_name(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise over two name Series: similar spelling or nickname forms of one name."""
    ka, kb = match_key(a), match_key(b)
    out = np.zeros(len(a), dtype=bool)
    both = np.flatnonzero((ka.notna() & kb.notna()).to_numpy())
    if len(both) == 0:
        return out
    x, y = ka.iloc[both].to_numpy(dtype=object), kb.iloc[both].to_numpy(dtype=object)
    similar = cpdist(x, y, scorer=JaroWinkler.normalized_similarity, workers=-1) >= SIMILAR_NAME
    rest = np.flatnonzero(~similar)
    if len(rest):
        similar[rest] = nickname_equivalent(
            a.iloc[both[rest]].reset_index(drop=True), b.iloc[both[rest]].reset_index(drop=True)
        )
    out[both] = similar
    return out


def first_names_compatible(
    first_a: pd.Series, first_b: pd.Series, last_a: pd.Series, last_b: pd.Series
) -> np.ndarray:
    """Element-wise: True unless both first names are known and name different people.

    Two first names are one person's when similar (Jaro-Winkler ≥ 0.85) or nickname forms of
    one name — also after undoing a swap, when one record holds the family name in its
    first-name field ("Ng, William" typed as first "Ng", last "William")."""
    first_a, first_b, last_a, last_b = (
        s.reset_index(drop=True) for s in (first_a, first_b, last_a, last_b)
    )
    unknown = (match_key(first_a).isna() | match_key(first_b).isna()).to_numpy()
    family_a, family_b = match_key(last_a), match_key(last_b)
    b_swapped = (match_key(first_b) == family_a).fillna(False).to_numpy()
    a_swapped = (match_key(first_a) == family_b).fillna(False).to_numpy()
    compatible = unknown | _same_name(first_a, first_b)
    compatible |= b_swapped & _same_name(first_a, last_b)
    compatible |= a_swapped & _same_name(last_a, first_b)
    return compatible
