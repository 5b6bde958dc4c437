"""Lead scores: the probability that a known person who has never bought places a first
order within the horizon.

The population at a date is every profile first seen before its end with no purchase by
then: newsletter subscribers, accounts that never ordered, identified web visitors. The
features are those a non-buyer has (`LEAD_FEATURES`): how long they have been known, web
engagement, abandoned carts, support contacts and survey answers. The models are the churn
module's (calibrated gradient boosting, logistic regression), judged on the holdout cutoff
against two baselines: `engagement_rule` (the rank of recent sessions, carts and views, what
a marketer would try first) and `base_rate` (everyone gets the training conversion rate).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cdp_assets.config import LeadsConfig
from cdp_assets.ml.churn import (
    REASON_COLUMNS,
    Candidate,
    ClassifierTraining,
    FeatureModel,
    NotEnoughData,
    base_rate,
    data_shortfall,
    learned_candidates,
    rule,
    scored_frame,
    train_target,
)
from cdp_assets.ml.explain import ReasonCache
from cdp_assets.ml.snapshots import LEAD_FEATURES, with_days_known

# Weights of the engagement baseline: a cart counts more than a session, a view less.
ENGAGEMENT_WEIGHTS: dict[str, float] = {
    "add_to_carts_30d": 3.0,
    "sessions_30d": 2.0,
    "add_to_carts_90d": 1.0,
    "sessions_90d": 1.0,
    "product_views_90d": 0.2,
}
LEAD_SCORE_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "as_of": "datetime64[us]",
    "lead_probability": "float64",
    "model_version": "string",
    **{column: "string" for column in REASON_COLUMNS},
}


class LeadTraining(ClassifierTraining):
    """A lead-scoring training run (see ClassifierTraining)."""


def lead_candidates(
    features: Sequence[str] = LEAD_FEATURES, random_state: int = 0
) -> dict[str, Candidate]:
    """The lead models and their baselines."""
    return {
        **learned_candidates(features, random_state),
        "engagement_rule": rule(ENGAGEMENT_WEIGHTS),
        "base_rate": base_rate(),
    }


def not_enough_data(
    snapshots: pd.DataFrame, config: LeadsConfig, holdout_cutoff: dt.date | None = None
) -> str | None:
    """Why lead scores cannot be trained on these snapshots, or None."""
    return data_shortfall(
        snapshots,
        config,
        population="known people without a purchase by {cutoff}",
        positive=f"leads who placed a first order within {config.horizon_days} days",
        negative=f"leads who did not order within {config.horizon_days} days",
        holdout_cutoff=holdout_cutoff,
    )


def train_leads(
    snapshots: pd.DataFrame,
    config: LeadsConfig,
    holdout_cutoff: dt.date | None = None,
    features: Sequence[str] = LEAD_FEATURES,
    random_state: int = 0,
) -> LeadTraining:
    """Train and compare the lead models on `lead_labels` snapshots; raises NotEnoughData."""
    reason = not_enough_data(snapshots, config, holdout_cutoff)
    trained = train_target(
        "lead",
        "lead scores",
        reason,
        snapshots,
        lead_candidates,
        features,
        holdout_cutoff,
        random_state,
    )
    return LeadTraining(**{**trained.__dict__, "horizon_days": config.horizon_days})


def lead_population(
    features: pd.DataFrame, first_seen: pd.DataFrame | None, as_of: dt.date
) -> pd.DataFrame:
    """Profiles without a purchase by `as_of`, with `days_known` (kept when `features` has
    it; else from `first_seen`: customer_id, first_seen; NaN when unknown)."""
    frame = features
    if "days_known" not in frame.columns:
        seen = first_seen
        if seen is None:
            seen = pd.DataFrame({"customer_id": pd.Series(dtype="string"), "first_seen": []})
        frame = with_days_known(frame, seen, as_of)
    never_bought = frame["frequency"] == 0
    # Someone first seen after as_of cannot be in the features; a negative span is a clock
    # problem upstream, not a reason to drop a person.
    frame = frame[never_bought].copy()
    frame["days_known"] = np.maximum(frame["days_known"].to_numpy(dtype=np.float64), 0.0)
    return frame


def score_leads(
    model: FeatureModel,
    features: pd.DataFrame,
    as_of: dt.date,
    version: str,
    first_seen: pd.DataFrame | None = None,
    cache: ReasonCache | None = None,
) -> pd.DataFrame:
    """`ml.lead_scores`: one row per known person without a purchase (LEAD_SCORE_DTYPES).

    `features`: analytics.customer_features as of `as_of`; `first_seen`: customer_id,
    first_seen from core.customer_profiles (see `snapshots.first_seen`); `cache`: see
    `churn.scored_frame`.
    """
    leads = lead_population(features, first_seen, as_of)
    frame = scored_frame(model, leads, as_of, version, "lead_probability", cache)
    return frame.astype(LEAD_SCORE_DTYPES)


__all__ = [
    "ENGAGEMENT_WEIGHTS",
    "LEAD_SCORE_DTYPES",
    "LeadTraining",
    "NotEnoughData",
    "lead_candidates",
    "lead_population",
    "not_enough_data",
    "score_leads",
    "train_leads",
]
