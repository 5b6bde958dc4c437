"""`ml.<churn|leads>_model`: weekly training with champion/challenger promotion."""

from pathlib import Path

import dagster as dg
import numpy as np

from cdp_assets.analytics.features import existing_core_tables
from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import FEATURES_KEY, TRAINING_GROUP, core_keys, model_key
from cdp_assets.defs.charts import model_charts
from cdp_assets.defs.ml.classifiers import ClassifierSpec
from cdp_assets.defs.ml.outcomes import metrics_md, not_enough_data, warning
from cdp_assets.defs.resources import ModelStoreResource, WarehouseResource, analysis_date
from cdp_assets.ml import churn
from cdp_assets.ml.snapshots import config_cutoffs, training_snapshots
from cdp_assets.privacy.export_trace_cache import cached_export_traces
from cdp_assets.privacy.suppression import SuppressionError, load_suppressed, privacy_salt

TRAINING_CHECKS = ("enough_data", "auc_above_floor", "calibration_error")


def scan_training_snapshots(config: CDPConfig, warehouse: WarehouseResource, folder: Path) -> int:
    """Scans the model store's training snapshots not scanned yet against the suppression
    list, as the export steps scan their files (`export_trace_cache`): the erasure step's
    trace check then does not read a snapshot this found clean. Returns the files scanned."""
    try:
        salt = privacy_salt(config)
        with warehouse.get().transaction() as session:
            suppressed = load_suppressed(session, salt)
    except SuppressionError:
        return 0  # the erasure step fails on it, and reads every snapshot itself
    return cached_export_traces(folder, salt, suppressed).scanned


def build_training_asset(config: CDPConfig, spec: ClassifierSpec) -> dg.AssetsDefinition:
    key = model_key(spec.name)
    settings = spec.settings_of(config)
    floor = getattr(settings, "auc_floor", 0.5)
    checks = [
        dg.AssetCheckSpec(
            "enough_data",
            asset=key,
            description="enough customers and labels to train (warn, does not block)",
        ),
        dg.AssetCheckSpec(
            "auc_above_floor",
            asset=key,
            description=f"holdout ROC AUC of the candidate at least {floor}; below it the "
            "model is not promoted (warn, does not block)",
        ),
        dg.AssetCheckSpec(
            "calibration_error",
            asset=key,
            description="expected calibration "
            "error of the candidate on the holdout (warn above the limit, does not block)",
        ),
    ]

    @dg.asset(
        key=key,
        deps=[FEATURES_KEY, *core_keys(config)],
        group_name=TRAINING_GROUP,
        kinds={"scikit-learn"},
        check_specs=checks,
        description=f"Trains the {spec.name} model ({spec.description}) on point-in-time "
        "snapshots at several past cutoffs, compares calibrated gradient boosting with "
        "logistic regression and a simple rule on the latest, held-out cutoff, stores the "
        "version with its training window, features, data fingerprint and metrics, and "
        "promotes it only if it beats the current champion on the same holdout.",
    )
    def _train(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
    ):
        as_of = analysis_date(context, config)
        cutoffs = config_cutoffs(as_of, settings)
        with warehouse.get().transaction() as session:
            tables = existing_core_tables(session)
            snapshots = training_snapshots(
                session,
                cutoffs,
                spec.labels(settings.horizon_days),
                config.analytics.support_sla_hours,
                tables,
            )
        try:
            training = spec.train(snapshots, settings)
        except churn.NotEnoughData as exc:
            return not_enough_data(str(exc), TRAINING_CHECKS)
        store = model_store.get()
        version = store.save(
            spec.name, training.candidate, training.metadata(as_of=as_of), snapshot=snapshots
        )
        snapshots_scanned = scan_training_snapshots(config, warehouse, model_store.local_folder)
        promote, reason, _ = churn.compare_with_champion(
            store, spec.name, training, snapshots, floor
        )
        if promote:
            store.promote(spec.name, version, reason)
        context.log.info(
            f"{spec.name}: {version} {'promoted' if promote else 'kept out'}: {reason}"
        )
        chosen = training.model_metrics()
        max_error = getattr(settings, "max_calibration_error", 0.1)
        return dg.MaterializeResult(
            metadata={
                "status": "trained",
                "version": version,
                "snapshot_files_scanned_for_erased_people": snapshots_scanned,
                "promoted": promote,
                "decision": reason,
                "champion": store.champion(spec.name) or "none",
                "candidate": training.champion,
                "roc_auc": chosen["roc_auc"],
                "metrics": metrics_md(training.metrics),
                "calibration": metrics_md(training.calibration),
                "importances": metrics_md(training.importances.head(15)),
                "training_cutoffs": ", ".join(c.isoformat() for c in training.training_cutoffs),
                "holdout_cutoff": training.holdout_cutoff.isoformat(),
                **{k: int(v) for k, v in training.counts.items()},
                **model_charts(training.plots()),
            },
            check_results=[
                warning("enough_data", True),
                warning(
                    "auc_above_floor",
                    chosen["roc_auc"] >= floor,
                    roc_auc=chosen["roc_auc"],
                    floor=floor,
                ),
                warning(
                    "calibration_error",
                    np.nan_to_num(chosen["calibration_error"]) <= max_error,
                    ece=chosen["calibration_error"],
                    limit=max_error,
                ),
            ],
        )

    return _train
