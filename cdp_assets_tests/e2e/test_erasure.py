"""End to end: an erasure request → sensor → erasure job → no trace of the person in any
table or export file → the same source file delivered again → still no trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.warehouse import TableRef, dispose_engines
from cdp_assets_tests.e2e.pipeline import (
    DemoProject,
    load_definitions,
    make_demo_project,
    project_env,
    run_job,
)

REQUESTS = "privacy/erasure_requests.csv"


def _text_columns(project: DemoProject) -> pd.DataFrame:
    return project.warehouse().query(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('raw', 'staging', 'ops', 'core', 'analytics', 'ml', "
        "'activation') AND data_type = 'VARCHAR'"
    )


def warehouse_hits(project: DemoProject, needles: list[str]) -> list[str]:
    """Every text cell in the warehouse that contains one of `needles` (case-insensitive),
    found by plain SQL — independently of the platform's own identifier readers."""
    hits = []
    wh = project.warehouse()
    for schema, table, column in _text_columns(project).itertuples(index=False):
        if (schema, table) in (("ops", "suppression_list"), ("ops", "erasure_log")):
            continue  # salted hashes only
        for needle in needles:
            found = wh.query(
                f'SELECT COUNT(*) AS n FROM "{schema}"."{table}" '
                f'WHERE lower("{column}") LIKE :needle',
                {"needle": f"%{needle.lower()}%"},
            )["n"].iloc[0]
            if found:
                hits.append(f"{schema}.{table}.{column} ~ {needle}: {found}")
    return hits


def export_hits(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".csv":
            text = path.read_text(encoding="utf-8").lower()
        elif path.suffix == ".parquet":
            text = pd.read_parquet(path).to_csv(index=False).lower()
        else:
            continue
        hits += [f"{path.relative_to(root)} ~ {n}" for n in needles if n.lower() in text]
    return hits


def _ads_hash(email: str) -> str:
    from cdp_assets.activation.ad_hashing import hash_email

    digest = hash_email(email)
    assert digest is not None
    return digest


def _pick_people(project: DemoProject) -> pd.DataFrame:
    """Four customers with a shop account, an email and a phone, each in an exported
    audience, none of whose identifiers is shared with anyone else."""
    wh = project.warehouse()
    people = wh.query(
        """
        SELECT p.customer_id, p.email, p.phone, MIN(x.source_record_id) AS account_id
        FROM core.customer_profiles p
        JOIN core.customer_xref x
          ON x.customer_id = p.customer_id AND x.source = 'shop_accounts'
         AND x.identity_kind = 'record'
        JOIN activation.audience_membership m ON m.customer_id = p.customer_id
        WHERE p.email IS NOT NULL AND p.phone IS NOT NULL AND p.ads_consent
          AND p.email_key NOT IN (SELECT value FROM core.shared_identifiers)
          AND p.phone NOT IN (SELECT value FROM core.shared_identifiers)
        GROUP BY p.customer_id, p.email, p.phone
        HAVING COUNT(DISTINCT x.source_record_id) = 1
        ORDER BY p.customer_id
        LIMIT 4
        """
    )
    assert len(people) == 4
    return people


def _write_requests(project: DemoProject, people: pd.DataFrame) -> None:
    """One request by email, one by phone, one by customer id, one by source record id."""
    rows = []
    for i, person in enumerate(people.itertuples(index=False)):
        row = dict.fromkeys(["email", "phone", "customer_id", "source", "source_record_id"], "")
        if i == 0:
            row["email"] = person.email.upper()  # any spelling of the address
        elif i == 1:
            row["phone"] = person.phone
        elif i == 2:
            row["customer_id"] = person.customer_id
        else:
            row.update(source="shop_accounts", source_record_id=person.account_id)
        rows.append({"request_id": f"T-{i + 1}", **row, "requested_at": "2026-11-19T09:00:00Z"})
    target = project.landing / REQUESTS
    pd.DataFrame(rows).to_csv(target, index=False)


def _needles(person: pd.Series) -> list[str]:
    return [person.email, person.phone, person.customer_id, person.account_id]


@pytest.fixture(scope="module")
def erasure_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("erasure")
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}", people=400)
    demo_requests = project.landing / REQUESTS
    demo_requests.unlink()  # the test writes its own requests after the first refresh
    with dg.instance_for_test() as instance:
        run_job(project, instance)
        people = _pick_people(project)
        exports = root / "exports"
        before = {
            "warehouse": warehouse_hits(project, _needles(people.iloc[0])),
            "exports": export_hits(exports, [_ads_hash(e) for e in people["email"]]),
        }
        _write_requests(project, people)
        dispose_engines()  # the sensor reads the ledger read-only, as the daemon's process does
        with project_env(project):
            definitions = load_definitions()
            sensor = definitions.resolve_sensor_def("erasure_requests_sensor")
            first = sensor(dg.build_sensor_context(instance=instance))
            again = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        erase = run_job(project, instance, job="erase_personal_data")
        yield {
            "project": project,
            "instance": instance,
            "people": people,
            "before": before,
            "first": first,
            "again": again,
            "erase": erase,
            "exports": exports,
        }


def test_sensor_starts_the_erasure_job_once(erasure_run: dict) -> None:
    first, again = erasure_run["first"], erasure_run["again"]
    assert len(first.run_requests) == 1
    assert first.run_requests[0].run_key.startswith("erasure:erasure_requests:")
    assert again.run_requests == []


def test_people_were_there_before(erasure_run: dict) -> None:
    before = erasure_run["before"]
    assert len(before["warehouse"]) > 5  # profile, xref, raw and staged records, features, ...
    assert before["exports"]  # the ads files carried their hashed emails


def test_every_request_is_logged_with_hashes_only(erasure_run: dict) -> None:
    project: DemoProject = erasure_run["project"]
    log = project.table("ops", "erasure_log").sort_values("request_id")
    assert log["request_id"].tolist() == ["T-1", "T-2", "T-3", "T-4"]
    assert (log["status"] == "erased").all()
    assert (log["customers_erased"] == 1).all()
    for row in log.itertuples():
        hashes = json.loads(row.identifier_hashes)
        assert len(hashes) == row.identifiers >= 4
        assert all(len(h) == 64 for h in hashes)
        touched = json.loads(row.tables_touched)
        assert touched["core.customer_profiles"] == 1
        assert touched["raw.shop_accounts"] >= 1
        assert row.completed_at >= row.requested_at
    suppressed = project.table("ops", "suppression_list")
    assert suppressed["identifier_hash"].is_unique
    assert set(suppressed["request_id"]) == {"T-1", "T-2", "T-3", "T-4"}


def test_no_trace_in_any_table_or_export(erasure_run: dict) -> None:
    project: DemoProject = erasure_run["project"]
    people: pd.DataFrame = erasure_run["people"]
    for person in people.itertuples(index=False):
        assert warehouse_hits(project, _needles(person)) == []
    needles = [*people["email"], *people["phone"], *people["customer_id"]]
    needles += [_ads_hash(e) for e in people["email"]]
    assert export_hits(erasure_run["exports"], needles) == []
    checks = erasure_run["erase"].get_asset_check_evaluations()
    trace = [c for c in checks if c.check_name == "no_erased_identifiers_remain"]
    assert len(trace) == 1 and trace[0].passed
    assert trace[0].metadata["rows_scanned"].value > 10_000


def test_processed_requests_leave_no_personal_data(erasure_run: dict) -> None:
    project: DemoProject = erasure_run["project"]
    wh = project.warehouse()
    assert wh.row_count(TableRef("raw", "erasure_requests")) == 0
    assert wh.row_count(TableRef("staging", "erasure_requests")) == 0


def _deliver_again(landing: Path, needles: list[str]) -> int:
    """Each landing file's lines naming one of `needles` (the CSV header kept), delivered
    again as a new file: the source sends their rows once more."""
    delivered = 0
    files = [p for p in landing.rglob("*") if p.suffix in (".csv", ".jsonl")]
    for path in sorted(p for p in files if p.parent.name != "privacy"):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        header = lines[:1] if path.suffix == ".csv" else []
        body = lines[len(header) :]
        picked = [line for line in body if any(n.lower() in line.lower() for n in needles)]
        if picked:
            path.with_name("again_" + path.name).write_text("".join(header + picked), "utf-8")
            delivered += len(picked)
    return delivered


def test_same_rows_delivered_again_bring_nobody_back(erasure_run: dict) -> None:
    project: DemoProject = erasure_run["project"]
    people: pd.DataFrame = erasure_run["people"]
    needles = [*people["email"], *people["account_id"]]
    assert _deliver_again(project.landing, needles) > 0
    result = run_job(project, erasure_run["instance"])
    assert result.success
    ledger = project.table("ops", "ingested_files")
    again = ledger[ledger["file"].str.contains("again_")]
    assert int(again["rows_suppressed"].sum()) > 0
    assert int(again["rows_loaded"].sum()) == 0
    for person in people.itertuples(index=False):
        assert warehouse_hits(project, _needles(person)) == []
    assert export_hits(erasure_run["exports"], [*people["email"], *people["phone"]]) == []
