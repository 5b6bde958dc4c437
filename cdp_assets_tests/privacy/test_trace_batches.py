"""The trace check of tables written batch by batch reads only the batches it has not proved
clean yet, and falls back to a full read whenever rows it proved may have changed: known
answers on hand-built raw, quarantine and issue tables, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cdp_assets.config import CDPConfig
from cdp_assets.privacy.identifiers import Identifiers
from cdp_assets.privacy.trace import (
    BATCH_PROVED,
    BatchProof,
    checksums,
    read_batch_proofs,
    read_ledger,
    verified_traces,
    write_batch_proofs,
)
from cdp_assets.staging.stage import ISSUE_DTYPES, SUPERSEDED_RECORD
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame, dispose_engines
from cdp_assets.warehouse.warehouse import record_table_versions
from cdp_assets_tests.privacy.test_erasure import engine_url, isolated, make_config, raw
from cdp_assets_tests.staging import test_incremental as incremental_staging

SALT = b"batch-test-salt"
ACCOUNTS = TableRef("raw", "shop_accounts")
ISSUES = TableRef("ops", "data_quality_issues")
COLUMNS = ["account_id", "email", "phone"]
GONE = "gone.person@example.com"  # erased in an earlier run
ANN = "ann.smith@example.com"


@pytest.fixture(params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return engine_url(request.param, tmp_path)


def _hashes(**kinds: list[str]) -> frozenset[str]:
    ids = Identifiers()
    for kind, values in kinds.items():
        ids.add(kind, values)
    return frozenset(ids.hashes(SALT)["identifier_hash"])


EARLIER = _hashes(email=[GONE])


def _accounts(rows: list[tuple[str, str | None, str | None, int, str]]) -> pd.DataFrame:
    return raw(COLUMNS, "accounts.csv", rows)


def _commit(session: WarehouseSession) -> None:
    """What the end of a transaction does: the tables written get their new versions."""
    record_table_versions(session)


def _check(
    session: WarehouseSession,
    config: CDPConfig,
    suppressed: frozenset[str] = EARLIER,
    before_list: frozenset[str] = EARLIER,
    erased_now: Identifiers | None = None,
    changed: set[str] | None = None,
    layers: tuple[str, ...] = ("raw",),
    skip_proved: bool = False,
) -> dict[str, tuple[str, int, int]]:
    """table → (scan, rows read, traces), as the nightly check (or an erasure run) calls it;
    with `skip_proved`, taking no checksum of a table its batch proof covers, as the step does."""
    found = verified_traces(
        session,
        config,
        SALT,
        suppressed,
        layers,
        checksums(session, layers, config, before_list)
        if skip_proved
        else checksums(session, layers),
        before_list,
        erased_now or Identifiers(),
        changed or set(),
        batch_proved=skip_proved,
    )
    _commit(session)
    columns = zip(found["table"], found["scan"], found["rows_read"], found["traces"], strict=True)
    return {t: (s, int(r), int(n)) for t, s, r, n in columns}


FIRST = [
    ("A-1", "ann.smith@example.com", None, 2, "b1"),
    ("A-2", "bob.jones@example.com", "+1 650 253 0000", 3, "b1"),
    ("A-3", None, None, 4, "b1"),
]


FirstAccounts = tuple[WarehouseSession, CDPConfig]


@pytest.fixture
def first_accounts(url: str, tmp_path: Path) -> Iterator[FirstAccounts]:
    """A warehouse whose raw shop accounts hold the rows of `FIRST` (batch b1), committed."""
    config = make_config(tmp_path)
    try:
        with isolated(url) as session:
            session.replace_table(ACCOUNTS, _accounts(FIRST))
            _commit(session)
            yield session, config
    finally:
        dispose_engines()


def test_a_new_batch_holding_an_erased_identifier_is_found_reading_only_it(
    first_accounts: FirstAccounts,
) -> None:
    session, config = first_accounts
    name = str(ACCOUNTS)
    assert _check(session, config) == {name: ("full", 3, 0)}
    assert read_batch_proofs(session)[name].batches == {"b1"}
    # Nothing new: not read.
    assert _check(session, config) == {name: ("unchanged", 0, 0)}
    # A new batch brings the erased address back (spelt otherwise): found, reading
    # its two rows only.
    second = _accounts([("A-9", " Gone.Person@Example.com", None, 2, "b2")])
    session.append(ACCOUNTS, pd.concat([second, _accounts([("A-8", None, None, 3, "b2")])]))
    _commit(session)
    assert _check(session, config) == {name: ("new_batches", 2, 1)}
    # A table with traces loses its proof: read in full until cleaned.
    assert name not in read_batch_proofs(session)
    assert _check(session, config) == {name: ("full", 5, 1)}


def test_a_table_its_batch_proof_covers_is_not_hashed_whole_and_still_checked(
    first_accounts: FirstAccounts,
) -> None:
    """With the step's checksums, a source table whose batch proof holds gets no checksum: its
    new batches are read, a rewrite of proved rows still sends it to a full read, and an
    erasure run still searches it for the identifiers just erased."""
    session, config = first_accounts
    name = str(ACCOUNTS)
    # No proof yet: hashed and read in full.
    assert name in checksums(session, ("raw",), config, EARLIER)
    assert _check(session, config, skip_proved=True) == {name: ("full", 3, 0)}
    # Proved: no checksum, and nothing outside the proved batches to read.
    assert name not in checksums(session, ("raw",), config, EARLIER)
    assert _check(session, config, skip_proved=True) == {name: ("new_batches", 0, 0)}
    assert read_ledger(session)[name][0] == BATCH_PROVED
    # A new batch bringing the erased address back: found in its rows alone.
    session.append(ACCOUNTS, _accounts([("A-9", " Gone.Person@Example.com", None, 2, "b2")]))
    _commit(session)
    assert _check(session, config, skip_proved=True) == {name: ("new_batches", 1, 1)}
    # Unproved (it holds a trace): hashed again, read in full until cleaned.
    assert name in checksums(session, ("raw",), config, EARLIER)
    session.delete_where(ACCOUNTS, "account_id = :a", {"a": "A-9"})
    _commit(session)
    assert _check(session, config, skip_proved=True) == {name: ("full", 3, 0)}
    # A proved row rewritten in place: the proof no longer holds, read in full.
    session.conn.execute(
        sa.text(f"UPDATE {ACCOUNTS.sql} SET email = :e WHERE account_id = 'A-3'"),
        {"e": GONE},
    )
    session.mark_changed(ACCOUNTS)
    _commit(session)
    assert name in checksums(session, ("raw",), config, EARLIER)
    assert _check(session, config, skip_proved=True) == {name: ("full", 3, 1)}
    session.delete_where(ACCOUNTS, "account_id = :a", {"a": "A-3"})
    _commit(session)
    assert _check(session, config, skip_proved=True) == {name: ("full", 2, 0)}
    # An erasure run: Ann's row is searched for, though no checksum was taken.
    erased = Identifiers()
    erased.add("email", [ANN])
    now = EARLIER | _hashes(email=[ANN])
    found = _check(session, config, now, EARLIER, erased, skip_proved=True)
    assert found == {name: ("new_batches", 1, 1)}


def test_clean_batches_are_remembered_and_deletions_keep_the_proof(
    first_accounts: FirstAccounts,
) -> None:
    session, config = first_accounts
    name = str(ACCOUNTS)
    _check(session, config)
    session.append(ACCOUNTS, _accounts([("A-4", "cid@example.com", None, 2, "b2")]))
    _commit(session)
    assert _check(session, config) == {name: ("new_batches", 1, 0)}
    assert read_batch_proofs(session)[name].batches == {"b1", "b2"}
    # Retention or erasure deletes old rows, a third batch arrives: its row only.
    session.delete_where(ACCOUNTS, "account_id = :a", {"a": "A-1"})
    session.append(ACCOUNTS, _accounts([("A-5", "dee@example.com", None, 2, "b3")]))
    _commit(session)
    assert _check(session, config) == {name: ("new_batches", 1, 0)}
    assert read_batch_proofs(session)[name].batches == {"b1", "b2", "b3"}


def test_a_table_whose_old_rows_were_changed_is_read_in_full(first_accounts: FirstAccounts) -> None:
    session, config = first_accounts
    name = str(ACCOUNTS)
    _check(session, config)
    # An old row rewritten in place (its batch is proved) and a clean new batch.
    session.conn.execute(
        sa.text(f"UPDATE {ACCOUNTS.sql} SET email = :e WHERE account_id = 'A-3'"),
        {"e": GONE},
    )
    session.mark_changed(ACCOUNTS)
    session.append(ACCOUNTS, _accounts([("A-4", "cid@example.com", None, 2, "b2")]))
    _commit(session)
    assert _check(session, config) == {name: ("full", 4, 1)}
    # The table replaced with the same batches (a full re-stage does that): in full.
    cleaned = [*FIRST[:2], ("A-3", "new.address@example.com", None, 4, "b1")]
    session.replace_table(ACCOUNTS, _accounts(cleaned))
    _commit(session)
    assert _check(session, config) == {name: ("full", 3, 0)}
    session.replace_table(ACCOUNTS, _accounts([*cleaned, ("A-7", GONE.upper(), None, 5, "b1")]))
    _commit(session)
    assert _check(session, config) == {name: ("full", 4, 1)}


def test_a_table_rewritten_into_the_content_it_had_keeps_its_proof(
    first_accounts: FirstAccounts,
) -> None:
    """A full re-stage that gives the staged table back row for row (same checksum) leaves
    the batches proved: the next new batch is read alone."""
    session, config = first_accounts
    name = str(ACCOUNTS)
    _check(session, config)
    session.replace_table(ACCOUNTS, _accounts(FIRST))  # rewritten, same rows
    _commit(session)
    assert _check(session, config) == {name: ("unchanged", 0, 0)}
    session.append(ACCOUNTS, _accounts([("A-4", "cid@example.com", None, 2, "b2")]))
    _commit(session)
    assert _check(session, config) == {name: ("new_batches", 1, 0)}


def test_changed_columns_or_another_list_are_read_in_full(first_accounts: FirstAccounts) -> None:
    session, config = first_accounts
    name = str(ACCOUNTS)
    _check(session, config)
    # A new raw column (an unmapped one is read as free text): every row again.
    extra = _accounts([("A-4", None, None, 2, "b2")]).assign(note="call me")
    session.append(ACCOUNTS, extra)
    _commit(session)
    assert _check(session, config) == {name: ("full", 4, 0)}
    # The list grew by someone this run did not erase: in full.
    session.append(ACCOUNTS, _accounts([("A-5", None, None, 2, "b3")]))
    _commit(session)
    grown = EARLIER | _hashes(customer_id=["C-77"])
    assert _check(session, config, grown, EARLIER) == {name: ("full", 5, 0)}


def test_an_erasure_run_reads_new_batches_and_searches_old_ones_for_the_people_erased(
    first_accounts: FirstAccounts,
) -> None:
    session, config = first_accounts
    name = str(ACCOUNTS)
    erased = Identifiers()
    erased.add("email", [ANN])
    now = EARLIER | frozenset(erased.hashes(SALT)["identifier_hash"])
    _check(session, config)
    session.append(ACCOUNTS, _accounts([("A-4", "cid@example.com", None, 2, "b2")]))
    _commit(session)
    # The run's deletion missed Ann's old row (batch b1, proved clean before): found
    # by the search for her among the old batches; the new batch is read whole.
    result = _check(session, config, now, EARLIER, erased, {name})
    assert result == {name: ("new_batches", 2, 1)}
    session.delete_where(ACCOUNTS, "account_id = :a", {"a": "A-1"})
    _commit(session)
    result = _check(session, config, now, EARLIER, erased, {name})
    assert result == {name: ("full", 3, 0)}  # the failed check left no proof
    session.append(ACCOUNTS, _accounts([("A-5", None, None, 2, "b3")]))
    _commit(session)
    assert _check(session, config, now, now) == {name: ("new_batches", 1, 0)}


def test_the_first_erasure_proves_the_batches_there(first_accounts: FirstAccounts) -> None:
    """Before anyone was erased every row was clean: the first erasure's search for the people
    it erased proves every batch there, so the next night reads its new batches only."""
    session, config = first_accounts
    name = str(ACCOUNTS)
    erased = Identifiers()
    erased.add("email", [GONE])
    first = _check(session, config, EARLIER, frozenset(), erased, {name})
    assert first == {name: ("erased_now", 0, 0)}
    assert read_batch_proofs(session)[name].batches == {"b1"}
    session.append(ACCOUNTS, _accounts([("A-4", "cid@example.com", None, 2, "b2")]))
    _commit(session)
    assert _check(session, config) == {name: ("new_batches", 1, 0)}


def _issue(record_id: str, batch: str, rule: str, value: str | None) -> dict[str, object]:
    return {
        "source": "shop_accounts",
        "record_id": record_id,
        "file": "accounts.csv",
        "line": 2,
        "batch_id": batch,
        "field": "email",
        "value": value,
        "rule": rule,
        "action": "kept",
        "reason": "test",
    }


def test_issues_reissued_for_old_batches_are_read_with_the_new_ones(
    url: str, tmp_path: Path
) -> None:
    """Incremental staging appends `superseded_record` and `duplicate_identifier` issues for
    rows of batches staged before: the check reads those rules' issues whatever their batch."""
    config = make_config(tmp_path)
    name = str(ISSUES)
    first = pd.DataFrame([_issue("A-1", "b1", "invalid_email", "not-an-email")])
    try:
        with isolated(url) as session:
            session.replace_table(ISSUES, coerce_frame(first, ISSUE_DTYPES))
            _commit(session)
            assert _check(session, config, layers=("ops",)) == {name: ("full", 1, 0)}
            # A superseded issue of an old batch's row naming an erased record, and an
            # issue of a new batch: both read, the old batch's other issue not.
            late = pd.DataFrame(
                [
                    _issue("GONE-1", "b1", SUPERSEDED_RECORD, "GONE-1"),
                    _issue("A-4", "b2", "invalid_phone", "12"),
                ]
            )
            session.append(ISSUES, coerce_frame(late, ISSUE_DTYPES))
            _commit(session)
            erased_record = EARLIER | _hashes(record=["shop_accounts:GONE-1"])
            result = _check(session, config, erased_record, erased_record, layers=("ops",))
            assert result == {name: ("full", 3, 1)}  # another list: in full
            session.delete_where(ISSUES, "record_id = :r", {"r": "GONE-1"})
            _commit(session)
            clean = _check(session, config, erased_record, erased_record, layers=("ops",))
            assert clean == {name: ("full", 2, 0)}
            session.append(ISSUES, coerce_frame(pd.DataFrame(late.iloc[:1]), ISSUE_DTYPES))
            _commit(session)
            again = _check(session, config, erased_record, erased_record, layers=("ops",))
            assert again == {name: ("new_batches", 1, 1)}
    finally:
        dispose_engines()


def test_the_batch_proofs_round_trip(url: str) -> None:
    proofs = {
        "raw.shop_orders": BatchProof("f1", "r1", "c1", frozenset({"b1", "b2"})),
        "ops.quarantine": BatchProof("f1", "r2", "c2", frozenset()),  # proved while empty
    }
    try:
        with isolated(url) as session:
            assert read_batch_proofs(session) == {}
            write_batch_proofs(session, proofs)
            assert read_batch_proofs(session) == proofs
            write_batch_proofs(session, {})
            assert read_batch_proofs(session) == {}
    finally:
        dispose_engines()


# --------------------------------------------------------------- what staging really writes

ACCOUNTS_3 = incremental_staging.ACCOUNTS_HEADER + (
    "c1,anna.smith@example-shop.com,+44 20 7946 0001,Leeds,2026-03-01T10:00:00Z,true,\n"
    "c8,john.brown@example-shop.com,+44 20 7946 0002,York,2026-03-01T10:00:00Z,false,\n"
    "c9,bad-address,+44 20 7946 0010,Hull,2026-03-01T10:00:00Z,false,\n"
)


def _rows(session: WarehouseSession, ref: TableRef, where: str = "TRUE", **params) -> set:
    frame = session.read_table(ref, where=where, params=params)
    return {tuple(str(v) for v in row) for row in frame.itertuples(index=False)}


def _proved_rows(session: WarehouseSession, config: CDPConfig) -> dict[str, set]:
    """Per table with a batch proof still standing: its rows outside `rows_outside`."""
    from cdp_assets.privacy.tables import rows_outside
    from cdp_assets.privacy.trace import BATCHES, columns_digest, rewrite_versions

    proofs = read_batch_proofs(session)
    refs = [TableRef(*name.split(".")) for name in proofs]
    rewrites = rewrite_versions(session, refs)
    found = {}
    for ref in refs:
        proof = proofs[str(ref)]
        if proof.rewrites != rewrites[str(ref)]:
            continue  # rewritten since: read in full
        if proof.columns != columns_digest(session.columns(ref)):
            continue
        column = "_batch_id" if ref.schema in ("raw", "staging") else "batch_id"
        scope = rows_outside(ref, column, BATCHES, str(ref))
        found[str(ref)] = _rows(session, ref, f"NOT ({scope.where})", **scope.params)
    return found


def test_incremental_staging_adds_no_row_to_a_proved_batch_unread(
    tmp_path: Path, warehouse_url: str
) -> None:
    """The real ingestion and staging, batch after batch: every row of a batch the check has
    proved, outside the rows it reads again, was there, as it is, when the proof was made —
    the superseded versions, the shared identifiers recomputed and the reasons rewritten
    included. A full re-stage moves the rewrites version of what it rewrote."""
    wh, config = incremental_staging.two_batches(tmp_path, warehouse_url)
    layers = ("raw", "staging", "ops")
    listed = _hashes(email=["someone.erased@example.org"])

    def prove() -> dict[str, set]:
        with wh.transaction() as session:
            found = verified_traces(
                session, config, SALT, listed, layers, checksums(session, layers), listed,
                Identifiers(), set(),
            )  # fmt: skip
            assert (found["traces"] == 0).all()
            return {t: _rows(session, TableRef(*t.split("."))) for t in found["table"]}

    proved_at = prove()
    incremental_staging.stage_all(wh, config)
    incremental_staging.land(tmp_path, "accounts/c.csv", ACCOUNTS_3)
    incremental_staging.ingest(wh, config, "b3", incremental_staging.T3)
    for step in ("b2 staged", "b3 staged"):
        with wh.transaction() as session:
            standing = _proved_rows(session, config)
        assert {"raw.accounts", "staging.accounts", "ops.data_quality_issues"} <= set(standing)
        for table, rows in standing.items():
            assert rows <= proved_at[table], (step, table, rows - proved_at[table])
        proved_at = prove()
        incremental_staging.stage_all(wh, config)
    incremental_staging.stage_all(wh, config, force_full=True)
    with wh.transaction() as session:
        standing = _proved_rows(session, config)
    assert not {"staging.accounts", "ops.data_quality_issues", "ops.quarantine"} & set(standing)


# ------------------------------------------------- the deletion's candidates, searched once


def test_the_check_hashes_the_candidates_the_deletion_kept_unless_the_table_changed(
    first_accounts: FirstAccounts,
) -> None:
    """In an erasure run the deletion has already selected every row that may hold an
    identifier of the people erased: the check hashes the ones it kept instead of selecting
    them again — unless another transaction wrote the table since."""
    from cdp_assets.privacy.candidates import CandidateFilter
    from cdp_assets.privacy.erasure import CandidatesLeft
    from cdp_assets.privacy.tables import table_values
    from cdp_assets.warehouse.versions import read_versions

    session, config = first_accounts
    name = str(ACCOUNTS)
    erased = Identifiers()
    erased.add("email", [ANN])
    now = EARLIER | frozenset(erased.hashes(SALT)["identifier_hash"])
    _check(session, config)
    # The deletion read Ann's row as a candidate and (wrongly) kept it; the table
    # itself no longer holds it: the check finds it among the kept candidates.
    before = checksums(session, ("raw",))
    wanted = CandidateFilter(erased, session.dialect)
    kept = table_values(session, config, ACCOUNTS, wanted)
    versions = read_versions(session, [f"table:{name}"])
    left = CandidatesLeft({name: kept}, versions)
    session.delete_where(ACCOUNTS, "account_id = :a", {"a": "A-1"})
    found = verified_traces(
        session, config, SALT, now, ("raw",), before, EARLIER, erased, {name}, (), left,
    )  # fmt: skip
    assert found[["scan", "rows_read", "traces"]].values.tolist() == [["erased_now", 1, 1]]
    # Another transaction wrote the table since the deletion's search: selected again.
    _commit(session)
    found = verified_traces(
        session, config, SALT, now, ("raw",), before, EARLIER, erased, {name}, (), left,
    )  # fmt: skip
    assert found[["scan", "rows_read", "traces"]].values.tolist() == [["erased_now", 0, 0]]
