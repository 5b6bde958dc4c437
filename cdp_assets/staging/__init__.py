"""Staging: raw source rows → typed, normalised, validated rows in the canonical schema."""

from cdp_assets.staging.mapping import StagingError
from cdp_assets.staging.stage import StagingResult, stage_source

__all__ = ["StagingError", "StagingResult", "stage_source"]
