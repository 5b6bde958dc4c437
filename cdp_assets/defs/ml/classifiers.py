"""The churn and lead-score models: what differs between the two classifiers the same
training and scoring assets are built for."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.defs.catalog import has_leads
from cdp_assets.defs.ml.inputs import resolved_orders
from cdp_assets.ml import churn, leads
from cdp_assets.ml.snapshots import churn_labels, lead_labels
from cdp_assets.warehouse import WarehouseSession


def churn_without_classifier(
    session: WarehouseSession, as_of: dt.date, settings: Any
) -> tuple[pd.DataFrame | None, str]:
    """(scores, why): churn from the purchase model when the history is too short to label
    windows for the classifier; None with the reason it does not apply."""
    return churn.churn_by_purchase_model(resolved_orders(session), as_of, settings)


@dataclass(frozen=True)
class ClassifierSpec:
    """What differs between the churn and the lead-score models."""

    name: str  # model store name and asset key stem
    settings_of: Callable[[CDPConfig], Any]
    labels: Callable[[int], Any]
    train: Callable[..., Any]
    # (model, features, as_of, version, first_seen, cache=None) -> scores; `cache`: a
    # `ReasonCache` (see `cdp_assets.ml.churn.scored_frame`).
    score: Callable[..., pd.DataFrame]
    score_table: str
    score_dtypes: dict[str, str]
    probability: str
    description: str
    # Scores without a promoted model (session, as_of, settings) -> (scores or None, why).
    fallback: Callable[..., tuple[pd.DataFrame | None, str]] | None = None
    # Whether a configuration can ever give the model something to learn.
    applies_to: Callable[[CDPConfig], bool] = lambda config: True


CLASSIFIERS = (
    ClassifierSpec(
        name="churn",
        settings_of=lambda c: c.models.churn,
        labels=churn_labels,
        train=churn.train_churn,
        score=lambda model, features, as_of, version, seen, cache=None: churn.score_churn(
            model, features, as_of, version, cache
        ),
        score_table="churn_scores",
        score_dtypes=churn.CHURN_SCORE_DTYPES,
        probability="churn_probability",
        description="no purchase in the `models.churn.horizon_days` after a cutoff",
        fallback=churn_without_classifier,
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
        applies_to=has_leads,
    ),
)
