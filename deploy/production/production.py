"""The production profile's commands: check the services, start and stop the Celery workers,
run a job of the same Definitions with its steps on the workers.

    python deploy/production/production.py check
    python deploy/production/production.py workers-start [--count 2]
    python deploy/production/production.py workers-stop
    python deploy/production/production.py run nightly_refresh [--tag cdp/as_of=2026-11-20]

The Makefile's `workers`, `workers-stop`, `check-production` and `nightly-production` call
these. Environment (see README, "Production profile"): DAGSTER_HOME (holding this folder's
dagster.yaml), DAGSTER_PG_URL, CDP_WAREHOUSE_URL, CDP_CONFIG, CDP_CELERY_BROKER_URL,
CDP_CELERY_BACKEND_URL, CDP_CELERY_QUEUE. A service that cannot be reached is one line naming the variable and
its URL (password masked), and exit status 2: nothing is started."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_BROKER = "pyamqp://guest@127.0.0.1:5672//"
WORKER_READY_SECONDS = 90
WORKER_STOP_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 5
UNREACHABLE = 2


@dataclass(frozen=True)
class Service:
    """A URL the profile needs, and where it was configured."""

    what: str
    key: str  # the environment variable (and config key) that holds the URL
    url: str


class ProfileError(Exception):
    """A configuration or service problem, said in one line."""


def masked(url: str) -> str:
    from cdp_assets.config.secrets import mask_url

    return mask_url(url)


# ---- the services ----------------------------------------------------------------------------


def dagster_home() -> Path:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ProfileError(
            "DAGSTER_HOME is not set (the folder holding the instance's dagster.yaml)"
        )
    return Path(home)


def instance_service() -> Service:
    """The instance storage URL as DAGSTER_HOME/dagster.yaml configures it."""
    import yaml

    path = dagster_home() / "dagster.yaml"
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror})") from None
    url_setting = ((settings.get("storage") or {}).get("postgres") or {}).get("postgres_url")
    key = f"{path} storage.postgres.postgres_url"
    if isinstance(url_setting, dict) and "env" in url_setting:
        variable = url_setting["env"]
        url = os.environ.get(variable, "")
        if not url:
            raise ProfileError(f"{variable} is not set ({key} reads it)")
        return Service("Dagster instance storage", f"{variable} ({key})", url)
    if isinstance(url_setting, str):
        return Service("Dagster instance storage", key, url_setting)
    raise ProfileError(f"{key}: expected a PostgreSQL URL (or {{env: VARIABLE}})")


def warehouse_service() -> Service:
    from cdp_assets.config import load_config, warehouse_url
    from cdp_assets.config.loader import ENV_WAREHOUSE_URL, ConfigError, config_path

    try:
        url = warehouse_url(load_config(config_path()))
    except ConfigError as exc:
        raise ProfileError(str(exc)) from None
    key = (
        ENV_WAREHOUSE_URL if os.environ.get(ENV_WAREHOUSE_URL) else f"{config_path()} warehouse.url"
    )
    if not url.startswith("postgresql"):
        raise ProfileError(
            f"{key}: the production profile's warehouse is PostgreSQL, not {masked(url)}"
        )
    return Service("warehouse", key, url)


def broker_service() -> Service:
    from cdp_assets.defs.executor import ENV_CELERY_BROKER

    return Service(
        "Celery broker", ENV_CELERY_BROKER, os.environ.get(ENV_CELERY_BROKER) or DEFAULT_BROKER
    )


def postgres_problem(service: Service) -> str | None:
    import sqlalchemy as sa

    url = service.url
    try:
        engine = sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the same verdict
        return _first_line(getattr(exc, "orig", None) or exc, url)
    return None


def broker_problem(service: Service) -> str | None:
    from kombu import Connection

    try:
        with Connection(service.url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the same verdict
        return _first_line(exc, service.url)
    return None


def _first_line(exc: BaseException, url: str) -> str:
    from cdp_assets.config.secrets import mask_secrets

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return mask_secrets(lines[0] if lines else type(exc).__name__, url)


Check = tuple[Callable[[], Service], Callable[[Service], str | None]]
CHECKS: tuple[Check, ...] = (
    (instance_service, postgres_problem),
    (warehouse_service, postgres_problem),
    (broker_service, broker_problem),
)


def problems() -> list[str]:
    """One line per service the profile cannot use (empty when all answer)."""
    found = []
    for locate, probe in CHECKS:
        try:
            service = locate()
        except ProfileError as exc:
            found.append(str(exc))
            continue
        problem = probe(service)
        if problem is not None:
            found.append(
                f"{service.what} unreachable at {masked(service.url)} (from {service.key}): "
                f"{problem}"
            )
    return found


def check() -> int:
    found = problems()
    for line in found:
        print(f"production profile: {line}", file=sys.stderr)
    if not found:
        print("production profile: instance storage, warehouse and broker answer")
    return UNREACHABLE if found else 0


# ---- the workers -----------------------------------------------------------------------------


def worker_folder() -> Path:
    folder = dagster_home() / "celery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def worker_environment() -> dict[str, str]:
    """The workers load the same Definitions as the run: the project's configuration and the
    code on their path, and this folder's `dagster_celery_config` for Celery's settings."""
    paths = [str(HERE), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "CDP_EXECUTOR": "celery"}


def start_workers(count: int) -> int:
    found = [line for line in problems() if "Celery broker" in line or "DAGSTER_HOME" in line]
    if found:
        for line in found:
            print(f"production profile: {line}", file=sys.stderr)
        return UNREACHABLE
    from cdp_assets.defs.executor import DEFAULT_QUEUE, ENV_CELERY_QUEUE

    queue = os.environ.get(ENV_CELERY_QUEUE, "").strip() or DEFAULT_QUEUE
    folder = worker_folder()
    started = []
    for index in range(1, count + 1):
        name = f"cdp-worker-{index}"
        if _running_pid(folder / f"{name}.pid") is not None:
            print(f"{name}: already running")
            continue
        log = folder / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "dagster_celery.app", "worker",
            "--hostname", f"{name}@%h", "--queues", queue, "--pool", "prefork",
            "--concurrency", "1", "--prefetch-multiplier", "1", "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=worker_environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
        (folder / f"{name}.pid").write_text(str(process.pid))
        started.append((name, process, log))
    for name, process, log in started:
        _wait_ready(name, process, log)
        print(f"{name}: ready (pid {process.pid}, log {log})")
    return 0


def _wait_ready(name: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if " ready." in text:
            return
        if process.poll() is not None:
            raise ProfileError(
                f"{name} exited ({process.returncode}); its log {log}:\n{text[-3000:]}"
            )
        time.sleep(0.5)
    raise ProfileError(f"{name} not ready after {WORKER_READY_SECONDS} s; its log: {log}")


def _running_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop_workers() -> int:
    """A warm shutdown (SIGTERM: a worker ends its step first) of every worker started here,
    then SIGKILL for whatever is left of its process group after WORKER_STOP_SECONDS."""
    folder = worker_folder()
    pids = {}
    for pidfile in sorted(folder.glob("cdp-worker-*.pid")):
        pid = _running_pid(pidfile)
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            pids[pidfile] = pid
        else:
            pidfile.unlink(missing_ok=True)
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    for pidfile, pid in pids.items():
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
        print(f"{pidfile.stem}: stopped (pid {pid})")
    return 0


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- a run -----------------------------------------------------------------------------------


def run_job(job: str, tags: list[str]) -> int:
    """`job` of the Definitions, its steps on the Celery workers; this process orchestrates."""
    if check() != 0:
        return UNREACHABLE
    command = [
        str(Path(sys.executable).parent / "dagster"), "job", "execute",
        "-m", "cdp_assets.definitions", "-j", job,
    ]  # fmt: skip
    if tags:
        import json

        pairs = dict(tag.split("=", 1) for tag in tags)
        command += ["--tags", json.dumps(pairs)]
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "CDP_EXECUTOR": "celery", "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check that the instance, warehouse and broker answer")
    start = commands.add_parser("workers-start", help="start Celery workers in the background")
    start.add_argument("--count", type=int, default=2)
    commands.add_parser("workers-stop", help="stop the workers started by workers-start")
    run = commands.add_parser("run", help="run a job with its steps on the workers")
    run.add_argument("job")
    run.add_argument("--tag", action="append", default=[], help="KEY=VALUE, e.g. cdp/as_of=…")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    try:
        if args.command == "check":
            return check()
        if args.command == "workers-start":
            return start_workers(args.count)
        if args.command == "workers-stop":
            return stop_workers()
        return run_job(args.job, args.tag)
    except ProfileError as exc:
        print(f"production profile: {exc}", file=sys.stderr)
        return UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
