"""Erasure at scale keeps its answers: the rows selected in SQL hold every spelling the readers
would find, resolution on the partial identity tables names the same people with the same
identifiers as on whole tables, and the trace ledger skips only what it has proven clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig
from cdp_assets.privacy.candidates import CandidateFilter
from cdp_assets.privacy.erasure import (
    pending_requests,
    read_identity_tables,
    resolve,
    resolve_all,
)
from cdp_assets.privacy.identifiers import (
    Identifiers,
    email_values,
    matches,
    phone_values,
    record_values,
)
from cdp_assets.privacy.tables import table_values
from cdp_assets.privacy.trace import checksums, read_ledger, verified_traces
from cdp_assets.warehouse import TableRef, WarehouseSession, dispose_engines
from cdp_assets_tests.privacy.test_erasure import (
    BOB_EMAIL,
    BY_CUSTOMER,
    BY_EMAIL,
    BY_HOUSE_PHONE,
    BY_PHONE,
    BY_RECORD,
    HOUSE_PHONE,
    HOUSEHOLD_TABLES,
    JANE_EMAIL,
    NOBODY,
    build,
    engine_url,
    isolated,
    make_config,
    only,
    warehouse_tables,
)

SALT = b"scale-test-salt"


@pytest.fixture(params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return engine_url(request.param, tmp_path)


# --------------------------------------------------------------------------- candidates

SPELLINGS = [
    "J.Doe+News@GoogleMail.com",  # the matching key of jdoe@gmail.com
    "  JDOE@gmail.com ",
    "+1 (650) 253-0000",  # the phone +16502530000 in three spellings
    "650.253.0000",
    "001 650 253 0000",
    "https://shop.example/?e=jdoe%40gmail.com",  # percent-encoded: left to the readers
    "Jdoé@example.com",  # non-ASCII: left to the readers
    "A-17",  # the record shop_accounts:A-17
]
OTHERS = ["someone@else.com", "+1 650 253 9999", "B-18", "jdoe@example.com", None]


def _select(session: WarehouseSession, wanted: Identifiers) -> list[str | None]:
    ref = TableRef("activation", "spellings")
    session.replace_table(ref, pd.DataFrame({"text": [*SPELLINGS, *OTHERS]}, dtype="string"))
    rows = CandidateFilter(wanted, session.dialect)
    where = rows.where(["text"])
    frame = session.read_table(ref, where=where, params=rows.params_for(where))
    return frame["text"].tolist()


def test_candidate_rows_hold_every_spelling_of_a_wanted_value(url: str) -> None:
    wanted = Identifiers()
    wanted.add("email", ["jdoe@gmail.com"])
    wanted.add("phone", ["+16502530000"])
    wanted.add("record", ["shop_accounts:A-17"])
    try:
        with isolated(url) as session:
            selected = _select(session, wanted)
    finally:
        dispose_engines()
    assert sorted(selected) == sorted(SPELLINGS)
    # The readers find nothing outside the selection.
    text = pd.Series([*SPELLINGS, *OTHERS], dtype="string")
    values = email_values(text) + phone_values(text, "US")
    values.append(("record", record_values("shop_accounts", text)))
    found = set(text[matches(values, wanted, text.index)])
    assert found and found <= set(selected)


def test_nothing_wanted_selects_no_row(url: str) -> None:
    try:
        with isolated(url) as session:
            assert _select(session, Identifiers()) == []
    finally:
        dispose_engines()


# --------------------------------------------------------------------------- resolution

SCENARIOS: dict[str, tuple[list[dict[str, str]], tuple[str, ...] | None]] = {
    "jane four ways": ([BY_EMAIL, BY_PHONE, BY_CUSTOMER, BY_RECORD], None),
    "household phone alone": ([BY_HOUSE_PHONE], HOUSEHOLD_TABLES),
    "household phone and own email": (
        [{"request_id": "R6", "email": JANE_EMAIL, "phone": HOUSE_PHONE}],
        HOUSEHOLD_TABLES,
    ),
    "two people": ([{"request_id": "R7", "email": BOB_EMAIL, "customer_id": "C-JANE"}], None),
    "nobody": ([NOBODY], None),
    "jane and bob at once": ([BY_EMAIL, {"request_id": "R8", "email": BOB_EMAIL}], None),
}


def _outcome(subject: Any) -> tuple:
    values = {k: sorted(v) for k, v in subject.identifiers.values.items()}
    return (
        subject.request.request_id,
        subject.status,
        sorted(subject.customer_ids),
        values,
        subject.shared_kept,
        subject.people_matched,
        subject.hint,
    )


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_partial_identity_tables_resolve_as_whole_ones(
    scenario: str, url: str, tmp_path: Path
) -> None:
    requests, names = SCENARIOS[scenario]
    tables = warehouse_tables(requests)
    if names is not None:
        tables = only(tables, names)
    config = make_config(tmp_path)
    try:
        with isolated(url) as session:
            build(session, tables)
            pending = pending_requests(session, config)
            whole = read_identity_tables(session, config)
            expected = [_outcome(resolve(session, config, r, whole)) for r in pending]
            partial = read_identity_tables(session, config, pending)
            got = [_outcome(s) for s in resolve_all(session, config, pending, partial)]
            read = len(partial.xref), len(whole.xref)
    finally:
        dispose_engines()
    assert got == expected
    assert read[0] <= read[1]


# --------------------------------------------------------------------------- the ledger

PROFILES = TableRef("activation", "contacts")


def _contacts(session: WarehouseSession, rows: list[tuple[str, str]]) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "email"], dtype="string")
    session.replace_table(PROFILES, frame)


def _hashes(**kinds: list[str]) -> frozenset[str]:
    ids = Identifiers()
    for kind, values in kinds.items():
        ids.add(kind, values)
    return frozenset(ids.hashes(SALT)["identifier_hash"])


def _check(
    session: WarehouseSession,
    config: CDPConfig,
    suppressed: frozenset[str],
    before_list: frozenset[str],
    before: dict[str, str],
    erased_now: Identifiers | None = None,
    changed: set[str] | None = None,
    rebuilt: tuple[str, ...] = (),
) -> dict[str, tuple[str, int]]:
    found = verified_traces(
        session,
        config,
        SALT,
        suppressed,
        ("activation",),
        before,
        before_list,
        erased_now or Identifiers(),
        changed or set(),
        rebuilt,
    )
    columns = zip(found["table"], found["scan"], found["traces"], strict=True)
    return {t: (s, int(n)) for t, s, n in columns}


def test_the_ledger_skips_only_tables_proven_clean(url: str, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    earlier = _hashes(customer_id=["C-9"])  # someone erased before
    name = str(PROFILES)
    try:
        with isolated(url) as session:
            _contacts(session, [("C-1", "ann.smith@example.com"), ("C-2", "bob.jones@example.com")])
            first = _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            assert first == {name: ("full", 0)}
            assert name in read_ledger(session)
            # Nothing changed, same list: not read again.
            again = _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            assert again == {name: ("unchanged", 0)}
            # An erased person's id comes back: the table changed, it is read and fails.
            _contacts(
                session,
                [("C-1", "ann.smith@example.com"), ("C-2", "bob.jones@example.com"), ("C-9", None)],
            )
            back = _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            assert back == {name: ("full", 1)}
            # Still failing on the next run: a failed table never enters the ledger.
            still = _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            assert still == {name: ("full", 1)}
    finally:
        dispose_engines()


def test_after_an_erasure_the_ledger_searches_for_the_people_just_erased(
    url: str, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    earlier = _hashes(customer_id=["C-9"])
    erased = Identifiers()
    erased.add("customer_id", ["C-1"])
    erased.add("email", ["ann.smith@example.com"])
    now = earlier | frozenset(erased.hashes(SALT)["identifier_hash"])
    name = str(PROFILES)
    try:
        with isolated(url) as session:
            _contacts(session, [("C-1", "ann.smith@example.com"), ("C-2", "bob.jones@example.com")])
            _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            before = checksums(session, ("activation",))
            # The run's deletion missed a row carrying Ann's email: found.
            _contacts(session, [("C-2", "bob.jones@example.com"), ("C-3", "ann.smith@example.com")])
            missed = _check(session, config, now, earlier, before, erased, {name})
            assert missed == {name: ("erased_now", 1)}
            # A deletion that removed everything of hers passes, and is recorded.
            _contacts(session, [("C-1", "ann.smith@example.com"), ("C-2", "bob.jones@example.com")])
            _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            before = checksums(session, ("activation",))
            _contacts(session, [("C-2", "bob.jones@example.com")])
            clean = _check(session, config, now, earlier, before, erased, {name})
            assert clean == {name: ("erased_now", 0)}
            after = _check(session, config, now, now, checksums(session, ("activation",)))
            assert after == {name: ("unchanged", 0)}
            # A list that grew by more than the run erased: read in full.
            other = now | _hashes(customer_id=["C-2"])
            grown = _check(session, config, other, now, checksums(session, ("activation",)))
            assert grown == {name: ("full", 1)}
    finally:
        dispose_engines()


def test_a_rebuilt_layer_clean_against_the_list_is_searched_for_the_new_people_only(
    url: str, tmp_path: Path
) -> None:
    """A table of a layer rebuilt only after the check passed (core and after) keeps the
    clean verdict of its list across rebuilds; any other changed table is read in full."""
    config = make_config(tmp_path)
    earlier = _hashes(customer_id=["C-9"])
    erased = Identifiers()
    erased.add("customer_id", ["C-1"])
    now = earlier | frozenset(erased.hashes(SALT)["identifier_hash"])
    name = str(PROFILES)
    try:
        with isolated(url) as session:
            _contacts(session, [("C-1", "ann.smith@example.com")])
            _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            # The nightly run rebuilds the table (new content), then someone is erased.
            _contacts(session, [("C-1", "ann.smith@example.com"), ("C-2", None)])
            before = checksums(session, ("activation",))
            _contacts(session, [("C-2", None)])
            args = (session, config, now, earlier, before, erased, {name})
            assert _check(*args) == {name: ("full", 0)}
            _contacts(session, [("C-1", "ann.smith@example.com")])
            _check(session, config, earlier, earlier, checksums(session, ("activation",)))
            _contacts(session, [("C-1", "ann.smith@example.com"), ("C-2", None)])
            before = checksums(session, ("activation",))
            _contacts(session, [("C-2", None)])
            args = (session, config, now, earlier, before, erased, {name})
            assert _check(*args, rebuilt=("activation",)) == {name: ("erased_now", 0)}
    finally:
        dispose_engines()


def test_a_table_with_no_identifier_column_to_search_selects_no_row(
    url: str, tmp_path: Path
) -> None:
    """A staged table holding none of its source's identifier fields (only lineage and an
    amount) is searched with no parameter at all: DuckDB refused the unused ones."""
    config = make_config(tmp_path)
    wanted = Identifiers()
    wanted.add("email", ["jane.doe@gmail.com"])
    frame = pd.DataFrame(
        {"_file": ["f.csv"], "_line": [2], "_batch_id": ["b1"], "amount": [12.5]}
    ).astype({"_file": "string", "_batch_id": "string"})
    try:
        with isolated(url) as session:
            ref = TableRef("staging", "shop_orders")
            session.replace_table(ref, frame)
            found = table_values(session, config, ref, CandidateFilter(wanted, session.dialect))
    finally:
        dispose_engines()
    assert found is not None and len(found.keys) == 0


# --------------------------------------------------------------------------- attribution


def test_each_subject_is_credited_with_the_deleted_rows_holding_one_of_its_identifiers() -> None:
    from cdp_assets.privacy.erasure import ErasureRequest, Subject, _attribute
    from cdp_assets.privacy.tables import TableValues

    def subject(request_id: str, kind: str, values: list[str]) -> Subject:
        found = Identifiers()
        found.add(kind, values)
        return Subject(ErasureRequest(request_id, "requests", None, Identifiers()), set(), found)

    jane = subject("R1", "email", ["jane@x.com"])
    house = subject("R2", "phone", ["+16502530000"])
    bob = subject("R3", "email", ["bob@x.com"])
    index = pd.Index([10, 11, 12, 13])
    keys = pd.DataFrame({"row": [0, 1, 2, 3]}, index=index)
    # Row 10 holds Jane's email and the household phone; row 11 Jane's email twice (free
    # text exploded into two entries); row 12 the phone; row 13 Bob's email but is kept.
    emails = pd.Series(["jane@x.com", "jane@x.com", "jane@x.com", None, "bob@x.com"])
    emails.index = [10, 11, 11, 12, 13]
    phones = pd.Series(["+16502530000", pd.NA, "+16502530000", pd.NA], index=index)
    table = TableValues(TableRef("staging", "t"), keys, [("email", emails), ("phone", phones)])
    _attribute(table, [jane, house, bob], np.array([True, True, True, False]))
    assert jane.rows == {"staging.t": 2}
    assert house.rows == {"staging.t": 2}
    assert bob.rows == {}  # his row was not deleted
    # The same counts as matching each subject's identifiers on the deleted rows alone.
    gone = table.subset(np.array([True, True, True, False]))
    for person in (jane, house):
        expected = int(matches(gone.values, person.identifiers, gone.index).sum())
        assert person.rows["staging.t"] == expected
