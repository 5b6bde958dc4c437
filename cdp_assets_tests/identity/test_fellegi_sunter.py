"""Fellegi–Sunter: u from random pairs, m and λ by EM, weights and probabilities."""

from __future__ import annotations

import numpy as np

from cdp_assets.identity.fellegi_sunter import (
    FellegiSunterModel,
    Patterns,
    TrainingSession,
    estimate_u,
    fit_model,
    fit_model_from_labels,
    match_probability,
    random_pairs,
)

FIELDS = ("name", "birth", "city")
LEVEL_NAMES = (
    ("null", "exact", "close", "different"),
    ("null", "exact", "different"),
    ("null", "exact", "different"),
)
TRUE_M = (np.array([0.85, 0.10, 0.05]), np.array([0.95, 0.05]), np.array([0.80, 0.20]))
TRUE_U = (np.array([0.01, 0.04, 0.95]), np.array([0.002, 0.998]), np.array([0.05, 0.95]))


def _simulate(matches: int, non_matches: int, seed: int = 0) -> np.ndarray:
    """Level matrix of simulated pairs (levels 1.., no nulls): matches first."""
    rng = np.random.default_rng(seed)
    columns = []
    for m, u in zip(TRUE_M, TRUE_U, strict=True):
        levels = np.r_[rng.choice(len(m), matches, p=m), rng.choice(len(u), non_matches, p=u)]
        columns.append(levels + 1)
    return np.column_stack(columns).astype(np.int8)


def test_em_recovers_m_and_lambda_with_u_fixed() -> None:
    levels = _simulate(matches=4_000, non_matches=36_000)
    u = estimate_u(_simulate(0, 200_000, seed=1), [len(n) for n in LEVEL_NAMES])
    model, sessions = fit_model(
        levels,
        [TrainingSession("all", np.arange(len(levels)))],
        u,
        FIELDS,
        LEVEL_NAMES,
        total_pairs=len(levels),
    )
    assert sessions[0].converged
    for f, true_m in enumerate(TRUE_M):
        np.testing.assert_allclose(model.m[f][1:], true_m, atol=0.02)
    assert model.m[1][1] > 0.9  # exact birth date
    assert model.u[1][1] < 0.01
    assert abs(model.match_prior - 0.1) < 0.01


def test_each_session_learns_only_the_fields_it_did_not_block_on() -> None:
    by_city = _simulate(matches=2_000, non_matches=18_000, seed=2)
    by_city[:, 2] = 1  # blocked on city: every pair agrees on it
    by_name = _simulate(matches=2_000, non_matches=18_000, seed=3)
    by_name[:, 0] = 1  # blocked on name
    levels = np.vstack([by_city, by_name])
    u = tuple(np.r_[np.nan, u_f] for u_f in TRUE_U)
    sessions = [
        TrainingSession("city", np.arange(20_000), blocked_fields=(2,)),
        TrainingSession("name", np.arange(20_000, 40_000), blocked_fields=(0,)),
    ]
    model, results = fit_model(
        levels, sessions, u, FIELDS, LEVEL_NAMES, total_pairs=len(levels) * 50
    )
    assert [result.name for result in results] == ["city", "name", "lambda"]
    # Learnt from the session that did not block on them, unbiased by the blocked agreement.
    np.testing.assert_allclose(model.m[0][1:], TRUE_M[0], atol=0.03)
    np.testing.assert_allclose(model.m[2][1:], TRUE_M[2], atol=0.03)
    np.testing.assert_allclose(model.m[1][1:], TRUE_M[1], atol=0.03)


def test_a_field_every_session_blocks_on_is_learnt_on_all_pairs() -> None:
    levels = _simulate(matches=3_000, non_matches=27_000, seed=4)
    u = tuple(np.r_[np.nan, u_f] for u_f in TRUE_U)
    session = TrainingSession("birth", np.arange(len(levels)), blocked_fields=(1,))
    model, results = fit_model(levels, [session], u, FIELDS, LEVEL_NAMES, len(levels))
    assert [result.name for result in results] == ["birth", "fill_in", "lambda"]
    np.testing.assert_allclose(model.m[1][1:], TRUE_M[1], atol=0.03)


def test_a_session_with_a_single_source_of_evidence_is_not_trained() -> None:
    levels = _simulate(matches=3_000, non_matches=27_000, seed=5)
    u = tuple(np.r_[np.nan, u_f] for u_f in TRUE_U)
    session = TrainingSession("one", np.arange(len(levels)), blocked_fields=(1, 2))
    model, results = fit_model(levels, [session], u, FIELDS, LEVEL_NAMES, len(levels))
    assert [result.name for result in results] == ["fill_in", "lambda"]
    np.testing.assert_allclose(model.m[0][1:], TRUE_M[0], atol=0.03)


def test_u_is_smoothed_and_null_is_no_evidence() -> None:
    levels = np.array([[1], [2], [2], [0]], dtype=np.int8)
    (u,) = estimate_u(levels, [3], smoothing=1.0)
    assert np.isnan(u[0])
    np.testing.assert_allclose(u[1:], [2 / 5, 3 / 5])
    model = FellegiSunterModel(("f",), (("null", "a", "b"),), (np.r_[np.nan, 0.9, 0.1],), (u,), 0.5)
    weights = model.pattern_weights(np.array([[0], [1], [2]], dtype=np.int8))
    np.testing.assert_allclose(weights, [0.0, np.log2(0.9 / 0.4), np.log2(0.1 / 0.6)])


def test_weight_and_probability() -> None:
    model = FellegiSunterModel(
        ("f",), (("null", "a", "b"),), (np.r_[np.nan, 0.8, 0.2],), (np.r_[np.nan, 0.1, 0.9],), 0.2
    )
    weights = model.pattern_weights(np.array([[1]], dtype=np.int8))
    np.testing.assert_allclose(weights, [np.log2(0.2 / 0.8) + np.log2(8)])
    np.testing.assert_allclose(match_probability(np.array([0.0, 1.0])), [0.5, 2 / 3])
    huge, tiny = match_probability(np.array([5000.0, -5000.0]))
    assert huge == 1.0 and 0.0 <= tiny < 1e-300


def test_correlated_fields_count_once() -> None:
    u = (np.r_[np.nan, 0.01, 0.99],) * 2
    m = (np.r_[np.nan, 0.9, 0.1],) * 2
    names = (("null", "exact", "different"),) * 2
    model = FellegiSunterModel(("postal", "city"), names, m, u, 0.5, correlated=((0, 1),))
    agree, one, disagree = np.log2(0.9 / 0.01), np.log2(0.9 / 0.01), np.log2(0.1 / 0.99)
    # The most specific field present (listed first) decides for the group.
    levels = np.array([[1, 1], [1, 2], [2, 2], [0, 0], [2, 1], [0, 1]], dtype=np.int8)
    np.testing.assert_allclose(
        model.pattern_weights(levels), [agree, one, disagree, 0.0, disagree, agree]
    )


def test_correlated_group_agreement_takes_its_strongest_agreeing_field() -> None:
    # Street (listed first) agrees by chance far more often than postal code in a large file:
    # u 1/500 against 1/8000. Where both agree the group weighs as the postal code (13 bits),
    # not as the street (9 bits); a street that disagrees still decides alone.
    names = (("null", "exact", "different"),) * 2
    street_u, postal_u = np.r_[np.nan, 1 / 500, 499 / 500], np.r_[np.nan, 1 / 8000, 7999 / 8000]
    m = (np.r_[np.nan, 0.5, 0.5],) * 2
    model = FellegiSunterModel(
        ("street", "postal"), names, m, (street_u, postal_u), 0.5, correlated=((0, 1),)
    )
    street_agrees, postal_agrees = np.log2(0.5 * 500), np.log2(0.5 * 8000)
    street_differs = np.log2(0.5 / (499 / 500))
    levels = np.array([[1, 1], [1, 2], [2, 1], [1, 0], [0, 1]], dtype=np.int8)
    np.testing.assert_allclose(
        model.pattern_weights(levels),
        [postal_agrees, street_agrees, street_differs, street_agrees, postal_agrees],
    )


def test_random_pairs_are_seeded_and_distinct() -> None:
    left, right = random_pairs(1_000, 5_000, seed=7)
    again = random_pairs(1_000, 5_000, seed=7)
    assert np.array_equal(left, again[0]) and np.array_equal(right, again[1])
    assert (left < right).all() and len(left) == 5_000
    small_left, small_right = random_pairs(5, 1_000, seed=7)
    assert len(small_left) == 10  # every pair when there are fewer than asked


def test_patterns_round_trip() -> None:
    levels = np.array([[1, 2], [0, 1], [1, 2], [3, 0]], dtype=np.int8)
    patterns = Patterns.of(levels, [4, 3])
    assert np.array_equal(patterns.levels[patterns.inverse], levels)
    assert patterns.counts.sum() == 4


def test_m_from_known_matches_skips_the_identifier_that_linked_each_pair() -> None:
    # Two fields (birth date, email). Three pairs linked by email: they agree on email by
    # construction and must not teach its m; one pair linked otherwise teaches both.
    names = (("null", "exact", "different"),) * 2
    u = (np.r_[np.nan, 0.01, 0.99],) * 2
    labelled = np.array([[1, 1], [1, 1], [2, 1], [1, 2]], dtype=np.int8)
    excluded = np.array([[False, True], [False, True], [False, True], [False, False]])
    candidates = np.array([[1, 1], [2, 2], [1, 2]], dtype=np.int8)
    model, results = fit_model_from_labels(
        labelled, excluded, candidates, u, ("birth_date", "email"), names, total_pairs=1_000
    )
    # birth date: 3 exact, 1 different among 4, plus one pseudo pair spread like u.
    np.testing.assert_allclose(model.m[0][1:], [(3 + 0.01) / 5, (1 + 0.99) / 5])
    # email: only the last pair teaches it (different), plus the pseudo pair.
    np.testing.assert_allclose(model.m[1][1:], [0.01 / 2, (1 + 0.99) / 2])
    assert results[0].name == "labelled_matches" and 0 < model.match_prior < 1


def test_patterns_group_by_levels_and_rounded_offset() -> None:
    levels = np.array([[1, 1], [1, 1], [1, 1], [2, 1]], dtype=np.int8)
    offsets = np.array([0.0, 0.1, 1.0, 0.0])  # 0.1 rounds to 0 at a quarter bit
    patterns = Patterns.of(levels, [3, 2], offsets)
    rows = {
        (tuple(row), float(offset)): int(count)
        for row, offset, count in zip(
            patterns.levels, patterns.offsets, patterns.counts, strict=True
        )
    }
    assert rows == {((1, 1), 0.0): 2, ((1, 1), 1.0): 1, ((2, 1), 0.0): 1}
    rebuilt = np.column_stack(
        [patterns.levels[patterns.inverse], patterns.offsets[patterns.inverse]]
    )
    np.testing.assert_array_equal(rebuilt[:, :2], levels)
    np.testing.assert_allclose(rebuilt[:, 2], [0.0, 0.0, 1.0, 0.0])


def test_patterns_counted_in_batches_equal_grouping_all_pairs_at_once() -> None:
    # Grouping a few pairs at a time gives the patterns, counts and rounded offsets of grouping
    # every pair at once (`of`, the offsets summed first), whatever the batch size.
    rng = np.random.default_rng(5)
    level_counts = [4, 3, 5]
    levels = np.column_stack([rng.integers(0, c, size=2_000) for c in level_counts])
    levels = levels.astype(np.int8)
    parts = [
        np.where(rng.random(2_000) < 0.4, rng.normal(0, 4, 2_000), 0).astype(np.float32)
        for _ in range(2)
    ]
    with_offsets = Patterns.of(levels, level_counts, np.sum(parts, axis=0))
    without = Patterns.of(levels, level_counts)
    for batch in (1, 7, 999, 2_000, 1_000_000):
        counted = Patterns.counted(levels, level_counts, parts, batch_pairs=batch)
        np.testing.assert_array_equal(counted.levels, with_offsets.levels)
        np.testing.assert_array_equal(counted.counts, with_offsets.counts)
        np.testing.assert_array_equal(counted.offsets, with_offsets.offsets)
        plain = Patterns.counted(levels, level_counts, batch_pairs=batch)
        np.testing.assert_array_equal(plain.levels, without.levels)
        np.testing.assert_array_equal(plain.counts, without.counts)
        assert plain.offsets is None and counted.inverse is None
    empty = Patterns.counted(levels[:0], level_counts, [part[:0] for part in parts])
    assert len(empty.levels) == 0 and len(empty.counts) == 0
