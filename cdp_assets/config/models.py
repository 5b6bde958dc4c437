"""The `models` section of `cdp.yaml`: the model store and each predictive model's settings."""

from __future__ import annotations

from pydantic import Field

from cdp_assets.config.base import StrictModel
from cdp_assets.config.forecast import ForecastConfig


class SnapshotConfig(StrictModel):
    """Point-in-time training: features at several past cutoffs, labels from the window after."""

    training_cutoffs: int = Field(4, ge=1, le=24, description="past cutoffs to train on")
    cutoff_spacing_days: int = Field(60, ge=7)
    min_customers: int = Field(200, ge=10, description="below this: 'not enough data'")
    min_positives: int = Field(20, ge=1, description="of each class, per training set")


class ChurnConfig(SnapshotConfig):
    horizon_days: int = Field(90, ge=7, description="no purchase in this window = churned")
    auc_floor: float = Field(0.65, ge=0.5, le=1, description="a model below it is not promoted")
    max_calibration_error: float = Field(0.1, gt=0, le=1)
    psi_warn: float = Field(0.2, gt=0, description="score drift against the previous run")


class LtvConfig(SnapshotConfig):
    horizon_days: int = Field(365, ge=30)


class LeadsConfig(SnapshotConfig):
    horizon_days: int = Field(90, ge=7, description="first order within this window")


class RecommendationsConfig(StrictModel):
    top_n: int = Field(10, ge=1, le=100)
    consumable_categories: tuple[str, ...] = Field(
        (), description="categories bought again and again: already-bought items stay eligible"
    )
    holdout_days: int = Field(60, ge=7, description="later period the evaluation holds out")


class ModelsConfig(StrictModel):
    """Predictive models: where versions are kept and each model's settings."""

    store_dir: str = Field("models", description="model store folder, relative to cdp.yaml")
    churn: ChurnConfig = Field(default_factory=ChurnConfig)
    ltv: LtvConfig = Field(default_factory=LtvConfig)
    leads: LeadsConfig = Field(default_factory=LeadsConfig)
    recommendations: RecommendationsConfig = Field(default_factory=RecommendationsConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
