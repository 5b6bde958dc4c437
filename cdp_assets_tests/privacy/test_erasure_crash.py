"""kill -9 in the middle of an erasure pass, then a re-run: the same tables as a pass that was
never interrupted (the pass is one warehouse transaction)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from cdp_assets.privacy.erasure import Subject, erase_pending
from cdp_assets.warehouse import TableRef, Warehouse, dispose_engines
from cdp_assets_tests.privacy.test_erasure import (
    BY_EMAIL,
    BY_RECORD,
    SALT,
    build,
    contents,
    make_config,
    warehouse_tables,
)

REPO = Path(__file__).resolve().parents[2]
# The child dies on its third table deletion: some rows of the pass deleted, others not.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import cdp_assets.privacy.erasure as erasure
    from cdp_assets.warehouse import Warehouse
    from cdp_assets_tests.privacy.test_erasure import SALT, make_config

    delete_rows, calls = erasure.delete_rows, []

    def dying_delete_rows(session, ref, keys):
        calls.append(ref)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return delete_rows(session, ref, keys)

    erasure.delete_rows = dying_delete_rows
    url, folder = sys.argv[1], Path(sys.argv[2])
    with Warehouse(url).transaction() as session:
        erasure.erase_pending(session, make_config(folder), SALT, "crashed", lambda s: {})
    """
)


def _no_files(subjects: list[Subject]) -> dict[str, int]:
    return {}


def _erase(url: str, folder: Path) -> None:
    with Warehouse(url).transaction() as session:
        erase_pending(session, make_config(folder), SALT, "run", _no_files)
    dispose_engines()


def _state(url: str) -> tuple[dict[str, list[str]], list[str], pd.DataFrame]:
    warehouse = Warehouse(url)
    with warehouse.transaction() as session:
        tables = contents(session)
        hashes = sorted(session.read_table(TableRef("ops", "suppression_list"))["identifier_hash"])
        log = session.read_table(TableRef("ops", "erasure_log"))
    dispose_engines()
    log = log.drop(columns=["completed_at", "run_id"]).sort_values("request_id")
    return tables, hashes, log.reset_index(drop=True)


def test_kill_9_mid_erasure_then_rerun_equals_an_uninterrupted_pass(tmp_path: Path) -> None:
    built = tmp_path / "built.duckdb"
    with Warehouse(f"duckdb:///{built}").transaction() as session:
        build(session, warehouse_tables([BY_EMAIL, BY_RECORD]))
    dispose_engines()
    crashed, clean = tmp_path / "crashed.duckdb", tmp_path / "clean.duckdb"
    shutil.copy(built, crashed)
    shutil.copy(built, clean)

    child = subprocess.run(
        [sys.executable, "-c", CHILD, f"duckdb:///{crashed}", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    before = _state_without_log(f"duckdb:///{built}")
    assert _state_without_log(f"duckdb:///{crashed}") == before  # nothing of the pass stayed

    _erase(f"duckdb:///{crashed}", tmp_path)
    _erase(f"duckdb:///{clean}", tmp_path)
    rerun, uninterrupted = _state(f"duckdb:///{crashed}"), _state(f"duckdb:///{clean}")
    assert rerun[0] == uninterrupted[0] and rerun[0] != before
    assert rerun[1] == uninterrupted[1] and len(rerun[1]) > 0
    pd.testing.assert_frame_equal(rerun[2], uninterrupted[2])
    assert rerun[2]["status"].tolist() == ["erased", "erased"]


def _state_without_log(url: str) -> dict[str, list[str]]:
    with Warehouse(url).transaction() as session:
        tables = contents(session)
        listed = session.table_exists(TableRef("ops", "suppression_list"))
        logged = session.table_exists(TableRef("ops", "erasure_log"))
    dispose_engines()
    return {"tables": tables, "suppression_list": listed, "erasure_log": logged}
