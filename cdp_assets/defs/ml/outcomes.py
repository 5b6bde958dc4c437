"""What a model asset reports when it cannot do its job: not enough data to train, or no
promoted model to score with."""

import dagster as dg
import pandas as pd

from cdp_assets.defs.catalog import TRAIN_JOB, model_key
from cdp_assets.reporting.markdown import markdown_table
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame

CHECK_PROMOTED = "promoted_model_available"
PROMOTED_DESCRIPTION = (
    "a promoted (champion) model exists in the model store to score with; without one the "
    "table is written empty (warn, does not block)"
)


def warning(check_name: str, passed: bool, **metadata: object) -> dg.AssetCheckResult:
    """The result of a model check that warns and never blocks (the checks whose description
    says "warn"): WARN severity whether it passes or not, so that a failure is never shown
    as an error."""
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata or None,
    )


def metrics_md(table: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(table.round(4), max_rows=20))


NOT_ENOUGH_DATA = "not enough data"


def not_enough_data(reason: str, check_names: tuple[str, ...]) -> dg.MaterializeResult:
    """A clear 'not enough data' instead of numbers: the checks say so too (warn). A reason
    that already says so (`ltv.not_enough_data`'s) is not prefixed twice."""
    said = reason if reason.startswith(NOT_ENOUGH_DATA) else f"{NOT_ENOUGH_DATA}: {reason}"
    return dg.MaterializeResult(
        metadata={"status": said},
        check_results=[warning(name, False, reason=reason) for name in check_names],
    )


def last_training_status(context: dg.AssetExecutionContext, model_key: dg.AssetKey) -> str | None:
    """The `status` the model's training asset last reported (e.g. "not enough data: ..."),
    None when it never ran or said nothing."""
    event = context.instance.get_latest_materialization_event(model_key)
    if event is None or event.asset_materialization is None:
        return None
    status = event.asset_materialization.metadata.get("status")
    return None if status is None else str(status.value)


def no_model_reason(name: str, last_training: str | None = None) -> str:
    """Why there is nothing to score with: the last training's own reason when it could not
    train (running the job again will not help until the data grows), else run the job."""
    if last_training and last_training.startswith(NOT_ENOUGH_DATA):
        return f"no promoted {name} model: the last {TRAIN_JOB} run trained none ({last_training})"
    return f"no promoted {name} model yet: run the {TRAIN_JOB} job"


def no_promoted_model(
    context: dg.AssetExecutionContext,
    session: WarehouseSession,
    ref: TableRef,
    dtypes: dict[str, str],
    name: str,
    other_checks: list[dg.AssetCheckResult] | None = None,
) -> dg.MaterializeResult:
    """No champion to score with: an empty, typed table and a result that says why (with
    the last status of the model's training asset, `ml/<name>_model`)."""
    session.replace_table(ref, coerce_frame(pd.DataFrame(), dtypes))
    reason = no_model_reason(name, last_training_status(context, model_key(name)))
    return dg.MaterializeResult(
        metadata={"status": reason, "dagster/row_count": 0},
        check_results=[
            warning(CHECK_PROMOTED, False, reason=reason),
            *(other_checks or []),
        ],
    )
