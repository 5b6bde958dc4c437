"""The churn and lead-score models: what differs between the two classifiers the same
training and scoring assets are built for."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.ml import churn, leads
from cdp_assets.ml.snapshots import churn_labels, lead_labels


@dataclass(frozen=True)
class ClassifierSpec:
    """What differs between the churn and the lead-score models."""

    name: str  # model store name and asset key stem
    settings_of: Callable[[CDPConfig], Any]
    labels: Callable[[int], Any]
    train: Callable[..., Any]
    score: Callable[..., pd.DataFrame]
    score_table: str
    score_dtypes: dict[str, str]
    probability: str
    description: str


CLASSIFIERS = (
    ClassifierSpec(
        name="churn",
        settings_of=lambda c: c.models.churn,
        labels=churn_labels,
        train=churn.train_churn,
        score=lambda model, features, as_of, version, seen: churn.score_churn(
            model, features, as_of, version
        ),
        score_table="churn_scores",
        score_dtypes=churn.CHURN_SCORE_DTYPES,
        probability="churn_probability",
        description="no purchase in the `models.churn.horizon_days` after a cutoff",
    ),
    ClassifierSpec(
        name="leads",
        settings_of=lambda c: c.models.leads,
        labels=lead_labels,
        train=leads.train_leads,
        score=leads.score_leads,
        score_table="lead_scores",
        score_dtypes=leads.LEAD_SCORE_DTYPES,
        probability="lead_probability",
        description="a first order within `models.leads.horizon_days` of a cutoff, for people "
        "known but who never ordered",
    ),
)
