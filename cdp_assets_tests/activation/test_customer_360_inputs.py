"""`activation.customer_360`'s `inputs_missing` metadata: the optional input tables absent
from the warehouse, and only those."""

from cdp_assets.activation.customer_360 import missing_inputs

ALL_INPUTS = {
    "core.customer_profiles",
    "analytics.customer_features",
    "analytics.rfm",
    "ml.churn_scores",
    "ml.customer_ltv",
    "ml.lead_scores",
    "ml.product_recommendations",
    "activation.audience_membership",
}


def test_inputs_present_are_not_reported_missing() -> None:
    no_models_yet = ALL_INPUTS - {"ml.churn_scores", "ml.customer_ltv", "ml.lead_scores"}

    assert missing_inputs(no_models_yet) == ["ml.churn_scores", "ml.customer_ltv", "ml.lead_scores"]
    assert missing_inputs(ALL_INPUTS) == []


def test_only_the_profiles_present_reports_every_other_input() -> None:
    assert missing_inputs({"core.customer_profiles", "core.orders"}) == [
        "activation.audience_membership",
        "analytics.customer_features",
        "analytics.rfm",
        "ml.churn_scores",
        "ml.customer_ltv",
        "ml.lead_scores",
        "ml.product_recommendations",
    ]
