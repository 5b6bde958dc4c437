"""Term frequency adjustment of exact name agreement: known shares and weights."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.identity import term_frequency
from cdp_assets.identity.name_keys import match_key
from cdp_assets.identity.probabilistic import ProbabilisticSettings, probabilistic_links
from cdp_assets_tests.identity.probabilistic_records import synthetic_population


def test_shares_are_floored_at_two_records() -> None:
    codes = np.array([0, 0, 0, 1, -1, 0, 0, 0, 0, 0], dtype=np.int32)
    # 9 non-null records: 8 x value 0, 1 x value 1, value 2 unseen; floor 2/9.
    np.testing.assert_allclose(term_frequency.frequencies(codes, 3), [8 / 9, 2 / 9, 2 / 9])


def test_adjustment_applies_to_equal_codes_only() -> None:
    share = np.array([0.5, 0.01])
    left = np.array([0, 1, 0, -1])
    right = np.array([0, 1, 1, -1])
    adjusted = term_frequency.adjustment(left, right, share, u_exact=0.05)
    np.testing.assert_allclose(adjusted, [np.log2(0.05 / 0.5), np.log2(0.05 / 0.01), 0, 0])


def test_rare_names_weigh_more_than_common_ones_in_the_links() -> None:
    records, _ = synthetic_population(people=300, duplicates=120, households=40, seed=11)
    loose = ProbabilisticSettings(threshold=1e-9)
    plain = probabilistic_links(
        records, ProbabilisticSettings(threshold=1e-9, term_frequency=False)
    )
    adjusted = probabilistic_links(records, loose)
    pairs = ["left_node", "right_node"]
    both = plain.edges.merge(adjusted.edges, on=pairs, suffixes=("_plain", "_tf"))
    assert len(both) == len(plain.edges) == len(adjusted.edges)
    u = plain.parameters.set_index(["field", "level"])["u"]
    expected = np.zeros(len(both))
    for field in ("first_name", "last_name"):
        keys = match_key(records[field]).to_numpy(dtype=object)
        counts = pd.Series(keys).value_counts()
        share = np.maximum(counts / counts.sum(), 2 / counts.sum())
        left, right = keys[both["left_node"]], keys[both["right_node"]]
        same = pd.notna(left) & pd.notna(right) & (left == right)
        expected[same] += np.log2(u[(field, "exact")] / share[left[same]].to_numpy())
    difference = both["weight_tf"] - both["weight_plain"]
    np.testing.assert_allclose(difference, expected, atol=1e-9)
    assert (expected > 0).any() and (expected < 0).any()  # rare and common names both occur
