"""Identity resolution with nothing new does nothing (and says so); new or changed records,
a due periodic full resolution or the run tag make it resolve again."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from cdp_assets.defs.identity.resolution import IDENTITY_OUTPUTS
from cdp_assets.identity.increments import (
    FULL_RESOLUTION_TAG,
    RUN_DTYPES,
    ResolutionPlan,
    input_digest,
    plan_resolution,
    run_row,
    table_digest_sql,
)
from cdp_assets.warehouse import dispose_engines
from cdp_assets_tests.conftest import postgres_url_or_fail
from cdp_assets_tests.e2e.pipeline import (
    DemoProject,
    load_definitions,
    project_env,
    two_customer_sources,
)

NOW = pd.Timestamp("2026-11-20 03:00", tz="UTC")
TABLES = tuple(IDENTITY_OUTPUTS)


def _ledger(*rows: tuple[str, str, str, tuple[str, ...]]) -> pd.DataFrame:
    """Run ledger rows: (run_at, mode, digest, tables written)."""
    frames = [
        run_row(pd.Timestamp(at, tz="UTC"), _plan(mode), digest, tables)
        for at, mode, digest, tables in rows
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUN_DTYPES)


def _plan(mode: str) -> ResolutionPlan:
    return ResolutionPlan(mode, "test")


def _decide(runs: pd.DataFrame, digest: str = "d1", **kwargs: object) -> str:
    options: dict[str, object] = {
        "full_every_days": 7,
        "forced": False,
        "all_tables": TABLES,
        "missing_tables": (),
    } | kwargs
    return plan_resolution(runs, digest, NOW, **options).mode  # type: ignore[arg-type]


def test_plan_resolves_only_when_something_changed_or_a_full_run_is_due() -> None:
    assert _decide(_ledger()) == "full"  # first run
    fresh = _ledger(("2026-11-19 03:00", "full", "d1", TABLES))
    assert _decide(fresh) == "unchanged"
    assert _decide(fresh, digest="d2") == "full"
    assert _decide(fresh, forced=True) == "full"
    assert _decide(fresh, missing_tables=("customer_xref",)) == "full"
    # An unchanged run in between does not reset the clock of the periodic full resolution.
    week = _ledger(
        ("2026-11-13 03:00", "full", "d1", TABLES),
        ("2026-11-19 03:00", "unchanged", "d1", ()),
    )
    assert _decide(week) == "full"
    assert _decide(week, full_every_days=None) == "unchanged"
    assert _decide(week, full_every_days=8) == "unchanged"
    # The last resolution wrote a subset of the tables (one asset refreshed alone).
    partial = _ledger(("2026-11-19 03:00", "full", "d1", ("customer_xref",)))
    assert _decide(partial) == "full"


def test_plan_resolves_incrementally_between_full_resolutions_when_it_can() -> None:
    fresh = _ledger(("2026-11-19 03:00", "full", "d1", TABLES))
    assert _decide(fresh, digest="d2", incremental_blocker=None) == "incremental"
    assert _decide(fresh, digest="d2", incremental_blocker="no stored parameters") == "full"
    assert _decide(fresh, digest="d2", incremental_blocker=None, forced=True) == "full"
    # After an incremental run, its digest is the one compared; the clock of the periodic
    # full resolution still runs from the last full one.
    chain = _ledger(
        ("2026-11-13 04:00", "full", "d1", TABLES),
        ("2026-11-19 03:00", "incremental", "d2", TABLES),
    )
    assert _decide(chain, digest="d2", incremental_blocker=None) == "unchanged"
    assert _decide(chain, digest="d3", incremental_blocker=None) == "incremental"
    assert _decide(chain, digest="d3", incremental_blocker=None, full_every_days=6) == "full"


def test_table_digest_ignores_row_order_and_sees_any_changed_value() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE a (id VARCHAR, email VARCHAR)")
    conn.execute("INSERT INTO a VALUES ('1', 'x@a.com'), ('2', NULL), ('3', 'z@a.com')")
    conn.execute("CREATE TABLE b AS SELECT * FROM a ORDER BY id DESC")
    conn.execute("CREATE TABLE c AS SELECT * FROM a")
    conn.execute("UPDATE c SET email = 'y@a.com' WHERE id = '2'")

    def digest(table: str) -> tuple[int, str]:
        n, h = conn.execute(table_digest_sql(table, "duckdb", ["id", "email"])).fetchone()
        return int(n), str(h)

    assert digest("a") == digest("b")
    assert digest("a") != digest("c")
    assert digest("a")[0] == 3
    settings = {"identity": {"threshold": 0.98}}
    same = input_digest({"s": digest("a")}, settings)
    assert same == input_digest({"s": digest("b")}, settings)
    assert same != input_digest({"s": digest("c")}, settings)
    assert same != input_digest({"s": digest("a")}, {"identity": {"threshold": 0.99}})
    assert same != input_digest({"s": None}, settings)


ACCOUNTS = "id,email,phone\na1,ann.okafor@gmail.com,\na2,bo.lind@gmail.com,+447583920417\n"
CRM = "id,email,phone\nc1,,+447583920417\n"
NEW_CRM = "id,email,phone\nc2,ann.okafor@gmail.com,\nc3,new.person@gmail.com,\n"


def _project(tmp_path: Path) -> DemoProject:
    return two_customer_sources(tmp_path, ACCOUNTS, CRM)


IDENTITY_KEYS = [dg.AssetKey(["core", name]) for name in IDENTITY_OUTPUTS]


def _run(
    project: DemoProject,
    instance: dg.DagsterInstance,
    keys: list[dg.AssetKey],
    tags: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Materializes `keys`; returns each materialized asset's metadata values."""
    with project_env(project):
        job = load_definitions().resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, asset_selection=keys, tags=tags)
    dispose_engines()
    assert result.success
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        out[materialization.asset_key.to_user_string()] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    return out


def _state(project: DemoProject) -> dict[str, pd.DataFrame]:
    return {name: project.table("core", name) for name in ("customer_xref", "identity_merges")}


@pytest.fixture
def project(tmp_path: Path) -> DemoProject:
    return _project(tmp_path)


def test_nothing_new_re_resolves_nothing_and_says_so(project: DemoProject) -> None:
    staging = [
        dg.AssetKey(["raw", "accounts"]),
        dg.AssetKey(["raw", "crm"]),
        dg.AssetKey(["staging", "accounts"]),
        dg.AssetKey(["staging", "crm"]),
    ]
    with dg.instance_for_test() as instance:
        first = _run(project, instance, staging + IDENTITY_KEYS)
        assert first["core/customer_xref"]["resolution"] == "full"
        before = _state(project)

        again = _run(project, instance, IDENTITY_KEYS)
        assert set(again) == {f"core/{name}" for name in IDENTITY_OUTPUTS}
        assert {meta["resolution"] for meta in again.values()} == {"unchanged"}
        after = _state(project)
        pd.testing.assert_frame_equal(before["customer_xref"], after["customer_xref"])
        # The merge ledger did not grow: nothing was resolved, so no event was recorded.
        pd.testing.assert_frame_equal(before["identity_merges"], after["identity_merges"])
        # Nothing written at all, the resolution ledger included.
        assert project.table("core", "identity_runs")["mode"].tolist() == ["full"]

        # A forced run resolves again; the ids stay (same input, same clusters).
        forced = _run(project, instance, IDENTITY_KEYS, tags={FULL_RESOLUTION_TAG: "true"})
        assert forced["core/customer_xref"]["resolution"] == "full"
        pd.testing.assert_frame_equal(
            before["customer_xref"], project.table("core", "customer_xref")
        )

        # New and changed records: resolved again; c2 joins a1's customer, c3 is new.
        (project.root / "landing" / "crm" / "2.csv").write_text(NEW_CRM, encoding="utf-8")
        changed = _run(project, instance, staging + IDENTITY_KEYS)
        assert changed["core/customer_xref"]["resolution"] == "full"
        xref = project.table("core", "customer_xref").set_index("source_record_id")
        old = before["customer_xref"].set_index("source_record_id")
        assert xref.loc["c2", "customer_id"] == old.loc["a1", "customer_id"]
        assert xref.loc["c3", "customer_id"] not in set(old["customer_id"])
        for record in ("a1", "a2", "c1"):
            assert xref.loc[record, "customer_id"] == old.loc[record, "customer_id"]


def test_table_digest_on_postgres_ignores_lineage_and_sees_changes() -> None:
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip("CDP_TEST_POSTGRES_URL is not set")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    sql = table_digest_sql("digest_probe", "postgresql", ["id", "email"])
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TEMP TABLE digest_probe (id text, email text, _batch_id text)")
        )
        conn.execute(
            sa.text("INSERT INTO digest_probe VALUES ('1', 'x@a.com', 'b1'), ('2', NULL, 'b1')")
        )
        first = conn.execute(sa.text(sql)).one()
        conn.execute(sa.text("UPDATE digest_probe SET _batch_id = 'b2'"))
        assert conn.execute(sa.text(sql)).one() == first
        conn.execute(sa.text("UPDATE digest_probe SET email = 'y@a.com' WHERE id = '2'"))
        changed = conn.execute(sa.text(sql)).one()
    engine.dispose()
    assert first[0] == changed[0] == 2
    assert first[1] != changed[1]
