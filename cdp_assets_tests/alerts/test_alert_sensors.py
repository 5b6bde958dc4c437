"""The alert sensors against real runs of the real Definitions, with a local SMTP server and a
local HTTP listener as destinations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cdp_assets.config import load_config
from cdp_assets.defs.alerts.definitions import build_alert_sensors
from cdp_assets_tests.alerts.receivers import Listener, Mailbox
from cdp_assets_tests.e2e.pipeline import DemoProject, load_definitions, project_env, run_job

NOW = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
ORDERS_SOURCE = {
    "name": "orders",
    "kind": "orders",
    "format": "csv",
    "path": "orders/*.csv",
    "columns": {
        "order_id": "order",
        "customer_ref": "customer",
        "ordered_at": "when",
        "amount": "total",
    },
}
GOOD_ORDERS = (
    "order,customer,when,total\nO1,K1,2026-01-05 10:00:00,20.00\nO2,K2,2026-02-01 09:00:00,5\n"
)
NO_AMOUNT_COLUMN = "order,customer,when\nO1,K1,2026-01-05 10:00:00\n"
BAD_DATES = (
    "order,customer,when,total\nO1,K1,not a date,20\nO2,K2,31/31/2026,5\nO3,K3,2026-01-05,7\n"
)
WEBHOOK_ENV = "CDP_TEST_ALERTS_WEBHOOK"


def alerts_section(mailbox: Mailbox) -> dict:
    return {
        "ui_base_url": "http://ui.test:3000",
        "destinations": [
            {
                "name": "data_team",
                "type": "email",
                "host": "127.0.0.1",
                "port": mailbox.port,
                "security": "none",
                "from": "cdp@shop.test",
                "to": ["data@shop.test"],
            },
            {"name": "chat", "type": "webhook", "url_env": WEBHOOK_ENV},
            # Its variable is never set: every delivery to it fails, and the others go on.
            {"name": "pager", "type": "webhook", "url_env": "CDP_TEST_PAGER_URL_UNSET"},
        ],
    }


def make_project(tmp_path: Path, orders_csv: str, alerts: dict | None) -> DemoProject:
    landing = tmp_path / "landing" / "orders"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "2026.csv").write_text(orders_csv, encoding="utf-8")
    config = {"landing_dir": "landing", "timezone": "UTC", "sources": [ORDERS_SOURCE]}
    if alerts is not None:
        config["alerts"] = alerts
    path = tmp_path / "cdp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return DemoProject(tmp_path, path, tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}")


def failure_context(
    instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, sensor: str
) -> dg.RunFailureSensorContext:
    return dg.build_run_status_sensor_context(
        sensor_name=sensor,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def sensors_at(project: DemoProject, listener: Listener, now: dt.datetime) -> dict:
    environ = {WEBHOOK_ENV: listener.url}
    built = build_alert_sensors(load_config(project.config_path), lambda: now, environ)
    return {s.name: s for s in built}


def test_failed_run_alerts_once_per_asset_and_day(
    tmp_path: Path, mailbox: Mailbox, listener: Listener
) -> None:
    project = make_project(tmp_path, NO_AMOUNT_COLUMN, alerts_section(mailbox))
    with dg.instance_for_test() as instance:
        first = run_job(project, instance, job="ingest_sources", raise_on_error=False)
        assert not first.success
        sensors = sensors_at(project, listener, NOW)
        tick = sensors["alert_on_run_failure"](
            failure_context(instance, first, "alert_on_run_failure")
        )
        assert "1 alert(s) sent, 1 delivery failure(s)" in tick.skip_message
        assert len(mailbox.messages) == 1 and len(listener.bodies) == 1
        [message], [payload] = mailbox.messages, listener.bodies
        assert message["Subject"] == "[cdp] raw/orders: run failed"
        body = message.get_content()
        assert "column 'total' not found in file orders/2026.csv" in body
        run_url = f"http://ui.test:3000/runs/{first.run_id}"
        assert f"Run: {run_url}" in body
        assert (payload["asset"], payload["cause"], payload["run_url"]) == (
            "raw/orders",
            "run_failure",
            run_url,
        )
        # No blocking check failed in that run: the check sensor sends nothing.
        sensors["alert_on_failed_checks"](
            failure_context(instance, first, "alert_on_failed_checks")
        )
        assert len(mailbox.messages) == 1

        # The same failure again that day: nothing more; the next day: one more alert.
        second = run_job(project, instance, job="ingest_sources", raise_on_error=False)
        assert not second.success
        tick = sensors["alert_on_run_failure"](
            failure_context(instance, second, "alert_on_run_failure")
        )
        assert "0 alert(s) sent" in tick.skip_message
        assert len(mailbox.messages) == 1 and len(listener.bodies) == 1
        tomorrow = sensors_at(project, listener, NOW + dt.timedelta(days=1))
        tomorrow["alert_on_run_failure"](failure_context(instance, second, "alert_on_run_failure"))
        assert len(mailbox.messages) == 2 and len(listener.bodies) == 2
        assert listener.bodies[1]["run_id"] == second.run_id


def test_failed_blocking_check_alerts_with_its_figures(
    tmp_path: Path, mailbox: Mailbox, listener: Listener
) -> None:
    project = make_project(tmp_path, BAD_DATES, alerts_section(mailbox))
    with dg.instance_for_test() as instance:
        result = run_job(project, instance, job="ingest_sources", raise_on_error=False)
        assert not result.success
        sensors = sensors_at(project, listener, NOW)
        # The step failed on its blocking check: the check alert says so, not a run alert.
        sensors["alert_on_run_failure"](failure_context(instance, result, "alert_on_run_failure"))
        assert mailbox.messages == [] and listener.bodies == []
        sensors["alert_on_failed_checks"](
            failure_context(instance, result, "alert_on_failed_checks")
        )
    [message], [payload] = mailbox.messages, listener.bodies
    assert message["Subject"] == "[cdp] staging/orders: blocking check failed (quarantine_share)"
    assert (payload["asset"], payload["cause"], payload["check"]) == (
        "staging/orders",
        "check_failure",
        "quarantine_share",
    )
    assert "rows_quarantined=2" in payload["reason"] and "rows_read=3" in payload["reason"]
    assert payload["run_url"] == f"http://ui.test:3000/runs/{result.run_id}"


def test_stale_asset_alerts_past_its_freshness_window(
    tmp_path: Path, mailbox: Mailbox, listener: Listener
) -> None:
    project = make_project(tmp_path, GOOD_ORDERS, alerts_section(mailbox))
    with dg.instance_for_test() as instance:
        assert run_job(project, instance, job="ingest_sources").success
        with project_env(project):
            definitions = load_definitions()
        graph = definitions.get_repository_def().asset_graph
        with_policy = sum(1 for node in graph.asset_nodes if node.freshness_policy)
        assert with_policy > 1  # staging/orders and nightly outputs not built by this job
        materialized = dt.datetime.now(dt.UTC)
        past_window = materialized + dt.timedelta(hours=31)
        # A minute apart on the same day (one alert per asset and day): after, or before.
        same_day = past_window + dt.timedelta(minutes=1)
        if same_day.date() != past_window.date():
            same_day = past_window - dt.timedelta(minutes=1)
        inside_window = materialized + dt.timedelta(hours=29)
        for now, expected in ((inside_window, 0), (past_window, 1), (same_day, 1)):
            sensors = sensors_at(project, listener, now)
            context = dg.build_sensor_context(instance=instance, definitions=definitions)
            tick = sensors["alert_on_stale_assets"](context)
            assert len(mailbox.messages) == expected, now
            stale = 0 if now == inside_window else 1
            assert f"{stale} of {with_policy} asset(s) with a freshness" in tick.skip_message
    # staging/orders carries the nightly 30-hour window; raw/orders has no policy.
    [payload] = listener.bodies
    assert (payload["asset"], payload["cause"], payload["run_url"]) == (
        "staging/orders",
        "stale",
        None,
    )
    assert "more than 30 hours ago" in payload["reason"]


def test_only_the_sensors_of_the_configured_causes(tmp_path: Path, mailbox: Mailbox) -> None:
    alerts = {**alerts_section(mailbox), "causes": ["stale"]}
    project = make_project(tmp_path, GOOD_ORDERS, alerts)
    assert [s.name for s in build_alert_sensors(load_config(project.config_path))] == [
        "alert_on_stale_assets"
    ]


@pytest.mark.parametrize("configured", [True, False])
def test_real_definitions_hold_running_sensors_only_when_configured(
    tmp_path: Path,
    mailbox: Mailbox,
    listener: Listener,
    monkeypatch: pytest.MonkeyPatch,
    configured: bool,
) -> None:
    project = make_project(
        tmp_path, NO_AMOUNT_COLUMN, alerts_section(mailbox) if configured else None
    )
    monkeypatch.setenv(WEBHOOK_ENV, listener.url)
    with project_env(project):
        definitions = load_definitions()
    names = {s.name: s for s in definitions.get_repository_def().sensor_defs}
    alert_sensors = sorted(n for n in names if n.startswith("alert_on_"))
    if not configured:
        assert alert_sensors == []
        return
    assert alert_sensors == [
        "alert_on_failed_checks",
        "alert_on_run_failure",
        "alert_on_stale_assets",
    ]
    assert {names[n].default_status for n in alert_sensors} == {dg.DefaultSensorStatus.RUNNING}
    with dg.instance_for_test() as instance:
        result = run_job(project, instance, job="ingest_sources", raise_on_error=False)
        names["alert_on_run_failure"](failure_context(instance, result, "alert_on_run_failure"))
    assert len(mailbox.messages) == 1 and listener.bodies[0]["asset"] == "raw/orders"
