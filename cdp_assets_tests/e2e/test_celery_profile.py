"""The production profile (deploy/production): the same Definitions with the Dagster instance
and the warehouse on PostgreSQL and the steps on two Celery workers over RabbitMQ.

The nightly job runs on the workers while one of them is killed (SIGKILL, its whole process
group: a lost machine) in the middle of `identity_resolution`; the step is run again by the
other worker and every warehouse table and export file equals an embedded run's (DuckDB, one
process) on the same data. Runs when CDP_TEST_POSTGRES_URL is set, and then fails, never skips,
if PostgreSQL or the broker cannot be reached.

Unreachable services (a closed port) are one line naming the variable, without a traceback:
those tests need neither PostgreSQL nor the broker and always run."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from cdp_assets.config.loader import ConfigError
from cdp_assets.defs.executor import (
    ENV_CELERY_BROKER,
    ENV_CELERY_QUEUE,
    ENV_EXECUTOR,
    selected_executor,
)
from cdp_assets.warehouse import TableRef, Warehouse, dispose_engines
from cdp_assets_tests.conftest import POSTGRES_ENV, postgres_url_or_fail, reset_postgres
from cdp_assets_tests.e2e.pipeline import REPO, DemoProject, make_demo_project
from cdp_assets_tests.fault.harness import (
    COMPARED_COLUMNS,
    RUN_ID_COLUMNS,
    SCHEMAS,
    VOLATILE_COLUMNS,
    clone_project,
    export_snapshot,
    table_differences,
)

PROFILE = REPO / "deploy" / "production"
SCRIPT = PROFILE / "production.py"
BROKER_ENV = "CDP_TEST_CELERY_BROKER_URL"
DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
PEOPLE = 200
SALT = "celery-profile-salt-0123456789abcdef"
KILLED_STEP = "identity_resolution"
RUN_SECONDS = 600


# ---- without services: the executor choice and unreachable URLs --------------------------------


def test_the_executor_is_chosen_by_cdp_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_EXECUTOR, raising=False)
    assert selected_executor() is dg.in_process_executor
    monkeypatch.setenv(ENV_EXECUTOR, "celery")
    monkeypatch.setenv(ENV_CELERY_BROKER, "pyamqp://guest:secret@broker:5672//")
    assert selected_executor().name == "celery"
    monkeypatch.setenv(ENV_EXECUTOR, "kubernetes")
    with pytest.raises(ConfigError, match="CDP_EXECUTOR='kubernetes': expected"):
        selected_executor()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def offline_profile(tmp_path: Path) -> dict[str, str]:
    """The profile's environment with every URL on a port nothing listens on."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROFILE / "dagster.yaml", home / "dagster.yaml")
    (tmp_path / "cdp.yaml").write_text(
        yaml.safe_dump({"warehouse": {"url": "duckdb:///warehouse.duckdb"}, "sources": []}),
        encoding="utf-8",
    )
    port = closed_port()
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CDP_CONFIG": str(tmp_path / "cdp.yaml"),
        "DAGSTER_PG_URL": f"postgresql+psycopg2://dagster:s3cret-pw@127.0.0.1:{port}/dagster",
        "CDP_WAREHOUSE_URL": f"postgresql+psycopg://cdp:s3cret-pw@127.0.0.1:{port}/cdp",
        ENV_CELERY_BROKER: f"pyamqp://guest:guest@127.0.0.1:{port}//",
    }


@pytest.mark.parametrize(
    ("down", "variable"),
    [("DAGSTER_PG_URL", "DAGSTER_PG_URL"), ("CDP_WAREHOUSE_URL", "CDP_WAREHOUSE_URL")],
)
def test_postgres_unreachable_is_one_line_naming_the_variable(
    offline_profile: dict[str, str], down: str, variable: str
) -> None:
    """Every service answers but the one at a closed port: the run is not started, and the
    error is one line naming the variable and the URL (password masked)."""
    env = dict(offline_profile)
    url = postgres_url_or_fail()
    up = {
        "DAGSTER_PG_URL": url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
        if url
        else None,
        "CDP_WAREHOUSE_URL": url,
    }
    for name, value in up.items():
        if name != down and value is not None:
            env[name] = value
    env[ENV_CELERY_BROKER] = os.environ.get(BROKER_ENV, DEFAULT_BROKER)
    result = run_script(["run", "nightly_refresh"], env)
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    mine = [line for line in lines if variable in line]
    assert len(mine) == 1, result.stderr
    port = re.search(r":(\d+)/", offline_profile[down]).group(1)
    assert f":{port}/" in mine[0] and "unreachable" in mine[0], mine[0]
    if url is not None:  # the other database answers: this is the only error
        assert len(lines) == 1, result.stderr
    assert "***" in mine[0] and "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "dagster job execute" not in result.stdout  # nothing was started


def test_every_unreachable_service_is_listed_once(offline_profile: dict[str, str]) -> None:
    result = run_script(["check"], offline_profile)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 3, result.stderr
    for name in ("DAGSTER_PG_URL", "CDP_WAREHOUSE_URL", ENV_CELERY_BROKER):
        assert sum(name in line for line in lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr


# ---- with PostgreSQL and RabbitMQ: the nightly job on two workers --------------------------------


def broker_url_or_fail() -> str:
    from kombu import Connection

    url = os.environ.get(BROKER_ENV, DEFAULT_BROKER)
    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the same verdict
        pytest.fail(f"{POSTGRES_ENV} is set but the Celery broker {url} is unreachable: {exc}")
    return url


# Sources of the demo the test keeps: identity still joins shop accounts and loyalty members,
# orders carry items, and the erasure requests are processed. Each further source adds its
# raw, staging and check steps (about 2 s each on a worker) and no other kind of step.
KEPT_SOURCES = {
    "shop_accounts",
    "loyalty_members",
    "shop_orders",
    "shop_order_items",
    "erasure_requests",
}


def delete_queue(broker: str, queue: str) -> None:
    from kombu import Connection

    with Connection(broker, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(queue)


def trimmed(project: DemoProject) -> DemoProject:
    """The demo with `KEPT_SOURCES` only and one quick forecast model: fewer steps of the same
    kinds (the suite has a time budget)."""
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    config["sources"] = [s for s in config["sources"] if s["name"] in KEPT_SOURCES]
    forecast = config.setdefault("models", {}).setdefault("forecast", {})
    forecast.update(
        {"models": ["seasonal_naive"], "levels": [], "backtest_origins": 2, "top_products": 5}
    )
    project.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return project


def instance_database(url: str) -> str:
    """A fresh database next to the warehouse's for the Dagster instance; its URL (psycopg2:
    dagster-postgres 0.29 needs it, and SQLAlchemy 2.1 reads `postgresql://` as psycopg 3)."""
    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_dagster"
    recreate_database(url, name)
    return parsed.set(drivername="postgresql+psycopg2", database=name).render_as_string(
        hide_password=False
    )


def recreate_database(url: str, name: str, drop_only: bool = False) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not drop_only:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


class KillDuringStep:
    """Watches the instance's event log while the run goes on; when `step` has started on a
    worker, SIGKILLs that worker's process group (main process and the pool process running
    the step) and remembers which worker it was."""

    def __init__(self, instance_url: str, home: Path, step: str) -> None:
        self.engine = sa.create_engine(instance_url, poolclass=sa.pool.NullPool)
        self.home = home
        self.step = step
        self.killed: str | None = None
        self.finished_before_kill = False

    def _events(self, event_type: str) -> list[str]:
        query = sa.text(
            "SELECT event FROM event_logs WHERE step_key = :step "
            "AND dagster_event_type = :type ORDER BY id"
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query, {"step": self.step, "type": event_type})
                return list(rows.scalars())
        except sa.exc.ProgrammingError:  # the run has not created the instance's tables yet
            return []

    def worker_attempts(self) -> list[str]:
        """The workers that started the step, in order ("Executing steps … in celery worker")."""
        return [
            re.search(r"cdp-worker-\d+", event).group(0)
            for event in self._events("ENGINE_EVENT")
            if "in celery worker" in event and re.search(r"cdp-worker-\d+", event)
        ]

    def poll(self) -> None:
        if self.killed is not None or not self._events("STEP_START"):
            return
        worker = self.worker_attempts()[0]
        self.finished_before_kill = bool(self._events("STEP_SUCCESS"))
        pid = int((self.home / "celery" / f"{worker}.pid").read_text())
        os.killpg(pid, signal.SIGKILL)
        self.killed = worker

    def count(self, event_type: str) -> int:
        return len(self._events(event_type))


@pytest.fixture(scope="module")
def celery_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    broker = broker_url_or_fail()
    root = tmp_path_factory.mktemp("celery_profile")
    reset_postgres(url)
    instance_url = instance_database(url)
    project = trimmed(make_demo_project(root / "celery", url, people=PEOPLE))
    embedded = clone_project(project, root / "embedded")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROFILE / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        **project.env(),
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": instance_url,
        ENV_CELERY_BROKER: broker,
        # A queue of this test's own: workers of anyone else on the broker never take its steps.
        ENV_CELERY_QUEUE: f"cdp_test_{uuid.uuid4().hex[:12]}",
        "CDP_PRIVACY_SALT": SALT,
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # The embedded run (DuckDB, SQLite instance, in-process executor: `make demo`'s way)
        # starts first and goes on meanwhile, in a process of its own.
        embedded_home = root / "embedded_home"
        embedded_home.mkdir()
        shutil.copy(REPO / "dagster.yaml", embedded_home / "dagster.yaml")
        embedded_env = {
            **os.environ,
            **embedded.env(),
            "DAGSTER_HOME": str(embedded_home),
            "CDP_PRIVACY_SALT": SALT,
            "PYTHONPATH": str(REPO),
        }
        embedded_env.pop(ENV_EXECUTOR, None)
        dagster = str(Path(sys.executable).parent / "dagster")
        commands = {
            "embedded": ([dagster, "job", "execute", "-m", "cdp_assets.definitions",
                          "-j", "nightly_refresh"], embedded_env),
            "celery": ([sys.executable, str(SCRIPT), "run", "nightly_refresh"],
                       {**env, "PYTHONPATH": str(REPO)}),
        }  # fmt: skip
        for name, (command, environment) in commands.items():
            if name == "celery":
                started = run_script(["workers-start", "--count", "2"], env)
                assert started.returncode == 0, started.stdout + started.stderr
            with (root / f"{name}_run.log").open("w") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        cwd=REPO,
                        env=environment,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
                )
        watcher = KillDuringStep(instance_url, home, KILLED_STEP)
        deadline = time.monotonic() + RUN_SECONDS
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            watcher.poll()
            time.sleep(0.1)
        yield {
            "project": project,
            "embedded": embedded,
            "returncodes": {name: p.poll() for name, p in zip(commands, processes, strict=True)},
            "logs": {
                name: (root / f"{name}_run.log").read_text(encoding="utf-8", errors="replace")
                for name in commands
            },
            "watcher": watcher,
            "home": home,
        }
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stopped = run_script(["workers-stop"], env)
        delete_queue(broker, env[ENV_CELERY_QUEUE])
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        recreate_database(url, sa.engine.make_url(instance_url).database, drop_only=True)


def test_the_nightly_job_succeeds_on_the_workers(celery_runs: dict[str, Any]) -> None:
    for name, code in celery_runs["returncodes"].items():
        assert code == 0, f"{name}: {code}\n" + celery_runs["logs"][name][-6000:]
    worker_logs = sorted((celery_runs["home"] / "celery").glob("cdp-worker-*.log"))
    steps = {log.stem: log.read_text(encoding="utf-8").count("succeeded in") for log in worker_logs}
    assert len(steps) == 2 and all(count > 0 for count in steps.values()), steps


def test_a_worker_killed_during_a_step_has_the_step_run_again_elsewhere(
    celery_runs: dict[str, Any],
) -> None:
    watcher: KillDuringStep = celery_runs["watcher"]
    assert watcher.killed is not None, "the step never started"
    assert not watcher.finished_before_kill
    attempts = watcher.worker_attempts()
    assert len(attempts) == 2 and attempts[0] == watcher.killed, attempts
    assert attempts[1] != watcher.killed  # the killed worker's process group is gone
    assert watcher.count("STEP_START") == 2
    assert watcher.count("STEP_SUCCESS") == 1
    assert watcher.count("STEP_FAILURE") == 0


# ---- comparing the two warehouses ----


def read_tables(url: str) -> dict[str, pd.DataFrame]:
    listing = (
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema IN {SCHEMAS} AND table_type = 'BASE TABLE' ORDER BY 1, 2"
    )
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text(listing)).all()
            return {
                f"{schema}.{table}": pd.read_sql(
                    sa.text(f'SELECT * FROM "{schema}"."{table}"'), conn
                )
                for schema, table in names
            }
    finally:
        engine.dispose()


def cell(value: Any) -> str:
    """One value as text, the same on both engines: floats to 9 significant digits (sums
    and means are computed in a different order), times in UTC."""
    if value is None or (not isinstance(value, (str, bytes, list, dict)) and pd.isna(value)):
        return "<NA>"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (float, Decimal)) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else f"{number:.9g}"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = pd.Timestamp(value).tz_convert("UTC").tz_localize(None)
        return pd.Timestamp(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


# Computed by each engine's own hash function (identity's digest of its inputs): equal data
# gives equal values within one engine, not across DuckDB and PostgreSQL.
BY_ENGINE = {"input_digest"}


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Run and batch ids left out, times of writing ranked (see the fault suite) within each
    source (on the workers, sources are loaded side by side, so the order of two sources'
    times is not the embedded run's), every value as text, rows in a canonical order: equal
    tables give equal frames whatever the row order."""
    frame = frame.drop(columns=[c for c in frame.columns if c in RUN_ID_COLUMNS | BY_ENGINE])
    frame = frame[sorted(frame.columns)].astype(object).map(cell)
    groups = frame["source"] if "source" in frame.columns else pd.Series("", index=frame.index)
    for column in frame.columns:
        if column in VOLATILE_COLUMNS:
            for _, values in frame[column].groupby(groups):
                ranks = {v: f"<{i}>" for i, v in enumerate(sorted(set(values) - {"<NA>"}))}
                frame.loc[values.index, column] = values.map(lambda v, r=ranks: r.get(v, v))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def compared(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    return frame[COMPARED_COLUMNS.get(name, list(frame.columns))]


def test_every_table_and_export_equals_the_embedded_run(celery_runs: dict[str, Any]) -> None:
    project: DemoProject = celery_runs["project"]
    embedded: DemoProject = celery_runs["embedded"]
    on_celery = read_tables(project.warehouse_url)
    on_embedded = read_tables(embedded.warehouse_url)
    assert sorted(on_celery) == sorted(on_embedded)
    assert len(on_celery) > 40 and sum(len(f) for f in on_celery.values()) > 5_000
    differing = table_differences(
        {name: comparable(compared(name, frame)) for name, frame in on_embedded.items()},
        {name: comparable(compared(name, frame)) for name, frame in on_celery.items()},
    )
    assert differing == [], "\n".join(differing)
    assert export_snapshot(project.root / "exports") == export_snapshot(embedded.root / "exports")


# ---- steps side by side on a new PostgreSQL warehouse ----


def test_two_steps_creating_one_schema_and_table_at_once_both_write(tmp_path: Path) -> None:
    """On the workers, two raw steps of a new warehouse create `raw` (and append to one `ops`
    table) at the same moment: the second waits for the first instead of failing on the
    catalog's unique index (found by this profile's first runs: `pg_namespace_nspname_index`)."""
    url = postgres_url_or_fail()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    ref = TableRef("wh_test", "side_by_side")
    drop = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with drop.begin() as conn:  # only this test's schema: the module's runs keep theirs
        conn.execute(sa.text('DROP SCHEMA IF EXISTS "wh_test" CASCADE'))
    drop.dispose()
    rows = pd.DataFrame({"source": ["a", "b"], "rows_read": [1, 2]})
    errors: list[BaseException] = []

    def second_step() -> None:
        try:
            with Warehouse(url).transaction() as session:
                session.append(ref, rows)
        except Exception as exc:  # noqa: BLE001 - the test reports whatever it was
            errors.append(exc)

    warehouse = Warehouse(url)
    with warehouse.transaction() as session:
        session.append(ref, rows)
        other = threading.Thread(target=second_step)
        other.start()
        time.sleep(1.0)  # the second transaction reaches the schema while this one holds it
    other.join(timeout=60)
    dispose_engines()
    assert not other.is_alive()
    assert errors == []
    assert warehouse.row_count(ref) == 4
    dispose_engines()
