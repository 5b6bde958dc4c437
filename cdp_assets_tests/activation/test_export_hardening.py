"""activation.export_files / privacy.export_scrub hardening: file modes, CSV formula cells,
staged exports and their recovery, and erasure scrubbing that a crash cannot leave stale."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cdp_assets.activation.audience_selection import export_rows
from cdp_assets.activation.export_files import (
    LATEST_FILE,
    file_sha256,
    frame_bytes,
    read_export_file,
    recover_staged_exports,
    stage_export,
    write_export,
)
from cdp_assets.privacy import export_scrub
from cdp_assets.privacy.export_scrub import repair_manifests, scrub_exports

AS_OF = dt.date(2025, 3, 31)
T1 = dt.datetime(2025, 4, 1, 6, 0, 0, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 4, 2, 6, 0, 0, 2, tzinfo=dt.UTC)
T3 = dt.datetime(2025, 4, 3, 6, 0, 0, 3, tzinfo=dt.UTC)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _email_rows(ids: list[str], names: list[str] | None = None) -> pd.DataFrame:
    eligible = pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"{i.lower()}@example.com" for i in ids],
            "first_name": names or [f"N{i}" for i in ids],
        }
    )
    return export_rows(eligible, "email")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: nothing narrows a mode the code asks for too wide."""
    previous = os.umask(0)
    yield
    os.umask(previous)


# --- modes ------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_export_files_are_0600_and_folders_0700_whatever_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    write_export(root, "esp", "fans", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T1)
    second = write_export(
        root, "esp", "fans", "email", "csv", _email_rows(["B"]), AS_OF, {}, now=T2
    )
    files = [p for p in root.rglob("*") if p.is_file()]
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert len(files) == 2 * 4 + 1  # two exports of 3 data files + manifest, latest.json
    assert {p.relative_to(root).as_posix(): _mode(p) for p in files} == {
        p.relative_to(root).as_posix(): 0o600 for p in files
    }
    assert {_mode(p) for p in folders} == {0o700}
    scrub_exports(root, {"B"}, set(), set())  # rewritten files keep the mode
    assert _mode(second.directory / "full.csv") == 0o600
    assert _mode(second.directory / "manifest.json") == 0o600


# --- CSV formula cells ------------------------------------------------------------------


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
            "email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com", "f@x.com", "g@x.com"],
            "first_name": ["=1+1", "+33 6", "-2", "@SUM(A1)", "\tTab", "'=x", "Ann"],
            "phone": ["+4915111111111", "+49 151", "=2", None, "-1", "+1", "'x"],
            "amount": [-12.5, 3.0, 0.0, -1.0, 2.0, 1.0, 1.5],
        }
    ).astype({c: "string" for c in ("customer_id", "email", "first_name", "phone")})
    path = tmp_path / "f.csv"
    path.write_bytes(frame_bytes(rows, "csv"))
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert written["first_name"].tolist() == [
        "'=1+1",
        "'+33 6",
        "'-2",
        "'@SUM(A1)",
        "'\tTab",
        "''=x",
        "Ann",
    ]
    # E.164 phones stay verbatim (validated, digits only); anything else is neutralised
    assert written["phone"].tolist() == [
        "+4915111111111",
        "'+49 151",
        "'=2",
        "",
        "'-1",
        "'+1",
        "'x",
    ]
    assert written["amount"].tolist() == ["-12.5", "3.0", "0.0", "-1.0", "2.0", "1.0", "1.5"]
    back = read_export_file(path)  # reading back gives exactly what was written
    for column in ("customer_id", "email", "first_name", "phone"):
        assert back[column].tolist() == rows[column].tolist()


def test_neutralised_cells_round_trip_through_deltas_and_unchanged_runs(tmp_path: Path) -> None:
    rows = _email_rows(["A", "B"], ["=HYPERLINK(1)", "Bo"])
    first = write_export(tmp_path, "esp", "fans", "email", "csv", rows, AS_OF, {}, now=T1)
    assert b"'=HYPERLINK(1)" in (first.directory / "full.csv").read_bytes()
    again = write_export(tmp_path, "esp", "fans", "email", "csv", rows, AS_OF, {}, now=T2)
    assert again.unchanged
    parquet = write_export(tmp_path, "ads", "fans", "email", "parquet", rows, AS_OF, {}, now=T1)
    assert read_export_file(parquet.directory / "full.parquet")["first_name"].tolist() == [
        "=HYPERLINK(1)",
        "Bo",
    ]  # Parquet is typed: no spreadsheet formula to neutralise


# --- staging and recovery ---------------------------------------------------------------


def test_a_staged_export_is_invisible_until_published(tmp_path: Path) -> None:
    write_export(tmp_path, "esp", "fans", "email", "csv", _email_rows(["A"]), AS_OF, {}, now=T1)
    audience_dir = tmp_path / "esp" / "fans"
    latest = (audience_dir / LATEST_FILE).read_bytes()
    staged = stage_export(
        tmp_path, "esp", "fans", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T2
    )
    assert not staged.published
    assert staged.directory.name == f".staged-{staged.export_id}"
    assert (audience_dir / LATEST_FILE).read_bytes() == latest
    assert not (audience_dir / staged.export_id).exists()
    assert read_export_file(staged.directory / "additions.csv")["customer_id"].tolist() == ["B"]


def test_recovery_publishes_logged_exports_and_removes_the_others(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    write_export(reference, "esp", "fans", "email", "csv", _email_rows(["A"]), AS_OF, {}, now=T1)
    write_export(
        reference, "esp", "fans", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T2
    )

    root = tmp_path / "crashed"
    write_export(root, "esp", "fans", "email", "csv", _email_rows(["A"]), AS_OF, {}, now=T1)
    logged = stage_export(
        root, "esp", "fans", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T2
    )
    unlogged = stage_export(
        root, "esp", "other", "email", "csv", _email_rows(["C"]), AS_OF, {}, now=T3
    )
    recovery = recover_staged_exports(root, [("esp", "fans"), ("esp", "other")], {logged.export_id})
    assert recovery.published == (f"esp/fans/{logged.export_id}",)
    assert recovery.discarded == (f"esp/other/{unlogged.export_id}",)
    assert not (root / "esp" / "other").exists() or not any((root / "esp" / "other").iterdir())
    assert _tree(root / "esp" / "fans") == _tree(reference / "esp" / "fans")


KILLED_RUN = textwrap.dedent(
    """
    import datetime as dt, json, os, signal, sys
    import pandas as pd
    from cdp_assets.activation.export_files import stage_export

    root, log = sys.argv[1], sys.argv[2]
    rows = pd.DataFrame({"customer_id": ["B"], "email": ["b@example.com"], "first_name": ["Bo"]})
    staged = stage_export(
        root, "esp", "fans", "email", "csv", rows.astype("string"), dt.date(2025, 3, 31), {},
        now=dt.datetime(2025, 4, 2, 6, tzinfo=dt.UTC),
    )
    if sys.argv[3] == "after-log":
        with open(log, "w") as handle:
            json.dump([staged.export_id], handle)
    os.kill(os.getpid(), signal.SIGKILL)  # never publishes
    """
)


@pytest.mark.parametrize("killed", ["before-log", "after-log"])
def test_kill_9_between_staging_and_publishing(tmp_path: Path, killed: str) -> None:
    root, log = tmp_path / "exports", tmp_path / "log.json"
    write_export(root, "esp", "fans", "email", "csv", _email_rows(["A"]), AS_OF, {}, now=T1)
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    done = subprocess.run(
        [sys.executable, str(script), str(root), str(log), killed],
        env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
        capture_output=True,
        check=False,
    )
    assert done.returncode == -9, done.stderr.decode()
    logged = set(json.loads(log.read_text())) if log.exists() else set()
    recovery = recover_staged_exports(root, [("esp", "fans")], logged)
    latest = json.loads((root / "esp" / "fans" / LATEST_FILE).read_text())["export_id"]
    if killed == "after-log":
        assert recovery.published and latest in logged
        assert read_export_file(root / "esp" / "fans" / latest / "full.csv")[
            "customer_id"
        ].tolist() == ["B"]
    else:
        assert recovery.discarded and not recovery.published
        assert latest == "2025-03-31_20250401T060000000001Z"  # the rerun issues it afresh
    assert not list(root.rglob(".staged-*"))


# --- erasure scrubbing ------------------------------------------------------------------


def _two_exports(root: Path) -> None:
    write_export(root, "esp", "fans", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T1)
    write_export(
        root, "esp", "fans", "email", "csv", _email_rows(["A", "B", "C"]), AS_OF, {}, now=T2
    )
    write_export(root, "esp", "vip", "email", "parquet", _email_rows(["A", "C"]), AS_OF, {}, now=T1)


def _manifests_match_files(root: Path) -> bool:
    for manifest_path in root.rglob("manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        for entry in manifest["files"].values():
            path = manifest_path.parent / Path(entry["path"]).name
            if entry["sha256"] != file_sha256(path.read_bytes()):
                return False
            if entry["rows"] != len(read_export_file(path)):
                return False
    return True


def test_a_scrub_killed_before_its_manifests_is_finished_by_the_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, root = tmp_path / "reference", tmp_path / "crashed"
    _two_exports(reference)
    _two_exports(root)
    scrub_exports(reference, {"A"}, set(), set())

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed between the data files and the manifests")

    monkeypatch.setattr(export_scrub, "write_json_atomically", killed)
    with pytest.raises(SystemExit):
        scrub_exports(root, {"A"}, set(), set())
    assert not _manifests_match_files(root)  # the crash left stale checksums
    monkeypatch.undo()
    scrub_exports(root, {"A"}, set(), set())  # the erasure is retried
    assert _tree(root) == _tree(reference)
    assert _manifests_match_files(root)


def test_repair_manifests_corrects_checksums_from_the_files(tmp_path: Path) -> None:
    _two_exports(tmp_path)
    manifest_path = next((tmp_path / "esp" / "vip").glob("*/manifest.json"))
    good = manifest_path.read_bytes()
    manifest = json.loads(good)
    manifest["files"]["full"].update(rows=99, sha256="0" * 64)
    manifest_path.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
    assert repair_manifests(tmp_path) == [manifest_path.relative_to(tmp_path).as_posix()]
    assert manifest_path.read_bytes() == good
    assert repair_manifests(tmp_path) == []


def test_scrub_reaches_staged_exports_and_keeps_them_consistent(tmp_path: Path) -> None:
    write_export(tmp_path, "esp", "fans", "email", "csv", _email_rows(["A"]), AS_OF, {}, now=T1)
    staged = stage_export(
        tmp_path, "esp", "fans", "email", "csv", _email_rows(["A", "B"]), AS_OF, {}, now=T2
    )
    removed = scrub_exports(tmp_path, {"B"}, set(), set())
    staged_name = staged.directory.name
    assert removed == {
        f"esp/fans/{staged_name}/full.csv": 1,
        f"esp/fans/{staged_name}/additions.csv": 1,
    }
    assert _manifests_match_files(tmp_path)
    recover_staged_exports(tmp_path, [("esp", "fans")], {staged.export_id})
    assert read_export_file(tmp_path / "esp" / "fans" / staged.export_id / "full.csv")[
        "customer_id"
    ].tolist() == ["A"]
    shutil.rmtree(tmp_path / "esp")
