"""The asset graph as plain data, to compare with the committed `graph_snapshot.json`.

Regenerate the snapshot after an intended change to the graph, and review its diff:

    CDP_CONFIG=cdp_assets_tests/defs/graph_config.yaml python -m cdp_assets_tests.defs.graph_snapshot
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dagster as dg

SNAPSHOT = Path(__file__).with_name("graph_snapshot.json")
CONFIG = Path(__file__).with_name("graph_config.yaml")


def condition_text(condition: dg.AutomationCondition | None) -> str | None:
    """An automation condition as its labelled parts: `eager & all_deps_blocking_checks_passed`."""
    if condition is None:
        return None
    if condition.get_label():
        return condition.get_label()
    name = type(condition).__name__
    operands = getattr(condition, "operands", None)
    if operands is not None:
        joiner = " & " if name.startswith("And") else " | "
        return "(" + joiner.join(condition_text(o) or "" for o in operands) + ")"
    operand = getattr(condition, "operand", None)
    if name.startswith("Not") and operand is not None:
        return f"~{condition_text(operand)}"
    return name


def _asset_entry(spec: dg.AssetSpec, pool: str | None, checks: list[dict[str, Any]]) -> dict:
    return {
        "group": spec.group_name,
        "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
        "owners": sorted(spec.owners),
        "kinds": sorted(spec.kinds),
        "automation": condition_text(spec.automation_condition),
        "pool": pool,
        "checks": checks,
    }


def graph_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """Keys, deps, groups, owners, kinds, automation, pools and checks of every asset; the
    assets each job selects; schedules and sensors."""
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets_def = node.assets_def
        spec = next(s for s in assets_def.specs if s.key == key)
        pools = sorted(assets_def.node_def.pools) if assets_def.is_executable else []
        # In-asset check specs and standalone check definitions alike.
        check_keys = sorted(graph.get_check_keys_for_assets({key}), key=lambda c: c.name)
        checks = [
            {"name": c.name, "blocking": graph.get_check_spec(c).blocking} for c in check_keys
        ]
        assets[key.to_user_string()] = _asset_entry(spec, pools[0] if pools else None, checks)
    jobs = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = job.asset_layer.executable_asset_keys if job.asset_layer else set()
        jobs[job.name] = sorted(k.to_user_string() for k in selected)
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": sorted(
            f"{s.name}: {s.job_name} at {s.cron_schedule}" for s in repo.schedule_defs
        ),
        "sensors": sorted(f"{s.name}: {s.default_status.value}" for s in repo.sensor_defs),
    }


def load_graph_snapshot() -> dict[str, Any]:
    """The Definitions of the code location on `graph_config.yaml`, as a snapshot."""
    from cdp_assets.definitions import defs

    return graph_snapshot(defs())


if __name__ == "__main__":
    snapshot = load_graph_snapshot()
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT} ({len(snapshot['assets'])} assets)", file=sys.stderr)
