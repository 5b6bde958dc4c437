"""The Definitions load on a tiny configuration, validate, and build the graph in the committed
snapshot: an unintended change to keys, deps, groups, owners, kinds, checks, automation,
pools or jobs shows here (and in the snapshot's diff when it is regenerated on purpose)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from cdp_assets.defs.catalog import OWNERS_BY_GROUP, WAREHOUSE_POOL
from cdp_assets_tests.defs.graph_snapshot import CONFIG, SNAPSHOT, graph_snapshot

REGENERATE = f"CDP_CONFIG={CONFIG.relative_to(CONFIG.parents[2])} python -m cdp_assets_tests.defs.graph_snapshot"


@pytest.fixture(scope="module")
def definitions() -> Iterator[dg.Definitions]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_CONFIG", str(CONFIG))
        patch.delenv("CDP_WAREHOUSE_URL", raising=False)
        patch.setenv("CDP_AS_OF", "2026-11-20")
        from cdp_assets.definitions import defs

        yield defs()


def test_definitions_are_loadable(definitions: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(definitions)


def test_graph_matches_the_committed_snapshot(definitions: dg.Definitions) -> None:
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(graph_snapshot(definitions), sort_keys=True))
    for name in ("jobs", "schedules", "sensors"):
        assert actual[name] == expected[name], f"{name} changed; if intended: {REGENERATE}"
    assert sorted(actual["assets"]) == sorted(expected["assets"]), f"if intended: {REGENERATE}"
    for key, spec in expected["assets"].items():
        assert actual["assets"][key] == spec, f"{key} changed; if intended: {REGENERATE}"


def test_every_asset_has_owners_kinds_and_the_warehouse_pool(definitions: dg.Definitions) -> None:
    graph = graph_snapshot(definitions)["assets"]
    assert (
        len(graph) == 61
    )  # with the insights report (#15), product demand and sales forecast (#14)
    for key, spec in graph.items():
        assert spec["owners"] == list(OWNERS_BY_GROUP[spec["group"]]), key
        assert "duckdb" in spec["kinds"] and len(spec["kinds"]) >= 2, key
        assert spec["pool"] == WAREHOUSE_POOL, key


def test_every_single_asset_can_be_selected(definitions: dg.Definitions) -> None:
    """A job of any one asset resolves: multi-assets declare they can be subset."""
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        job = dg.define_asset_job(f"only_{'_'.join(key.path)}", selection=[key])
        resolved = job.resolve(asset_graph=graph)
        assert resolved.asset_layer.executable_asset_keys == {key}
