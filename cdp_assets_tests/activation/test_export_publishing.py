"""activation.audience_exports as an asset: write, check, then publish; a run that dies
between writing and logging (or logging and publishing) is finished by the next run."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cdp_assets.activation.export_files import LATEST_FILE, read_export_file
from cdp_assets.activation.export_inputs import INPUTS_FILE
from cdp_assets.config import CDPConfig
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES
from cdp_assets.defs.activation import exports as exports_module
from cdp_assets.defs.activation.exports import build_exports_asset
from cdp_assets.defs.catalog import CUSTOMER_360, EXPORTS, MEMBERSHIP
from cdp_assets.defs.resources import ExportsResource, WarehouseResource
from cdp_assets.warehouse import Warehouse, WarehouseSession, dispose_engines

# customer_id: (email, first_name, email_consent)
PEOPLE: dict[str, tuple[str, str, bool]] = {
    "C1": ("ann@example.com", "Ann", True),
    "C2": ("bob@example.com", "Bob", True),
    "C3": ("cy@example.com", "Cy", False),  # no confirmed opt-in: never exported
}
LOG_COLUMNS = ["destination", "audience", "channel", "format", "members", "rows", "additions"]


class Project:
    """A warehouse holding customer_360 and one audience's membership, and the asset."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CDP_PRIVACY_SALT", "test-salt")
        self.url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        self.root = tmp_path / "exports"
        self.config = CDPConfig.model_validate(
            {
                "as_of": "2025-03-31",
                "analytics": {"audiences": [{"name": "fans", "rule": "orders >= 1"}]},
                "exports": {
                    "dir": str(self.root),
                    "destinations": [{"name": "esp", "channel": "email", "format": "csv"}],
                },
            }
        )
        with Warehouse(self.url).transaction() as session:
            session.replace_table(CUSTOMER_360, _profiles())
            session.replace_table(MEMBERSHIP, _members(list(PEOPLE)))

    def materialize(self) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            [build_exports_asset(self.config)],
            resources={
                "warehouse": WarehouseResource(url=self.url),
                "exports": ExportsResource(root=str(self.root)),
            },
            raise_on_error=False,
        )
        dispose_engines()
        return result

    def log(self) -> pd.DataFrame:
        with Warehouse(self.url).transaction() as session:
            if not session.table_exists(EXPORTS):
                return pd.DataFrame(columns=["export_id", *LOG_COLUMNS])
            return session.query(f"SELECT * FROM {EXPORTS.sql} ORDER BY exported_at")

    def latest_id(self) -> str:
        return json.loads((self.root / "esp" / "fans" / LATEST_FILE).read_text())["export_id"]


def _profiles() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": list(PEOPLE),
            "email": [p[0] for p in PEOPLE.values()],
            "first_name": [p[1] for p in PEOPLE.values()],
            "email_consent": [p[2] for p in PEOPLE.values()],
        }
    )
    for column, dtype in CUSTOMER_360_DTYPES.items():
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), index=frame.index).astype(dtype)
    return frame[list(CUSTOMER_360_DTYPES)].astype(CUSTOMER_360_DTYPES)


def _members(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"audience": "fans", "customer_id": ids, "as_of": pd.Timestamp("2025-03-31")}
    ).astype({"audience": "string", "customer_id": "string"})


def _published(root: Path) -> dict[str, pd.DataFrame]:
    """Every file of the export latest.json points at, read back, by kind."""
    audience_dir = root / "esp" / "fans"
    export_id = json.loads((audience_dir / LATEST_FILE).read_text())["export_id"]
    return {p.stem: read_export_file(p) for p in sorted((audience_dir / export_id).glob("*.csv"))}


def _consent_bypassed(members: pd.DataFrame, channel: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A selection defect: everyone passes, whatever their consent."""
    excluded = pd.DataFrame({"customer_id": [], "reason": []}, dtype="string")
    return members.reset_index(drop=True), excluded


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.check_name: e.passed for e in result.get_asset_check_evaluations()
    }  # fmt: skip


def test_a_failing_check_publishes_nothing_and_keeps_latest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(tmp_path, monkeypatch)
    assert project.materialize().success
    first = project.latest_id()
    before = _published(project.root)
    assert before["full"]["customer_id"].tolist() == ["C1", "C2"]

    # Cy (no opt-in) changes a column, so the audience is built again, with the defect.
    with Warehouse(project.url).transaction() as session:
        profiles = _profiles()
        profiles.loc[profiles["customer_id"] == "C3", "first_name"] = "Cyrus"
        session.replace_table(CUSTOMER_360, profiles)
    monkeypatch.setattr(exports_module, "apply_consent", _consent_bypassed)
    failed = project.materialize()
    assert not failed.success  # the blocking check failed
    assert _check_results(failed) == {
        "exported_people_consented": False,
        "no_erased_people_in_exports": True,
    }
    assert project.latest_id() == first
    audience_dir = project.root / "esp" / "fans"
    # No staging folder; the inputs record still names the first export.
    assert sorted(p.name for p in audience_dir.iterdir()) == [INPUTS_FILE, first, LATEST_FILE]
    for kind, frame in _published(project.root).items():
        pd.testing.assert_frame_equal(frame, before[kind])
    assert project.log()["export_id"].tolist() == [first]


def _normalised_log(log: pd.DataFrame) -> list[list[object]]:
    """Log rows without what legitimately differs between runs (run id, times, export id)."""
    return log[LOG_COLUMNS].astype(str).values.tolist()


def _uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    project = Project(tmp_path / "uninterrupted", monkeypatch)
    assert project.materialize().success
    with Warehouse(project.url).transaction() as session:
        session.replace_table(MEMBERSHIP, _members(["C1"]))
    assert project.materialize().success
    return project


def _assert_same_outcome(project: Project, reference: Project) -> None:
    log = project.log()
    assert project.latest_id() in set(log["export_id"])  # the published export is logged
    assert _normalised_log(log) == _normalised_log(reference.log())
    published, expected = _published(project.root), _published(reference.root)
    assert published.keys() == expected.keys()
    for kind in expected:
        pd.testing.assert_frame_equal(published[kind], expected[kind])
    assert not list(project.root.rglob(".staged-*"))


def test_a_run_killed_between_writing_and_logging_is_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _uninterrupted(tmp_path, monkeypatch)
    project = Project(tmp_path / "crashed", monkeypatch)
    assert project.materialize().success
    with Warehouse(project.url).transaction() as session:
        session.replace_table(MEMBERSHIP, _members(["C1"]))

    append = WarehouseSession.append

    def dies_before_logging(self: WarehouseSession, ref: object, frame: pd.DataFrame) -> None:
        if ref == EXPORTS:
            raise SystemExit("killed before the log row was written")
        append(self, ref, frame)

    monkeypatch.setattr(WarehouseSession, "append", dies_before_logging)
    assert not project.materialize().success
    monkeypatch.setattr(WarehouseSession, "append", append)
    assert project.materialize().success
    _assert_same_outcome(project, reference)


def test_a_run_killed_between_logging_and_publishing_is_published_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _uninterrupted(tmp_path, monkeypatch)
    project = Project(tmp_path / "crashed", monkeypatch)
    assert project.materialize().success
    first = project.latest_id()
    with Warehouse(project.url).transaction() as session:
        session.replace_table(MEMBERSHIP, _members(["C1"]))

    def dies_before_publishing(result: object) -> object:
        raise SystemExit("killed before the rename")

    publish = exports_module.publish_export
    monkeypatch.setattr(exports_module, "publish_export", dies_before_publishing)
    assert not project.materialize().success
    assert project.latest_id() == first  # logged, not yet published
    assert len(project.log()) == 2
    monkeypatch.setattr(exports_module, "publish_export", publish)
    rerun = project.materialize()
    assert rerun.success
    materialization = rerun.asset_materializations_for_node("activation__audience_exports")[0]
    assert materialization.metadata["recovered_exports_published"].value == 1
    _assert_same_outcome(project, reference)
