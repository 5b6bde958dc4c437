"""Table versions: every write through the warehouse layer gives the table a new version in
`ops.data_versions`, committed with the write; nothing else does."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_assets.warehouse import TableRef, Warehouse
from cdp_assets.warehouse.versions import (
    ContentMemo,
    changed_inputs,
    read_versions,
    record_version,
    recorded_inputs,
    table_name,
)

ORDERS = TableRef("vt_core", "orders")
OTHER = TableRef("vt_core", "other")


def versions(wh: Warehouse, *refs: TableRef) -> dict[str, str | None]:
    with wh.transaction() as session:
        found = read_versions(session, [table_name(r) for r in refs])
    return {str(r): found.get(table_name(r)) for r in refs}


def rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"order_id": [f"o{i}" for i in range(n)], "amount": [1.5] * n})


def test_every_kind_of_write_gives_a_new_version(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(ORDERS, rows(3))
    seen = [versions(wh, ORDERS)[str(ORDERS)]]
    with wh.transaction() as session:
        session.append(ORDERS, rows(2))
    seen.append(versions(wh, ORDERS)[str(ORDERS)])
    with wh.transaction() as session:
        session.delete_where(ORDERS, "order_id = :id", {"id": "o0"})
    seen.append(versions(wh, ORDERS)[str(ORDERS)])
    with wh.transaction() as session:
        session.replace_table_as(ORDERS, f"SELECT * FROM {ORDERS.sql} WHERE amount > 0")
    seen.append(versions(wh, ORDERS)[str(ORDERS)])
    assert None not in seen and len(set(seen)) == 4
    assert versions(wh, OTHER) == {str(OTHER): None}  # never written


def test_reading_or_deleting_nothing_keeps_the_version(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(ORDERS, rows(3))
    before = versions(wh, ORDERS)
    with wh.transaction() as session:
        session.read_table(ORDERS)
        session.append(ORDERS, rows(0))
        session.delete_where(ORDERS, "order_id = :id", {"id": "no such order"})
    assert versions(wh, ORDERS) == before


def test_a_rolled_back_write_keeps_the_version(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(ORDERS, rows(3))
    before = versions(wh, ORDERS)
    with pytest.raises(RuntimeError, match="boom"), wh.transaction() as session:
        session.replace_table(ORDERS, rows(1))
        raise RuntimeError("boom")
    assert versions(wh, ORDERS) == before
    assert wh.row_count(ORDERS) == 3


def test_a_warehouse_from_before_the_ledger_gets_a_version_for_each_table(
    warehouse_url: str,
) -> None:
    wh = Warehouse(warehouse_url)
    with wh.engine.begin() as conn:  # as an older release wrote it: no ledger
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS raw")
        conn.exec_driver_sql("CREATE TABLE raw.vt_accounts (id VARCHAR)")
    wh.replace_table(ORDERS, rows(1))  # the first write creates the ledger
    accounts = TableRef("raw", "vt_accounts")
    found = versions(wh, accounts, ORDERS)
    assert found[str(accounts)] is not None and found[str(ORDERS)] is not None


def test_a_step_records_its_inputs_and_says_what_changed(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    first = {"upstream": {"core/orders": "v1", "core/events": "e1"}, "as_of": "2026-11-20"}
    with wh.transaction() as session:
        version = record_version(session, "asset:ml/sales_forecast", first)
        assert recorded_inputs(session, "asset:ml/sales_forecast") == first
        assert read_versions(session, ["asset:ml/sales_forecast"]) == {
            "asset:ml/sales_forecast": version
        }
    second = {"upstream": {"core/orders": "v2", "core/events": "e1"}, "as_of": "2026-11-21"}
    assert changed_inputs(first, second) == ["as_of", "core/orders"]
    assert changed_inputs(first, first) == []


def test_only_writes_that_may_add_rows_move_the_additions_version(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(ORDERS, rows(3))

    def both() -> tuple[str, str]:
        with wh.transaction() as session:
            name = table_name(ORDERS)
            return (
                read_versions(session, [name])[name],
                read_versions(session, [name], additions=True)[name],
            )

    version, added = both()
    with wh.transaction() as session:
        session.delete_where(ORDERS, "order_id = :id", {"id": "o1"})
    after_delete = both()
    assert after_delete[0] != version and after_delete[1] == added
    with wh.transaction() as session:
        session.append(ORDERS, rows(1))
    after_append = both()
    assert after_append[0] != after_delete[0] and after_append[1] != added


def test_content_memo_computes_once_per_version(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    wh.replace_table(ORDERS, rows(3))
    computed: list[int] = []

    def row_total(record: bool = True) -> list:
        memo = ContentMemo("row_count")
        with wh.transaction() as session:

            def count() -> list:
                n = int(session.scalar(f"SELECT COUNT(*) FROM {ORDERS.sql}"))
                computed.append(n)
                return [n, "rows"]

            value = memo.value(session, ORDERS, count)
            if record:
                memo.record(session)
        return value

    assert row_total(record=False) == [3, "rows"]
    assert row_total() == [3, "rows"]  # not recorded the first time: computed again
    assert row_total() == [3, "rows"]  # same version: recorded
    assert computed == [3, 3]
    with wh.transaction() as session:
        session.append(ORDERS, rows(2))
    assert row_total() == [5, "rows"]  # a write moved the version
    with wh.transaction() as session:
        session.delete_where(ORDERS, "order_id = :id", {"id": "o2"})  # one of the five
    assert row_total() == [4, "rows"]
    assert row_total() == [4, "rows"]
    assert computed == [3, 3, 5, 4]
    with wh.transaction() as session:  # another purpose is its own record
        assert ContentMemo("other").value(session, ORDERS, lambda: ["x"]) == ["x"]


def test_content_of_a_table_without_a_version_is_computed_every_time(
    warehouse_url: str,
) -> None:
    wh = Warehouse(warehouse_url)
    with wh.transaction() as session:  # created by hand, outside the warehouse layer
        session.ensure_schema(OTHER.schema)
        session.conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {OTHER.sql} (x BIGINT)")
    calls: list[int] = []
    for _ in range(2):
        memo = ContentMemo("n")
        with wh.transaction() as session:
            memo.value(session, OTHER, lambda: calls.append(1) or [len(calls)])
            memo.record(session)
    assert calls == [1, 1]
