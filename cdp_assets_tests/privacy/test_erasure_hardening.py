"""Erasure hardening (#12) on the hand-built warehouse of test_erasure.py (Jane and Bob, who
share a household landline): ids absorbed by merges, values that look like bind parameters,
requests that arrive before identity has run, and a later nightly pass."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cdp_assets.defs.privacy.erasure import _erase_from_model_store
from cdp_assets.ml.model_store import SNAPSHOT_FILE, ModelStore
from cdp_assets.privacy import erasure
from cdp_assets.privacy.erasure import Subject, pending_requests, read_identity_tables, resolve
from cdp_assets.privacy.identifiers import Identifiers
from cdp_assets.privacy.suppression import RowSuppressor, load_suppressed
from cdp_assets.privacy.trace import export_traces, warehouse_traces
from cdp_assets.warehouse import TableRef, WarehouseSession, dispose_engines
from cdp_assets_tests.privacy.test_erasure import (
    BOB_ONLY,
    BY_CUSTOMER,
    BY_EMAIL,
    HOUSE_PHONE,
    HOUSEHOLD_TABLES,
    JANES_ROWS,
    SALT,
    SOURCES,
    build,
    contents,
    engine_url,
    isolated,
    make_config,
    only,
    raw,
    run_erasure,
    staged,
    string_frame,
    warehouse_tables,
)


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


def _renamed(tables: dict[TableRef, pd.DataFrame], old: str, new: str) -> dict:
    """The same warehouse with customer id `old` spelt `new` in every text cell."""
    renamed = {}
    for ref, frame in tables.items():
        frame = frame.copy()
        for column in frame.columns:
            if frame[column].dtype == "string":
                frame[column] = frame[column].str.replace(old, new, regex=False)
        renamed[ref] = frame
    return renamed


def test_a_customer_id_that_looks_like_a_bind_parameter(engine: str, tmp_path: Path) -> None:
    """`:jane` in a customer id stays a value: it never reaches the SQL text."""
    tables = _renamed(warehouse_tables([BY_CUSTOMER]), "C-JANE", "C-:jane")
    run = run_erasure(engine_url(engine, tmp_path), make_config(tmp_path), tables)
    (subject,) = run.subjects
    assert subject.customer_ids == {"C-:jane"}
    assert {"shop_orders:O1", "shop_orders:O2"} <= subject.identifiers.values["record"]
    assert run.after == BOB_ONLY
    expected = {t: n for t, n in JANES_ROWS.items() if "erasure_requests" not in t}
    assert run.deleted == expected | {"raw.erasure_requests": 1, "staging.erasure_requests": 1}


# --------------------------------------------------------------------------- merged ids


def _with_history(tables: dict[TableRef, pd.DataFrame]) -> dict[TableRef, pd.DataFrame]:
    """Jane absorbed C-OLD (an alias), which had absorbed C-OLDER (the merge ledger only)."""
    tables = dict(tables)
    tables[TableRef("core", "customer_id_aliases")] = string_frame(
        ["alias_id", "customer_id"], [("C-OLD", "C-JANE")]
    )
    tables[TableRef("core", "identity_merges")] = string_frame(
        ["event", "customer_id", "other_customer_id"],
        [("merge", "C-OLD", "C-OLDER"), ("merge", "C-JANE", "C-OLD"), ("new", "C-BOB", None)],
    )
    return tables


def test_training_snapshots_lose_rows_under_every_id_the_person_had(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    snapshot = store.root / "churn" / "churn-1" / SNAPSHOT_FILE
    snapshot.parent.mkdir(parents=True)
    ids = ["C-OLDER", "C-OLD", "C-JANE", "C-BOB"]
    pd.DataFrame({"customer_id": ids, "x": [1, 2, 3, 4]}).to_parquet(snapshot)
    config = make_config(tmp_path)
    with isolated(engine_url("duckdb", tmp_path)) as session:
        build(session, _with_history(warehouse_tables([BY_EMAIL])))
        identity = read_identity_tables(session, config)
        (subject,) = [
            resolve(session, config, r, identity) for r in pending_requests(session, config)
        ]
    dispose_engines()
    assert {"C-JANE", "C-OLD", "C-OLDER"} <= subject.identifiers.values["customer_id"]
    _erase_from_model_store(store, [subject])
    assert pd.read_parquet(snapshot)["customer_id"].tolist() == ["C-BOB"]
    assert subject.rows == {"model_store/churn/churn-1/training_snapshot.parquet": 3}
    hashes = frozenset(subject.identifiers.hashes(SALT)["identifier_hash"])
    assert export_traces(store.root, SALT, hashes)["traces"].tolist() == [0]


# --------------------------------------------------------------------------- before core


def _no_files(subjects: list[Subject]) -> dict[str, int]:
    return {}


def _pass(session: WarehouseSession, tmp_path: Path, run_id: str) -> erasure.ErasurePass:
    return erasure.erase_pending(session, make_config(tmp_path), SALT, run_id, _no_files)


def _traces(session: WarehouseSession, tmp_path: Path) -> dict[str, int]:
    found = warehouse_traces(session, make_config(tmp_path), SALT, load_suppressed(session, SALT))
    return {t: int(n) for t, n in zip(found["table"], found["traces"], strict=True) if n}


def test_erasure_before_core_is_built_waits_then_spares_the_household(
    engine: str, tmp_path: Path
) -> None:
    """The first build: Jane's request is staged before identity has ever run, so nobody can
    tell that her account's landline is Bob's too. The request waits (nothing deleted, nothing
    suppressed); the nightly after core is built erases Jane, keeps Bob's rows with the
    landline, and the trace check finds nothing — the night after too."""
    tables = warehouse_tables([BY_EMAIL])
    before_core = {ref: df for ref, df in tables.items() if ref.schema != "core"}
    with isolated(engine_url(engine, tmp_path)) as session:
        build(session, before_core)
        first = _pass(session, tmp_path, "first-build")
        assert [r.request_id for r in first.held] == ["R1"] and first.subjects == []
        assert first.deleted == {} and first.added == 0
        assert load_suppressed(session, SALT) == frozenset()
        assert contents(session)["staging.erasure_requests"] == ["R1"]

        build(session, {ref: df for ref, df in tables.items() if ref.schema == "core"})
        nightly = _pass(session, tmp_path, "nightly-1")
        (jane,) = nightly.subjects
        assert jane.status == "erased" and jane.customer_ids == {"C-JANE"}
        left = contents(session)
        assert left == BOB_ONLY
        accounts = session.read_table(TableRef("staging", "shop_accounts"))
        assert accounts["phone"].tolist() == [HOUSE_PHONE]  # Bob's landline
        assert _traces(session, tmp_path) == {}

        again = _pass(session, tmp_path, "nightly-2")
        assert again.requests == [] and again.deleted == {}
        assert contents(session) == left and _traces(session, tmp_path) == {}
        log = session.read_table(TableRef("ops", "erasure_log"))
        assert log["request_id"].tolist() == ["R1"] and log["status"].tolist() == ["erased"]
    dispose_engines()


# --------------------------------------------------------------------------- free text

EVENT_COLUMNS = ["event_id", "anonymous_id", "type", "ts", "page", "referrer"]
# Events of cookies nobody resolved, whose free text names someone: a mapped URL (`page`)
# and an unmapped column (`referrer`, staged in the `attributes` JSON).
TEXT_EVENTS = [
    ("E5", "https://shop.example/account?email=jane.doe%40gmail.com", None),
    ("E6", None, "mailto:JANE.DOE@GMAIL.COM"),
    ("E7", "https://shop.example/call?tel=%2B1%20650%20253%200000", None),
    ("E8", f"https://shop.example/call?tel={HOUSE_PHONE}", None),  # the household's
    ("E9", "https://shop.example/p/2026-01-05?sku=12345678&q=a%40", "https://t.co/x"),
]


def _text_sources() -> list[dict]:
    events = {
        "name": "web_events",
        "kind": "events",
        "format": "csv",
        "path": "web_events/*.csv",
        "columns": {
            "event_id": "event_id",
            "anonymous_id": "anonymous_id",
            "event_type": "type",
            "occurred_at": "ts",
            "url": "page",
        },
    }
    return [s for s in SOURCES if s["name"] != "web_events"] + [events]


def _text_tables() -> dict[TableRef, pd.DataFrame]:
    tables = only(warehouse_tables([BY_EMAIL]), HOUSEHOLD_TABLES)
    rows = [
        (e, f"anon-{e}", "page_view", "2026-01-05T10:00:00Z", url, ref, n)
        for n, (e, url, ref) in enumerate(TEXT_EVENTS, start=2)
    ]
    tables[TableRef("raw", "web_events")] = raw(EVENT_COLUMNS, "web_events/2.csv", rows)
    staged_rows = [
        {
            "record_id": e,
            "anonymous_id": f"anon-{e}",
            "url": url,
            "attributes": json.dumps({"referrer": ref}) if ref else None,
            "_line": n,
        }
        for n, (e, url, ref) in enumerate(TEXT_EVENTS, start=2)
    ]
    tables[TableRef("staging", "web_events")] = staged(
        "events", "web_events", "web_events/2.csv", staged_rows
    )
    return tables


def test_free_text_naming_the_person_is_erased_and_traced(engine: str, tmp_path: Path) -> None:
    config = make_config(tmp_path, _text_sources())
    run = run_erasure(engine_url(engine, tmp_path), config, _text_tables(), trace_before=True)
    assert run.after["raw.web_events"] == ["E8", "E9"]
    assert run.after["staging.web_events"] == ["E8", "E9"]
    assert run.traces_before["raw.web_events"] == 3
    assert run.traces_before["staging.web_events"] == 3
    assert run.traces_after == {}


def test_a_row_delivered_again_with_the_person_in_its_free_text_is_suppressed(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, _text_sources())
    jane = Identifiers()
    jane.add("email", ["jane.doe@gmail.com", "janedoe@gmail.com"])
    jane.add("phone", ["+16502530000"])
    suppressed = frozenset(jane.hashes(SALT)["identifier_hash"])
    suppressor = RowSuppressor(config.source("web_events"), config, SALT, suppressed)
    frame = _text_tables()[TableRef("raw", "web_events")][EVENT_COLUMNS]
    assert frame.loc[suppressor.rows(frame), "event_id"].tolist() == ["E5", "E6", "E7"]
