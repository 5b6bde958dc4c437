"""activation.audience_exports run again on the same data: the unchanged export is not
rewritten (same files, same bytes, same modification times, no new log row, metadata says so),
and the erased-people scan does not read the files it scanned on the previous run."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.activation.export_files import LATEST_FILE
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES
from cdp_assets.defs.activation import exports as exports_module
from cdp_assets.defs.activation.exports import PROFILE_COLUMNS, read_export_profiles
from cdp_assets.defs.catalog import CUSTOMER_360, MEMBERSHIP
from cdp_assets.privacy.identifiers import Identifiers
from cdp_assets.privacy.suppression import privacy_salt
from cdp_assets.warehouse import Warehouse, dispose_engines
from cdp_assets_tests.activation.test_export_publishing import Project, _members

STEP = "activation__audience_exports"


def _files(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under the exports folder (the scan's memories aside: its figures and the
    files' checksums): mtime and bytes."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (".export_trace_cache.json", ".file_checksums.json")
    }


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    materialization = result.asset_materializations_for_node(STEP)[0]
    return {k: v.value for k, v in materialization.metadata.items()}


def _check_metadata(result: dg.ExecuteInProcessResult, name: str) -> dict[str, object]:
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == name)
    return {k: v.value for k, v in evaluation.metadata.items()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    project = Project(tmp_path, monkeypatch)
    # Someone unrelated was erased: the scan of the export files has something to look for.
    erased = Identifiers()
    erased.add("email", ["zed@example.com"])
    hashes = frozenset(erased.hashes(privacy_salt(project.config))["identifier_hash"])
    monkeypatch.setattr(exports_module, "load_suppressed", lambda session, salt: hashes)
    return project


def test_an_unchanged_export_is_not_rewritten(project: Project) -> None:
    first = project.materialize()
    assert first.success
    assert _metadata(first)["files_written"] == 1
    before = _files(project.root)
    latest = json.loads((project.root / "esp" / "fans" / LATEST_FILE).read_text())

    again = project.materialize()
    assert again.success
    metadata = _metadata(again)
    assert metadata["files_written"] == 0
    assert "| True |" in metadata["exports"]  # the unchanged column of the exports table
    assert _files(project.root) == before  # same files, bytes and modification times
    assert json.loads((project.root / "esp" / "fans" / LATEST_FILE).read_text()) == latest
    assert len(project.log()) == 1  # an unchanged audience issues no export


def _scan(result: dg.ExecuteInProcessResult) -> tuple[object, object, object]:
    """(files scanned, of them read, of them remembered) of the erased-people check."""
    found = _check_metadata(result, "no_erased_people_in_exports")
    return found["files_scanned"], found["files_rescanned"], found["files_remembered"]


def test_the_erased_people_scan_reads_only_new_files(project: Project) -> None:
    # The first export: full and additions hold the same rows (same bytes: read once) and
    # removals is empty.
    assert _scan(project.materialize()) == (3, 2, 1)
    # Nothing changed: nothing is read.
    assert _scan(project.materialize()) == (3, 0, 3)
    # Bob leaves the audience: a new export. Its full file and its removals (Bob) are new
    # bytes; its empty additions file has the bytes of the first export's empty removals.
    with Warehouse(project.url).transaction() as session:
        session.replace_table(MEMBERSHIP, _members(["C1"]))
    changed = project.materialize()
    assert changed.success
    assert _scan(changed) == (6, 2, 4)
    assert _check_metadata(changed, "no_erased_people_in_exports")["rows_of_erased_people"] == 0


def test_exports_read_only_the_columns_they_need(tmp_path: Path) -> None:
    config = CDPConfig.model_validate(
        {
            "exports": {
                "destinations": [
                    {"name": "esp", "channel": "email", "format": "csv", "fields": ["rfm_segment"]},
                    {"name": "ads", "channel": "ads", "format": "csv"},
                ]
            }
        }
    )
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    # A customer_360 written before ads_consent existed, with columns the exports never send.
    table = pd.DataFrame(
        {
            "customer_id": ["C1"],
            "email": ["ann@example.com"],
            "phone": [None],
            "first_name": ["Ann"],
            "last_name": ["Lee"],
            "rfm_segment": ["champions"],
            "email_consent": [True],
            "sms_consent": [False],
            "audiences": ["fans"],
        }
    )
    with Warehouse(url).transaction() as session:
        session.replace_table(CUSTOMER_360, table)
        profiles = read_export_profiles(session, config)
    dispose_engines()
    assert list(profiles.columns) == [
        c
        for c in CUSTOMER_360_DTYPES
        if c in {*PROFILE_COLUMNS, "rfm_segment"}  # contract order
    ]
    assert profiles.loc[0, "rfm_segment"] == "champions"
    assert profiles["ads_consent"].isna().all() and str(profiles["ads_consent"].dtype) == "boolean"
    assert "last_name" not in profiles.columns and "audiences" not in profiles.columns


def test_the_erased_people_check_fails_on_any_row_of_an_erased_person() -> None:
    """The check audience and campaign exports share: one row of an erased person in any file
    fails it (and, blocking, keeps the staged files from being published)."""
    from cdp_assets.defs.activation.exports import no_erased_result
    from cdp_assets.privacy.export_trace_cache import TraceScan

    traces = pd.DataFrame({"table": ["a/full.csv", "b/full.csv"], "rows": [3, 2], "traces": [0, 1]})
    found = no_erased_result(TraceScan(traces, 1, 1))
    assert not found.passed
    assert found.metadata["rows_of_erased_people"].value == 1
    assert found.metadata["files_rescanned"].value == 1
    assert no_erased_result(TraceScan(traces.assign(traces=0), 2, 0)).passed
