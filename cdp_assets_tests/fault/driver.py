"""Child-process entry point of the fault suite: runs stages of the real Definitions, each in
a process forked from this one, optionally with one function wrapped to inject a fault: `kill -9`
of the run, PostgreSQL backends terminated (a restart, as the run sees it), or a meeting point
of concurrent runs.

    python -m cdp_assets_tests.fault.driver        (CDP_CONFIG etc. in the environment)

Reads one JSON command per line on stdin and answers one JSON line on stdout:
    {"stage": "core", "fault": {"target": "module:attr", "nth": 1, "when": "before",
                                "action": "kill"}}
    → {"exit": "ok" | "failed" | "killed", "errors": [...], "reached": "..." | null}

The definitions are loaded once here (no warehouse connection is opened in this process);
every run happens in a fresh fork, so a killed run leaves nothing behind in memory, as with
a new process, without paying for the imports again. Run output goes to stderr.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from cdp_assets.warehouse import warehouse as warehouse_module

# Asset selections of the stages: by key (k:), by group (g:), or what the nightly run builds
# upstream of a key (u:) that no earlier stage builds; the exports only in their own stage.
STAGES: dict[str, list[str]] = {
    "orders": ["k:raw/shop_orders", "k:staging/shop_orders"],
    "intake": ["g:raw", "g:staging", "g:privacy"],
    "core": ["g:core"],
    "analytics": ["u:activation/audience_exports", "u:activation/campaign_exports"],
    "exports": ["k:activation/audience_exports", "k:activation/campaign_exports"],
    "requests": ["k:raw/erasure_requests", "k:staging/erasure_requests"],
    "erasure": ["k:ops/erasure_log"],
}
EXPORT_KEYS = {"activation/audience_exports", "activation/campaign_exports"}
# Built by an earlier stage, or (ml_training) not by the nightly run: models are trained weekly.
LEFT_OUT_GROUPS = {"raw", "staging", "privacy", "core", "ml_training"}
STAGING_CHUNK_ROWS = 40  # several staging chunks even on the suite's tiny demo
WARM_MODULES = ("duckdb", "duckdb_engine", "pyarrow.parquet", "phonenumbers", "psycopg")
REACHED_ENV = "CDP_FAULT_REACHED"  # file the run writes the kill point it reached to


def _selected(graph: Any, kind: str, name: str) -> list[dg.AssetKey]:
    if kind == "k":
        return [dg.AssetKey.from_user_string(name)]
    if kind == "g":
        return [k for k in sorted(graph.get_all_asset_keys()) if graph.get(k).group_name == name]
    upstream = dg.AssetSelection.keys(name).upstream().resolve(graph)
    return [
        k
        for k in sorted(upstream)
        if graph.get(k).group_name not in LEFT_OUT_GROUPS and k.to_user_string() not in EXPORT_KEYS
    ]


def stage_keys(definitions: dg.Definitions, stage: str) -> list[dg.AssetKey]:
    graph = definitions.resolve_asset_graph()
    keys: list[dg.AssetKey] = []
    for item in STAGES[stage]:
        kind, _, name = item.partition(":")
        keys += [k for k in _selected(graph, kind, name) if k not in keys]
    return keys


def _resolve(target: str) -> tuple[Any, str]:
    """(owner, attribute) of 'package.module:Name' or 'package.module:Class.method'."""
    module_name, _, path = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    getattr(owner, attribute)  # fails early on a misspelt target
    return owner, attribute


def terminate_backends() -> None:
    """What a PostgreSQL restart does to this run: every other backend of the warehouse's
    database is terminated, from a connection of its own (other databases are untouched)."""
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["CDP_WAREHOUSE_URL"], poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()


def meet(directory: Path, parties: int, timeout: float) -> None:
    """Wait until `parties` processes arrived here, or `timeout` seconds passed (a run that
    holds a lock the others wait for must not deadlock the test)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(directory.iterdir())) < parties and time.monotonic() < deadline:
        time.sleep(0.05)


def _fault_action(fault: dict[str, Any], reached: Path) -> Callable[[], None]:
    label = f"{fault['target']}#{fault.get('nth', 1)}:{fault.get('when', 'before')}"
    action = fault.get("action", "kill")

    def act() -> None:
        reached.write_text(label, encoding="utf-8")
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "terminate_backends":
            terminate_backends()
        elif action == "meet":
            meet(Path(fault["directory"]), fault.get("parties", 2), fault.get("timeout", 10.0))
        else:
            raise ValueError(f"unknown fault action {action!r}")

    return act


def install_fault(fault: dict[str, Any], reached: Path) -> None:
    """Replace `fault['target']` by a wrapper that, on its `nth` call, before or after calling
    the original, kills this process with SIGKILL (`action` kill), terminates the database's
    other backends (terminate_backends) or waits for the other runs (meet)."""
    owner, attribute = _resolve(fault["target"])
    original: Callable[..., Any] = getattr(owner, attribute)
    nth, when = fault.get("nth", 1), fault.get("when", "before")
    act = _fault_action(fault, reached)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == nth and when == "before":
            act()
        result = original(*args, **kwargs)
        if calls["n"] == nth and when == "after":
            act()
        return result

    setattr(owner, attribute, wrapper)


def _error_text(error: Any) -> str:
    """The message of a serialised error and of every error that caused it."""
    parts = []
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return " <- ".join(parts)


def _errors(result: dg.ExecuteInProcessResult) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE"):
            error = getattr(event.event_specific_data, "error", None)
            messages.append(f"{event.step_key}: {_error_text(error) if error else event.message}")
    return messages


def run_stage(definitions: dg.Definitions, command: dict[str, Any], result_file: Path) -> int:
    """In the forked process: the stage's run, its outcome written to `result_file`."""
    from cdp_assets.staging import chunks

    chunks.CHUNK_ROWS = STAGING_CHUNK_ROWS
    if command.get("fault"):
        install_fault(command["fault"], Path(os.environ[REACHED_ENV]))
    job = definitions.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        try:
            result = job.execute_in_process(
                instance=instance,
                asset_selection=stage_keys(definitions, command["stage"]),
                raise_on_error=False,
            )
            outcome = {"success": result.success, "errors": _errors(result)}
        except Exception:  # noqa: BLE001 - reported to the test as the run's failure
            outcome = {"success": False, "errors": [traceback.format_exc()]}
    result_file.write_text(json.dumps(outcome), encoding="utf-8")
    return 0 if outcome["success"] else 1


def fork_run(definitions: dg.Definitions, command: dict[str, Any]) -> dict[str, Any]:
    result_file = Path(command["result_file"])
    reached = Path(os.environ[REACHED_ENV])
    for path in (result_file, reached):
        path.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # the run
        code = 3
        try:
            os.dup2(2, 1)  # stdout is this driver's answer channel
            code = run_stage(definitions, command, result_file)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    answer: dict[str, Any] = {
        "reached": reached.read_text(encoding="utf-8") if reached.exists() else None,
        "errors": [],
    }
    if os.WIFSIGNALED(status):
        answer["exit"] = "killed" if os.WTERMSIG(status) == signal.SIGKILL else "signal"
        return answer
    outcome = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
    answer["exit"] = "ok" if os.WEXITSTATUS(status) == 0 else "failed"
    answer["errors"] = outcome.get("errors", [f"exit status {os.WEXITSTATUS(status)}"])
    return answer


def warm_up() -> None:
    """Pay once, here, the imports every run would pay again in its fork (they open no file
    and start no thread)."""
    for module in WARM_MODULES:
        with contextlib.suppress(ImportError):  # a driver of an engine not installed
            importlib.import_module(module)

    @dg.op
    def nothing() -> None:
        return None

    @dg.job
    def warm() -> None:
        nothing()

    warm.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert threading.active_count() == 1, "a fork must not inherit running threads"


def main() -> None:
    from cdp_assets.definitions import defs

    definitions = defs()
    warm_up()
    assert not warehouse_module._ENGINES, "the driver must not hold a warehouse connection"
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            answer = fork_run(definitions, command)
        except Exception:  # noqa: BLE001 - the test sees the driver's own failure
            answer = {"exit": "driver_error", "errors": [traceback.format_exc()], "reached": None}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
