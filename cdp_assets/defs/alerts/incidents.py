"""What went wrong, read from the Dagster instance: failed runs, failed blocking checks and
assets past their freshness window, as `Alert`s. The sensors in `definitions.py` send them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy
from dagster._utils.error import SerializableErrorInfo

from cdp_assets.alerts.freshness import stale_assets
from cdp_assets.alerts.messages import Alert

# The error Dagster raises in a step whose blocking check failed with ERROR severity: the
# check alert says it better (which check, and why), so no run failure alert repeats it.
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"
# Exception classes whose name adds nothing to their message.
_SILENT_ERRORS = frozenset({"Failure", "MaskedError"})
MAX_CHECK_FIGURES = 8  # metadata figures of a failed check quoted in its alert


def step_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, list[str]]:
    """Step key → the asset keys (user strings) it materializes or checks, from the run's
    execution plan snapshot (no code location needed)."""
    if run.execution_plan_snapshot_id is None:
        return {}
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    assets: dict[str, list[str]] = {}
    for step in plan.steps:
        keys: list[str] = []
        for output in step.outputs:
            props = output.properties
            key = (
                None
                if props is None
                else props.asset_key
                or (props.asset_check_key.asset_key if props.asset_check_key else None)
            )
            if key is not None and key.to_user_string() not in keys:
                keys.append(key.to_user_string())
        assets[step.key] = keys
    return assets


def error_reason(error: SerializableErrorInfo | None) -> str:
    """The message that says what went wrong: Dagster wraps a step's exception in "Error
    occurred while executing op ...", so the innermost cause is quoted, without its class when
    the class says nothing (`Failure`, the platform's masked stand-in)."""
    if error is None:
        return "(no error message)"
    while error.cause is not None:
        error = error.cause
    name = error.cls_name or "Error"
    message = error.message.strip()
    prefix, sep, rest = message.partition(": ")
    if sep and (prefix == name or prefix.endswith(f".{name}")):
        message = rest.strip()
    return message if name in _SILENT_ERRORS else f"{name}: {message}"


def _is_check_failure(error: SerializableErrorInfo | None) -> bool:
    return error is not None and error.cls_name == CHECK_FAILED_ERROR


def run_failure_alerts(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    step_failures: Sequence[dg.DagsterEvent],
    run_failure: dg.DagsterEvent,
    ui_base_url: str,
    now: dt.datetime,
) -> list[Alert]:
    """One alert per failed step, about its first asset, naming the others of a multi-asset
    step (a step failing on a blocking check is left to the check alert). A run that failed outside any step (it could not start, say) gives one
    alert about its job."""
    assets_of = step_assets(instance, run)
    alerts = []
    for event in step_failures:
        error = getattr(event.event_specific_data, "error", None)
        if _is_check_failure(error):
            continue
        reason = f"step {event.step_key} failed: {error_reason(error)}"
        first, *others = assets_of.get(event.step_key or "") or [f"job:{run.job_name}"]
        alerts.append(
            Alert(
                first,
                "run_failure",
                reason,
                now,
                ui_base_url,
                run.run_id,
                run.job_name,
                other_assets=tuple(others),
            )
        )
    if not step_failures:
        error = getattr(run_failure.event_specific_data, "error", None)
        reason = error_reason(error) if error else (run_failure.message or "the run failed")
        alerts.append(
            Alert(
                f"job:{run.job_name}",
                "run_failure",
                reason,
                now,
                ui_base_url,
                run.run_id,
                run.job_name,
            )
        )
    return alerts


def failed_check_alerts(
    instance: dg.DagsterInstance, run: dg.DagsterRun, ui_base_url: str, now: dt.datetime
) -> list[Alert]:
    """One alert per blocking check of the run that failed with ERROR severity."""
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    alerts = []
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        if not evaluation.blocking:
            continue
        reason = check_reason(evaluation)
        alerts.append(
            Alert(
                evaluation.asset_key.to_user_string(),
                f"check_failure:{evaluation.check_name}",
                reason,
                now,
                ui_base_url,
                run.run_id,
                run.job_name,
                evaluation.check_name,
            )
        )
    return alerts


def check_reason(evaluation: dg.AssetCheckEvaluation) -> str:
    """The check's description and its figures (numbers and short texts of its metadata)."""
    figures = []
    for key, value in evaluation.metadata.items():
        raw = getattr(value, "value", value)
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            continue
        if isinstance(raw, str) and len(raw) > 80:
            continue
        figures.append(f"{key}={raw}")
    text = evaluation.description or "the check failed"
    if figures:
        text += " (" + ", ".join(figures[:MAX_CHECK_FIGURES]) + ")"
    return text


def freshness_windows(asset_graph: BaseAssetGraph) -> dict[str, dt.timedelta]:
    """Asset (user string) → fail window, for every asset with a time-window freshness
    policy. Other kinds of policy are not evaluated here (none is used in this project)."""
    windows = {}
    for node in asset_graph.asset_nodes:
        policy = node.freshness_policy
        if isinstance(policy, TimeWindowFreshnessPolicy):
            windows[node.key.to_user_string()] = policy.fail_window.to_timedelta()
    return windows


def last_materializations(
    instance: dg.DagsterInstance, assets: Iterable[str]
) -> dict[str, dt.datetime | None]:
    keys = [dg.AssetKey.from_user_string(a) for a in assets]
    found: Mapping[dg.AssetKey, dt.datetime] = {}
    if keys:
        found = {
            record.asset_entry.asset_key: dt.datetime.fromtimestamp(
                record.asset_entry.last_materialization.timestamp, dt.UTC
            )
            for record in instance.get_asset_records(keys)
            if record.asset_entry.last_materialization is not None
        }
    return {k.to_user_string(): found.get(k) for k in keys}


def stale_alerts(
    instance: dg.DagsterInstance,
    windows: Mapping[str, dt.timedelta],
    ui_base_url: str,
    now: dt.datetime,
) -> list[Alert]:
    """One alert per asset of `windows` (see `freshness_windows`) past its fail window."""
    last = last_materializations(instance, windows)
    return [
        Alert(s.asset, "stale", s.reason, now, ui_base_url)
        for s in stale_assets(windows, last, now)
    ]
