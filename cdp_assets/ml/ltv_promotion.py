"""Whether a newly trained lifetime-value model replaces the champion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ltv_promotion(
    beats_baseline: bool,
    holdout: Mapping[str, Any],
    champion: str | None,
    champion_metadata: Mapping[str, Any] | None,
) -> tuple[bool, str]:
    """(promote, reason) for a candidate with `holdout` = {holdout_cutoff, mae}.

    A candidate that does not beat the naive baseline is never promoted. Otherwise it replaces
    a missing champion, or one measured on another holdout period (an older one: the data
    moved on), or one with a higher MAE on the same period; a tie keeps the champion.
    """
    if not beats_baseline:
        return False, "does not beat the naive baseline: not promoted"
    if champion is None:
        return True, "first model that beats the naive baseline"
    previous = champion_metadata or {}
    if previous.get("holdout_cutoff") != holdout["holdout_cutoff"]:
        return True, f"new holdout period {holdout['holdout_cutoff']}: replaces {champion}"
    if holdout["mae"] < previous.get("mae", float("inf")):
        return True, f"MAE {holdout['mae']:.2f} beats the champion's {previous['mae']:.2f}"
    return False, f"champion {champion} is as good on the same holdout (MAE {previous['mae']:.2f})"
