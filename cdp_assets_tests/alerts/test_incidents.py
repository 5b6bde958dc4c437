from __future__ import annotations

import datetime as dt

import dagster as dg

from cdp_assets.defs.alerts.incidents import run_failure_alerts

NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)


@dg.multi_asset(
    specs=[dg.AssetSpec(["core", "identity_nodes"]), dg.AssetSpec(["core", "identity_edges"])]
)
def identity_graph():  # raises before any output: no return annotation to check
    raise ValueError("cannot link jane.doe@example.com")


@dg.asset(key=["core", "orders"])
def orders() -> int:
    return 1


def test_one_alert_per_failed_step_naming_its_other_assets() -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize([identity_graph, orders], instance=instance, raise_on_error=False)
        assert not result.success
        run = result.dagster_run
        failures = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        alerts = run_failure_alerts(
            instance, run, failures, result.get_run_failure_event(), "http://ui", NOW
        )
    [alert] = alerts
    # The step's outputs in the plan's (name) order: the first is the one alerted on.
    assert (alert.asset, alert.other_assets) == ("core/identity_edges", ("core/identity_nodes",))
    # The innermost cause is quoted, masked, not Dagster's "Error occurred while executing".
    assert (
        alert.reason == "step identity_graph failed: ValueError: cannot link jane.doe@example.com"
    )
    assert "j***@example.com" in alert.text() and "jane.doe" not in alert.text()
    assert "Same step, also not built: core/identity_nodes" in alert.text()
    assert alert.run_url == f"http://ui/runs/{run.run_id}"


def test_a_run_failing_outside_its_steps_alerts_about_its_job() -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize([orders], instance=instance)
        run = result.dagster_run
        event = dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_FAILURE.value,
            job_name=run.job_name,
            message="the run worker was lost",
        )
        [alert] = run_failure_alerts(instance, run, [], event, "http://ui", NOW)
    assert alert.asset == f"job:{run.job_name}"
    assert alert.reason == "the run worker was lost"
