"""Deterministic stitching, over-merge protection, profile limits, overrides and stable ids."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_assets.identity.nodes import graph_nodes
from cdp_assets.identity.records import split_full_names
from cdp_assets.identity.resolve import IdentityResolution, resolve_identities
from cdp_assets_tests.identity.helpers import combos, config, no_density, no_previous, records

RUN1 = pd.Timestamp("2026-11-01", tz="UTC")
RUN2 = pd.Timestamp("2026-11-02", tz="UTC")
RUN3 = pd.Timestamp("2026-11-03", tz="UTC")


def resolve(
    recs: pd.DataFrame,
    facts: pd.DataFrame | None = None,
    identity: dict | None = None,
    previous: IdentityResolution | None = None,
    run_at: pd.Timestamp = RUN1,
    density: pd.DataFrame | None = None,
) -> IdentityResolution:
    cfg = config({"probabilistic": {"enabled": False}} | (identity or {}))
    graph = graph_nodes(recs, facts if facts is not None else combos([]), cfg)
    prev, aliases = no_previous()
    if previous is not None:
        prev, aliases = previous.assignments, previous.ids.aliases
    return resolve_identities(
        recs,
        graph,
        density if density is not None else no_density(),
        prev,
        aliases,
        cfg.identity,
        run_at,
    )


def customer_of(result: IdentityResolution, source: str, record_id: str) -> str:
    xref = result.xref
    row = xref[(xref["source"] == source) & (xref["source_record_id"] == record_id)]
    assert len(row) == 1, f"{source}:{record_id} has {len(row)} xref rows"
    return str(row["customer_id"].iloc[0])


def test_full_names_split_into_first_and_last() -> None:
    first, last = split_full_names(
        pd.Series(
            ["Jane Doe", "Doe, Jane", "DOE Jane", "王小明", "欧阳娜娜", "Mary Ann Smith", "Cher"]
        )
    )
    assert first.tolist() == ["Jane", "Jane", "Jane", "小明", "娜娜", "Mary Ann", "Cher"]
    assert last.fillna("-").tolist() == ["Doe", "Doe", "Doe", "王", "欧阳", "Smith", "-"]


def test_email_phone_and_loyalty_stitch_records_across_sources() -> None:
    recs = records(
        [
            {"source": "shop", "record_id": "A1", "email_key": "ann@x.com", "first_name": "Ann"},
            {"source": "crm", "record_id": "C1", "email_key": "ann@x.com", "phone": "+15550001"},
            {"source": "crm", "record_id": "C2", "phone": "+15550001", "loyalty_id": "L9"},
            {"source": "shop", "record_id": "A2", "email_key": "bob@x.com", "first_name": "Bob"},
        ]
    )
    result = resolve(recs)
    ann = {
        customer_of(result, "shop", "A1"),
        customer_of(result, "crm", "C1"),
        customer_of(result, "crm", "C2"),
    }
    assert len(ann) == 1
    assert customer_of(result, "shop", "A2") not in ann
    assert result.stats["customers"] == 2
    linked = result.edges[result.edges["status"] == "linked"]
    assert sorted(linked["rule"]) == ["email_key", "phone"]


def test_fact_references_identifier_sets_and_logins_join_their_customer() -> None:
    recs = records([{"source": "shop", "record_id": "A1", "email_key": "ann@x.com"}])
    facts = combos(
        [
            {"source": "orders", "customer_ref": "A1"},  # reference to the account
            {"source": "orders", "customer_ref": "A404"},  # reference to no known account
            {"source": "pos", "phone": "+15550002", "email_key": "ann@x.com"},
            {"source": "web", "customer_ref": "A1", "anonymous_id": "cookie-1"},
            {"source": "web", "anonymous_id": "cookie-1"},  # before login: same cookie
            {"source": "web", "anonymous_id": "cookie-2"},  # a visitor who never logs in
        ]
    )
    result = resolve(recs, facts)
    ann = customer_of(result, "shop", "A1")
    xref = result.xref.set_index(["source", "identity_kind", "source_record_id"])
    assert xref.loc[("orders", "customer_ref", "A1"), "customer_id"] == ann
    assert xref.loc[("orders", "customer_ref", "A1"), "match_rule"] == "customer_ref"
    assert xref.loc[("pos", "identifiers", "email:ann@x.com|phone:+15550002"), "customer_id"] == ann
    assert xref.loc[("web", "anonymous_id", "cookie-1"), "customer_id"] == ann
    assert xref.loc[("orders", "customer_ref", "A404"), "customer_id"] != ann
    assert ("web", "anonymous_id", "cookie-2") not in xref.index  # anonymous stays anonymous
    assert result.node_customer.isna().sum() == 1


def test_household_landline_is_shared_and_does_not_merge_two_people() -> None:
    recs = records(
        [
            {
                "source": "shop",
                "record_id": "A1",
                "first_name": "Ann",
                "last_name": "Lee",
                "birth_date": "1980-01-02",
                "phone": "+442071234567",
            },
            {
                "source": "crm",
                "record_id": "C1",
                "first_name": "Tom",
                "last_name": "Lee",
                "birth_date": "1978-05-06",
                "phone": "+442071234567",
            },
            # Ann again with a nickname-free typo and a transposed birth date: same person.
            {
                "source": "crm",
                "record_id": "C2",
                "first_name": "Anne",
                "last_name": "Lee",
                "birth_date": "1980-02-01",
                "email_key": "ann@x.com",
            },
            {
                "source": "shop",
                "record_id": "A2",
                "email_key": "ann@x.com",
                "first_name": "Ann",
                "birth_date": "1980-01-02",
            },
        ]
    )
    result = resolve(recs)
    assert customer_of(result, "shop", "A1") != customer_of(result, "crm", "C1")
    assert customer_of(result, "crm", "C2") == customer_of(result, "shop", "A2")
    shared = result.shared.set_index(["type", "value"])
    assert shared.loc[("phone", "+442071234567"), "rule"] == "conflicting_people"


def test_nickname_and_swapped_names_do_not_count_as_different_people() -> None:
    recs = records(
        [
            {
                "source": "shop",
                "record_id": "A1",
                "first_name": "William",
                "last_name": "Ng",
                "phone": "+15551112222",
            },
            {
                "source": "crm",
                "record_id": "C1",
                "first_name": "Bill",
                "last_name": "Ng",
                "phone": "+15551112222",
            },
            {
                "source": "crm",
                "record_id": "C2",
                "first_name": "Ng",
                "last_name": "William",
                "phone": "+15551112222",
            },
        ]
    )
    result = resolve(recs)
    assert result.shared.empty
    assert result.stats["customers"] == 1


def test_blocked_values_too_many_records_and_dense_facts_are_not_used() -> None:
    recs = records(
        [{"source": "shop", "record_id": f"A{i}", "email_key": "test@shop.com"} for i in range(2)]
        + [{"source": "crm", "record_id": f"C{i}", "loyalty_id": "L1"} for i in range(3)]
    )
    facts = combos(
        [{"source": "pos", "phone": "+12127770142"}, {"source": "pos", "phone": "+12127779999"}]
    )
    density = pd.DataFrame(
        {
            "type": ["phone", "phone"],
            "value": ["+12127770142", "+12127779999"],
            "max_rows_per_day": [25, 2],
        }
    ).astype({"max_rows_per_day": "int64"})
    result = resolve(
        recs, facts, identity={"identifier_limits": {"loyalty_id": 2}}, density=density
    )
    rules = dict(zip(result.shared["value"], result.shared["rule"], strict=True))
    assert rules == {
        "test@shop.com": "blocked_value",
        "L1": "too_many_records",
        "+12127770142": "dense_facts",
    }
    assert result.stats["customers"] == 2 + 3 + 1  # the store's phone makes no customer
    xref = result.xref.set_index(["source", "source_record_id"])
    assert ("pos", "phone:+12127770142") not in xref.index
    assert ("pos", "phone:+12127779999") in xref.index


def test_oversized_cluster_is_split_along_its_weakest_link() -> None:
    # Two people chained by one phone typo'd into the wrong record; emails and birth dates
    # say there are two: the phone link (weaker than email) is cut.
    recs = records(
        [
            {
                "source": "shop",
                "record_id": "A1",
                "email_key": "a@x.com",
                "birth_date": "1990-01-01",
            },
            {"source": "crm", "record_id": "C1", "email_key": "a@x.com", "phone": "+15550000001"},
            {
                "source": "shop",
                "record_id": "A2",
                "email_key": "b@x.com",
                "birth_date": "1970-06-30",
                "phone": "+15550000001",
            },
            {
                "source": "crm",
                "record_id": "C2",
                "email_key": "b@x.com",
                "birth_date": "1970-06-30",
            },
        ]
    )
    result = resolve(recs, identity={"profile_limits": {"emails": 1}})
    assert customer_of(result, "shop", "A1") == customer_of(result, "crm", "C1")
    assert customer_of(result, "shop", "A2") == customer_of(result, "crm", "C2")
    assert customer_of(result, "shop", "A1") != customer_of(result, "shop", "A2")
    cut = result.edges[result.edges["status"].str.startswith("cut")]
    assert cut["rule"].tolist() == ["phone"]
    assert "2 emails > 1" in cut["status"].iloc[0]
    assert len(result.splits) == 1


def test_must_link_and_cannot_link_overrides() -> None:
    recs = records(
        [
            {"source": "shop", "record_id": "A1", "email_key": "a@x.com"},
            {"source": "crm", "record_id": "C1", "email_key": "a@x.com"},
            {"source": "crm", "record_id": "C9", "first_name": "Zed"},
        ]
    )
    result = resolve(
        recs,
        identity={
            "must_link": [{"left": "shop:A1", "right": "crm:C9"}],
            "cannot_link": [{"left": "shop:A1", "right": "crm:C1"}],
        },
    )
    assert customer_of(result, "shop", "A1") == customer_of(result, "crm", "C9")
    assert customer_of(result, "shop", "A1") != customer_of(result, "crm", "C1")


def test_ids_are_stable_across_runs_with_additions_merges_and_splits() -> None:
    ann = {"source": "shop", "record_id": "A1", "email_key": "ann@x.com"}
    bob = {"source": "shop", "record_id": "A2", "email_key": "bob@x.com"}
    first = resolve(records([ann, bob]))
    ann_id, bob_id = customer_of(first, "shop", "A1"), customer_of(first, "shop", "A2")
    assert (ann_id, bob_id) == ("C000000001", "C000000002")
    assert sorted(first.ids.events["event"]) == ["new", "new"]

    # Unchanged input: unchanged ids, no events but none.
    again = resolve(records([ann, bob]), previous=first, run_at=RUN2)
    assert customer_of(again, "shop", "A1") == ann_id and again.ids.events.empty

    # Run 2: a CRM record carrying both emails merges them; the older id survives.
    both = {"source": "crm", "record_id": "C1", "email_key": "ann@x.com", "phone": "+15551230000"}
    bob_phone = {**bob, "phone": "+15551230000"}
    second = resolve(records([ann, bob_phone, both]), previous=first, run_at=RUN2)
    assert {customer_of(second, "shop", r) for r in ("A1", "A2")} == {ann_id}
    assert customer_of(second, "crm", "C1") == ann_id
    merge = second.ids.events[second.ids.events["event"] == "merge"]
    assert merge[["customer_id", "other_customer_id"]].values.tolist() == [[ann_id, bob_id]]
    assert "phone: +15551230000" in merge["evidence"].iloc[0]
    assert second.ids.aliases[["alias_id", "customer_id"]].values.tolist() == [[bob_id, ann_id]]

    # Run 3: the CRM record loses its phone: Bob leaves and gets a new id; Ann keeps hers.
    both_no_phone = {**both, "phone": None}
    third = resolve(records([ann, bob_phone, both_no_phone]), previous=second, run_at=RUN3)
    assert customer_of(third, "shop", "A1") == ann_id
    new_bob = customer_of(third, "shop", "A2")
    assert new_bob == "C000000003"  # minted after every id ever issued, never reused
    split = third.ids.events[third.ids.events["event"] == "split"]
    assert split[["customer_id", "other_customer_id"]].values.tolist() == [[new_bob, ann_id]]
    # The superseded id still resolves to a current one.
    assert third.ids.aliases.set_index("alias_id").loc[bob_id, "customer_id"] == ann_id


def test_record_removed_retires_its_id() -> None:
    ann = {"source": "shop", "record_id": "A1", "email_key": "ann@x.com"}
    bob = {"source": "shop", "record_id": "A2", "email_key": "bob@x.com"}
    first = resolve(records([ann, bob]))
    second = resolve(records([ann]), previous=first, run_at=RUN2)
    assert second.ids.events[["event", "customer_id"]].values.tolist() == [
        ["retired", "C000000002"]
    ]


@pytest.mark.parametrize("limit", [1, 2])
def test_birth_date_limit_folds_transpositions(limit: int) -> None:
    recs = records(
        [
            {
                "source": "shop",
                "record_id": "A1",
                "email_key": "a@x.com",
                "birth_date": "1990-03-04",
            },
            {
                "source": "crm",
                "record_id": "C1",
                "email_key": "a@x.com",
                "birth_date": "1990-04-03",
            },
        ]
    )
    result = resolve(recs, identity={"profile_limits": {"birth_dates": limit}})
    assert result.stats["customers"] == 1 and result.splits.empty


def test_facts_without_any_customer_record_become_nodes_of_their_own() -> None:
    # An orders-only brand: no customers source holds a record the references could name.
    recs = records([{"source": "shop", "record_id": "A1"}]).iloc[:0]
    facts = combos(
        [
            {"source": "orders", "customer_ref": "B2"},
            {"source": "orders", "customer_ref": "A1"},
            {"source": "orders", "customer_ref": "B2"},
            {"source": "web", "anonymous_id": "cookie-1"},
        ]
    )
    graph = graph_nodes(recs, facts, config({"probabilistic": {"enabled": False}}))
    nodes = graph.nodes[["node", "kind", "source", "source_record_id"]]
    assert nodes.astype(str).values.tolist() == [
        ["0", "anon", "web", "cookie-1"],
        ["1", "ref", "shop", "A1"],
        ["2", "ref", "shop", "B2"],
    ]
    assert graph.combo_nodes["node"].tolist() == [2, 1, 2, 0]
