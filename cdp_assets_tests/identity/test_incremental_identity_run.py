"""Through Dagster: new records after a full resolution are resolved incrementally, and the
tables equal those of a full resolution with the stored parameters (run tag
`cdp/identity_frozen_resolution`) on the same warehouse; on DuckDB and PostgreSQL."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from cdp_assets.defs.identity.resolution import IDENTITY_OUTPUTS
from cdp_assets.identity.increments import FROZEN_RESOLUTION_TAG
from cdp_assets.warehouse import TableRef, dispose_engines
from cdp_assets_tests.e2e.pipeline import DemoProject, load_definitions, project_env
from cdp_assets_tests.identity.probabilistic_records import synthetic_population

COLUMNS = ("first_name", "last_name", "birth_date", "street", "city", "postal_code", "email")
IDENTITY_KEYS = [dg.AssetKey(["core", name]) for name in IDENTITY_OUTPUTS]
STAGING_KEYS = [dg.AssetKey(["raw", "accounts"]), dg.AssetKey(["staging", "accounts"])]
# Written at the run's clock time: the only columns two runs may not share.
CLOCK_COLUMNS = {"identity_merges": ["run_at"], "customer_id_aliases": ["since"]}
# The identity tables and the stored match view (written in part by an incremental run).
COMPARED = [*IDENTITY_OUTPUTS, "identity_match_records"]


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["id", *COLUMNS])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _rows() -> list[dict[str, object]]:
    frame, person = synthetic_population(people=300, duplicates=120, households=40, seed=3)
    rows = []
    for i, row in frame.iterrows():
        values = {c: row[c] for c in COLUMNS if c in row and pd.notna(row[c])}
        if pd.notna(row["birth_date"]):
            values["birth_date"] = row["birth_date"].date().isoformat()
        if i % 3 == 0:
            values["email"] = f"person{person[i]}@mail.test"
        rows.append({"id": f"a{i:04d}", **values})
    return rows


ORDER_COLUMNS = ("id", "ts", "total", "customer_ref", "email", "phone")


def _orders_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ORDER_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _project(
    root: Path,
    rows: list[dict[str, object]],
    url: str | None = None,
    orders: list[dict[str, object]] | None = None,
) -> DemoProject:
    (root / "landing" / "accounts").mkdir(parents=True)
    (root / "landing" / "accounts" / "1.csv").write_text(_csv(rows), encoding="utf-8")
    columns = {"source_record_id": "id"} | {c: c for c in COLUMNS}
    source = {
        "name": "accounts",
        "kind": "customers",
        "format": "csv",
        "path": "accounts/*.csv",
        "columns": columns,
    }
    sources = [source]
    if orders is not None:
        (root / "landing" / "orders").mkdir(parents=True)
        (root / "landing" / "orders" / "1.csv").write_text(_orders_csv(orders), "utf-8")
        sources.append(
            {
                "name": "orders",
                "kind": "orders",
                "format": "csv",
                "path": "orders/*.csv",
                "customer_ref_source": "accounts",
                "columns": {
                    "order_id": "id",
                    "ordered_at": "ts",
                    "amount": "total",
                    "customer_ref": "customer_ref",
                    "email": "email",
                    "phone": "phone",
                },
            }
        )
    config = {"landing_dir": "landing", "timezone": "UTC", "sources": sources}
    path = root / "cdp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return DemoProject(root, path, root, url or f"duckdb:///{root / 'wh.duckdb'}")


def _run(
    project: DemoProject,
    instance: dg.DagsterInstance,
    keys: list[dg.AssetKey],
    tags: dict[str, str] | None = None,
) -> dict[str, object]:
    with project_env(project):
        job = load_definitions().resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, asset_selection=keys, tags=tags)
    dispose_engines()
    assert result.success
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == "core/customer_xref":
            return {k: v.value for k, v in materialization.metadata.items()}
    return {}


def _tables(project: DemoProject) -> dict[str, pd.DataFrame]:
    out = {}
    for name in COMPARED:
        table = project.table("core", name).drop(columns=CLOCK_COLUMNS.get(name, []))
        out[name] = table.sort_values(list(table.columns), ignore_index=True)
    dispose_engines()  # no connection may outlive a copy of the file
    return out


def _copy_warehouse(source: Path, target: Path) -> None:
    """The DuckDB file and its write-ahead log, as they are between runs."""
    target.mkdir(exist_ok=True)
    for name in ("wh.duckdb", "wh.duckdb.wal"):
        (target / name).unlink(missing_ok=True)
        if (source / name).exists():
            shutil.copy(source / name, target / name)


def test_new_records_resolve_incrementally_as_a_frozen_full_run_does(tmp_path: Path) -> None:
    rows = _rows()
    project = _project(tmp_path, rows)
    with dg.instance_for_test() as instance:
        first = _run(project, instance, STAGING_KEYS + IDENTITY_KEYS)
        assert first["resolution"] == "full"
        assert first["probabilistic_links"] > 20

        new = [dict(row, id=f"n{n}") for n, row in enumerate(rows[:5])]
        new.append({"id": "n_new", "first_name": "Ottoline", "last_name": "Fairweather"})
        landing = project.root / "landing" / "accounts" / "2.csv"
        landing.write_text(_csv(new), encoding="utf-8")
        _run(project, instance, STAGING_KEYS)
        _copy_warehouse(tmp_path, tmp_path / "before")

        incremental = _run(project, instance, IDENTITY_KEYS)
        assert incremental["resolution"] == "incremental"
        assert "clustered: touched components" in incremental["resolution_reason"]
        assert 6 <= incremental["nodes_re_resolved"] < 40
        assert incremental["records_new"] == 6
        assert 6 <= incremental["records_re_resolved"] < 30
        assert 0 < incremental["components_touched"] <= 6
        # Only the stored match view's rows that differ are written (the new records').
        assert 6 <= incremental["match_view_rows_inserted"] < 30
        assert incremental["match_view_rows_deleted"] < 24
        after_incremental = _tables(project)

        _copy_warehouse(tmp_path / "before", tmp_path)
        frozen = _run(project, instance, IDENTITY_KEYS, tags={FROZEN_RESOLUTION_TAG: "true"})
        assert frozen["resolution"] == "frozen"
        after_frozen = _tables(project)
    for name in COMPARED:
        pd.testing.assert_frame_equal(after_incremental[name], after_frozen[name], obj=name)
    xref = after_incremental["customer_xref"].set_index("source_record_id")["customer_id"]
    assert all(xref[f"n{n}"] == xref[row["id"]] for n, row in enumerate(rows[:5]))


def test_a_frozen_full_run_after_an_incremental_one_changes_nothing(
    tmp_path: Path, warehouse_url: str
) -> None:
    """Both engines: the stored parameters, match view and links read back as written, so a
    frozen full resolution of what the incremental one resolved finds the same customers."""
    rows = _rows()
    project = _project(tmp_path, rows[:-15], warehouse_url)
    with dg.instance_for_test() as instance:
        assert _run(project, instance, STAGING_KEYS + IDENTITY_KEYS)["resolution"] == "full"
        landing = project.root / "landing" / "accounts" / "2.csv"
        landing.write_text(_csv([dict(row, id=f"n{row['id']}") for row in rows[-15:]]), "utf-8")
        incremental = _run(project, instance, STAGING_KEYS + IDENTITY_KEYS)
        assert incremental["resolution"] == "incremental"
        assert "clustered: touched components" in incremental["resolution_reason"]
        assert incremental["records_new"] == 15
        after_incremental = _tables(project)
        frozen = _run(project, instance, IDENTITY_KEYS, tags={FROZEN_RESOLUTION_TAG: "true"})
        assert frozen["resolution"] == "frozen"
        assert frozen["new_customers"] == frozen["merges"] == frozen["splits"] == 0
        after_frozen = _tables(project)
    for name in COMPARED:
        pd.testing.assert_frame_equal(after_incremental[name], after_frozen[name], obj=name)


def test_rows_erased_from_the_match_view_are_counted_and_resolved_incrementally(
    tmp_path: Path,
) -> None:
    """Erasure deletes an erased customer's rows of `core.identity_match_records` (they carry
    its customer id). The next resolution counts them as removed and stays incremental (no
    block of the present records is near `max_block_size`), equal to a frozen full run. Here
    the staged records stay, so they come back as new records."""
    rows = _rows()
    project = _project(tmp_path, rows[:-15])
    with dg.instance_for_test() as instance:
        _run(project, instance, STAGING_KEYS + IDENTITY_KEYS)
        view = project.table("core", "identity_match_records")
        assert view["customer_id"].notna().all()
        assert (view["rows_written"] == len(view)).all()
        erased = view["customer_id"].iloc[0]
        gone = int((view["customer_id"] == erased).sum())
        wh = project.warehouse()
        with wh.transaction() as session:
            session.delete_where(
                TableRef("core", "identity_match_records"), "customer_id = :c", {"c": erased}
            )
        dispose_engines()
        landing = project.root / "landing" / "accounts" / "2.csv"
        landing.write_text(_csv([dict(row, id=f"n{row['id']}") for row in rows[-15:]]), "utf-8")
        _run(project, instance, STAGING_KEYS)
        _copy_warehouse(tmp_path, tmp_path / "before")
        after = _run(project, instance, IDENTITY_KEYS)
        after_incremental = _tables(project)
        _copy_warehouse(tmp_path / "before", tmp_path)
        frozen = _run(project, instance, IDENTITY_KEYS, tags={FROZEN_RESOLUTION_TAG: "true"})
        after_frozen = _tables(project)
    assert gone >= 1
    assert after["resolution"] == "incremental"
    assert after["records_removed"] == gone
    assert after["records_new"] == 15 + gone  # the staged records are back, unseen
    assert frozen["resolution"] == "frozen"
    for name in COMPARED:
        pd.testing.assert_frame_equal(after_incremental[name], after_frozen[name], obj=name)


def test_changed_and_removed_records_write_only_their_customers_rows(
    tmp_path: Path, warehouse_url: str
) -> None:
    """Both engines: new records, a record whose email moves it to another customer (a
    merge there, its old customer shrinks) and a removed record, resolved in the touched
    components only; a frozen full resolution afterwards finds nothing to change, and the
    rows of untouched customers are the rows the first resolution wrote."""
    rows = _rows()
    project = _project(tmp_path, rows[:-10], warehouse_url)
    with dg.instance_for_test() as instance:
        assert _run(project, instance, STAGING_KEYS + IDENTITY_KEYS)["resolution"] == "full"
        first = _tables(project)
        landing = project.root / "landing" / "accounts" / "2.csv"
        landing.write_text(_csv([dict(row, id=f"n{row['id']}") for row in rows[-10:]]), "utf-8")
        _run(project, instance, STAGING_KEYS)
        xref = first["customer_xref"].set_index("source_record_id")["customer_id"]
        mover, target, removed = "a0001", "a0003", "a0005"
        assert len({xref[mover], xref[target], xref[removed]}) == 3
        wh = project.warehouse()
        staged = TableRef("staging", "accounts")
        with wh.transaction() as session:
            # The mover becomes the target's person, with the target's (new) email.
            for record_id in (mover, target):
                session.conn.execute(
                    sa.text(
                        f"UPDATE {staged.sql} SET email = :e, email_key = :e "
                        "WHERE source_record_id = :r"
                    ),
                    {"e": "jo.bridge@fastmail.com", "r": record_id},
                )
            session.conn.execute(
                sa.text(
                    f"UPDATE {staged.sql} AS m SET first_name = t.first_name, "
                    "last_name = t.last_name, birth_date = t.birth_date "
                    f"FROM {staged.sql} AS t WHERE m.source_record_id = :m "
                    "AND t.source_record_id = :t"
                ),
                {"m": mover, "t": target},
            )
            session.delete_where(staged, "source_record_id = :r", {"r": removed})
        dispose_engines()
        incremental = _run(project, instance, IDENTITY_KEYS)
        assert incremental["resolution"] == "incremental"
        assert "clustered: touched components" in incremental["resolution_reason"]
        assert incremental["nodes_re_resolved"] < 60
        after_incremental = _tables(project)
        frozen = _run(project, instance, IDENTITY_KEYS, tags={FROZEN_RESOLUTION_TAG: "true"})
        assert frozen["resolution"] == "frozen"
        assert frozen["new_customers"] == frozen["merges"] == frozen["splits"] == 0
        after_frozen = _tables(project)
    # Counted in the warehouse: the whole table, not the re-resolved rows alone.
    assert incremental["dagster/row_count"] == frozen["dagster/row_count"]
    assert incremental["dagster/row_count"] == len(after_frozen["customer_xref"])
    assert incremental["edges_by_rule"] == frozen["edges_by_rule"]
    for name in COMPARED:
        pd.testing.assert_frame_equal(after_incremental[name], after_frozen[name], obj=name)
    now = after_incremental["customer_xref"].set_index("source_record_id")["customer_id"]
    assert now[mover] == now[target]
    assert removed not in now.index
    kept = first["customer_xref"][
        ~first["customer_xref"]["customer_id"].isin({xref[mover], xref[target], xref[removed]})
    ]
    untouched = kept.merge(after_incremental["customer_xref"], how="left", indicator=True)
    assert (untouched["_merge"] == "both").mean() > 0.9


ORDER_KEYS = [dg.AssetKey(["raw", "orders"]), dg.AssetKey(["staging", "orders"])]


def _order(order_id: str, **identity: str) -> dict[str, object]:
    return {"id": order_id, "ts": "2026-11-01T10:00:00Z", "total": "12.50", **identity}


def test_new_and_removed_fact_identities_write_only_their_customers_rows(
    tmp_path: Path, warehouse_url: str
) -> None:
    """Both engines: an order naming an account with a new email, a till order with only that
    email (it joins the account's customer through it), and a removed order whose email named
    nobody else (its customer retires); an order naming nobody at all stays a row of no
    customer. Resolved in the touched components; a frozen full resolution changes nothing."""
    rows = _rows()
    orders = [
        _order("o1", customer_ref="a0002"),
        _order("o2", email="gone.soon@fastmail.com"),
        _order("o3"),
        _order("o4", phone="+441130496000"),
    ]
    project = _project(tmp_path, rows, warehouse_url, orders)
    keys = STAGING_KEYS + ORDER_KEYS
    with dg.instance_for_test() as instance:
        assert _run(project, instance, keys + IDENTITY_KEYS)["resolution"] == "full"
        first = _tables(project)
        assert first["fact_identities"]["customer_id"].isna().sum() == 1  # o3
        landing = project.root / "landing" / "orders" / "2.csv"
        new = [
            _order("o5", customer_ref="a0010", email="jo.new@fastmail.com"),
            _order("o6", email="jo.new@fastmail.com"),
        ]
        landing.write_text(_orders_csv(new), "utf-8")
        _run(project, instance, ORDER_KEYS)
        wh = project.warehouse()
        with wh.transaction() as session:  # as an erasure or a source's correction would
            session.delete_where(TableRef("staging", "orders"), "order_id = :o", {"o": "o2"})
        dispose_engines()
        incremental = _run(project, instance, IDENTITY_KEYS)
        assert incremental["resolution"] == "incremental"
        assert "clustered: touched components" in incremental["resolution_reason"]
        after_incremental = _tables(project)
        frozen = _run(project, instance, IDENTITY_KEYS, tags={FROZEN_RESOLUTION_TAG: "true"})
        assert frozen["new_customers"] == frozen["merges"] == frozen["retired"] == 0
        after_frozen = _tables(project)
    for name in COMPARED:
        pd.testing.assert_frame_equal(after_incremental[name], after_frozen[name], obj=name)
    facts = after_incremental["fact_identities"]
    xref = after_incremental["customer_xref"]
    account = xref[xref["identity_kind"] == "record"].set_index("source_record_id")["customer_id"]
    assert set(facts.loc[facts["email_key"] == "jo.new@fastmail.com", "customer_id"]) == {
        account["a0010"]
    }
    assert "gone.soon@fastmail.com" not in set(facts["email_key"].dropna())
    assert facts["customer_id"].isna().sum() == 1
    events = after_incremental["identity_merges"]
    assert (events["event"] == "retired").sum() == 1


def test_a_failure_mid_write_of_touched_components_leaves_the_tables_as_they_were(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both engines: the touched customers' rows are deleted and inserted in one transaction;
    a failure after the deletions leaves every identity table as before the run, and the
    run again gives what a frozen full resolution gives."""
    rows = _rows()
    project = _project(tmp_path, rows[:-15], warehouse_url)
    with dg.instance_for_test() as instance:
        _run(project, instance, STAGING_KEYS + IDENTITY_KEYS)
        landing = project.root / "landing" / "accounts" / "2.csv"
        landing.write_text(_csv([dict(row, id=f"n{row['id']}") for row in rows[-15:]]), "utf-8")
        _run(project, instance, STAGING_KEYS)
        before = _tables(project)

        def fail(*_: object) -> None:
            raise RuntimeError("the process dies after the deletions")

        with monkeypatch.context() as patch:
            patch.setattr("cdp_assets.defs.identity.resolution._unresolved_edges", fail)
            with project_env(project):
                job = load_definitions().resolve_implicit_global_asset_job_def()
                failed = job.execute_in_process(
                    instance=instance, asset_selection=IDENTITY_KEYS, raise_on_error=False
                )
            dispose_engines()
        assert not failed.success
        after_failure = _tables(project)
        for name in COMPARED:
            pd.testing.assert_frame_equal(before[name], after_failure[name], obj=name)
        again = _run(project, instance, IDENTITY_KEYS)
        assert "clustered: touched components" in again["resolution_reason"]
        after_incremental = _tables(project)
        _run(project, instance, IDENTITY_KEYS, tags={FROZEN_RESOLUTION_TAG: "true"})
        after_frozen = _tables(project)
    for name in COMPARED:
        pd.testing.assert_frame_equal(after_incremental[name], after_frozen[name], obj=name)
