"""`probabilistic_links` end to end: accuracy on a synthetic population with known truth,
explanations, typing of empty results, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cdp_assets.identity.comparisons import FIELDS
from cdp_assets.identity.probabilistic import (
    EDGE_COLUMNS,
    MIN_KNOWN_MATCHES,
    PARAMETER_COLUMNS,
    KnownMatches,
    ProbabilisticSettings,
    _household_offsets,
    probabilistic_links,
    readable_weights,
)
from cdp_assets_tests.identity.probabilistic_records import (
    make_records,
    synthetic_population,
    true_pairs,
)


@pytest.fixture(scope="module")
def population() -> tuple[pd.DataFrame, pd.Series]:
    return synthetic_population(people=300, duplicates=120, households=40, seed=11)


@pytest.fixture(scope="module")
def linked(population):
    records, _ = population
    return probabilistic_links(records)


def _found(edges: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(edges["left_node"].tolist(), edges["right_node"].tolist(), strict=True))


def test_customers_only_population_without_emails_or_phones(population, linked) -> None:
    records, person = population
    assert records["email_key"].isna().all() and records["phone"].isna().all()
    truth, found = true_pairs(person), _found(linked.edges)
    true_links = len(found & truth)
    assert true_links / len(found) >= 0.99  # precision
    assert true_links / len(truth) >= 0.9  # recall


def test_household_members_are_not_linked(population, linked) -> None:
    records, person = population
    shared = records.groupby(["last_name", "street", "postal_code"]).ngroup().to_numpy()
    edges = linked.edges
    left, right = edges["left_node"].to_numpy(), edges["right_node"].to_numpy()
    same_home = shared[left] == shared[right]
    different_people = person.to_numpy()[left] != person.to_numpy()[right]
    assert not (same_home & different_people).any()
    # The population does have such households for the test to mean something.
    home_sizes = pd.Series(shared).groupby(person.to_numpy()).first().value_counts()
    assert (home_sizes > 1).sum() >= 20


def test_edges_are_typed_ordered_and_explained(linked) -> None:
    edges = linked.edges
    assert {column: str(dtype) for column, dtype in edges.dtypes.items()} == EDGE_COLUMNS
    assert (edges["left_node"] < edges["right_node"]).all()
    assert (edges["probability"] >= ProbabilisticSettings().threshold).all()
    np.testing.assert_allclose(edges["probability"], 1 / (1 + np.exp2(-edges["weight"].to_numpy())))
    assert set(edges["rule"]) <= set(ProbabilisticSettings().blocking_rules)
    first = edges.iloc[0]
    for part, field in zip(first["levels"].split("; "), first["fields"].split(","), strict=True):
        assert part.startswith(f"{field}=")


def test_parameters_are_readable(linked) -> None:
    parameters = linked.parameters
    assert {c: str(t) for c, t in parameters.dtypes.items()} == PARAMETER_COLUMNS
    exact_birth = parameters.query("field == 'birth_date' and level == 'exact'").iloc[0]
    # About 84% of the true duplicate pairs with two birth dates have them equal.
    assert exact_birth["m"] > 0.7 and exact_birth["u"] < 0.01 and exact_birth["weight"] > 5
    nulls = parameters[parameters["level"] == "null"]
    assert (nulls["weight"] == 0).all()
    different_first = parameters.query("field == 'first_name' and level == 'different'")
    assert different_first["weight"].iloc[0] < -3


def test_readable_weights_keep_the_informative_levels(linked) -> None:
    shown = readable_weights(linked.parameters)
    assert list(shown.columns) == ["field", "level", "m", "u", "weight"]
    assert "null" not in set(shown["level"])
    # No emails or phones in the population: m = u there, nothing to show.
    assert not {"email_key", "phone"} & set(shown["field"])
    levels = linked.parameters.query("level != 'null' and field not in ('email_key', 'phone')")
    assert len(shown) == len(levels)
    birth = shown.query("field == 'birth_date' and level == 'exact'").iloc[0]
    expected = levels.query("field == 'birth_date' and level == 'exact'").iloc[0]
    assert birth["weight"] == round(expected["weight"], 2)


def test_stats(population, linked) -> None:
    records, _ = population
    stats = linked.stats
    assert stats["records"] == len(records)
    assert stats["candidate_pairs"] == sum(stats["pairs_by_rule"].values())
    assert stats["links"] == len(linked.edges)
    assert 0 < stats["lambda"] < 0.01
    assert stats["em_iterations"] >= 1
    assert stats["blocks_skipped"] == 0


def test_known_pairs_are_linked_and_explained() -> None:
    base = {"postal_code": "62701", "city": "Springfield", "street": "12 Main Street"}
    people = [
        {"first_name": "Robert", "last_name": "Miller", "birth_date": "1980-05-17", **base},
        {"first_name": "Bob", "last_name": "Miller", "birth_date": "1980-05-17", **base},
        {"first_name": "William", "last_name": "Turner", "birth_date": "1990-03-04"},
        {"first_name": "Bill", "last_name": "Turner", "birth_date": "1990-04-03"},
        {"first_name": "Xiaoming", "last_name": "Wang", "birth_date": "1985-11-02"},
        {"first_name": "王小明", "birth_date": "1985-11-02"},
        {"first_name": "Maria", "last_name": "Garcia", "birth_date": "1975-08-30"},
        {"first_name": "Garcia", "last_name": "Maria", "birth_date": "1975-08-30"},
    ]
    records, _ = synthetic_population(people=200, duplicates=60, households=20, seed=3)
    extra = make_records(people)
    extra["node"] += len(records)
    result = probabilistic_links(pd.concat([records, extra], ignore_index=True))
    edges = result.edges.set_index(["left_node", "right_node"])
    n = len(records)
    expected = {
        (n, n + 1): "first_name=nickname",
        (n + 2, n + 3): "birth_date=transposed",
        (n + 4, n + 5): "first_name=exact(full_name)",
        (n + 6, n + 7): "first_name=exact(swapped)",
    }
    for pair, explanation in expected.items():
        assert pair in edges.index, pair
        assert explanation in edges.loc[pair, "levels"]
    among_extra = {(left, right) for left, right in edges.index if left >= n}
    assert among_extra == set(expected)  # and no link between two of these four people


@pytest.mark.parametrize("rows", [0, 1])
def test_too_few_records_give_an_empty_typed_result(rows: int) -> None:
    result = probabilistic_links(make_records([{"first_name": "Ann"}] * rows))
    assert result.edges.empty and result.parameters.empty
    assert {c: str(t) for c, t in result.edges.dtypes.items()} == EDGE_COLUMNS
    assert {c: str(t) for c, t in result.parameters.dtypes.items()} == PARAMETER_COLUMNS
    assert result.stats["records"] == rows and result.stats["links"] == 0


def test_no_candidate_pairs_give_an_empty_typed_result() -> None:
    records = make_records([{"first_name": "Ann"}, {"last_name": "Lee"}, {"city": "Paris"}])
    result = probabilistic_links(records)
    assert result.edges.empty
    assert {c: str(t) for c, t in result.edges.dtypes.items()} == EDGE_COLUMNS
    assert result.stats["candidate_pairs"] == 0


def test_all_null_columns_and_absent_columns_are_fine(population) -> None:
    records, _ = population
    minimal = records[["node", "first_name", "last_name", "birth_date"]]
    result = probabilistic_links(minimal)
    assert len(result.edges) > 0
    assert not result.edges["fields"].str.contains("street").any()


def test_deterministic_for_a_seed(population) -> None:
    records, _ = population
    settings = ProbabilisticSettings(u_sample_pairs=5_000, seed=5)
    first = probabilistic_links(records, settings)
    second = probabilistic_links(records, settings)
    pd.testing.assert_frame_equal(first.edges, second.edges)
    pd.testing.assert_frame_equal(first.parameters, second.parameters)


def test_threshold_and_rules_are_settings(population) -> None:
    records, _ = population
    loose = probabilistic_links(records, ProbabilisticSettings(threshold=0.5))
    strict = probabilistic_links(records, ProbabilisticSettings(threshold=0.999999))
    assert len(strict.edges) <= len(loose.edges)
    one_rule = ProbabilisticSettings(blocking_rules=("birth_date_first_initial",))
    result = probabilistic_links(records, one_rule)
    assert set(result.stats["pairs_by_rule"]) == {"birth_date_first_initial"}
    with pytest.raises(ValueError, match="unknown correlated field"):
        probabilistic_links(records, dataclasses.replace(one_rule, correlated_fields=(("zip",),)))


def test_a_rare_surname_shared_at_one_home_earns_no_bonus() -> None:
    # Levels per FIELDS (first, last, birth, postal, city, street, email, phone); the address
    # group is street, postal code, city. Surname term frequency offsets: +5 (rare), -2 (common).
    address = ((5, 3, 4),)
    levels = np.array(
        [
            [1, 1, 4, 1, 1, 1, 0, 0],  # same street, rare surname: a household, bonus dropped
            [1, 1, 4, 1, 1, 1, 0, 0],  # same street, common surname: penalty kept
            [1, 1, 4, 1, 1, 3, 0, 0],  # different streets in one postal code: not one home
            [1, 1, 4, 1, 1, 0, 0, 0],  # no street, same postal code: one home
            [1, 1, 4, 0, 1, 0, 0, 0],  # only the city agrees: not one home
        ],
        dtype=np.int8,
    )
    surname = np.array([5.0, -2.0, 5.0, 5.0, 5.0], dtype=np.float32)
    offsets = tuple(surname if f == FIELDS.index("last_name") else None for f in range(8))
    adjusted = _household_offsets(offsets, levels, address)
    np.testing.assert_array_equal(adjusted[FIELDS.index("last_name")], [0.0, -2.0, 5.0, 0.0, 5.0])
    assert _household_offsets(None, levels, address) is None


@pytest.mark.parametrize("known_matches", [False, True])
def test_pairs_grouped_and_scored_in_batches_give_the_same_model_and_links(
    known_matches: bool,
) -> None:
    # EM and scoring see the candidate pairs a few at a time (`batch_pairs`): parameters and
    # links are exactly those of one batch holding every pair, with EM on the candidates and
    # with m learnt from known matches.
    records, person = synthetic_population(people=500, duplicates=300, households=60, seed=8)
    known = None
    if known_matches:
        truth = sorted(true_pairs(person))
        left, right = (np.array(side, dtype=np.int64) for side in zip(*truth, strict=True))
        known = KnownMatches(left, right, np.array(["email_key"] * len(truth), dtype=object))
        assert len(known) >= MIN_KNOWN_MATCHES
    whole = probabilistic_links(records, ProbabilisticSettings(batch_pairs=10**9), known)
    assert whole.stats["candidate_pairs"] > 1_000 and len(whole.edges) > 100
    for batch in (1, 97):
        batched = probabilistic_links(records, ProbabilisticSettings(batch_pairs=batch), known)
        pd.testing.assert_frame_equal(batched.parameters, whole.parameters, check_exact=True)
        pd.testing.assert_frame_equal(batched.edges, whole.edges, check_exact=True)
        assert batched.stats == whole.stats
