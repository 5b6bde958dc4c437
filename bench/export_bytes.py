"""Benchmark and byte check: the two export steps of one nightly run, by two versions of the code.

    .venv/bin/python bench/export_bytes.py --workdir bench/out/full_100000 --old OLD_CHECKOUT
        [--new REPO] [--day 2026-11-21] [--out /tmp/export_bytes]

`--workdir` is a finished `bench/full.py` folder. Its exports of `--day` (the one-new-day run)
are undone in two copies (their folders removed, `latest.json` pointed back at the export
before), then `activation/audience_exports` and `activation/campaign_exports` run again as of
that day in each copy, one with `--old`'s code and one with `--new`'s, each step in its own
process (fresh ephemeral Dagster instance, so it computes). Prints each step's wall and CPU
seconds and the machine's load, then compares every file of the exports `latest.json` points
at, byte for byte (manifests without their export ids and times): the new code must write
exactly what the old one did.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STEP = """
import os, sys, time
import dagster as dg
from cdp_assets.config import resolve_path
from cdp_assets.defs.resources import (
    ExportsResource, WarehouseResource, project_config, warehouse_url_value,
)
which = sys.argv[1]
config = project_config()
if which == "audience":
    from cdp_assets.defs.activation.exports import build_exports_asset as build
else:
    from cdp_assets.defs.activation.campaigns import build_campaign_exports_asset as build
resources = {
    "warehouse": WarehouseResource(url=str(warehouse_url_value(config))),
    "exports": ExportsResource(root=str(resolve_path(config, config.exports.dir))),
}
started, cpu = time.perf_counter(), time.process_time()
dg.materialize([build(config)], resources=resources)
print(f"{which}: {time.perf_counter() - started:.1f} s, {time.process_time() - cpu:.1f} CPU s,"
      f" load {os.getloadavg()[0]:.1f}")
"""


def rewound_copy(workdir: Path, target: Path, day: str) -> None:
    """`workdir` copied to `target` with the exports of `day` undone."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(workdir, target, symlinks=True, ignore=shutil.ignore_patterns("logs"))
    for latest in (target / "exports").glob("*/*/latest.json"):
        folder = latest.parent
        for export in folder.iterdir():
            if export.is_dir() and export.name.startswith(f"{day}_"):
                shutil.rmtree(export)
        (folder / ".export_inputs.json").unlink(missing_ok=True)
        ids = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not ids:
            latest.unlink()
            continue
        latest.write_text(
            json.dumps({"export_id": ids[-1], "manifest": f"{ids[-1]}/manifest.json"})
        )


def run_steps(code: Path, workdir: Path, day: str) -> None:
    env = dict(
        os.environ, PYTHONPATH=str(code), CDP_CONFIG=str(workdir / "cdp.yaml"), CDP_AS_OF=day
    )
    for which in ("audience", "campaign"):
        done = subprocess.run(
            [sys.executable, "-c", STEP, which],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"{code}: {which} exports failed:\n{done.stderr[-3000:]}")
        print(f"  {code.name or code}: {done.stdout.strip()}")


def published_files(workdir: Path) -> dict[str, bytes]:
    """Every file of the exports `latest.json` points at, by destination/audience/name."""
    files = {}
    root = workdir / "exports"
    for latest in sorted(root.glob("*/*/latest.json")):
        pointer = json.loads(latest.read_text())
        for path in sorted((latest.parent / pointer["export_id"]).iterdir()):
            data = path.read_bytes()
            if path.name == "manifest.json":
                manifest = json.loads(data)
                for key in ("export_id", "created_at", "previous_export_id"):
                    manifest.pop(key, None)
                for entry in manifest["files"].values():
                    entry["path"] = entry["path"].split("/", 1)[1]
                data = json.dumps(manifest, sort_keys=True).encode()
            files[f"{latest.parent.relative_to(root)}/{path.name}"] = data
    return files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--old", type=Path, required=True, help="a checkout of the old code")
    parser.add_argument("--new", type=Path, default=REPO)
    parser.add_argument("--day", default="2026-11-21")
    parser.add_argument("--out", type=Path, default=Path("/tmp/export_bytes"))
    args = parser.parse_args()
    copies = {"old": args.out / "old", "new": args.out / "new"}
    for name, copy in copies.items():
        rewound_copy(args.workdir.resolve(), copy, args.day)
        run_steps(getattr(args, name).resolve(), copy, args.day)
    old, new = published_files(copies["old"]), published_files(copies["new"])
    if old.keys() != new.keys():
        raise SystemExit(f"different files: {sorted(set(old) ^ set(new))}")
    differ = [name for name in old if old[name] != new[name]]
    print(
        f"{len(old)} files compared, {len(differ)} differ{': ' + ', '.join(differ) if differ else ''}"
    )
    if differ:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
