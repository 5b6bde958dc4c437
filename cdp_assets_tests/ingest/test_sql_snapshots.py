"""A sql source in a SQLite file is not read again while the file and the statement are
unchanged (`ingest.sql_snapshots`), and is read whenever either may have changed."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cdp_assets.config import CDPConfig
from cdp_assets.defs.ingestion.raw import ingest_into_warehouse
from cdp_assets.ingest import batch as batch_module
from cdp_assets.ingest.sql_snapshots import database_file_state
from cdp_assets.warehouse import TableRef, Warehouse
from cdp_assets_tests.ingest.helpers import make_config

HOUR_NS = 3_600 * 10**9


def crm_database(path: Path, rows: list[tuple[str, str]]) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS contacts (id TEXT, email TEXT)")
        conn.executemany("INSERT INTO contacts VALUES (?, ?)", rows)
    conn.close()
    return path


def age(path: Path, hours: int = 2) -> None:
    """Sets the file's modification time `hours` back: settled, not racy."""
    past = time.time_ns() - hours * HOUR_NS
    os.utime(path, ns=(past, past))


def crm_config(tmp_path: Path, db: Path, **statement: str) -> CDPConfig:
    source: dict[str, Any] = {
        "name": "crm",
        "kind": "customers",
        "format": "sql",
        "url": f"sqlite:///{db}",
        "columns": {"source_record_id": "id", "email": "email"},
    }
    source.update(statement or {"table": "contacts"})
    return make_config(tmp_path, source)


class CountingReads:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = batch_module.read_sql_source

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(batch_module, "read_sql_source", counted)


def ingest(wh: Warehouse, config: CDPConfig, n: int) -> int:
    """Ingests night `n`; the rows loaded."""
    at = pd.Timestamp("2026-11-20T02:00:00Z") + pd.Timedelta(days=n)
    at = max(at, pd.Timestamp.now(tz="UTC"))  # the racy rule compares with the real clock
    batch, _, _ = ingest_into_warehouse(wh, config.sources[0], config, f"b{n}", at)
    return batch.rows_loaded


@pytest.fixture
def wh(tmp_path: Path):
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    yield warehouse
    warehouse.engine.dispose()


def test_unchanged_database_file_is_not_read_again(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = crm_database(tmp_path / "crm.sqlite", [("c1", "a@x.com"), ("c2", "b@x.com")])
    age(db)
    config = crm_config(tmp_path, db)
    reads = CountingReads(monkeypatch)
    assert ingest(wh, config, 0) == 2
    assert ingest(wh, config, 1) == 0
    assert ingest(wh, config, 2) == 0
    assert reads.calls == 1  # the two later nights trusted the file's state

    crm_database(db, [("c3", "c@x.com")])  # a write: size and time move
    age(db, hours=1)
    assert ingest(wh, config, 3) == 1
    assert reads.calls == 2
    assert wh.row_count(TableRef("raw", "crm")) == 3


def test_statement_change_reads_again(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = crm_database(tmp_path / "crm.sqlite", [("c1", "a@x.com"), ("c2", "b@x.com")])
    age(db)
    reads = CountingReads(monkeypatch)
    assert ingest(wh, crm_config(tmp_path, db), 0) == 2
    narrowed = crm_config(tmp_path, db, query="SELECT id, email FROM contacts WHERE id = 'c1'")
    ingest(wh, narrowed, 1)
    assert reads.calls == 2


def test_recently_modified_file_is_read_every_time(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = crm_database(tmp_path / "crm.sqlite", [("c1", "a@x.com")])  # modified just now
    config = crm_config(tmp_path, db)
    reads = CountingReads(monkeypatch)
    ingest(wh, config, 0)
    ingest(wh, config, 1)
    assert reads.calls == 2


def test_snapshot_gone_from_the_ledger_is_read_again(
    tmp_path: Path, wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = crm_database(tmp_path / "crm.sqlite", [("c1", "a@x.com")])
    age(db)
    config = crm_config(tmp_path, db)
    reads = CountingReads(monkeypatch)
    assert ingest(wh, config, 0) == 1
    with wh.transaction() as session:  # a team resets the source to load it again
        session.delete_where(TableRef("ops", "ingested_files"), "source = :s", {"s": "crm"})
        session.delete_where(TableRef("raw", "crm"), "1 = 1", {})
    assert ingest(wh, config, 1) == 1
    assert reads.calls == 2


def test_state_covers_the_write_ahead_log(tmp_path: Path) -> None:
    db = crm_database(tmp_path / "crm.sqlite", [("c1", "a@x.com")])
    age(db)
    before = database_file_state(f"sqlite:///{db}", "SELECT * FROM contacts")
    assert before is not None and before.settled_before(pd.Timestamp.now(tz="UTC"))
    wal = db.with_name(db.name + "-wal")
    wal.write_bytes(b"\0" * 32)  # a writer's pages not yet checkpointed into the file
    after = database_file_state(f"sqlite:///{db}", "SELECT * FROM contacts")
    assert after is not None
    assert after.size == before.size + 32 and after.fingerprint != before.fingerprint
    assert not after.settled_before(pd.Timestamp.now(tz="UTC"))


def test_only_sqlite_files_have_a_state(tmp_path: Path) -> None:
    assert database_file_state("postgresql+psycopg://u@localhost/db", "SELECT 1") is None
    assert database_file_state("sqlite://", "SELECT 1") is None
    assert database_file_state(f"sqlite:///{tmp_path / 'missing.sqlite'}", "SELECT 1") is None
