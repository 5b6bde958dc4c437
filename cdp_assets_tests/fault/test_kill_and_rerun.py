"""`kill -9` of a run in the middle of ingestion, staging, identity, export and erasure, then
a re-run: the warehouse tables and export files equal those of an uninterrupted run.

One demo project is built stage by stage by an uninterrupted run, on DuckDB and (when
CDP_TEST_POSTGRES_URL is set) on PostgreSQL; the state after each stage is saved. Each case
restores the state before its stage, runs the stage in a child process that SIGKILLs itself
at a chosen point, runs the stage again in a fresh process, and compares every table and
export file with the uninterrupted run's (run times ranked, run and batch ids left out:
`harness.VOLATILE_COLUMNS`, `harness.RUN_ID_COLUMNS`).

On PostgreSQL also: the server restarting under a run (`test_postgres_restart_…`) and two
ingestion runs at once (`test_two_ingestion_runs_at_once_…`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from cdp_assets_tests.conftest import postgres_url_or_fail, reset_postgres
from cdp_assets_tests.fault.harness import (
    Baseline,
    Driver,
    build_baseline,
    differences,
    drop_saved_states,
    kill,
    kill_and_rerun,
    new_project,
    restore_state,
    snapshot,
)

IDENTITY_TABLE_WRITE = "cdp_assets.warehouse.warehouse:WarehouseSession.replace_table"


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def baseline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Baseline]:
    """The uninterrupted run, stage by stage, with its state and snapshot after each."""
    url = None
    if request.param == "postgres":
        url = postgres_url_or_fail()
        if url is None:
            pytest.skip("CDP_TEST_POSTGRES_URL is not set")
        reset_postgres(url)
    project = new_project(tmp_path_factory.mktemp(f"fault_{request.param}") / "project", url)
    driver = Driver.start(project)
    try:
        yield build_baseline(request.param, project, driver)
    finally:
        driver.close()
        if url is not None:
            drop_saved_states(url)
            reset_postgres(url)


BOTH = ("duckdb", "postgres")
# The export files' defects do not depend on the warehouse engine: shown on DuckDB only.
DUCKDB = ("duckdb",)
CASES = [
    pytest.param("orders", kill("cdp_assets.defs.ingestion.raw:_write_batch"), BOTH,
                 id="ingestion-rows-written-before-ledger"),
    pytest.param("orders", kill("cdp_assets.staging.increments:stage_source", 2), BOTH,
                 id="staging-mid-chunk-loop"),
    pytest.param("core", kill(IDENTITY_TABLE_WRITE, 3, "after"), BOTH,
                 id="identity-after-some-tables"),
    pytest.param("core", kill("cdp_assets.defs.identity.resolution:_result"), BOTH,
                 id="identity-committed-profiles-not"),
    pytest.param("exports", kill("cdp_assets.activation.export_files:write_bytes_atomically", 2,
                                 "after"), DUCKDB, id="exports-mid-files"),
    pytest.param("exports", kill("cdp_assets.defs.activation.exports:_stage_audience_exports",
                                 1, "after"), DUCKDB, id="exports-staged-not-logged"),
    pytest.param("exports", kill("cdp_assets.defs.activation.exports:finish_exports"),
                 DUCKDB, id="exports-logged-not-published"),
    pytest.param("erasure", kill("cdp_assets.privacy.erasure:delete_rows", 3, "after"), BOTH,
                 id="erasure-after-some-tables"),
    pytest.param("erasure", kill("cdp_assets.defs.privacy.erasure:_erase_from_model_store"),
                 DUCKDB, id="erasure-files-counted-not-committed"),
    pytest.param("erasure", kill("cdp_assets.defs.privacy.erasure:_scrub_exports", 2),
                 DUCKDB, id="erasure-committed-files-not-scrubbed"),
    pytest.param("erasure", kill("cdp_assets.privacy.export_scrub:write_json_atomically"),
                 DUCKDB, id="erasure-data-files-before-manifests"),
]  # fmt: skip


@pytest.mark.parametrize(("stage", "point", "engines"), CASES)
def test_killed_run_then_rerun_equals_uninterrupted_run(
    baseline: Baseline, stage: str, point: dict[str, Any], engines: tuple[str, ...]
) -> None:
    if baseline.engine not in engines:
        # A skip, not a pass: a case must not count as proven where it does not run.
        pytest.skip(f"shown on {', '.join(engines)}")
    found = kill_and_rerun(baseline, stage, point)
    if point["target"].startswith("cdp_assets.privacy.export_scrub:"):
        found = [d for d in found if d.startswith("exports/")]
    assert found == []


def test_baseline_exercises_every_layer(baseline: Baseline) -> None:
    """The uninterrupted run's tables and files are there to compare with."""
    last = baseline.snapshots["erasure"]
    for table in (
        "raw.shop_orders",
        "staging.shop_orders",
        "core.customer_xref",
        "activation.audience_exports",
    ):
        assert len(last.tables[table]) > 0, table
    assert any(name.endswith("full.csv") for name in last.files)
    log = last.tables["ops.erasure_log"]
    ours = log[log["request_id"] == "FAULT-1"]
    assert list(ours["status"]) == ["erased"]
    assert int(ours["export_rows_removed"].iloc[0]) > 0


# ---- PostgreSQL only: the server restarting under a run; two runs at once ----

RESTART_MESSAGE = "terminating connection due to administrator command"


def postgres_only(baseline: Baseline) -> None:
    if baseline.engine != "postgres":
        pytest.skip("a PostgreSQL fault")


@pytest.mark.parametrize(
    ("stage", "target", "nth"),
    [
        pytest.param("orders", "cdp_assets.defs.ingestion.raw:RawAppender.append", 2,
                     id="ingestion"),
        pytest.param("core", IDENTITY_TABLE_WRITE, 3, id="identity"),
    ],
)  # fmt: skip
def test_postgres_restart_fails_the_run_cleanly_then_retry(
    baseline: Baseline, stage: str, target: str, nth: int
) -> None:
    """Every backend of the test database is terminated (what a restart does to the run's
    connections; other databases of the server are left alone): the run fails with the
    server's message and leaves the warehouse as it was; a retry gives the uninterrupted
    run's tables."""
    postgres_only(baseline)
    project, driver = baseline.project, baseline.driver
    restore_state(project, baseline.state_before(stage))
    before = snapshot(project)
    point = {"target": target, "nth": nth, "when": "after", "action": "terminate_backends"}
    failed = driver.run(stage, point)
    assert failed["exit"] == "failed", failed
    assert failed["reached"] is not None
    assert any(RESTART_MESSAGE in error for error in failed["errors"]), failed["errors"]
    assert differences(before, snapshot(project)) == []  # nothing of the run is visible
    retry = driver.run(stage)
    assert retry["exit"] == "ok", retry
    assert differences(baseline.snapshots[stage], snapshot(project)) == []


def _ingested_files(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        ledger = pd.read_sql(
            sa.text(
                "SELECT file, content_hash, status FROM ops.ingested_files "
                "WHERE source = 'shop_orders'"
            ),
            conn,
        )
    engine.dispose()
    return ledger


def test_two_ingestion_runs_at_once_load_each_file_once(baseline: Baseline, tmp_path: Path) -> None:
    """A first delivery is in; a new file lands; two runs ingest the same landing folder at
    once. Both meet once each has read the ledger, before either writes (or after 15 s,
    should one hold a lock the other waits for)."""
    postgres_only(baseline)
    project = baseline.project
    restore_state(project, "empty")
    landing_file = sorted((project.landing / "shop" / "orders").glob("*.csv"))[-1]
    held = tmp_path / landing_file.name
    landing_file.rename(held)  # mtime kept: the ledger records it
    try:
        baseline.driver.run_ok("orders")
    finally:
        held.rename(landing_file)
    other = Driver.start(project, name="other_driver")
    try:
        meeting = {"target": "cdp_assets.defs.ingestion.raw:ingest_source", "nth": 1,
                   "when": "before", "action": "meet", "directory": str(tmp_path / "meeting"),
                   "parties": 2, "timeout": 15.0}  # fmt: skip
        baseline.driver.send("orders", meeting)
        other.send("orders", meeting)
        outcomes = [baseline.driver.receive(), other.receive()]
    finally:
        other.close()
    assert all(o["reached"] for o in outcomes), outcomes
    assert all(o["exit"] == "ok" for o in outcomes), outcomes  # they took turns
    expected = baseline.snapshots["orders"]
    ingested = _ingested_files(project.warehouse_url).query("status == 'ingested'")
    assert not ingested.duplicated(["file", "content_hash"]).any(), ingested
    assert len(ingested) == (expected.tables["ops.ingested_files"]["status"] == "ingested").sum()
    raw = snapshot(project).tables["raw.shop_orders"]
    assert len(raw) == len(expected.tables["raw.shop_orders"])
