"""Could two records with these first names be the same person? Used to tell a household's
shared landline from one person's two records."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from anyascii import anyascii
from nicknames import NickNamer
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

SIMILAR_NAME = 0.85  # Jaro-Winkler similarity at which two spellings are one name


@lru_cache(maxsize=1)
def _namer() -> NickNamer:
    return NickNamer()


def name_key(names: pd.Series) -> pd.Series:
    """Lower-case ASCII letters only: 'José' → 'jose', '小明' → 'xiaoming'."""
    unique = names.dropna().unique()
    keys = {name: "".join(c for c in anyascii(str(name)).lower() if c.isalpha()) for name in unique}
    return names.map(keys).astype("string")


@lru_cache(maxsize=100_000)
def _forms(key: str) -> frozenset[str]:
    namer = _namer()
    return frozenset({key}) | namer.canonicals_of(key) | namer.nicknames_of(key)


def _nickname_equivalent(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([bool(_forms(x) & _forms(y)) for x, y in zip(a, b, strict=True)], dtype=bool)


def first_names_compatible(
    first_a: pd.Series, first_b: pd.Series, last_a: pd.Series, last_b: pd.Series
) -> np.ndarray:
    """Element-wise: True unless both first names are known and are neither similar
    (Jaro-Winkler ≥ 0.85), nickname forms of one name, nor the other's family name (a swap)."""
    fa, fb = name_key(first_a), name_key(first_b)
    la, lb = name_key(last_a), name_key(last_b)
    known = (fa.fillna("") != "") & (fb.fillna("") != "")
    out = np.ones(len(fa), dtype=bool)
    idx = np.flatnonzero(known.to_numpy())
    if len(idx) == 0:
        return out
    x = fa.iloc[idx].to_numpy(dtype=object)
    y = fb.iloc[idx].to_numpy(dtype=object)
    similar = cpdist(x, y, scorer=JaroWinkler.normalized_similarity, workers=-1) >= SIMILAR_NAME
    swapped = (x == lb.iloc[idx].fillna("").to_numpy(dtype=object)) | (
        y == la.iloc[idx].fillna("").to_numpy(dtype=object)
    )
    compatible = similar | swapped
    rest = ~compatible
    if rest.any():
        compatible[rest] = _nickname_equivalent(x[rest], y[rest])
    out[idx] = compatible
    return out
