"""What each arm of a campaign gets, as columns of its export rows, and the rows it must
not get: addresses its campaign's control members share."""

from __future__ import annotations

import pandas as pd

from cdp_assets.activation.audience_selection import export_rows
from cdp_assets.config import CampaignConfig
from cdp_assets.identity.membership import string_isin

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


def held_out_addresses(held_out: pd.DataFrame, channel: str) -> set[str]:
    """The addresses (ads: their hashes) of control and global-control members, as they
    would appear in a `channel` file; `held_out`: their customer_360 rows."""
    if held_out.empty:
        return set()
    if channel == "ads":
        rows = export_rows(held_out, "ads")
        return set(rows["email_sha256"].dropna()) | set(rows["phone_sha256"].dropna())
    column = "email" if channel == "email" else "phone"
    return set(_address_key(held_out[column].dropna(), channel))


def _address_key(values: pd.Series, channel: str) -> pd.Series:
    key = values.astype("string").str.strip()
    return key.str.lower() if channel == "email" else key


def without_held_out(rows: pd.DataFrame, channel: str, held_out: set[str]) -> pd.DataFrame:
    """`rows` of a treated arm's file without any address a held-out member shares (a couple's
    email, a household's phone): the control group must not receive the campaign through
    someone else's row. Ads rows lose the shared hash, and the row when no hash is left."""
    if not held_out or rows.empty:
        return rows
    if channel == "ads":
        hashes = {
            column: rows[column].mask(string_isin(rows[column], held_out))
            for column in ("email_sha256", "phone_sha256")
        }
        kept = rows.assign(**hashes)
        return kept[kept["email_sha256"].notna() | kept["phone_sha256"].notna()].reset_index(
            drop=True
        )
    column = "email" if channel == "email" else "phone"
    shared = string_isin(_address_key(rows[column], channel), held_out)
    return rows[~shared].reset_index(drop=True)
