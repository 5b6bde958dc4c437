"""Test side of the fault suite: a demo project, the driver child process that runs its
stages (see `driver.py`), saved warehouse states, and normalised snapshots of every table and
export file for comparing a run that was killed and re-run with an uninterrupted one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml

from cdp_assets.privacy.file_checksums import MEMO_FILE as CHECKSUM_MEMO
from cdp_assets.privacy.file_checksums import file_checksum, file_stat
from cdp_assets.warehouse.warehouse import duckdb_file
from cdp_assets_tests.e2e.pipeline import REPO, DemoProject, make_demo_project
from cdp_assets_tests.fault.driver import REACHED_ENV

PEOPLE = 40
SALT = "fault-suite-salt-0123456789abcdef"
SCHEMAS = ("raw", "staging", "ops", "core", "analytics", "ml", "activation")

# Values that legitimately differ between two uninterrupted runs on the same data (found by
# comparing two such runs): the times things happened, and ids made of them. They are not
# dropped: each is replaced by the rank of its value among the table's distinct values (ids
# made of a timestamp sort in time order), so rows written together still are, and a batch
# loaded twice still shows.
VOLATILE_COLUMNS = {
    "_ingested_at",  # raw.*, staging.*
    "ingested_at",  # ops.ingested_files
    "quarantined_at",  # ops.quarantine
    "added_at",  # ops.suppression_list
    "completed_at",  # ops.erasure_log
    "run_at",  # core.identity_merges, ops.retention_log
    "export_id",  # activation.*_exports: "<as_of>_<write time>"
    "exported_at",  # activation.*_exports
    "manifest",  # activation.*_exports: the path of the manifest, under the export id
    "first_exported_at",  # activation.campaign_recipients
    "staged_at",  # ops.staged_batches, ops.staging_state
    "learnt_at",  # core.identity_match_levels, core.identity_name_shares: the learning run's time
}
# Not compared at all: Dagster run ids are random, so they cannot be ranked in time order, and
# batch ids are "<ingestion time to the second>-<run id[:8]>" (two batches of one second are
# ordered by the random part). Batches stay told apart by their `_ingested_at`/`ingested_at`.
RUN_ID_COLUMNS = {
    "run_id",  # ops.erasure_log, ops.retention_log, activation.*_exports
    "_batch_id",  # raw.*, staging.*
    "batch_id",  # ops.ingested_files, ops.quarantine, ops.data_quality_issues
}
# Tables compared by some columns only: the versions ledger's are random (a table's version is
# a new uuid at each write, a step's is a hash over those), so only which names it holds counts.
# The erasure check's batch proofs hold the `rewrites:` versions of those tables (random too).
COMPARED_COLUMNS = {
    "ops.data_versions": ["name"],
    "ops.erasure_trace_batches": ["table_name", "checked_against", "columns", "batch_id"],
}
EXPORT_ID = re.compile(r"\d{4}-\d{2}-\d{2}_\d{8}T\d{12}Z")


@dataclass
class Driver:
    """The child process running the project's stages (one fork per run)."""

    project: DemoProject
    process: subprocess.Popen[str]
    log: Path
    runs: int = 0

    @classmethod
    def start(
        cls, project: DemoProject, env: dict[str, str] | None = None, name: str = "driver"
    ) -> Driver:
        log = project.root / f"{name}.log"
        log_file = log.open("w")
        environment = {
            **os.environ,
            **project.env(),
            "CDP_PRIVACY_SALT": SALT,
            REACHED_ENV: str(project.root / f"{name}_fault_reached"),
            "PYTHONPATH": str(REPO),
            **(env or {}),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "cdp_assets_tests.fault.driver"],
            cwd=REPO,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
        log_file.close()  # the child holds its own descriptor
        driver = cls(project, process, log)
        assert driver._answer() == {"ready": True}
        return driver

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"fault driver died; its log: {self.log}\n{self._log_tail()}")
        return json.loads(line)

    def _log_tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def send(self, stage: str, fault: dict[str, Any] | None = None) -> None:
        """Start one run of `stage` in a fresh fork; `fault`: see `driver.install_fault`."""
        assert self.process.stdin is not None
        self.runs += 1
        result_file = self.project.root / f"run_{self.runs}_{self.process.pid}.json"
        command = {"stage": stage, "fault": fault, "result_file": str(result_file)}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        """The outcome of the run started last."""
        return self._answer()

    def run(self, stage: str, fault: dict[str, Any] | None = None) -> dict[str, Any]:
        self.send(stage, fault)
        return self.receive()

    def run_ok(self, stage: str) -> None:
        answer = self.run(stage)
        assert answer["exit"] == "ok", f"{stage}: {answer}\n{self._log_tail()}"

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


# Sources of the demo the suite leaves out: each adds steps to every run but no kind of write
# the others do not already make (identity still joins accounts, CRM, loyalty and POS).
LEFT_OUT_SOURCES = {"web_events", "surveys", "support_tickets", "campaign_events"}


def new_project(root: Path, warehouse_url: str | None = None) -> DemoProject:
    """The demo's cdp.yaml without `LEFT_OUT_SOURCES`, over a tiny generated demo."""
    url = warehouse_url or f"duckdb:///{root / 'warehouse.duckdb'}"
    project = make_demo_project(root, url, people=PEOPLE)
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    config["sources"] = [s for s in config["sources"] if s["name"] not in LEFT_OUT_SOURCES]
    project.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return project


def clone_project(source: DemoProject, root: Path, warehouse_url: str | None = None) -> DemoProject:
    """The same demo data and config under `root` (cheaper than generating it again)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source.root / "data", root / "data")
    shutil.copy(source.config_path, root / "cdp.yaml")
    url = warehouse_url or f"duckdb:///{root / 'warehouse.duckdb'}"
    return DemoProject(root, root / "cdp.yaml", root / "data" / "ground_truth", url)


# ---- saved states: the warehouse, the export files and the model store ----

# The write-ahead log goes with the file: a killed DuckDB writer leaves one behind.
STATE_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal", "exports", "models")
PG_STATE_PREFIX = "fault_state_"  # PostgreSQL: a state is a copy of each schema


def _copy_files(source: Path, target: Path, parts: tuple[str, ...]) -> None:
    for part in parts:
        path = target / part
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        saved = source / part
        if saved.is_dir():
            shutil.copytree(saved, path)
        elif saved.exists():
            shutil.copy(saved, path)


def _pg_copy_schemas(url: str, rename: dict[str, str]) -> None:
    """Each schema of `rename` that exists copied, table by table, with its constraints and
    indexes (LIKE … INCLUDING ALL), to a new schema of the mapped name (dropped first)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema = ANY(:schemas) AND table_type = 'BASE TABLE'"
            ),
            {"schemas": list(rename)},
        ).all()
        for target in rename.values():
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{target}" CASCADE'))
        for target in {rename[schema] for schema, _ in tables}:
            conn.execute(sa.text(f'CREATE SCHEMA "{target}"'))
        for schema, table in tables:
            new, old = f'"{rename[schema]}"."{table}"', f'"{schema}"."{table}"'
            conn.execute(sa.text(f"CREATE TABLE {new} (LIKE {old} INCLUDING ALL)"))
            conn.execute(sa.text(f"INSERT INTO {new} SELECT * FROM {old}"))
    engine.dispose()


def _state_schemas(name: str) -> dict[str, str]:
    return {schema: f"{PG_STATE_PREFIX}{name}__{schema}" for schema in SCHEMAS}


def save_state(project: DemoProject, name: str) -> None:
    target = project.root / "states" / name
    target.mkdir(parents=True, exist_ok=True)
    _copy_files(project.root, target, STATE_FILES)
    if duckdb_file(project.warehouse_url) is None:
        _pg_copy_schemas(project.warehouse_url, _state_schemas(name))


def restore_state(project: DemoProject, name: str) -> None:
    _copy_files(project.root / "states" / name, project.root, STATE_FILES)
    if duckdb_file(project.warehouse_url) is None:
        back = {saved: schema for schema, saved in _state_schemas(name).items()}
        engine = sa.create_engine(project.warehouse_url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            for schema in SCHEMAS:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
        _pg_copy_schemas(project.warehouse_url, back)


def drop_saved_states(warehouse_url: str) -> None:
    """PostgreSQL: the schemas holding saved states go (the database is shared with the rest
    of the suite)."""
    if duckdb_file(warehouse_url) is not None:
        return
    engine = sa.create_engine(warehouse_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        saved = conn.execute(
            sa.text(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"
            ),
            {"p": PG_STATE_PREFIX + "%"},
        ).scalars()
        for schema in list(saved):
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


# ---- normalised snapshots ----


def _normalise_volatile(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if column in RUN_ID_COLUMNS:
            frame[column] = frame[column].astype("string").where(frame[column].isna(), "<id>")
        elif column in VOLATILE_COLUMNS:
            values = frame[column].astype("string")
            ranks = {v: f"<{column} {i}>" for i, v in enumerate(sorted(values.dropna().unique()))}
            frame[column] = values.map(ranks).astype("string")
    return frame


def _canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """As text, rows in the order of their hashes: equal tables give equal frames (a
    multiset comparison; equal rows hash alike). Numbers are hashed rounded to 9 significant
    digits, so that a row whose average differs in its last digits (a parallel sum) keeps its
    place and `same_but_float_rounding` compares it with its counterpart."""
    frame = frame.astype("string")
    keys = frame.apply(_rounded_numbers)
    order = pd.util.hash_pandas_object(keys, index=False).sort_values(kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _rounded_numbers(column: pd.Series) -> pd.Series:
    """The column's numbers rounded to 9 significant digits (as text); other values as
    they are."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(numbers) & (numbers != 0)
    if not finite.any():
        return column
    scale = np.ones_like(numbers)
    scale[finite] = 10.0 ** (np.floor(np.log10(np.abs(numbers[finite]))) - 8)
    rounded = pd.Series(np.round(numbers / scale) * scale, index=column.index).astype("string")
    return rounded.where(pd.Series(finite, index=column.index), column)


def _read_tables(warehouse_url: str) -> Iterator[tuple[str, pd.DataFrame]]:
    """(schema.table, rows as stored) of every table of the platform's schemas, over a
    connection of its own (DuckDB's own client for a DuckDB file: much faster here)."""
    listing = (
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema IN {SCHEMAS} ORDER BY 1, 2"
    )
    file = duckdb_file(warehouse_url)
    if file is not None:
        with duckdb.connect(str(file), read_only=True) as conn:
            for schema, table in conn.execute(listing).fetchall():
                yield f"{schema}.{table}", conn.execute(f'SELECT * FROM "{schema}"."{table}"').df()
        return
    engine = sa.create_engine(warehouse_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for schema, table in conn.execute(sa.text(listing)).all():
                query = sa.text(f'SELECT * FROM "{schema}"."{table}"')
                yield f"{schema}.{table}", pd.read_sql(query, conn)
    finally:
        engine.dispose()


def table_snapshot(warehouse_url: str) -> dict[str, pd.DataFrame]:
    """Every table of the platform's schemas: volatile columns ranked, every value as text,
    rows in a canonical order."""
    return {
        name: _canonical_order(
            _normalise_volatile(frame[COMPARED_COLUMNS.get(name, list(frame.columns))])
        )
        for name, frame in _read_tables(warehouse_url)
    }


def _export_series(root: Path) -> dict[str, str]:
    """export id → its rank in its audience folder (`e0`, `e1`, … in time order)."""
    names: dict[str, str] = {}
    for audience_dir in sorted(p.parent for p in root.glob("*/*/latest.json")):
        for i, export in enumerate(sorted(d.name for d in audience_dir.iterdir() if d.is_dir())):
            names[export] = f"e{i}"
    return names


def export_snapshot(root: Path) -> dict[str, Any]:
    """Every file under the exports folder by its path with export ids replaced by their rank:
    data files as bytes, JSON files parsed with export ids ranked and `created_at` left out."""
    if not root.exists():
        return {}
    series = _export_series(root)

    def rename(text: str) -> str:
        return EXPORT_ID.sub(lambda m: series.get(m.group(0), "<unknown export>"), text)

    out: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = rename(path.relative_to(root).as_posix())
        if path.name == CHECKSUM_MEMO:
            out[relative] = checksum_memo_soundness(path)
        elif path.suffix == ".json":
            content = json.loads(rename(path.read_text(encoding="utf-8")))
            if isinstance(content, dict):
                content.pop("created_at", None)
            out[relative] = content
        else:
            out[relative] = path.read_bytes()
    return out


def checksum_memo_soundness(memo_path: Path) -> str | list[str]:
    """A folder's file checksum memo (`privacy.file_checksums`) compared by what matters: it
    records inodes and times, which no two runs share, so it cannot equal another run's; it
    must never vouch for bytes a file does not have. "sound", or the files whose entry still
    matches their inode, size and times but not their checksum."""
    memo = json.loads(memo_path.read_text(encoding="utf-8"))
    wrong = []
    for name, (*stat, checksum, _taken) in memo["files"].items():
        path = memo_path.parent / name
        if not path.is_file():
            continue
        if list(file_stat(path)) == stat and file_checksum(path) != checksum:
            wrong.append(name)
    return wrong or "sound"


@dataclass
class Snapshot:
    tables: dict[str, pd.DataFrame]
    files: dict[str, Any] = field(default_factory=dict)


def snapshot(project: DemoProject) -> Snapshot:
    return Snapshot(
        table_snapshot(project.warehouse_url), export_snapshot(project.root / "exports")
    )


# The warehouse sums floating-point values in parallel, in an order that varies with the
# threads' timing: the same data can give an average whose last digits differ.
FLOAT_RELATIVE_TOLERANCE = 1e-9


def same_but_float_rounding(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Two tables of the same rows in the same order whose numbers (as values or as text)
    differ, if at all, in their last digits (relative difference under 1e-9)."""
    if a.shape != b.shape or list(a.columns) != list(b.columns):
        return False
    for column in a.columns:
        left, right = a[column].reset_index(drop=True), b[column].reset_index(drop=True)
        if left.equals(right):
            continue
        x = pd.to_numeric(left, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        y = pd.to_numeric(right, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        numbers = ~np.isnan(x) & ~np.isnan(y)
        if not np.allclose(x[numbers], y[numbers], rtol=FLOAT_RELATIVE_TOLERANCE, atol=0.0):
            return False
        others = ~numbers
        if not left[others].fillna("<null>").equals(right[others].fillna("<null>")):
            return False
    return True


def table_differences(
    expected: dict[str, pd.DataFrame], actual: dict[str, pd.DataFrame]
) -> list[str]:
    """What differs between two sets of comparable tables, table by table."""
    found = []
    for name in sorted(set(expected) | set(actual)):
        a, b = expected.get(name), actual.get(name)
        if a is None or b is None:
            found.append(f"{name}: only in {'actual' if a is None else 'expected'}")
            continue
        if list(a.columns) != list(b.columns):
            found.append(f"{name}: columns {list(a.columns)} != {list(b.columns)}")
        elif not a.equals(b) and not same_but_float_rounding(a, b):
            merged = a.merge(b, how="outer", indicator=True)
            extra = merged[merged["_merge"] != "both"]
            found.append(
                f"{name}: {len(a)} rows expected, {len(b)} found; rows in one only:\n"
                f"{extra.head(6).to_string()}"
            )
    return found


def differences(expected: Snapshot, actual: Snapshot) -> list[str]:
    """What differs, table by table and file by file (empty when the two are the same)."""
    found = table_differences(expected.tables, actual.tables)
    for name in sorted(set(expected.files) | set(actual.files)):
        if expected.files.get(name) != actual.files.get(name):
            state = (
                "missing" if name not in actual.files
                else "unexpected" if name not in expected.files
                else "differs"
            )  # fmt: skip
            found.append(f"exports/{name}: {state}")
    return found


# ---- the uninterrupted run, stage by stage, and a killed run of one stage ----

STAGE_ORDER = ("orders", "intake", "core", "analytics", "exports", "requests", "erasure")
COMPARED_STAGES = ("orders", "core", "exports", "erasure")  # the stages the cases run
REQUESTS_FILE = "privacy/fault_requests.csv"


@dataclass
class Baseline:
    engine: str
    project: DemoProject
    driver: Driver
    snapshots: dict[str, Snapshot]

    def state_before(self, stage: str) -> str:
        index = STAGE_ORDER.index(stage)
        return "empty" if index == 0 else STAGE_ORDER[index - 1]


def write_erasure_request(project: DemoProject) -> str:
    """A request by email for the person in most audiences whose email no one else has (one
    request: the re-run of a second one could repair what the first left); the email."""
    engine = sa.create_engine(project.warehouse_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        email = conn.execute(
            sa.text(
                """
            SELECT p.email
            FROM core.customer_profiles p
            JOIN activation.audience_membership m ON m.customer_id = p.customer_id
            WHERE p.email IS NOT NULL AND p.ads_consent
              AND p.email_key NOT IN (SELECT value FROM core.shared_identifiers)
            GROUP BY p.customer_id, p.email
            ORDER BY COUNT(DISTINCT m.audience) DESC, p.customer_id
            LIMIT 1
            """
            )
        ).scalar_one()
    engine.dispose()
    request = {
        "request_id": "FAULT-1",
        "email": email.upper(),  # any spelling of the address
        "phone": "",
        "customer_id": "",
        "source": "",
        "source_record_id": "",
        "requested_at": "2026-11-19T09:00:00Z",
    }
    pd.DataFrame([request]).to_csv(project.landing / REQUESTS_FILE, index=False)
    return email


def build_baseline(
    engine: str,
    project: DemoProject,
    driver: Driver,
    compared: tuple[str, ...] = COMPARED_STAGES,
) -> Baseline:
    """The uninterrupted run, stage by stage, with its state after each and its snapshot after
    each `compared` stage (those the cases run)."""
    save_state(project, "empty")
    snapshots: dict[str, Snapshot] = {}
    for stage in STAGE_ORDER:
        if stage == "requests":
            write_erasure_request(project)
        driver.run_ok(stage)
        save_state(project, stage)
        if stage in compared:
            snapshots[stage] = snapshot(project)
    return Baseline(engine, project, driver, snapshots)


def kill(target: str, nth: int = 1, when: str = "before") -> dict[str, Any]:
    return {"target": target, "nth": nth, "when": when, "action": "kill"}


def kill_and_rerun(baseline: Baseline, stage: str, point: dict[str, Any]) -> list[str]:
    """Restore the state before `stage`, run it killed at `point`, run it again: what differs
    from the uninterrupted run."""
    project, driver = baseline.project, baseline.driver
    restore_state(project, baseline.state_before(stage))
    killed = driver.run(stage, point)
    assert killed["exit"] == "killed", killed
    assert killed["reached"] == f"{point['target']}#{point['nth']}:{point['when']}"
    rerun = driver.run(stage)
    assert rerun["exit"] == "ok", rerun
    return differences(baseline.snapshots[stage], snapshot(project))
