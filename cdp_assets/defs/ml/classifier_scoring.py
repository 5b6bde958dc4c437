"""`ml.churn_scores` and `ml.lead_scores`: nightly scores with the promoted model."""

from dataclasses import dataclass

import dagster as dg
import numpy as np

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import (
    FEATURES_KEY,
    ORDERS_KEY,
    SCORING_GROUP,
    model_key,
    score_key,
    table_ref,
)
from cdp_assets.defs.ml.classifiers import ClassifierSpec
from cdp_assets.defs.ml.inputs import features_for
from cdp_assets.defs.ml.outcomes import (
    CHECK_PROMOTED,
    PROMOTED_DESCRIPTION,
    no_promoted_model,
    warning,
)
from cdp_assets.defs.resources import ModelStoreResource, WarehouseResource, analysis_date
from cdp_assets.defs.unchanged import promoted_model, skip_when_inputs_unchanged
from cdp_assets.ml.explain import ReasonCache, ScoresByCells
from cdp_assets.ml.metrics import population_stability_index
from cdp_assets.ml.snapshots import first_seen
from cdp_assets.warehouse import TableRef, WarehouseSession


def _previous_scores(session: WarehouseSession, ref: TableRef, column: str) -> np.ndarray:
    if not session.table_exists(ref):
        return np.array([])
    return session.query(f"SELECT {column} FROM {ref.sql}")[column].to_numpy(dtype=float)


def cache_ref(spec: ClassifierSpec) -> TableRef:
    """`ml.<score table>_by_cells`: the scores and contributions of the last scoring by cell
    row, which the next scoring with the same model reuses (no customer id: see
    `cdp_assets.ml.explain.ScoresByCells`)."""
    return TableRef("ml", f"{spec.score_table}_by_cells")


def known_scores_by_cells(
    session: WarehouseSession, ref: TableRef, features: tuple[str, ...]
) -> ScoresByCells | None:
    if not session.table_exists(ref):
        return None
    return ScoresByCells.from_frame(session.read_table(ref), features)


def keep_scores_by_cells(
    session: WarehouseSession, ref: TableRef, cache: ReasonCache, features: tuple[str, ...]
) -> None:
    """Today's scores by cell row replace the last ones; a model without cells leaves none."""
    if cache.kept is not None:
        session.replace_table(ref, cache.kept.to_frame(features))
    elif cache.recomputed is None and session.row_count(ref):
        session.delete_where(ref, "1 = 1", {})


CHECK_STABILITY = "score_stability"


@dataclass(frozen=True)
class Stability:
    """Today's scores against the previous scoring's: the population stability index, or
    why none was computed (`not_compared`, e.g. the first scoring)."""

    psi: float | None
    not_compared: str = ""

    def metadata(self) -> dict[str, float | str]:
        if self.psi is None:
            return {"psi_not_computed": self.not_compared}
        return {"psi_vs_previous": self.psi}

    def check(self, psi_warn: float) -> dg.AssetCheckResult:
        """`score_stability`: warns when the PSI is above `psi_warn`; passes when nothing was
        compared (no previous scores is not instability) and says so."""
        if self.psi is None:
            return warning(
                CHECK_STABILITY, True, psi_not_computed=self.not_compared, warn_above=psi_warn
            )
        return warning(CHECK_STABILITY, self.psi <= psi_warn, psi=self.psi, warn_above=psi_warn)


def stability(previous: np.ndarray, values: np.ndarray) -> Stability:
    """`previous`: the scores of the last scoring (empty: none, the first scoring)."""
    # null scores take no part in the index: only scored customers are compared
    previous, values = previous[~np.isnan(previous)], values[~np.isnan(values)]
    if not len(previous):
        return Stability(None, "no previous scores (first scoring): nothing to compare")
    if not len(values):
        return Stability(None, "no scores today: nothing to compare")
    return Stability(float(population_stability_index(previous, values)))


def _fallback_result(
    context: dg.AssetExecutionContext,
    spec: ClassifierSpec,
    scores,
    previous: np.ndarray,
    why: str,
    psi_warn: float,
) -> dg.MaterializeResult:
    """Scores without a promoted model (the purchase-model churn): said so in the status and
    in the promoted-model check (warn)."""
    values = scores[spec.probability].to_numpy(dtype=float)
    compared = stability(previous, values)
    status = f"no promoted {spec.name} model: {why}"
    context.log.info(f"{len(scores):,} {spec.name} scores; {status}")
    return dg.MaterializeResult(
        metadata={
            "status": status,
            "dagster/row_count": len(scores),
            "model": str(scores["model"].iloc[0]) if len(scores) else "none",
            "mean_probability": float(values.mean()) if len(values) else 0.0,
            **compared.metadata(),
            "risk_bands": dg.MetadataValue.json(scores["risk_band"].value_counts().to_dict()),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_PROMOTED,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reason": status},
            ),
            compared.check(psi_warn),
        ],
    )


def build_scoring_asset(config: CDPConfig, spec: ClassifierSpec) -> dg.AssetsDefinition:
    key = score_key(spec.score_table)
    settings = spec.settings_of(config)
    psi_warn = getattr(settings, "psi_warn", 0.2)

    @dg.asset(
        key=key,
        deps=[FEATURES_KEY, model_key(spec.name), *([ORDERS_KEY] if spec.fallback else [])],
        group_name=SCORING_GROUP,
        kinds={"scikit-learn"},
        check_specs=[
            dg.AssetCheckSpec(CHECK_PROMOTED, asset=key, description=PROMOTED_DESCRIPTION),
            dg.AssetCheckSpec(
                CHECK_STABILITY,
                asset=key,
                description=f"population stability index against the previous run's scores "
                f"(warn above {psi_warn})",
            ),
        ],
        description=f"`ml.{spec.score_table}`: today's scores with the promoted {spec.name} "
        "model, a band, the model version and the three features that push each score up.",
    )
    @skip_when_inputs_unchanged(config, extra=promoted_model(spec.name))
    def _score(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_store: ModelStoreResource,
    ):
        as_of = analysis_date(context, config)
        store = model_store.get()
        ref = table_ref(key)
        version = store.champion(spec.name)
        with warehouse.get().transaction() as session:
            previous = _previous_scores(session, ref, spec.probability)
            fallback, why = (
                (None, "")
                if version is not None or spec.fallback is None
                else (spec.fallback(session, as_of, settings))
            )
            if version is None and fallback is not None:
                session.replace_table(ref, fallback)
                return _fallback_result(context, spec, fallback, previous, why, psi_warn)
            if version is None:
                return no_promoted_model(
                    context,
                    session,
                    ref,
                    spec.score_dtypes,
                    spec.name,
                    [dg.AssetCheckResult(check_name=CHECK_STABILITY, passed=True)],
                )
            stored = store.load(spec.name, version)
            features = features_for(session, stored.model.features, f"{spec.name} {version}")
            seen = first_seen(session)
            by_cells = cache_ref(spec)
            cache = ReasonCache(
                known=known_scores_by_cells(session, by_cells, stored.model.features)
            )
            scores = spec.score(stored.model, features, as_of, version, seen, cache)
            session.replace_table(ref, scores)
            keep_scores_by_cells(session, by_cells, cache, stored.model.features)
        values = scores[spec.probability].to_numpy(dtype=float)
        compared = stability(previous, values)
        context.log.info(f"{len(scores):,} {spec.name} scores with {version}")
        bands = scores["risk_band"].value_counts() if "risk_band" in scores else None
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(scores),
                "model_version": version,
                "mean_probability": float(values.mean()) if len(values) else 0.0,
                **compared.metadata(),
                # customers whose score and reasons were computed, not taken from the last
                # scoring's by cell row (a model without cells computes all of them)
                "reasons_computed": len(scores) if cache.recomputed is None else cache.recomputed,
                **(
                    {"risk_bands": dg.MetadataValue.json(bands.to_dict())}
                    if bands is not None
                    else {}
                ),
            },
            check_results=[
                warning(CHECK_PROMOTED, True),
                compared.check(psi_warn),
            ],
        )

    return _score
