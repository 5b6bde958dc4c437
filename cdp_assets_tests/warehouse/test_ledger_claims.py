"""Two ingestion runs at once on PostgreSQL load each file once: the ledger is unique over
(source, file, content_hash), an existing ledger gains that index on its next write, and
`claim_source` makes concurrent runs of a source take turns."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import CDPConfig, parse_config
from cdp_assets.contracts.canonical import LEDGER_DTYPES
from cdp_assets.defs.ingestion import raw as raw_module
from cdp_assets.defs.ingestion.raw import build_raw_asset
from cdp_assets.defs.resources import WarehouseResource
from cdp_assets.ingest import ingest_source
from cdp_assets.ingest.ledger import LEDGER_TABLE, claim_source, repeated_claims
from cdp_assets.warehouse import TableRef, Warehouse, WarehouseSession, coerce_frame
from cdp_assets_tests.conftest import postgres_url_or_fail, reset_postgres

ORDERS = {
    "name": "shop_orders",
    "kind": "orders",
    "format": "csv",
    "path": "orders/*.csv",
    "columns": {"order_id": "id", "ordered_at": "ts", "amount": "total"},
}
RAW = TableRef("raw", "shop_orders")
TURN_SECONDS = 3.0  # how long a run waits for the other to reach the same point


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip("CDP_TEST_POSTGRES_URL is not set")
    reset_postgres(url)
    yield url
    from cdp_assets.warehouse import dispose_engines

    dispose_engines()


def make_config(tmp_path: Path) -> CDPConfig:
    return parse_config(
        {"landing_dir": "landing", "as_of": "2026-11-20", "sources": [ORDERS]},
        file=tmp_path / "cdp.yaml",
        base_dir=tmp_path,
    )


def land_orders(landing: Path, name: str, first: int, count: int) -> None:
    lines = ["id,ts,total"] + [
        f"o{i},2026-10-01T10:00:00Z,{i}.50" for i in range(first, first + count)
    ]
    (landing / "orders").mkdir(parents=True, exist_ok=True)
    (landing / "orders" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def ledger_rows(n: int, source: str = "shop_orders") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "source": source,
            "file": [f"orders/{i}.csv" for i in range(n)],
            "content_hash": [f"h{i}" for i in range(n)],
            "batch_id": "b1",
            "ingested_at": pd.Timestamp("2026-11-20T08:00:00Z"),
            "status": "ingested",
            "rows_read": 1,
        }
    )
    return coerce_frame(frame, LEDGER_DTYPES)


def loaded_per_file(warehouse: Warehouse) -> dict[str, int]:
    counts = warehouse.query(f"SELECT _file, COUNT(*) AS n FROM {RAW.sql} GROUP BY _file")
    return dict(zip(counts["_file"], counts["n"].astype(int), strict=True))


def ledger_per_file(warehouse: Warehouse) -> dict[str, int]:
    counts = warehouse.query(f"SELECT file, COUNT(*) AS n FROM {LEDGER_TABLE.sql} GROUP BY file")
    return dict(zip(counts["file"], counts["n"].astype(int), strict=True))


def in_threads(*calls: Callable[[], object]) -> list[object]:
    """Runs each call in its own thread; their results (or the exception each raised)."""
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - returned to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def meet(barrier: threading.Barrier) -> None:
    """Both runs reach this point before either goes on, unless one is held elsewhere (by
    the other's claim): then the wait times out and the run goes on alone."""
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=TURN_SECONDS)


# -- the unique ledger -----------------------------------------------------------------------


def test_the_ledger_refuses_a_second_claim_of_the_same_file(postgres_url: str) -> None:
    warehouse = Warehouse(postgres_url)
    with warehouse.transaction() as session:
        session.append(LEDGER_TABLE, ledger_rows(2))
    # psycopg's UniqueViolation (COPY runs on the driver's cursor)
    with (
        pytest.raises(Exception, match="ingested_files_unique_key"),
        warehouse.transaction() as session,
    ):
        session.append(LEDGER_TABLE, ledger_rows(1))
    with warehouse.transaction() as session:  # another source may hold the same file
        session.append(LEDGER_TABLE, ledger_rows(1, source="pos_orders"))
    assert warehouse.row_count(LEDGER_TABLE) == 3


def _create_ledger_without_index(session: WarehouseSession, rows: pd.DataFrame) -> None:
    session.ensure_schema("ops")
    session.create_table(LEDGER_TABLE, rows)
    session._bulk_insert(LEDGER_TABLE, rows)


def _unique_indexes(warehouse: Warehouse) -> int:
    return int(
        warehouse.query(
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE schemaname = 'ops' "
            "AND tablename = 'ingested_files' AND indexdef LIKE 'CREATE UNIQUE%'"
        )["n"].iloc[0]
    )


def test_an_existing_ledger_gains_the_unique_index_once(postgres_url: str) -> None:
    warehouse = Warehouse(postgres_url)
    with warehouse.transaction() as session:
        _create_ledger_without_index(session, ledger_rows(3))
    assert _unique_indexes(warehouse) == 0
    for _ in range(2):  # idempotent
        with warehouse.transaction() as session:
            claim_source(session, "shop_orders")
    assert _unique_indexes(warehouse) == 1
    assert warehouse.row_count(LEDGER_TABLE) == 3


def test_a_ledger_already_holding_a_file_twice_keeps_working_and_says_so(
    postgres_url: str,
) -> None:
    warehouse = Warehouse(postgres_url)
    twice = pd.concat([ledger_rows(2), ledger_rows(1)], ignore_index=True)
    with warehouse.transaction() as session:
        _create_ledger_without_index(session, twice)
    with warehouse.transaction() as session:
        claim_source(session, "shop_orders")
        session.append(LEDGER_TABLE, ledger_rows(1, source="pos_orders"))
        assert repeated_claims(session) == [("shop_orders", "orders/0.csv", "h0", 2)]
    assert _unique_indexes(warehouse) == 0
    assert warehouse.row_count(LEDGER_TABLE) == 4


# -- two runs at once ------------------------------------------------------------------------


def _claimed_ingestion(
    url: str, config: CDPConfig, batch_id: str, barrier: threading.Barrier
) -> int:
    """One ingestion batch of shop_orders the way the raw asset runs it, with the claim first
    in its one transaction; the number of files it ingested."""
    source = config.source("shop_orders")
    with Warehouse(url).transaction() as session:
        claim_source(session, source.name)
        ledger = session.read_table(
            LEDGER_TABLE, dtypes=LEDGER_DTYPES, where="source = :s", params={"s": source.name}
        )
        known = (
            session.query(f"SELECT _row_hash FROM {RAW.sql}")["_row_hash"].to_numpy()
            if session.table_exists(RAW)
            else np.array([], dtype="int64")
        )
        meet(barrier)
        batch = ingest_source(
            source,
            config,
            ledger=ledger,
            known_row_hashes=known,
            batch_id=batch_id,
            ingested_at=pd.Timestamp("2026-11-20T08:00:00Z"),
        )
        session.append(RAW, batch.rows)
        session.append(LEDGER_TABLE, batch.ledger)
        return batch.files_ingested


def test_two_claimed_ingestions_at_once_load_each_file_once(
    postgres_url: str, tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    landing = tmp_path / "landing"
    land_orders(landing, "1.csv", 0, 5)
    assert _claimed_ingestion(postgres_url, config, "b0", threading.Barrier(1)) == 1
    land_orders(landing, "2.csv", 5, 4)
    land_orders(landing, "3.csv", 9, 3)
    barrier = threading.Barrier(2)
    results = in_threads(
        lambda: _claimed_ingestion(postgres_url, config, "b1", barrier),
        lambda: _claimed_ingestion(postgres_url, config, "b2", barrier),
    )
    assert sorted(results) == [0, 2]  # one run took both new files, the other found none
    warehouse = Warehouse(postgres_url)
    assert loaded_per_file(warehouse) == {"orders/1.csv": 5, "orders/2.csv": 4, "orders/3.csv": 3}
    assert ledger_per_file(warehouse) == {"orders/1.csv": 1, "orders/2.csv": 1, "orders/3.csv": 1}


def test_two_raw_asset_runs_at_once_load_each_file_once(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real asset, two runs at once: the second waits for the first's claim on the
    source, then finds the new files already in the ledger; both succeed."""
    config = make_config(tmp_path)
    landing = tmp_path / "landing"
    asset = build_raw_asset(config.source("shop_orders"), config)
    resources = {"warehouse": WarehouseResource(url=postgres_url)}
    land_orders(landing, "1.csv", 0, 5)
    assert dg.materialize([asset], resources=resources).success
    land_orders(landing, "2.csv", 5, 4)
    land_orders(landing, "3.csv", 9, 3)

    barrier = threading.Barrier(2)
    real_ingest = raw_module.ingest_source

    def held_ingest(*args: object, **kwargs: object) -> object:
        meet(barrier)
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(raw_module, "ingest_source", held_ingest)
    results = in_threads(
        lambda: dg.materialize([asset], resources=resources, raise_on_error=False),
        lambda: dg.materialize([asset], resources=resources, raise_on_error=False),
    )
    warehouse = Warehouse(postgres_url)
    assert loaded_per_file(warehouse) == {"orders/1.csv": 5, "orders/2.csv": 4, "orders/3.csv": 3}
    assert ledger_per_file(warehouse) == {"orders/1.csv": 1, "orders/2.csv": 1, "orders/3.csv": 1}
    assert [r.success for r in results] == [True, True]  # type: ignore[union-attr]
    loaded = sorted(
        m.metadata["rows_loaded"].value
        for r in results
        for m in r.asset_materializations_for_node(asset.node_def.name)  # type: ignore[union-attr]
    )
    assert loaded == [0, 7]
