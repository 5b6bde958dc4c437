"""Alert sensors: a failed run, a failed blocking check or an asset past its freshness window
sends an alert to the destinations of `alerts` in cdp.yaml, at most once per asset and cause
per day.

They exist only when alerts are configured (`alerts.destinations` not empty, `enabled` not
false), and then start RUNNING: a sensor with nowhere to send would only mislead, and one
that has somewhere to send should not wait for a click.

The once-a-day ledger lives in the Dagster instance's key-value store (the one daemons keep
their cursors in): it is shared by every process and machine of the instance (SQLite
locally, PostgreSQL in production), survives restarts, needs no write to the warehouse
(whose DuckDB file a running job may hold) and holds one small row per asset and cause. The
run failure sensors cannot keep it in their cursor: Dagster owns that one.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Protocol
from zoneinfo import ZoneInfo

import dagster as dg

from cdp_assets.alerts.dedup import AlertLedger, due_alerts, record_sent
from cdp_assets.alerts.delivery import deliver
from cdp_assets.alerts.messages import Alert
from cdp_assets.config import CDPConfig
from cdp_assets.defs.alerts.incidents import (
    failed_check_alerts,
    freshness_windows,
    run_failure_alerts,
    stale_alerts,
)
from cdp_assets.defs.resources import project_config

Clock = Callable[[], dt.datetime]
STALE_INTERVAL_SECONDS = 600  # freshness windows are hours long: every 10 minutes is enough


class InstanceLedger:
    """The once-a-day ledger in the instance's key-value store."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.storage = instance.run_storage

    def get(self, keys: set[str]) -> Mapping[str, str]:
        return self.storage.get_cursor_values(keys)

    def set(self, pairs: Mapping[str, str]) -> None:
        if pairs:
            self.storage.set_cursor_values(dict(pairs))


class TickLog(Protocol):
    def info(self, msg: str) -> None: ...

    def error(self, msg: str) -> None: ...


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def send_due(
    alerts: list[Alert],
    config: CDPConfig,
    ledger: AlertLedger,
    now: dt.datetime,
    log: TickLog,
    environ: Mapping[str, str],
) -> str:
    """Send the alerts not yet sent today and record them; a summary for the tick. Every
    alert is recorded once tried, even if a destination failed: retrying would send it again
    to the destinations that got it. Failures are logged with the destination's name and the
    environment variable at fault."""
    day = now.astimezone(ZoneInfo(config.timezone)).date()
    due = due_alerts(alerts, ledger, day)
    failures = 0
    for alert in due:
        for result in deliver(alert, config.alerts.destinations, environ):
            if result.ok:
                log.info(f"alert sent to {result.destination}: {alert.subject}")
            else:
                failures += 1
                log.error(f"alert not delivered: {result.error}")
    record_sent(due, ledger, day)
    skipped = len({a.dedup_key for a in alerts}) - len(due)
    return f"{len(due)} alert(s) sent, {failures} delivery failure(s), {skipped} already sent today"


def build_alert_sensors(
    config: CDPConfig,
    clock: Clock = _utc_now,
    environ: Mapping[str, str] | None = None,
) -> list[dg.SensorDefinition]:
    """The alert sensors of the causes `config` alerts on (none when alerts are not
    configured). `clock`
    and `environ` are for tests; by default the wall clock and the process environment."""
    if not config.alerts.active:
        return []
    ui = config.alerts.ui_base_url

    def env() -> Mapping[str, str]:
        return os.environ if environ is None else environ

    @dg.run_failure_sensor(
        name="alert_on_run_failure",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends an alert (cdp.yaml: alerts) for each asset of a failed step of a "
        "failed run, with the error and a link to the run; once per asset per day.",
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext) -> dg.SkipReason:
        now = clock()
        alerts = run_failure_alerts(
            context.instance,
            context.dagster_run,
            context.get_step_failure_events(),
            context.failure_event,
            ui,
            now,
        )
        summary = send_due(
            alerts, config, InstanceLedger(context.instance), now, context.log, env()
        )
        return dg.SkipReason(f"run {context.dagster_run.run_id}: {summary}")

    @dg.run_failure_sensor(
        name="alert_on_failed_checks",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends an alert (cdp.yaml: alerts) for each blocking check that failed "
        "with ERROR severity (such a check fails its run), with the check's description and a "
        "link to the run; once per asset and check per day.",
    )
    def alert_on_failed_checks(context: dg.RunFailureSensorContext) -> dg.SkipReason:
        now = clock()
        alerts = failed_check_alerts(context.instance, context.dagster_run, ui, now)
        summary = send_due(
            alerts, config, InstanceLedger(context.instance), now, context.log, env()
        )
        return dg.SkipReason(f"run {context.dagster_run.run_id}: {summary}")

    @dg.sensor(
        name="alert_on_stale_assets",
        minimum_interval_seconds=STALE_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends an alert (cdp.yaml: alerts) for each asset whose last "
        "materialization is older than its freshness policy's fail window; once per asset "
        "per day while it stays stale.",
    )
    def alert_on_stale_assets(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        now = clock()
        if context.repository_def is None:
            raise dg.DagsterInvariantViolationError(
                "alert_on_stale_assets needs its code location's asset graph"
            )
        windows = freshness_windows(context.repository_def.asset_graph)
        alerts = stale_alerts(context.instance, windows, ui, now)
        summary = send_due(
            alerts, config, InstanceLedger(context.instance), now, context.log, env()
        )
        return dg.SkipReason(
            f"{len(alerts)} of {len(windows)} asset(s) with a freshness window stale: {summary}"
        )

    by_cause = {
        "run_failure": alert_on_run_failure,
        "check_failure": alert_on_failed_checks,
        "stale": alert_on_stale_assets,
    }
    return [sensor for cause, sensor in by_cause.items() if cause in config.alerts.causes]


@dg.definitions
def alerts() -> dg.Definitions:
    return dg.Definitions(sensors=build_alert_sensors(project_config()))
