"""What each arm of a campaign gets, as columns of its export rows."""

from __future__ import annotations

import pandas as pd

from cdp_assets.config import CampaignConfig

OFFER_COLUMNS: dict[str, str] = {
    "campaign": "string",
    "arm": "string",
    "offer": "string",  # coupon | discount | recommendations | none
    "coupon_code": "string",
    "discount_percent": "Float64",
    "recommendations": "string",  # product ids, best first, '|'-joined (offer recommendations)
}


def with_offer(
    rows: pd.DataFrame, profiles: pd.DataFrame, campaign: CampaignConfig, arm: str
) -> pd.DataFrame:
    """`rows` (from `export_rows`) with the arm's offer. Recommendations come from the
    customer's `top_recommendations` (customer_360) and need a customer_id column: ads rows,
    which carry only hashes, get none."""
    spec = campaign.arm(arm)
    offer = rows.assign(
        campaign=campaign.name,
        arm=arm,
        offer=spec.offer,
        coupon_code=spec.coupon_code,
        discount_percent=spec.discount_percent,
        recommendations=None,
    )
    if spec.offer == "recommendations" and "customer_id" in rows.columns:
        top = profiles.drop_duplicates("customer_id").set_index("customer_id")
        offer["recommendations"] = rows["customer_id"].map(top["top_recommendations"])
    return offer.astype(OFFER_COLUMNS)
