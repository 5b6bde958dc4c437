"""Benchmark: the whole nightly graph on a demo brand of N people, then one more day, then nothing.

    .venv/bin/python bench/full.py --people 100000 [--seed 42] [--end-date 2026-11-20]
        [--history-days 730] [--data DIR] [--out bench/out/full_N] [--json FILE]
        [--stop-after PHASE]

Runs in `--out` (emptied first), with its own cdp.yaml, warehouse, exports and DAGSTER_HOME,
the same commands as `make materialize`, each in its own process:

1. demo — `python -m cdp_assets.demo` (or, with `--data DIR`, a copy of DIR/landing and
   DIR/ground_truth: DIR itself is never written);
2. campaign_start — as of the campaigns' start (2026-09-01), everything but the models,
   privacy and the erasure requests (assignments and the arms' export files);
3. campaign_responses — `python -m cdp_assets.demo.campaign_responses` (the ESP's answers);
4. everything_but_models — as of the end date: everything but the `ml` and `ml_training`
   groups (staging, identity, profiles, analytics, audiences, customer 360, exports, erasure of
   the demo's requests);
5. train_models and 6. score_models — the two model jobs;
7. extra_day — `python -m cdp_assets.demo --extra-day`: about 1 % new rows (orders and items,
   web events, new and changed shop accounts) dated the day after the end date;
8. nightly_increment — the `nightly_refresh` job as of that day;
9. nightly_nothing_new — `nightly_refresh` again, with nothing new landed.

Figures: wall seconds of every phase; for every Dagster step its seconds (from the run's event
log) and its peak resident memory: the bench samples the RSS of the phase's whole process tree
every 0.1 s (under the in-process executor that is the run's one process, under the
multiprocess executor the step's own child is included) and keeps the largest sample between
the step's start and end events; `rise_mb` is that peak less the tree's RSS at the step's
start (under the in-process executor, memory earlier steps kept counts in the peak, not the
rise). The full nightly run is what `nightly_refresh` does on a fresh warehouse, everything
but training, each step once: phases 4 + 6 less phase 4's seconds of the steps phase 6 runs
again (`repeated_steps`: the activation assets downstream of the scores, built by phase 4
without fresh scores); the two phases' plain sum is printed next to it. Add phase 5 for the
figure with training. Printed as text on stdout; `--json FILE` writes the same figures as
JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from benchlib import progress, step_windows

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CAMPAIGN_START = "2026-09-01"  # the Makefile's CAMPAIGN_START (cdp.yaml: campaigns)
SAMPLE_SECONDS = 0.1
CAMPAIGN_SELECTION = (
    'not group:ml and not group:ml_training and not group:privacy and not key:"*/erasure_requests"'
)
BUT_MODELS_SELECTION = "not group:ml and not group:ml_training"
NIGHTLY_JOB = "nightly_refresh"


@dataclass
class Phase:
    """One command of the sequence: wall seconds, tree peak RSS and, for Dagster runs, steps."""

    name: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    load_average: float = 0.0  # the machine's 1-minute load when the phase ended
    run_id: str | None = None
    steps: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "peak_rss_mb": self.peak_rss_mb,
            "load_average": self.load_average,
            "run_id": self.run_id,
            "steps": self.steps,
        }


class TreeSampler:
    """Samples the summed RSS of a process and its descendants every SAMPLE_SECONDS."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, float, float]] = []  # (unix time, MiB, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> tuple[float, float] | None:
        """(RSS MiB, CPU seconds) of the tree; CPU includes the root's waited-for children."""
        rss, cpu = 0, 0.0
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        for process in processes:
            try:
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
                if process is self.root:
                    cpu += times.children_user + times.children_system
            except psutil.NoSuchProcess:
                continue
        return rss / (1024 * 1024), cpu

    def _loop(self) -> None:
        while not self._stop.is_set():
            figures = self._tree()
            if figures is not None:
                self.samples.append((time.time(), *figures))
            self._stop.wait(SAMPLE_SECONDS)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> float:
        inside = [rss for t, rss, _ in self.samples if start <= t <= end]
        return max(inside, default=0.0)

    def at(self, moment: float) -> tuple[float, float]:
        """(RSS, CPU seconds) of the last sample at or before `moment` (else the first)."""
        before = [(rss, cpu) for t, rss, cpu in self.samples if t <= moment]
        if before:
            return before[-1]
        return (self.samples[0][1], self.samples[0][2]) if self.samples else (0.0, 0.0)


# -- environment -----------------------------------------------------------------------------


def environment(root: Path, as_of: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        DAGSTER_HOME=str(root / ".dagster_home"),
        CDP_CONFIG=str(root / "cdp.yaml"),
        CDP_AS_OF=as_of,
    )
    env.pop("CDP_WAREHOUSE_URL", None)  # cdp.yaml's DuckDB file, under root
    return env


def prepare_root(root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / ".dagster_home").mkdir(parents=True)
    shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    shutil.copy(REPO / "dagster.yaml", root / ".dagster_home" / "dagster.yaml")


def copy_data(source: Path, root: Path) -> None:
    """The landing folder (and ground truth) of an existing demo set, copied: runs write into
    landing (campaign responses, the extra day), and DIR stays as it was."""
    for name in ("landing", "ground_truth"):
        if not (source / name).is_dir():
            raise SystemExit(f"--data {source}: no {name}/ folder (a demo set's output?)")
        shutil.copytree(source / name, root / "data" / name)


# -- running one phase -----------------------------------------------------------------------


def run_command(root: Path, phase: Phase, command: list[str], as_of: str) -> None:
    """Runs `command` in `root`, its output in logs/<phase>.log; wall time and tree RSS."""
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    progress(f"{phase.name}: {' '.join(command[:6])} ...")
    started = time.perf_counter()
    with (logs / f"{phase.name}.log").open("w") as log:
        proc = subprocess.Popen(
            command, cwd=root, env=environment(root, as_of), stdout=log, stderr=subprocess.STDOUT
        )
        with TreeSampler(proc.pid) as sampler:
            code = proc.wait()
    phase.seconds = round(time.perf_counter() - started, 1)
    phase.peak_rss_mb = round(sampler.peak())
    phase.cpu_seconds = round(sampler.samples[-1][2], 1) if sampler.samples else 0.0
    phase.load_average = round(os.getloadavg()[0], 1)
    if code != 0:
        raise SystemExit(f"phase {phase.name} failed (exit {code}); see {logs / phase.name}.log")
    if phase.name not in ("demo", "campaign_responses", "extra_day"):
        attach_steps(root, phase, sampler)
    progress(f"{phase.name}: {phase.seconds} s, peak {phase.peak_rss_mb:,} MiB")


def attach_steps(root: Path, phase: Phase, sampler: TreeSampler) -> None:
    """The newest run of the phase's instance: each step's seconds and peak RSS."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(root / ".dagster_home")) as instance:
        run = instance.get_runs(limit=1)[0]
        phase.run_id = run.run_id
        windows = step_windows(instance, run.run_id)
    for step, (start, end) in windows.items():
        peak = sampler.peak(start, end)
        rss_at_start, cpu_at_start = sampler.at(start)
        phase.steps[step] = {
            "seconds": round(end - start, 2),
            "cpu_seconds": round(sampler.at(end)[1] - cpu_at_start, 2),
            "peak_rss_mb": round(peak),
            "rise_mb": round(max(peak - rss_at_start, 0.0)),
        }


def dagster(*args: str) -> list[str]:
    return [str(BIN / "dagster"), *args, "-m", "cdp_assets.definitions"]


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


# -- the sequence ----------------------------------------------------------------------------


def run_all(args: argparse.Namespace) -> list[Phase]:
    root: Path = args.out.resolve()
    prepare_root(root)
    end = args.end_date.isoformat()
    next_day = (args.end_date + dt.timedelta(days=1)).isoformat()
    seed = str(args.seed)
    phases: list[Phase] = []

    def phase(name: str, command: list[str], as_of: str = end) -> None:
        if args.stop_after and any(p.name == args.stop_after for p in phases):
            return
        phases.append(Phase(name))
        run_command(root, phases[-1], command, as_of)
        # Kept as it goes: a later failure leaves the figures measured so far.
        (root / "phases.json").write_text(json.dumps([p.as_dict() for p in phases], indent=1))

    if args.data:
        started = time.perf_counter()
        copy_data(args.data.resolve(), root)
        phases.append(Phase("demo_copy", seconds=round(time.perf_counter() - started, 1)))
    else:
        phase(
            "demo",
            python(
                "-m", "cdp_assets.demo", "--people", str(args.people), "--seed", seed,
                "--end-date", end, "--history-days", str(args.history_days), "--out", "data",
            ),
        )  # fmt: skip
    phase(
        "campaign_start",
        dagster("asset", "materialize", "--select", CAMPAIGN_SELECTION),
        CAMPAIGN_START,
    )
    phase(
        "campaign_responses",
        python(
            "-m",
            "cdp_assets.demo.campaign_responses",
            "--data",
            "data",
            "--exports",
            "exports",
            "--seed",
            seed,
        ),
    )
    phase(
        "everything_but_models", dagster("asset", "materialize", "--select", BUT_MODELS_SELECTION)
    )
    phase("train_models", dagster("job", "execute", "-j", "train_models"))
    phase("score_models", dagster("job", "execute", "-j", "score_models"))
    phase(
        "extra_day",
        python(
            "-m",
            "cdp_assets.demo",
            "--extra-day",
            "--seed",
            seed,
            "--end-date",
            end,
            "--out",
            "data",
        ),
    )
    phase("nightly_increment", dagster("job", "execute", "-j", NIGHTLY_JOB), next_day)
    phase("nightly_nothing_new", dagster("job", "execute", "-j", NIGHTLY_JOB), next_day)
    return phases


# -- figures ---------------------------------------------------------------------------------


FULL_PHASES = ("everything_but_models", "train_models", "score_models")
PHASE_NAMES = (
    "demo",
    "campaign_start",
    "campaign_responses",
    *FULL_PHASES,
    "extra_day",
    "nightly_increment",
    "nightly_nothing_new",
)


def _ratio(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 3) if part is not None and whole else None


def repeated_steps(by_name: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The steps of everything_but_models that score_models runs again, with their figures in
    everything_but_models. `make materialize` builds everything but the models first (training
    needs the features), so the activation assets downstream of the scores (audience
    membership and exports, campaign assignments and exports, customer 360, the insights
    report) are built there without fresh scores and again by score_models; a nightly run
    builds each of them once, after the scores."""
    if "everything_but_models" not in by_name or "score_models" not in by_name:
        return {}
    first = by_name["everything_but_models"]["steps"]
    again = by_name["score_models"]["steps"]
    return {step: first[step] for step in sorted(first) if step in again}


def summarise(phases: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The figures of the phases run (all of them, or those a failed or stopped run left in
    phases.json: what needs a missing phase is None)."""
    by_name = {p["name"]: p for p in phases}

    def total(key: str, *names: str) -> float | None:
        if not all(n in by_name for n in names):
            return None
        return round(sum(by_name[n][key] for n in names), 1)

    def of(name: str, key: str) -> float | None:
        return by_name[name][key] if name in by_name else None

    phases_sum = total("seconds", "everything_but_models", "score_models")
    phases_cpu = total("cpu_seconds", "everything_but_models", "score_models")
    repeated = repeated_steps(by_name)
    repeated_seconds = round(sum(f["seconds"] for f in repeated.values()), 1)
    repeated_cpu = round(sum(f["cpu_seconds"] for f in repeated.values()), 1)
    full = None if phases_sum is None else round(phases_sum - repeated_seconds, 1)
    full_cpu = None if phases_cpu is None else round(phases_cpu - repeated_cpu, 1)
    full_steps = [
        {"phase": p["name"], "step": step, **figures}
        for p in phases
        if p["name"] in FULL_PHASES
        for step, figures in p["steps"].items()
        if not (p["name"] == "everything_but_models" and step in repeated)
    ]
    return {
        "people": args.people,
        "seed": args.seed,
        "end_date": args.end_date.isoformat(),
        "data": str(args.data) if args.data else None,
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "complete": all(n in by_name for n in (*FULL_PHASES, "nightly_nothing_new")),
        "full_nightly_seconds": full,
        "full_phases_seconds": phases_sum,
        "repeated_steps": repeated,
        "full_with_training_seconds": None
        if full is None
        else round(full + by_name["train_models"]["seconds"], 1),
        "increment_seconds": of("nightly_increment", "seconds"),
        "increment_ratio": _ratio(of("nightly_increment", "seconds"), full),
        "nothing_new_seconds": of("nightly_nothing_new", "seconds"),
        "nothing_new_ratio": _ratio(of("nightly_nothing_new", "seconds"), full),
        # CPU seconds are less sensitive to other work on the machine than wall seconds.
        "full_nightly_cpu_seconds": full_cpu,
        "increment_cpu_ratio": _ratio(of("nightly_increment", "cpu_seconds"), full_cpu),
        "nothing_new_cpu_ratio": _ratio(of("nightly_nothing_new", "cpu_seconds"), full_cpu),
        "peak_rss_mb": max((p["peak_rss_mb"] for p in phases), default=0),
        "slowest_steps": sorted(full_steps, key=lambda s: -s["seconds"])[:10],
        "hungriest_steps": sorted(full_steps, key=lambda s: -s["peak_rss_mb"])[:5],
        "phases": phases,
    }


def _shown(value: float | None, form: str) -> str:
    return "(not run)" if value is None else format(value, form)


def _step_lines(title: str, steps: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        title,
        f"  {'phase / step':<62} {'s':>8} {'CPU s':>8} {'peak MiB':>9} {'rise MiB':>9}",
    ]
    lines += [
        f"  {s['phase'] + ' / ' + s['step']:<62} {s['seconds']:>8.1f} {s['cpu_seconds']:>8.1f}"
        f" {s['peak_rss_mb']:>9,} {s['rise_mb']:>9,}"
        for s in steps
    ]
    return lines


def report(summary: dict[str, Any]) -> str:
    lines = [
        f"full.py: {summary['people']:,} people, seed {summary['seed']}, end {summary['end_date']}"
        f" — {summary['machine']}, {summary['date']}"
        + ("" if summary["complete"] else " — INCOMPLETE: phases missing"),
        "",
        f"{'phase':<24} {'seconds':>9} {'CPU s':>9} {'peak MiB':>9} {'load':>6}",
    ]
    lines += [
        f"{p['name']:<24} {p['seconds']:>9.1f} {p['cpu_seconds']:>9.1f} {p['peak_rss_mb']:>9,}"
        f" {p['load_average']:>6.1f}"
        for p in summary["phases"]
    ]
    lines += [
        "",
        "full nightly run (everything_but_models + score_models, each step once): "
        f"{_shown(summary['full_nightly_seconds'], '')} s "
        f"({_shown(summary['full_with_training_seconds'], '')} s with train_models)",
        f"  the two phases' wall time {_shown(summary['full_phases_seconds'], '')} s, less "
        f"{len(summary['repeated_steps'])} steps score_models runs again: "
        + ", ".join(
            f"{step} {figures['seconds']:.1f}"
            for step, figures in summary["repeated_steps"].items()
        ),
        f"one new day (nightly_refresh): {_shown(summary['increment_seconds'], '')} s = "
        f"{_shown(summary['increment_ratio'], '.1%')} of the full run",
        f"nothing new (nightly_refresh): {_shown(summary['nothing_new_seconds'], '')} s = "
        f"{_shown(summary['nothing_new_ratio'], '.1%')} of the full run",
        f"in CPU seconds: full {_shown(summary['full_nightly_cpu_seconds'], '')} s; one new day "
        f"{_shown(summary['increment_cpu_ratio'], '.1%')}, nothing new "
        f"{_shown(summary['nothing_new_cpu_ratio'], '.1%')}",
        f"largest process-tree RSS of any phase: {summary['peak_rss_mb']:,} MiB",
    ]
    lines += _step_lines("10 slowest steps of the full run:", summary["slowest_steps"])
    lines += _step_lines("5 most memory-hungry steps of the full run:", summary["hungriest_steps"])
    for phase in summary["phases"]:
        if phase["name"] not in ("nightly_increment", "nightly_nothing_new"):
            continue
        top = sorted(phase["steps"].items(), key=lambda kv: -kv[1]["seconds"])[:8]
        steps = [{"phase": phase["name"], "step": step, **fig} for step, fig in top]
        lines += _step_lines(f"{phase['name']}: {len(phase['steps'])} steps; slowest:", steps)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20))
    parser.add_argument("--history-days", type=int, default=730)
    parser.add_argument("--data", type=Path, help="an existing demo set (its landing is copied)")
    parser.add_argument("--out", type=Path, help="working folder (default bench/out/full_<N>)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--stop-after",
        choices=PHASE_NAMES,
        help="run the sequence up to this phase only (e.g. campaign_start for its memory)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="run nothing: print the figures of a finished or stopped run's phases.json",
    )
    args = parser.parse_args()
    if args.report:
        phases = json.loads(args.report.read_text())
        summary = summarise(phases, args)
        print(report(summary))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
        return
    args.out = args.out or REPO / "bench" / "out" / f"full_{args.people}"
    if args.data and args.data.resolve() == args.out.resolve():
        raise SystemExit("--data and --out must differ (the bench empties --out)")
    summary = summarise([p.as_dict() for p in run_all(args)], args)
    print(report(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
