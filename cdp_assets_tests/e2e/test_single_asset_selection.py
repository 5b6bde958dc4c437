"""Any single asset can be refreshed alone, including one table of a multi-asset; the
stable-id state of identity resolution moves as a whole or not at all."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cdp_assets.warehouse import dispose_engines
from cdp_assets_tests.e2e.pipeline import (
    DemoProject,
    load_definitions,
    project_env,
    run_job,
    two_customer_sources,
)

ACCOUNTS = "id,email,phone\na1,ann.okafor@gmail.com,\n"
CRM = "id,email,phone\nc1,,+447583920417\n"
# c2 carries a1's email and c1's phone: the two customers merge.
BRIDGE = "id,email,phone\nc2,ann.okafor@gmail.com,+447583920417\n"


def _project(tmp_path: Path) -> DemoProject:
    return two_customer_sources(tmp_path, ACCOUNTS, CRM)


def _materialize(project: DemoProject, instance: dg.DagsterInstance, *keys: str) -> set[str]:
    """Runs exactly `keys`; returns the assets the run reported materialized."""
    with project_env(project):
        job = load_definitions().resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey.from_user_string(k) for k in keys]
        )
    dispose_engines()
    assert result.success
    return {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }


def test_one_identity_table_alone_and_the_state_moving_whole(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
        xref = project.table("core", "customer_xref").set_index("source_record_id")
        assert xref.loc["a1", "customer_id"] != xref.loc["c1", "customer_id"]
        absorbed = max(xref.loc["a1", "customer_id"], xref.loc["c1", "customer_id"])
        (tmp_path / "landing" / "crm" / "2.csv").write_text(BRIDGE, encoding="utf-8")
        assert _materialize(project, instance, "raw/crm", "staging/crm") == {
            "raw/crm",
            "staging/crm",
        }

        # The cross-reference alone: it shows the merge; the stable-id state stays as it was.
        assert _materialize(project, instance, "core/customer_xref") == {"core/customer_xref"}
        xref = project.table("core", "customer_xref").set_index("source_record_id")
        assert xref.loc["a1", "customer_id"] == xref.loc["c1", "customer_id"]
        assert xref.loc["c2", "customer_id"] == xref.loc["a1", "customer_id"]
        assert project.table("core", "customer_id_aliases").empty
        assert "merge" not in set(project.table("core", "identity_merges")["event"])

        # One table of the stable-id state: the whole state is written, the alias kept.
        assert _materialize(project, instance, "core/customer_id_aliases") == {
            "core/customer_id_aliases"
        }
        aliases = project.table("core", "customer_id_aliases")
        assert aliases["alias_id"].tolist() == [absorbed]
        assert (project.table("core", "identity_merges")["event"] == "merge").sum() == 1
        nodes = project.table("core", "identity_nodes")
        assert set(nodes["customer_id"]) == {xref.loc["a1", "customer_id"]}

        # Done again with nothing new: no second merge, same ids.
        assert _materialize(project, instance, "core/identity_nodes") == {"core/identity_nodes"}
        assert (project.table("core", "identity_merges")["event"] == "merge").sum() == 1


def test_one_table_of_the_other_multi_assets_alone(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
        assert _materialize(project, instance, "activation/audience_changes") == {
            "activation/audience_changes"
        }
