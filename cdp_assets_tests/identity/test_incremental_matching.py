"""An incremental resolution (only the pairs of new or changed records scored, with the last
full resolution's parameters) gives what a full resolution with those same parameters gives:
the same customer per record and the same identity tables, row for row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from cdp_assets.identity import probabilistic
from cdp_assets.identity.blocking import blocks_near_limit, candidate_pairs
from cdp_assets.identity.comparisons import compare_pairs, features_of_rows, prepare_features
from cdp_assets.identity.match_parameters import MatchParameters
from cdp_assets.identity.nodes import graph_nodes
from cdp_assets.identity.resolve import IdentityResolution, Matching, resolve_identities
from cdp_assets_tests.identity.helpers import combos, config, no_density, no_previous, records
from cdp_assets_tests.identity.probabilistic_records import synthetic_population

RUN1 = pd.Timestamp("2026-11-01", tz="UTC")
RUN2 = pd.Timestamp("2026-11-02", tz="UTC")
FIELDS = ("first_name", "last_name", "birth_date", "street", "city", "postal_code")


def _population() -> list[dict[str, Any]]:
    """Seeded people with duplicates and households (no identifiers), a third of them with an
    email of their own person, plus two records alike only in first name and email (one
    customer by the email; without a birth date on one side it is no household's)."""
    frame, person = synthetic_population(people=400, duplicates=160, households=50, seed=5)
    rows = []
    for i, row in frame.iterrows():
        values = {f: row[f] for f in FIELDS if pd.notna(row[f])}
        if i % 3 == 0:
            values["email_key"] = f"person{person[i]}@mail.test"
        rows.append({"source": "shop", "record_id": f"r{i:04d}", **values})
    shared_email = "two.people@mail.test"
    rows.append(_person("s1", "Quentin", "Abernathy", "1961-02-03", "9 Elm Road", shared_email))
    rows.append(_person("s2", "Quentin", "Lindqvist", None, "77 Pier St", shared_email))
    # One woman before and after a change of surname and address: two customers until a
    # record with her new name and address and her old email bridges them.
    rows.append(
        _person("b_old", "Philippa", "Moreland", "1985-07-19", "12 Oak Ave", "pm@mail.test")
    )
    rows.append(_person("b_new", "Philippa", "Harcourt", "1985-07-19", "40 Quay Road", "ph@x.test"))
    return rows


def _person(
    record_id: str, first: str, last: str, born: str | None, street: str, email: str
) -> dict[str, Any]:
    person = {
        "source": "crm",
        "record_id": record_id,
        "first_name": first,
        "last_name": last,
        "birth_date": born,
        "street": street,
        "city": "Leeds",
        "postal_code": f"LS{len(street)} 1AA",
        "email_key": email,
    }
    return {k: v for k, v in person.items() if v is not None}


def _resolve(
    rows: list[dict[str, Any]],
    matching: Matching = Matching(),  # noqa: B008 - frozen
    previous: IdentityResolution | None = None,
    run_at: pd.Timestamp = RUN1,
    identity: dict[str, Any] | None = None,
) -> IdentityResolution:
    recs = records(rows)
    cfg = config(identity)
    graph = graph_nodes(recs, combos([]), cfg)
    prev, aliases = no_previous()
    if previous is not None:
        prev, aliases = previous.assignments, previous.ids.aliases
    return resolve_identities(
        recs, graph, no_density(), prev, aliases, cfg.identity, run_at, matching
    )


def _stored(result: IdentityResolution) -> MatchParameters:
    """The learnt parameters as the warehouse gives them back."""
    assert result.matching is not None and result.matching.learnt is not None
    levels, names = result.matching.learnt.as_tables(RUN1, "settings")
    return MatchParameters.from_tables(levels, names)


def _customer(result: IdentityResolution, record_id: str) -> str:
    xref = result.xref.set_index("source_record_id")
    return str(xref.loc[record_id, "customer_id"])


def _assert_same_tables(a: IdentityResolution, b: IdentityResolution) -> None:
    pd.testing.assert_frame_equal(a.xref, b.xref)
    pd.testing.assert_frame_equal(a.edges, b.edges)
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    pd.testing.assert_frame_equal(a.ids.events, b.ids.events)
    pd.testing.assert_frame_equal(a.ids.aliases, b.ids.aliases)
    pd.testing.assert_frame_equal(a.shared, b.shared)


@pytest.fixture(scope="module")
def base() -> tuple[list[dict[str, Any]], IdentityResolution]:
    rows = _population()
    return rows, _resolve(rows)


def test_frozen_parameters_give_what_the_full_resolution_learnt(base) -> None:  # noqa: ANN001
    rows, first = base
    assert first.matching is not None and first.matching.mode == "full"
    assert first.stats["probabilistic_links"] > 50  # the matcher does link this population
    again = _resolve(rows, Matching(_stored(first)))
    assert again.matching is not None and again.matching.mode == "frozen"
    _assert_same_tables(first, again)


def _next_day(rows: list[dict[str, Any]], first: IdentityResolution) -> list[dict[str, Any]]:
    """New duplicates and people, a record bridging two customers, an email change that
    splits a customer, a moved person and removed records."""
    by_id = {row["record_id"]: row for row in rows}
    changed = [dict(row) for row in rows]
    # The bridge: her new name and address, her old email.
    bridge = {k: v for k, v in by_id["b_new"].items() if k != "email_key"}
    changed.append(bridge | {"record_id": "z_bridge", "email_key": "pm@mail.test"})
    for n, row in enumerate(rows[10:16]):  # duplicates of existing people
        copy = {k: v for k, v in row.items() if k in FIELDS}
        changed.append({"source": "shop", "record_id": f"z_dup{n}", **copy})
    changed.append(
        _person("z_new", "Ottoline", "Fairweather", "1979-05-06", "3 Mill Lane", "o@f.t")
    )
    # s2 changes its email: it leaves the customer it shared with s1.
    s2 = next(row for row in changed if row["record_id"] == "s2")
    s2["email_key"] = "q.lindqvist@mail.test"
    moved = next(row for row in changed if row["record_id"] == rows[20]["record_id"])
    moved["street"], moved["postal_code"] = "1 New Street", "ZZ9 9ZZ"
    removed = {rows[30]["record_id"], rows[31]["record_id"], rows[32]["record_id"]}
    assert by_id["s1"]["email_key"] == "two.people@mail.test"
    return [row for row in changed if row["record_id"] not in removed]


def test_incremental_equals_a_full_resolution_with_the_same_parameters(base) -> None:  # noqa: ANN001
    rows, first = base
    assert _customer(first, "s1") == _customer(first, "s2")
    day = _next_day(rows, first)
    parameters = _stored(first)
    assert first.matching is not None
    incremental = _resolve(
        day,
        Matching(parameters, first.matching.view, first.edges),
        previous=first,
        run_at=RUN2,
    )
    full = _resolve(day, Matching(parameters), previous=first, run_at=RUN2)
    assert incremental.matching is not None and incremental.matching.mode == "incremental"
    _assert_same_tables(incremental, full)

    stats = incremental.stats
    assert (stats["records_new"], stats["records_changed"], stats["records_removed"]) == (8, 2, 3)
    # Only a few records' pairs were scored: it did not fall back to scoring everything.
    assert stats["pairs_scored"] < full.stats["probabilistic_candidate_pairs"] / 10
    assert stats["records_re_resolved"] < len(day) / 10
    assert 0 < stats["components_touched"] < stats["customers"] / 10

    events = incremental.ids.events
    # The bridge merged two earlier customers; s2 split off s1's customer with a new id.
    assert (events["event"] == "merge").sum() >= 1
    assert _customer(incremental, "s1") != _customer(incremental, "s2")
    assert _customer(incremental, "s1") == _customer(first, "s1")
    split = events[events["event"] == "split"]
    assert split["customer_id"].tolist() == [_customer(incremental, "s2")]
    before = {_customer(first, "b_old"), _customer(first, "b_new")}
    assert len(before) == 2
    merged = events.loc[events["event"] == "merge", ["customer_id", "other_customer_id"]]
    assert before in [set(pair) for pair in merged.itertuples(index=False)]
    bridged = {_customer(incremental, r) for r in ("b_old", "b_new", "z_bridge")}
    assert bridged == {min(before)}
    # Customers no new or changed record touches keep their ids.
    untouched = first.xref[~first.xref["customer_id"].isin(set(merged.stack()))]
    kept = incremental.xref.merge(untouched, on=["source", "source_record_id"])
    assert (kept["customer_id_x"] == kept["customer_id_y"]).mean() > 0.98


def test_many_changes_resolve_in_full(base) -> None:  # noqa: ANN001
    rows, first = base
    assert first.matching is not None
    parameters = _stored(first)
    previous = Matching(parameters, first.matching.view, first.edges)
    many = [dict(row, record_id=row["record_id"] + "x") for row in rows[:100]]
    result = _resolve(rows + many, previous, previous=first, run_at=RUN2)
    assert result.matching is not None and result.matching.mode == "full"
    assert "incremental_max_changed_share" in result.matching.reason


def test_a_block_crossing_its_size_limit_re_matches_its_records(base) -> None:  # noqa: ANN001
    """With blocks of at most 2 records, a third record in a block makes the full blocking
    skip it, which drops pairs of records that did not change: every record of that block is
    matched again, and the result is the full resolution's with the same parameters."""
    rows, _ = base
    small = {"probabilistic": {"max_block_size": 2}}
    first_small = _resolve(rows, identity=small)
    assert first_small.matching is not None
    twin = next(r for r in rows if r["record_id"] == "r0010")
    day = [*rows, {**{k: v for k, v in twin.items() if k in FIELDS}, "source": "shop",
                   "record_id": "z_twin"}]  # fmt: skip
    parameters = _stored(first_small)
    crossed = _resolve(
        day,
        Matching(parameters, first_small.matching.view, first_small.edges),
        previous=first_small,
        run_at=RUN2,
        identity=small,
    )
    full = _resolve(day, Matching(parameters), first_small, RUN2, identity=small)
    assert crossed.matching is not None and crossed.matching.mode == "incremental"
    assert crossed.stats["probabilistic_blocks_changing_skip"] >= 1
    assert "max_block_size" in crossed.matching.reason
    assert crossed.stats["records_re_resolved"] >= 3  # the twin and the block it crossed
    _assert_same_tables(crossed, full)


def test_no_changed_record_scores_no_pair_and_keeps_every_link(base) -> None:  # noqa: ANN001
    """A night with new facts only: the records' views are as they were."""
    rows, first = base
    assert first.matching is not None
    parameters = _stored(first)
    incremental = _resolve(
        rows, Matching(parameters, first.matching.view, first.edges), previous=first, run_at=RUN2
    )
    assert incremental.matching is not None and incremental.matching.mode == "incremental"
    assert incremental.stats["pairs_scored"] == incremental.stats["records_re_resolved"] == 0
    _assert_same_tables(incremental, _resolve(rows, Matching(parameters), first, RUN2))
    pd.testing.assert_frame_equal(incremental.edges, first.edges)


def _without_customer(
    rows: list[dict[str, Any]], first: IdentityResolution, customer: str
) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame, int]:
    """What erasure leaves of one customer: its records gone from the staged rows, from the
    stored match view and from the stored edges (rows carrying its customer id)."""
    records = first.xref[
        (first.xref["customer_id"] == customer) & (first.xref["identity_kind"] == "record")
    ]
    erased = set(records["source_record_id"])
    assert first.matching is not None
    view = first.matching.view
    kept_view = view[~view["record_id"].isin(erased)].reset_index(drop=True)
    edges = first.edges[first.edges["customer_id"] != customer].reset_index(drop=True)
    left = [row for row in rows if row["record_id"] not in erased]
    return left, kept_view, edges, len(erased)


def test_after_an_erasure_incremental_equals_a_full_resolution_with_the_same_parameters(
    base,  # noqa: ANN001
) -> None:
    """Erasure deletes a customer's records and their stored match view; the next night's
    new records resolve incrementally, as a full resolution with the same parameters does."""
    rows, first = base
    sizes = first.xref[first.xref["identity_kind"] == "record"].groupby("customer_id").size()
    customer = str(sizes[sizes >= 3].index[0])
    left, view, edges, erased = _without_customer(rows, first, customer)
    assert erased >= 3
    day = left + [
        {"source": "shop", "record_id": f"z_dup{n}", **{k: v for k, v in r.items() if k in FIELDS}}
        for n, r in enumerate(left[40:44])
    ]
    parameters = _stored(first)
    incremental = _resolve(
        day, Matching(parameters, view, edges, erased_records=erased), first, RUN2
    )
    full = _resolve(day, Matching(parameters), first, RUN2)
    assert incremental.matching is not None and incremental.matching.mode == "incremental"
    assert incremental.stats["records_removed"] == erased
    assert incremental.stats["records_new"] == 4
    _assert_same_tables(incremental, full)
    assert customer not in set(incremental.xref["customer_id"])


def test_after_an_erasure_the_blocks_near_their_size_limit_are_matched_again(base) -> None:  # noqa: ANN001
    """With blocks of at most 3 records, a present block of 3 (or 2 and 3 for two records
    erased) may have held the erased records over the limit (skipped then, joined now): its
    records are matched again, and the result is the full resolution's."""
    rows, _ = base
    small = {"probabilistic": {"max_block_size": 3}}
    first = _resolve(rows, identity=small)
    sizes = first.xref[first.xref["identity_kind"] == "record"].groupby("customer_id").size()
    customer = str(sizes[sizes >= 2].index[0])
    left, view, edges, erased = _without_customer(rows, first, customer)
    parameters = _stored(first)
    result = _resolve(
        left, Matching(parameters, view, edges, erased_records=erased), first, RUN2, identity=small
    )
    full = _resolve(left, Matching(parameters), first, RUN2, identity=small)
    assert result.matching is not None and result.matching.mode == "incremental"
    assert result.stats["probabilistic_blocks_near_limit"] >= 1
    assert "erasures" in result.matching.reason
    _assert_same_tables(result, full)


def test_blocks_near_limit_counts_blocks_an_erased_record_may_have_held_over() -> None:
    """Four records in one postal code and surname initial block, two in another."""
    people = [("Ann", "Smith"), ("Bob", "Stone"), ("Cy", "Shaw"), ("Di", "Sykes")]
    recs = records(
        [
            {"source": "shop", "record_id": f"a{i}", "first_name": f, "last_name": s,
             "postal_code": "LS1 1AA"}
            for i, (f, s) in enumerate(people)
        ]
        + [
            {"source": "shop", "record_id": f"b{i}", "first_name": f, "last_name": "Jones",
             "postal_code": "M1 2BB"}
            for i, f in enumerate(("Eve", "Fay"))
        ]
    )  # fmt: skip
    features = prepare_features(recs)
    present = np.ones(features.size, dtype=bool)
    rule = ["postal_code_surname_initial"]

    def near(vanished: int, limit: int, rows: np.ndarray = present) -> int:
        return blocks_near_limit(features, rows, vanished, rule, limit).blocks

    assert near(1, 4) == 1  # the block of 4 is at the limit: a fifth record made it skipped
    assert near(1, 5) == 0  # 4 + 1 is not over 5
    assert near(2, 5) == 1
    assert near(3, 4) == 2  # (1, 4]: the blocks of 4 and of 2
    assert near(0, 4) == 0  # nothing erased, nothing to suspect
    assert near(1, 3, np.r_[True, True, True, False, True, True]) == 1  # three present


def test_a_cross_join_block_counts_an_erased_record_on_both_sides() -> None:
    """The swapped-names rule joins surname = first name: a record named "Lee Lee" sits on
    both sides of its block, so one erased record may have taken two entries from it."""
    rows = [
        {"source": "shop", "record_id": "a", "first_name": "Lee", "last_name": "Lee",
         "postal_code": "LS1 1AA"},
        {"source": "shop", "record_id": "b", "first_name": "Kim", "last_name": "Lee",
         "postal_code": "LS1 1AA"},
        {"source": "shop", "record_id": "c", "first_name": "Lee", "last_name": "Park",
         "postal_code": "LS1 1AA"},
    ]  # fmt: skip
    features = prepare_features(records(rows))
    present = np.ones(features.size, dtype=bool)
    rule = ["swapped_names"]
    # Entries of the "Lee" + LS1 1AA block: a and b as surnames, a and c as first names.
    assert blocks_near_limit(features, present, 1, rule, 4).blocks == 1  # 4 in (2, 4]
    assert blocks_near_limit(features, present, 1, rule, 5).blocks == 1  # 4 + 2 entries > 5
    assert blocks_near_limit(features, present, 1, rule, 6).blocks == 0
    assert (
        blocks_near_limit(features, present, 1, rule, 3).blocks == 0
    )  # over the limit: skipped now


def test_incremental_compares_on_the_features_of_its_pairs_records_only(
    base,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every record is blocked (without normalising emails and phones, which no blocking
    rule reads), but only the records of the candidate pairs get their emails and phones
    normalised and are compared — and the links are still those of a full resolution with
    the same parameters."""
    rows, first = base
    day = _next_day(rows, first)
    parameters = _stored(first)
    assert first.matching is not None
    prepared: list[tuple[int, bool]] = []
    compared: list[int] = []

    def recorded_prepare(frame: pd.DataFrame, identifiers: bool = True):  # noqa: ANN202
        prepared.append((len(frame), identifiers))
        return prepare_features(frame, identifiers)

    def recorded_rows(features, rows: np.ndarray, records: pd.DataFrame):  # noqa: ANN001, ANN202
        compared.append(len(rows))
        return features_of_rows(features, rows, records)

    monkeypatch.setattr(probabilistic, "prepare_features", recorded_prepare)
    monkeypatch.setattr(probabilistic, "features_of_rows", recorded_rows)
    incremental = _resolve(
        day, Matching(parameters, first.matching.view, first.edges), previous=first, run_at=RUN2
    )
    monkeypatch.undo()
    full = _resolve(day, Matching(parameters), previous=first, run_at=RUN2)
    _assert_same_tables(incremental, full)
    [(blocked, identifiers)] = prepared
    assert identifiers is False and blocked >= len(day)  # all records (and ghosts)
    [pair_records] = compared
    assert 0 < pair_records < len(day) / 5
    assert pair_records <= 2 * incremental.stats["pairs_scored"]


def test_features_without_identifiers_block_as_the_full_features_do() -> None:
    recs = records(_population())
    full, blocking = prepare_features(recs), prepare_features(recs, identifiers=False)
    assert (blocking.email_key.codes == -1).all() and (blocking.phone.codes == -1).all()
    assert (full.email_key.codes >= 0).any()
    a, b = candidate_pairs(full), candidate_pairs(blocking)
    np.testing.assert_array_equal(a.left, b.left)
    np.testing.assert_array_equal(a.right, b.right)
    np.testing.assert_array_equal(a.rule, b.rule)


def test_pairs_compare_alike_on_the_rows_of_blocking_features() -> None:
    """Levels of pairs on `features_of_rows` (blocking features, some rows, identifiers
    normalised for them) are those on the features of all records."""
    recs = records(_population())
    full = prepare_features(recs)
    pairs = candidate_pairs(full)
    rows, inverse = np.unique(np.r_[pairs.left, pairs.right], return_inverse=True)
    some = features_of_rows(
        prepare_features(recs, identifiers=False), rows, recs.iloc[rows].reset_index(drop=True)
    )
    left, right = inverse[: len(pairs)], inverse[len(pairs) :]
    expected = compare_pairs(full, pairs.left, pairs.right)
    got = compare_pairs(some, left, right)
    assert len(rows) < len(recs) and (expected.levels[:, 6] > 0).any()  # emails compared
    np.testing.assert_array_equal(got.levels, expected.levels)
    np.testing.assert_array_equal(got.name_order, expected.name_order)
