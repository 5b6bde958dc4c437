"""End to end: the real Definitions materialized on a generated demo set."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._serdes import serialize_value

from cdp_assets.config import load_config
from cdp_assets.contracts.canonical import (
    ISSUE_DTYPES,
    LEDGER_DTYPES,
    QUARANTINE_DTYPES,
    staging_contract,
)
from cdp_assets.contracts.golden_profile import GOLDEN_PROFILE_DTYPES
from cdp_assets.defs.catalog import ERASURE_JOB
from cdp_assets.defs.column_schema import COLUMN_SCHEMA, read_warehouse_columns
from cdp_assets.defs.privacy.storage_trace import CHECK_NO_STORED_TRACE
from cdp_assets.identity.accuracy import pairwise_scores
from cdp_assets.identity.resolve import XREF_DTYPES
from cdp_assets.privacy.erasure import ERASURE_LOG_DTYPES
from cdp_assets.privacy.identifiers import identifier_hash
from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
from cdp_assets.reporting.summary import render_summary
from cdp_assets.warehouse import TableRef, dispose_engines
from cdp_assets_tests.conftest import postgres_url_or_fail, reset_postgres
from cdp_assets_tests.e2e.pipeline import (
    DemoProject,
    load_definitions,
    make_demo_project,
    project_env,
    run_job,
)
from cdp_assets_tests.e2e.storage_scan import demo_identifiers, stored_texts

SNAPSHOT_SCHEMAS = ("raw", "staging", "ops", "core", "analytics", "activation")


def snapshot(project: DemoProject) -> dict[str, pd.DataFrame]:
    """Every platform table, sorted, for comparing two runs."""
    wh = project.warehouse()
    tables = wh.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema IN {SNAPSHOT_SCHEMAS} ORDER BY 1, 2"
    )
    out = {}
    for schema, table in tables.itertuples(index=False):
        df = wh.read_table(TableRef(schema, table))
        out[f"{schema}.{table}"] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


TRACE_LEDGER = "ops.erasure_trace_ledger"
DATA_VERSIONS = "ops.data_versions"


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("demo")
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}")
    with dg.instance_for_test() as instance:
        first = run_job(project, instance)
        # The first build holds the erasure requests (no identity graph yet to find whose
        # records they are); the next nightly run erases them, and a third changes nothing.
        erasing = run_job(project, instance)
        before = snapshot(project)
        second = run_job(project, instance)
        after = snapshot(project)
        yield {
            "project": project,
            "first": first,
            "erasing": erasing,
            "second": second,
            "before": before,
            "after": after,
            "instance": instance,
        }


def ops_table(project: DemoProject, name: str, dtypes: dict[str, str]) -> pd.DataFrame:
    return project.warehouse().read_table(TableRef("ops", name), dtypes=dtypes)


def test_every_check_passes_or_only_warns(demo_runs: dict) -> None:
    evaluations = demo_runs["first"].get_asset_check_evaluations()
    assert len(evaluations) >= 6 * 11  # 11 demo sources, 1 raw + 5 staging checks each
    errors = [
        f"{e.asset_key.to_user_string()}:{e.check_name} {e.metadata}"
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert errors == []


def _raw_rows_removed(project: DemoProject) -> dict[str, int]:
    """Raw rows each source lost to erasure requests and retention, from their logs."""
    removed: dict[str, int] = {}
    wh = project.warehouse()
    if wh.table_exists(TableRef("ops", "erasure_log")):
        for touched in wh.read_table(TableRef("ops", "erasure_log"))["tables_touched"]:
            for table, rows in json.loads(touched).items():
                schema, _, name = table.partition(".")
                if schema == "raw":
                    removed[name] = removed.get(name, 0) + rows
    if wh.table_exists(TableRef("ops", "retention_log")):
        log = wh.read_table(TableRef("ops", "retention_log"))
        for row in log[log["table"].str.startswith("raw.")].itertuples():
            removed[row.source] = removed.get(row.source, 0) + int(row.rows_deleted)
    return removed


def test_every_row_is_accounted_for(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    summary = project.table("ops", "quality_summary")
    removed = _raw_rows_removed(project)
    assert len(summary) == 13  # the 11 demo sources, the inventory and the campaign events
    assert sum(removed.values()) > 0  # the demo's erasure requests and web-event retention
    for row in summary.itertuples():
        assert row.rows_read == (
            row.exact_duplicates + row.rows_suppressed + row.quarantined_ingest + row.rows_loaded
        ), row
        assert row.rows_loaded == (
            row.quarantined_staging + row.records_superseded + row.rows_staged + row.rows_removed
        ), row
        assert row.rows_removed == removed.get(row.source, 0), row
        wh = project.warehouse()
        assert wh.row_count(TableRef("raw", row.source)) == row.rows_loaded - row.rows_removed
        assert wh.row_count(TableRef("staging", row.source)) == row.rows_staged
        # Processed erasure requests are deleted with the personal data they named; campaign
        # responses arrive only after a campaign's files were sent (`make demo` runs that loop).
        assert row.rows_staged > 0 or row.source in ("erasure_requests", "campaign_events"), row


def _defects(project: DemoProject) -> pd.DataFrame:
    defects = pd.read_csv(project.ground_truth / "defects.csv", dtype=str, keep_default_na=False)
    defects["line"] = pd.to_numeric(defects["line"].replace("", None)).astype("Int64")
    return defects


def test_quarantine_matches_injected_defects(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    defects = _defects(project)
    quarantine = ops_table(project, "quarantine", QUARANTINE_DTYPES)
    expected = defects[defects["expected_action"] == "quarantine"]
    assert len(expected) > 0
    by_line = {
        (r.source, r.file, int(r.line)): r.rule for r in quarantine.itertuples() if pd.notna(r.line)
    }
    missing = [
        (r.source, r.file, r.line, r.rule)
        for r in expected.itertuples()
        if by_line.get((r.source, r.file, int(r.line))) != r.rule
    ]
    assert missing == [], f"{len(missing)} injected defects not quarantined under their rule"
    expected_keys = {(r.source, r.file, int(r.line)) for r in expected.itertuples()}
    unexpected = [k for k in by_line if k not in expected_keys]
    assert unexpected == [], f"{len(unexpected)} rows quarantined without an injected defect"


def test_nulled_fields_match_injected_defects(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    defects = _defects(project)
    issues = ops_table(project, "data_quality_issues", ISSUE_DTYPES)
    expected = defects[defects["expected_action"] == "nulled"]
    assert len(expected) > 0
    nulled = issues[issues["action"] == "nulled"]
    by_line = {
        (r.source, r.file, int(r.line), r.field, r.rule)
        for r in nulled.itertuples()
        if pd.notna(r.line)
    }
    by_record = {(r.source, r.record_id, r.field, r.rule) for r in nulled.itertuples()}
    missing = [
        (r.source, r.file, r.line, r.source_record_id, r.field, r.rule)
        for r in expected.itertuples()
        if (
            (r.source, r.file, int(r.line), r.field, r.rule) not in by_line
            if pd.notna(r.line)
            # sql sources have no file lines: their defects name the record
            else (r.source, r.source_record_id, r.field, r.rule) not in by_record
        )
    ]
    assert missing == [], f"{len(missing)} injected field defects not recorded: {missing[:5]}"
    injected = {(r.source, r.source_record_id, r.field) for r in expected.itertuples()} | {
        (r.source, r.file, int(r.line), r.field) for r in expected.itertuples() if pd.notna(r.line)
    }
    unexpected = [
        (r.source, r.file, r.line, r.field, r.rule, r.value)
        for r in nulled.itertuples()
        if (r.source, r.record_id, r.field) not in injected
        and (pd.isna(r.line) or (r.source, r.file, int(r.line), r.field) not in injected)
    ]
    assert unexpected == [], f"{len(unexpected)} clean fields nulled: {unexpected[:5]}"


def test_duplicate_delivery_and_exact_duplicates(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    defects = _defects(project)
    ledger = ops_table(project, "ingested_files", LEDGER_DTYPES)
    dup_files = defects[defects["expected_action"] == "duplicate_file"]
    assert len(dup_files) >= 1
    for r in dup_files.itertuples():
        row = ledger[(ledger["source"] == r.source) & (ledger["file"] == r.file)]
        assert row["status"].tolist() == ["duplicate_file"]
        assert int(row["rows_loaded"].iloc[0]) == 0
        original = ledger[(ledger["file"] == row["duplicate_of"].iloc[0])]
        assert original["status"].tolist() == ["ingested"]
        assert original["content_hash"].iloc[0] == row["content_hash"].iloc[0]
    exact = defects[defects["expected_action"] == "exact_duplicate"]
    assert int(ledger["exact_duplicates"].sum()) == len(exact) > 0


def _erasure_metadata(result: dg.ExecuteInProcessResult) -> dict:
    [erasure] = [
        m.event_specific_data.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.event_specific_data.materialization.asset_key.to_user_string() == "ops/erasure_log"
    ]
    return {k: v.value for k, v in erasure.items()}


def test_requests_wait_for_the_identity_graph_then_are_erased(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    requests = pd.read_csv(project.landing / "privacy" / "erasure_requests.csv")
    first = _erasure_metadata(demo_runs["first"])
    assert first["requests_held_until_identity_runs"] == len(requests) > 0
    erasing = _erasure_metadata(demo_runs["erasing"])
    assert erasing["requests_held_until_identity_runs"] == 0
    log = ops_table(project, "erasure_log", ERASURE_LOG_DTYPES)
    assert len(log) == len(requests)
    assert set(log["status"]) <= {"erased", "no_match", "ambiguous"}


def test_second_run_loads_nothing_and_changes_nothing(demo_runs: dict) -> None:
    second: dg.ExecuteInProcessResult = demo_runs["second"]
    loaded = [
        m.metadata["rows_loaded"].value
        for m in second.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
        if m.asset_key.path[0] == "raw"
    ]
    assert len(loaded) == 13 and sum(loaded) == 0
    before, after = demo_runs["before"], demo_runs["after"]
    assert sorted(before) == sorted(after)
    for name in before:
        if name in (TRACE_LEDGER, DATA_VERSIONS):
            continue
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    # The versions ledger: a step computed again gets a new version; no name goes away.
    assert set(before[DATA_VERSIONS]["name"]) <= set(after[DATA_VERSIONS]["name"])
    # The erasure check's ledger is a cache of what it proved clean: a table written after the
    # check of the run before is proved (and remembered) now; nothing remembered changes.
    remembered = before[TRACE_LEDGER].merge(after[TRACE_LEDGER], how="left", indicator=True)
    assert (remembered["_merge"] == "both").all()


def test_definitions_are_loadable_with_jobs_schedule_and_sensor(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    with project_env(project):
        definitions = load_definitions()
        dg.Definitions.validate_loadable(definitions)
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "raw/shop_orders",
        "staging/shop_orders",
        "staging/crm_contacts",
        "ops/quality_summary",
    } <= keys
    assert definitions.resolve_job_def("ingest_sources") is not None
    assert definitions.resolve_sensor_def("landing_files_sensor") is not None
    schedule = definitions.resolve_schedule_def("nightly_refresh_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    assert schedule.execution_timezone == config["timezone"]
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
    )
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert len(requests) == 1 and requests[0].job_name in (None, "nightly_refresh")


def test_missing_mapped_column_fails_clearly_and_loads_nothing(tmp_path: Path) -> None:
    project = make_demo_project(tmp_path, f"duckdb:///{tmp_path / 'warehouse.duckdb'}", people=80)
    with dg.instance_for_test() as instance:
        run_job(project, instance, job="ingest_sources")
        before = snapshot(project)
        config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
        index, accounts = next(
            (i, s) for i, s in enumerate(config["sources"]) if s["name"] == "shop_accounts"
        )
        accounts["columns"]["email"] = "mail"
        project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        # a new delivery lands: the mapping is checked against it
        first_file = sorted((project.landing).glob(accounts["path"]))[0]
        late = first_file.with_name("late_delivery.csv")
        text = first_file.read_text(encoding="latin-1").splitlines()
        late.write_text("\n".join(text[:1] + text[2:4]) + "\n", encoding="latin-1")
        result = run_job(project, instance, job="ingest_sources", raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        relative = late.relative_to(project.landing).as_posix()
        assert (
            f"sources[{index}].columns.email: column 'mail' not found in file {relative}" in message
        )
        after = snapshot(project)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_pipeline_on_postgres_matches_duckdb(demo_runs: dict, tmp_path: Path) -> None:
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip("CDP_TEST_POSTGRES_URL is not set")
    reset_postgres(url)
    duck: DemoProject = demo_runs["project"]
    project = DemoProject(tmp_path, tmp_path / "cdp.yaml", duck.ground_truth, url)
    shutil.copytree(duck.root / "data", tmp_path / "data")
    shutil.copy(duck.config_path, project.config_path)
    with dg.instance_for_test() as instance:
        # As on DuckDB: the first build holds the erasure requests, the next run erases them.
        results = [run_job(project, instance), run_job(project, instance)]
    assert all(r.success for r in results)
    on_pg = project.table("ops", "quality_summary").sort_values("source").reset_index(drop=True)
    on_duck = duck.table("ops", "quality_summary").sort_values("source").reset_index(drop=True)
    pd.testing.assert_frame_equal(on_pg, on_duck, check_dtype=False)
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    kinds = {s["name"]: s["kind"] for s in config["sources"]}
    for source in on_duck["source"]:
        contract = staging_contract(kinds[source])
        ref = TableRef("staging", source)
        a = duck.warehouse().read_table(ref, dtypes=contract)
        b = project.warehouse().read_table(ref, dtypes=contract)
        a, b = (df.drop(columns=["_batch_id", "_ingested_at"]) for df in (a, b))
        key = ["record_id"]
        a = a.sort_values(key).reset_index(drop=True).astype("string")
        b = b.sort_values(key).reset_index(drop=True).astype("string")[list(a.columns)]
        pd.testing.assert_frame_equal(a, b, obj=f"staging.{source}", check_dtype=False)
    contracts = {"customer_xref": XREF_DTYPES, "customer_profiles": GOLDEN_PROFILE_DTYPES}
    for table, key in (
        ("customer_xref", ["source", "identity_kind", "source_record_id"]),
        ("customer_profiles", ["customer_id"]),
        ("orders", ["source", "order_id"]),
        ("events", ["event_id"]),
    ):
        ref = TableRef("core", table)
        dtypes = contracts.get(table, dict.fromkeys([*key, "customer_id"], "string"))
        a, b = (
            p.warehouse()
            .read_table(ref, dtypes=dtypes)
            .sort_values(key)
            .reset_index(drop=True)
            .astype("string")
            for p in (duck, project)
        )
        pd.testing.assert_frame_equal(a, b, obj=f"core.{table}")


def test_identity_resolution_matches_ground_truth(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    wh = project.warehouse()
    predicted = [
        wh.query(
            "SELECT source, source_record_id, customer_id FROM core.customer_xref "
            "WHERE identity_kind = 'record'"
        )
    ]
    for table, column in (
        ("orders", "order_id"),
        ("events", "event_id"),
        ("survey_responses", "response_id"),
        ("support_tickets", "ticket_id"),
    ):
        predicted.append(
            wh.query(f"SELECT source, {column} AS source_record_id, customer_id FROM core.{table}")
        )
    truth = pd.read_csv(
        project.ground_truth / "identity.csv", dtype="string", keep_default_na=False
    ).replace({"": pd.NA})
    scored = truth.merge(pd.concat(predicted), on=["source", "source_record_id"])
    # Records still staged: retention removed old web events, erasure its people's records.
    staged = pd.concat(
        wh.query(f"SELECT source, record_id AS source_record_id FROM staging.{source}")
        for source in truth["source"].dropna().unique()
        if wh.table_exists(TableRef("staging", source))
    )
    kept = truth.merge(staged, on=["source", "source_record_id"])
    assert len(scored) > 0.95 * len(kept[kept["source"] != "erasure_requests"])
    scores = pairwise_scores(scored["customer_id"], scored["person_id"])
    assert scores["pair_precision"] >= 0.99, scores
    assert scores["pair_recall"] >= 0.97, scores


def test_profiles_xref_and_ledger_are_consistent(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    profiles = project.table("core", "customer_profiles")
    xref = project.table("core", "customer_xref")
    assert profiles["customer_id"].is_unique and len(profiles) > 0
    assert set(xref["customer_id"]) == set(profiles["customer_id"])
    merges = project.table("core", "identity_merges")
    # The first run minted every id; the unchanged second run recorded no event at all.
    assert set(merges["event"]) == {"new"} and merges["run_at"].nunique() == 1
    assert len(merges) == len(profiles)
    edges = project.table("core", "identity_edges")
    assert {"email_key", "customer_ref"} & set(edges["rule"]) or len(edges) > 0
    assert edges["customer_id"].notna().all()


def test_analytics_tables_cover_every_customer(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    profiles = project.table("core", "customer_profiles")
    features = project.table("analytics", "customer_features")
    assert sorted(features["customer_id"]) == sorted(profiles["customer_id"])
    rfm = project.table("analytics", "rfm")
    assert set(rfm["customer_id"]) == set(features.loc[features["frequency"] > 0, "customer_id"])
    assert rfm[["r_score", "f_score", "m_score"]].isin(range(1, 6)).all().all()
    members = project.table("activation", "audience_membership")
    assert {"champions", "detractors"} <= set(members["audience"])
    champions = set(members.loc[members["audience"] == "champions", "customer_id"])
    assert champions == set(rfm.loc[rfm["rfm_segment"] == "Champions", "customer_id"])
    changes = project.table("activation", "audience_changes")
    assert set(changes["change"]) == {"added"}  # first run adds; the re-run changes nothing
    for table in ("cohorts", "acquisition_value", "nps", "nps_themes", "support_summary"):
        assert len(project.table("analytics", table)) > 0, table


def test_summary_reports_loads_customers_and_segments(demo_runs: dict) -> None:
    project: DemoProject = demo_runs["project"]
    text = render_summary(project.warehouse(), project.warehouse_url)
    profiles = len(project.table("core", "customer_profiles"))
    assert f"Customers: {profiles:,} profiles" in text
    assert "Top quarantine reasons:" in text and "RFM segments:" in text
    assert "Audiences (latest run):" in text
    assert "churn_scores 0" in text  # the nightly run alone promotes no model


def test_no_identifier_of_a_demo_person_is_in_dagster_storage(demo_runs: dict) -> None:
    project, state = demo_runs["project"], demo_runs
    identifiers = demo_identifiers(project)
    counts = pd.Series(identifiers).value_counts()
    assert {
        "email",
        "phone",
        "record id",
        "loyalty id",
        "cookie id",
        "birth date",
        "postcode",
    } <= set(counts.index)
    texts = stored_texts(state["instance"])
    assert len(texts) > 300
    tokens = {tok for text in texts for tok in re.split(r"[\s|'\"(),;=\[\]{}<>]+", text) if tok}
    leaked = {
        v: k
        for v, k in identifiers.items()
        if v in tokens or (" " in v and any(v in t for t in texts))
    }
    assert leaked == {}


# Last in this module: it adds an event holding an erased address to the shared instance.
def test_storage_trace_check_passes_then_finds_an_erased_identifier(demo_runs: dict) -> None:
    project, state = demo_runs["project"], demo_runs
    instance: dg.DagsterInstance = state["instance"]
    (evaluation,) = [
        e
        for e in state["erasing"].get_asset_check_evaluations()
        if e.check_name == CHECK_NO_STORED_TRACE
    ]
    assert evaluation.passed
    assert evaluation.metadata["identifiers_on_suppression_list"].value > 0
    assert evaluation.metadata["events_scanned"].value > 100
    with project_env(project):
        config = load_config(project.config_path)
        salt = privacy_salt(config)
        with project.warehouse().transaction() as session:
            suppressed = load_suppressed(session, salt)
    requests = pd.read_csv(project.landing / "privacy" / "erasure_requests.csv", dtype=str)
    erased = next(
        e
        for e in requests["email"].dropna().str.strip().str.lower()
        if identifier_hash(salt, "email", e) in suppressed
    )
    # Something outside the platform's masking (a hand-made event) stores an erased address.
    instance.report_runless_asset_event(
        dg.AssetMaterialization("manual_note", metadata={"note": f"called {erased} back"})
    )
    again = run_job(project, instance, job=ERASURE_JOB, raise_on_error=False)
    (evaluation,) = [
        e for e in again.get_asset_check_evaluations() if e.check_name == CHECK_NO_STORED_TRACE
    ]
    assert not evaluation.passed
    assert evaluation.metadata["events_with_an_erased_identifier"].value == 1
    assert evaluation.metadata["scanned_after_storage_id"].value > 0  # only new events read
    assert erased not in serialize_value(evaluation)


def test_every_table_shows_its_warehouse_columns_and_types(demo_runs: dict) -> None:
    """The UI's column schema of each materialized table is the warehouse table's: the same
    columns in order, with the warehouse's types; the schema the spec shows before a run
    agrees with it (raw tables: the mapped columns and lineage are among them)."""
    project = demo_runs["project"]
    with project_env(project):
        graph = load_definitions().resolve_asset_graph()
    engine = project.warehouse().engine
    shown_tables, problems = 0, []
    for event in demo_runs["second"].get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key
        with engine.connect() as conn:
            columns = read_warehouse_columns(conn, TableRef(key.path[0], key.path[-1]))
        if not columns:  # a model, not a table
            continue
        shown_tables += 1
        shown = [(c.name, c.type) for c in materialization.metadata[COLUMN_SCHEMA].schema.columns]
        if shown != columns:
            problems.append(f"{key.to_user_string()}: shows {shown}, warehouse {columns}")
        defined = graph.get(key).metadata.get(COLUMN_SCHEMA)
        if defined is None:
            problems.append(f"{key.to_user_string()}: no column schema before a run")
            continue
        declared = [(c.name, c.type) for c in defined.columns]
        agrees = set(declared) <= set(columns) if key.path[0] == "raw" else declared == columns
        if not agrees:
            problems.append(f"{key.to_user_string()}: declares {declared}, warehouse {columns}")
    assert shown_tables >= 40
    assert problems == []


RERUNNABLE_CHECKS = [
    dg.AssetCheckKey(dg.AssetKey(["staging", "shop_orders"]), "staging_conservation"),
    dg.AssetCheckKey(dg.AssetKey(["core", "customer_profiles"]), "customer_id_unique"),
    dg.AssetCheckKey(dg.AssetKey(["analytics", "customer_features"]), "one_row_per_customer"),
    dg.AssetCheckKey(dg.AssetKey(["analytics", "rfm"]), "scores_within_1_to_5"),
]


@pytest.mark.parametrize("check", RERUNNABLE_CHECKS, ids=lambda c: c.to_user_string())
def test_a_table_check_runs_again_on_its_own(demo_runs: dict, check: dg.AssetCheckKey) -> None:
    """What the UI's *Execute* on one check does: a run selecting that check alone evaluates
    it from the warehouse tables, and materializes nothing."""
    project: DemoProject = demo_runs["project"]
    with project_env(project):
        definitions = dg.Definitions.merge(
            load_definitions(),
            dg.Definitions(
                jobs=[dg.define_asset_job("recheck", selection=dg.AssetSelection.checks(check))]
            ),
        )
        result = definitions.resolve_job_def("recheck").execute_in_process(
            instance=demo_runs["instance"]
        )
    dispose_engines()
    evaluations = result.get_asset_check_evaluations()
    assert [(e.asset_check_key, e.passed) for e in evaluations] == [(check, True)]
    assert result.get_asset_materialization_events() == []
    figures = {k: v.value for k, v in evaluations[0].metadata.items()}
    if check.name == "staging_conservation":
        staged = len(project.table("staging", "shop_orders"))
        assert figures["staged"] == staged and figures["raw_rows"] >= staged
    if check.name == "one_row_per_customer":
        assert figures["rows"] == len(project.table("analytics", "customer_features"))
