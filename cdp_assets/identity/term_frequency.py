"""Term frequency adjustment of exact agreement on names (as Splink's `term_frequency_adjustments`).

The "exact" level of a name has one u for all names: the chance that two random records share
*a* name. Sharing a rare surname is much stronger evidence than sharing "Smith": for a pair
that agrees exactly on value v, the chance that a non-matching pair agrees on v is about the
share of records with v, tf(v). The adjustment replaces the level's average u by tf(v):

    adjustment = log2(u_exact / tf(v))      (added to the level weight log2(m_exact / u_exact))

so the field weighs log2(m_exact / tf(v)). Negative for common names, positive for rare ones.
The adjustments are applied when the pairs are scored and also take part in EM, as per-pair
offsets (`fellegi_sunter`): trained without them, EM took chance agreements on common names
for matches and under-weighed a different birth date (README, issue #13).

tf(v) is floored at the share of two records (the pair itself: in a small file a name seen
twice is not evidence of a one-in-a-million name) and at `MIN_SHARE`.
"""

from __future__ import annotations

import numpy as np

MIN_RECORDS = 2  # tf(v) is at least the share of two records (the pair itself)
MIN_SHARE = 1e-6  # and at least one in a million: beyond that the name says nothing more


def frequencies(codes: np.ndarray, values: int) -> np.ndarray:
    """Share of the non-null records that have each value code (codes -1 = null), floored."""
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=values).astype(np.float64)
    total = max(len(present), 1)
    return np.maximum(counts / total, floor_share(codes))


def floor_share(codes: np.ndarray) -> float:
    """The share every rare value gets: that of two records, at least `MIN_SHARE`."""
    return max(MIN_RECORDS / max(int((codes >= 0).sum()), 1), MIN_SHARE)


def adjustment(
    left: np.ndarray,
    right: np.ndarray,
    frequency: np.ndarray,
    u_exact: float,
) -> np.ndarray:
    """log2(u_exact / tf(v)) for the pairs whose codes are equal (v), 0 elsewhere."""
    same = (left == right) & (left >= 0)
    result = np.zeros(len(left), dtype=np.float32)  # millions of pairs: half the memory
    result[same] = np.log2(u_exact / frequency[left[same]])
    return result
