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
    np.testing.assert_allclose(
        adjusted, [np.log2(0.05 / 0.5), np.log2(0.05 / 0.01), 0, 0], rtol=1e-6
    )


def test_rare_names_weigh_more_than_common_ones_in_the_links() -> None:
    records, _ = synthetic_population(people=300, duplicates=120, households=40, seed=11)
    result = probabilistic_links(records, ProbabilisticSettings(threshold=1e-9))
    edges = result.edges
    weight = result.parameters.set_index(["field", "level"])["weight"]
    # Weight without term frequencies, from the explained levels: prior + independent fields +
    # the address group: its most specific field present on both sides when that disagrees,
    # else its strongest weight. A pair sharing a home (street, else postal code, agrees) gets
    # no bonus for a rare surname.
    address_fields = ("street", "postal_code", "city")
    base = np.full(len(edges), np.log2(result.stats["lambda"] / (1 - result.stats["lambda"])))
    home = np.zeros(len(edges), dtype=bool)
    for row, text in enumerate(edges["levels"]):
        levels = dict(part.split("=") for part in text.split("; "))
        levels = {field: level.split("(")[0] for field, level in levels.items()}
        address = [weight[(field, levels[field])] for field in address_fields if field in levels]
        for field, level in levels.items():
            if field not in address_fields:
                base[row] += weight[(field, level)]
        if address:
            base[row] += address[0] if address[0] <= 0 else max(address)
        specific = next((f for f in address_fields[:2] if f in levels), None)
        home[row] = specific is not None and levels[specific] in ("token_set_90", "exact")
    expected = np.zeros(len(edges))
    for field in ("first_name", "last_name"):
        keys = match_key(records[field]).to_numpy(dtype=object)
        counts = pd.Series(keys).value_counts()
        share = np.maximum(counts / counts.sum(), 2 / counts.sum())
        left, right = keys[edges["left_node"]], keys[edges["right_node"]]
        same = pd.notna(left) & pd.notna(right) & (left == right)
        u_exact = result.parameters.set_index(["field", "level"])["u"][(field, "exact")]
        adjustment = np.zeros(len(edges))
        adjustment[same] = np.log2(u_exact / share[left[same]].to_numpy())
        if field == "last_name":
            adjustment[home] = np.minimum(adjustment[home], 0.0)
        expected += adjustment
    np.testing.assert_allclose(edges["weight"] - base, expected, atol=1e-4)  # float32 offsets
    np.testing.assert_allclose(edges["name_frequency"], expected, atol=1e-4)
    assert (expected > 0).any() and (expected < 0).any()  # rare and common names both occur
    assert home.any() and (~home).any()


def test_term_frequencies_take_part_in_em() -> None:
    records, _ = synthetic_population(people=300, duplicates=120, households=40, seed=11)
    plain = probabilistic_links(records, ProbabilisticSettings(term_frequency=False))
    adjusted = probabilistic_links(records)
    m_plain = plain.parameters.set_index(["field", "level"])["m"]
    m_adjusted = adjusted.parameters.set_index(["field", "level"])["m"]
    assert not np.allclose(m_plain.dropna(), m_adjusted.dropna())
