"""An incremental resolution that clusters only the components touched by what changed
(`identity.components`) leaves the identity tables exactly as a full resolution with the same
matching parameters leaves them: the re-resolved rows replace those of the customers they
held, every other row stays as stored."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cdp_assets.defs.identity.resolution import EDGE_KEY
from cdp_assets.identity import components
from cdp_assets.identity.components import (
    StoredIdentity,
    stale_unresolved_edges,
    touched_fact_identities,
)
from cdp_assets.identity.match_parameters import MatchParameters
from cdp_assets.identity.nodes import graph_nodes
from cdp_assets.identity.resolve import IdentityResolution, Matching, resolve_identities
from cdp_assets_tests.identity.helpers import combos, config, no_density, no_previous, records
from cdp_assets_tests.identity.probabilistic_records import synthetic_population
from cdp_assets_tests.identity.test_incremental_matching import FIELDS, _person, _population

RUN1 = pd.Timestamp("2026-11-01", tz="UTC")
RUN2 = pd.Timestamp("2026-11-02", tz="UTC")


def _rows() -> list[dict[str, Any]]:
    rows = _population()
    # One phone, two records of one woman and one of a man unlike her: shared (conflicting
    # people) until his record goes.
    rows.append(_person("h1", "Harriet", "Bloom", "1970-03-04", "5 Ash Row", "hb1@x.test"))
    rows.append(_person("h2", "Harriet", "Kestrel", "1970-03-04", "8 Birch Way", "hb2@x.test"))
    rows.append(_person("h3", "Bartholomew", "Crane", "1950-11-12", "2 Fen Lane", "bc@x.test"))
    for row in rows[-3:]:
        row["phone"] = "+441130000001"
    # One woman's six records, each with an email of its own, chained by loyalty cards: six
    # emails break the profile limit (4), so the cluster is split along its weakest links.
    for i in range(6):
        street = f"{i + 1} Chain Walk"
        row = _person(f"w{i}", "Winifred", "Ashdown", "1966-09-10", street, f"wa{i}@x.test")
        row["loyalty_id"] = f"LC{i // 2}"  # w0-w1, w2-w3, w4-w5
        row["phone"] = f"+4411300100{min(i, 4) // 2}0" if i % 2 else f"+4411300100{i // 2}0"
        rows.append(row)
    return rows


def _facts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Orders naming a shop record, till orders with an email, web visits: logged-in,
    anonymous, and an anonymous id seen with an identifier set whose phone is shared."""
    email = next(r["email_key"] for r in rows if "email_key" in r and r["source"] == "shop")
    return [
        {"source": "orders", "customer_ref": "r0003"},
        {"source": "orders", "customer_ref": "r9999", "phone": "+441130000077"},
        {"source": "orders", "customer_ref": "r0007", "email_key": "other@mail.test"},
        {"source": "pos", "email_key": email},
        {"source": "pos", "email_key": "till.only@mail.test", "phone": "+441130000099"},
        {"source": "web", "customer_ref": "r0012", "anonymous_id": "cookie-1"},
        {"source": "web", "anonymous_id": "cookie-1"},
        {"source": "web", "anonymous_id": "cookie-lonely"},
        {"source": "pos", "phone": "+441130000001", "anonymous_id": "cookie-2"},
        {"source": "web", "anonymous_id": "cookie-2"},
    ]


def _resolve(
    rows: list[dict[str, Any]],
    facts: list[dict[str, Any]],
    matching: Matching = Matching(),  # noqa: B008 - frozen
    previous: IdentityResolution | None = None,
    stored: StoredIdentity | None = None,
    run_at: pd.Timestamp = RUN1,
) -> tuple[IdentityResolution, pd.DataFrame]:
    """A resolution and its fact identities (core.fact_identities)."""
    recs = records(rows)
    cfg = config()
    graph = graph_nodes(recs, combos(facts), cfg)
    prev, aliases = no_previous()
    if previous is not None:
        prev, aliases = previous.assignments, previous.ids.aliases
    result = resolve_identities(
        recs, graph, no_density(), prev, aliases, cfg.identity, run_at, matching, stored
    )
    fact_map = graph.combo_nodes.copy()
    node = fact_map.pop("node")
    fact_map["customer_id"] = result.node_customer.reindex(
        node.astype("float").to_numpy()
    ).to_numpy()
    fact_map = fact_map.astype("string").reset_index(drop=True)
    if result.restriction is not None:
        assert stored is not None
        result.fact_rows = touched_fact_identities(
            fact_map, node.reset_index(drop=True), result.restriction, stored.combos
        )
    return result, fact_map


def _parameters(result: IdentityResolution) -> MatchParameters:
    assert result.matching is not None and result.matching.learnt is not None
    return MatchParameters.from_tables(*result.matching.learnt.as_tables(RUN1, "settings"))


def _stored(result: IdentityResolution, fact_map: pd.DataFrame) -> StoredIdentity:
    """What the warehouse holds after `result` was written."""
    assert result.matching is not None and result.record_state is not None
    view = result.matching.view.assign(
        record_hash=result.record_state["record_hash"].to_numpy(),
        customer_id=result.record_state["customer_id"].to_numpy(),
    )
    edges = result.edges
    cut = edges[edges["status"] != "linked"]
    return StoredIdentity(
        assignments=result.assignments,
        shared=result.shared,
        records=view[["source", "record_id", "record_hash", "customer_id"]],
        combos=fact_map,
        cut=pd.DataFrame(
            {
                f"{end}_key": cut[f"{end}_kind"]
                + "|"
                + cut[f"{end}_source"]
                + "|"
                + cut[f"{end}_record_id"]
                for end in ("left", "right")
            }
        ),
    )


def _written(
    first: IdentityResolution, first_facts: pd.DataFrame, now: IdentityResolution
) -> dict[str, pd.DataFrame]:
    """The seven tables after the incremental write (as `defs.identity.resolution` does it
    in SQL): rows of the touched customers, and stale edges of no customer, replaced."""
    restriction = now.restriction
    assert restriction is not None and restriction.touched_keys is not None
    assert restriction.current_keys is not None
    gone = set(restriction.customers)

    def replaced(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([before[~before["customer_id"].isin(gone)], after], ignore_index=True)

    edges = replaced(first.edges, now.edges)
    unresolved = first.edges.loc[first.edges["customer_id"].isna(), EDGE_KEY]
    stale = stale_unresolved_edges(unresolved, restriction.touched_keys, restriction.current_keys)
    drop = edges[EDGE_KEY].merge(stale.assign(_stale=True), on=EDGE_KEY, how="left")["_stale"]
    edges = edges[~(edges["customer_id"].isna() & drop.notna()).to_numpy()]
    assert now.fact_rows is not None
    insert, stale = now.fact_rows
    kept_facts = first_facts[~first_facts["customer_id"].isin(gone)]
    unresolved = kept_facts["customer_id"].isna()
    hit = kept_facts.merge(stale.assign(_stale=True), how="left")["_stale"].notna().to_numpy()
    facts = pd.concat([kept_facts[~(unresolved.to_numpy() & hit)], insert], ignore_index=True)
    return {
        "customer_xref": replaced(first.xref, now.xref),
        "identity_edges": edges,
        "identity_nodes": replaced(first.assignments, now.assignments),
        "identity_merges": now.ids.events,
        "customer_id_aliases": now.ids.aliases,
        "shared_identifiers": now.shared,
        "fact_identities": facts,
    }


def _tables(result: IdentityResolution, facts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "customer_xref": result.xref,
        "identity_edges": result.edges,
        "identity_nodes": result.assignments,
        "identity_merges": result.ids.events,
        "customer_id_aliases": result.ids.aliases,
        "shared_identifiers": result.shared,
        "fact_identities": facts,
    }


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    columns = list(table.columns)
    text = table.astype("string")
    return text.sort_values(columns, ignore_index=True, na_position="first")


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(_sorted(a[name]), _sorted(b[name]), obj=name)


@pytest.fixture(scope="module")
def base() -> tuple[list, list, IdentityResolution, pd.DataFrame]:
    rows = _rows()
    facts = _facts(rows)
    first, fact_map = _resolve(rows, facts)
    return rows, facts, first, fact_map


def _without(rows: list[dict[str, Any]], *record_ids: str) -> list[dict[str, Any]]:
    return [row for row in rows if row["record_id"] not in record_ids]


def _changed(rows: list[dict[str, Any]], record_id: str, **values: Any) -> list[dict[str, Any]]:
    return [dict(row, **values) if row["record_id"] == record_id else row for row in rows]


def _by_id(rows: list[dict[str, Any]], record_id: str) -> dict[str, Any]:
    return next(row for row in rows if row["record_id"] == record_id)


def _day(name: str, rows: list, facts: list) -> tuple[list, list]:
    """One kind of change of the next day."""
    if name == "joins_a_customer":
        twin = {k: v for k, v in rows[10].items() if k in FIELDS}
        return [*rows, {"source": "shop", "record_id": "z_dup", **twin}], facts
    if name == "bridges_two_customers":
        bridge = {k: v for k, v in _by_id(rows, "b_new").items() if k != "email_key"}
        return [*rows, bridge | {"record_id": "z_bridge", "email_key": "pm@mail.test"}], facts
    if name == "leaves_a_customer":
        return _changed(rows, "s2", email_key="q.lindqvist@mail.test"), facts
    if name == "record_removed":
        return _without(rows, rows[30]["record_id"], "b_old"), facts
    if name == "value_becomes_shared":
        other = _person("z_other", "Cornelius", "Vane", "1944-01-01", "1 Top Rd", "pm@mail.test")
        return [*rows, other], facts
    if name == "value_ceases_to_be_shared":
        return _without(rows, "h3"), facts
    if name == "loyalty_id_only_changes":
        return _changed(rows, "h1", loyalty_id="L-77"), facts
    if name == "fact_joins_a_customer":
        email = _by_id(rows, "b_old")["email_key"]
        return rows, [*facts, {"source": "pos", "email_key": email, "phone": "+441139999999"}]
    if name == "anonymous_ids":
        new = [
            {"source": "web", "customer_ref": "r0015", "anonymous_id": "cookie-lonely"},
            {"source": "web", "anonymous_id": "cookie-new"},
        ]
        gone = {"cookie-2"}
        return rows, [f for f in facts if f.get("anonymous_id") not in gone] + new
    if name == "named_record_removed":  # its orders now name a reference of their own
        return _without(rows, "r0003"), facts
    if name == "named_record_arrives":
        arrived = {"source": "shop", "record_id": "r9999", "first_name": "Ignatius"}
        return [*rows, arrived | {"last_name": "Pole", "birth_date": "1990-02-02"}], facts
    if name == "split_cluster_shrinks":
        return _without(rows, "w4", "w5"), facts
    if name == "fact_removed":
        return rows, [f for f in facts if f.get("customer_ref") != "r0007"]
    raise AssertionError(name)


DAYS = (
    "joins_a_customer",
    "bridges_two_customers",
    "leaves_a_customer",
    "record_removed",
    "value_becomes_shared",
    "value_ceases_to_be_shared",
    "loyalty_id_only_changes",
    "fact_joins_a_customer",
    "anonymous_ids",
    "fact_removed",
    "split_cluster_shrinks",
    "named_record_arrives",
    "named_record_removed",
)


def _incremental_and_frozen(base, day_rows, day_facts):  # noqa: ANN001, ANN202
    rows, facts, first, fact_map = base
    assert first.matching is not None
    parameters = _parameters(first)
    stored = _stored(first, fact_map)
    matching = Matching(parameters, first.matching.view, first.edges)
    now, now_facts = _resolve(day_rows, day_facts, matching, first, stored, RUN2)
    full, full_facts = _resolve(day_rows, day_facts, Matching(parameters), first, None, RUN2)
    return now, now_facts, full, full_facts


@pytest.mark.parametrize("day", DAYS)
def test_touched_components_resolve_as_a_frozen_full_resolution(base, day: str) -> None:  # noqa: ANN001
    rows, facts, first, fact_map = base
    day_rows, day_facts = _day(day, rows, facts)
    now, now_facts, full, full_facts = _incremental_and_frozen(base, day_rows, day_facts)
    assert now.matching is not None and now.matching.mode == "incremental"
    assert now.restriction is not None, now.scope
    assert now.scope.startswith("touched components")
    # Only a small part of the graph was clustered again.
    assert 0 < now.stats["nodes_re_resolved"] < len(day_rows) / 10
    _assert_same(_written(first, fact_map, now), _tables(full, full_facts))
    pd.testing.assert_series_equal(
        now.node_customer.reset_index(drop=True),
        full.node_customer.reset_index(drop=True),
        check_dtype=False,
    )


def test_the_cases_change_what_they_say(base) -> None:  # noqa: ANN001
    """The days above do merge, split, share and unshare (so the equality means something)."""
    rows, facts, first, fact_map = base
    customer = first.xref.set_index(["source", "source_record_id"])["customer_id"]
    assert customer[("crm", "h1")] != customer[("crm", "h2")]
    assert ((first.shared["type"] == "phone") & (first.shared["value"] == "+441130000001")).any()

    now, *_ = _incremental_and_frozen(base, *_day("value_ceases_to_be_shared", rows, facts))
    after = now.xref.set_index(["source", "source_record_id"])["customer_id"]
    assert after[("crm", "h1")] == after[("crm", "h2")]
    assert (now.ids.events["event"] == "merge").sum() == 1

    now, *_ = _incremental_and_frozen(base, *_day("value_becomes_shared", rows, facts))
    assert (now.shared["value"] == "pm@mail.test").any()

    now, *_ = _incremental_and_frozen(base, *_day("leaves_a_customer", rows, facts))
    assert (now.ids.events["event"] == "split").sum() == 1

    now, *_ = _incremental_and_frozen(base, *_day("bridges_two_customers", rows, facts))
    assert (now.ids.events["event"] == "merge").sum() == 1


def test_forgetting_the_stored_shared_values_breaks_the_equality(
    base,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared-value closure is what makes a value that stops being shared link its
    carriers: a restriction that judges only the changed records' values misses it."""
    rows, facts, first, fact_map = base
    day_rows, day_facts = _day("value_ceases_to_be_shared", rows, facts)
    original = components.candidate_values

    def forgetful(graph, changed_nodes, stored_shared, density, config):  # noqa: ANN001, ANN202
        return original(graph, changed_nodes, stored_shared.iloc[:0], density, config)

    monkeypatch.setattr("cdp_assets.identity.resolve.candidate_values", forgetful)
    now, now_facts, full, full_facts = _incremental_and_frozen(base, day_rows, day_facts)
    with pytest.raises(AssertionError):
        _assert_same(_written(first, fact_map, now), _tables(full, full_facts))


def test_many_touched_nodes_resolve_the_whole_graph(base) -> None:  # noqa: ANN001
    rows, facts, first, fact_map = base
    assert first.matching is not None
    stored = _stored(first, fact_map)
    matching = Matching(_parameters(first), first.matching.view, first.edges, max_changed_share=1.0)
    changed = [dict(row, street="99 Other Street") for row in rows]
    now, _ = _resolve(changed, facts, matching, first, stored, RUN2)
    assert now.restriction is None
    assert "whole graph" in now.scope and "of the nodes" in now.scope
    assert np.all(now.node_customer.notna().to_numpy()[: len(rows)])


def test_nothing_identity_relevant_changed_resolves_no_node(base) -> None:  # noqa: ANN001
    """New inputs that change no record and no identity combination (an order of a known
    combination): nothing is clustered again and no row is written but the stored ones."""
    rows, facts, first, fact_map = base
    now, now_facts, full, full_facts = _incremental_and_frozen(base, rows, facts)
    assert now.restriction is not None
    assert now.stats["nodes_re_resolved"] == now.stats["customers_re_resolved"] == 0
    assert len(now.xref) == len(now.edges) == len(now.assignments) == len(now.ids.events) == 0
    _assert_same(_written(first, fact_map, now), _tables(full, full_facts))


def _random_population(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Records and fact combinations with much overlap: emails of one person, emails five
    households share, phones and loyalty ids drawn from small pools, orders naming records
    (and records that do not exist), visits with cookies."""
    rng = random.Random(seed)
    frame, person = synthetic_population(people=150, duplicates=60, households=20, seed=seed)
    rows = []
    for i, row in frame.iterrows():
        values = {f: row[f] for f in FIELDS if pd.notna(row[f])}
        draw = rng.random()
        if draw < 0.4:
            values["email_key"] = f"p{person[i]}@x.test"
        elif draw < 0.5:
            values["email_key"] = f"shared{rng.randrange(5)}@x.test"
        if rng.random() < 0.3:
            values["phone"] = f"+44{rng.randrange(40):04d}"
        if rng.random() < 0.1:
            values["loyalty_id"] = f"L{rng.randrange(30)}"
        source = rng.choice(["shop", "crm"])
        rows.append({"source": source, "record_id": f"r{i:04d}", **values})
    facts = [_random_fact(rng, len(rows)) for _ in range(120)]
    return rows, _distinct(facts)


def _random_fact(rng: random.Random, records: int) -> dict[str, Any]:
    draw = rng.random()
    fact: dict[str, Any] = {"source": rng.choice(["pos", "web", "orders"])}
    if draw < 0.3:
        fact["customer_ref"] = f"r{rng.randrange(records + 20):04d}"
    if fact["source"] == "web":
        if rng.random() < 0.6:
            fact["anonymous_id"] = f"ck{rng.randrange(60)}"
        return fact
    if 0.2 < draw < 0.6:
        fact["email_key"] = rng.choice([f"p{rng.randrange(150)}@x.test", "shared1@x.test"])
    if 0.5 < draw < 0.7:
        fact["phone"] = f"+44{rng.randrange(40):04d}"
    return fact


def _distinct(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({tuple(sorted(f.items())): f for f in facts}.values())


def _random_day(
    rows: list[dict[str, Any]], facts: list[dict[str, Any]], rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One to five changes: copies, removals, emails and phones changed, a birth date
    changed, visits seen, a combination gone."""
    rows, facts = [dict(r) for r in rows], list(facts)
    for _ in range(rng.randrange(1, 6)):
        draw, row = rng.random(), rng.choice(rows)
        if draw < 0.3:
            rows.append(dict(row, record_id=f"{row['record_id']}n{rng.randrange(99)}"))
        elif draw < 0.5:
            rows.remove(row)
        elif draw < 0.7:
            row["email_key"] = rng.choice([f"p{rng.randrange(150)}@x.test", "shared2@x.test"])
        elif draw < 0.8:
            row["phone"] = f"+44{rng.randrange(40):04d}"
        elif draw < 0.85:
            row["birth_date"] = "1931-01-01"
        elif draw < 0.93:
            cookie = f"ck{rng.randrange(80)}"
            facts.append(
                {"source": "web", "customer_ref": row["record_id"], "anonymous_id": cookie}
            )
        elif facts:
            facts.pop(rng.randrange(len(facts)))
    return list({r["record_id"]: r for r in rows}.values()), _distinct(facts)


@pytest.mark.parametrize("seed", range(8))
def test_random_days_resolve_as_a_frozen_full_resolution(seed: int) -> None:
    """Seeded random populations and nights (40 seeds were run while writing this; 8 stay)."""
    rows, facts = _random_population(seed)
    first, fact_map = _resolve(rows, facts)
    base = (rows, facts, first, fact_map)
    day_rows, day_facts = _random_day(rows, facts, random.Random(seed * 7))
    now, now_facts, full, full_facts = _incremental_and_frozen(base, day_rows, day_facts)
    assert now.restriction is not None, now.scope
    _assert_same(_written(first, fact_map, now), _tables(full, full_facts))
