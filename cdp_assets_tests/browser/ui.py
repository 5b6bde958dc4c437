"""A Dagster UI (`dagster dev`: webserver and daemon) on a free port against a small demo
instance, and the Chromium that Playwright drives, for the browser tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSER_ENV = "CDP_TEST_BROWSER"  # CI sets it: a missing browser is then a failure, not a skip
CHROMIUM_ENV = "CDP_CHROMIUM"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_or_skip() -> str:
    """The system Chromium's path; skips when there is none, unless CI asked for browser tests."""
    candidates = [os.environ.get(CHROMIUM_ENV), *CHROMIUM_PATHS]
    found = next((c for c in candidates if c and Path(c).exists()), None)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        message = (
            "no Chromium with Playwright (apt-get install chromium; pip install playwright, "
            f"or set {CHROMIUM_ENV})"
        )
        if os.environ.get(BROWSER_ENV):
            pytest.fail(f"{BROWSER_ENV} is set but there is {message}")
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningUI:
    url: str
    home: Path
    log: Path


@contextmanager
def dagster_dev(home: Path, env: dict[str, str], cwd: Path, workspace: Path) -> Iterator[RunningUI]:
    """`dagster dev` (as `make ui` starts it) on a free port with `home` as DAGSTER_HOME;
    stopped on exit."""
    port = free_port()
    log = cwd / "dagster_dev.log"
    dagster = Path(sys.executable).parent / "dagster"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
            env=os.environ | env | {"DAGSTER_HOME": str(home)},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(url, process, log)
            yield RunningUI(url, home, log)
        finally:
            stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """Stops a process started with `start_new_session=True` and every process it started
    (`dagster dev` leaves its webserver, daemon and code servers running otherwise)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        return
    # Children may outlive their parent's exit by a moment: the group must be empty.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dagster dev exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"dagster dev did not serve {url} in time: {log.read_text()[-2000:]}")


def instance_home(root: Path, repo: Path) -> Path:
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "dagster.yaml", home / "dagster.yaml")
    return home
