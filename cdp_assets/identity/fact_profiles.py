"""Profiles of customers known only from facts (an orders-only setup, a guest checkout whose
email matches no account): no golden fields to choose, but first and last seen and sources."""

from __future__ import annotations

import pandas as pd

from cdp_assets.identity.golden import GOLDEN_PROFILE_DTYPES, empty_profiles


def fact_only_profiles(
    customer_ids: pd.Index, xref: pd.DataFrame, activity: pd.DataFrame | None
) -> pd.DataFrame:
    """One GOLDEN_PROFILE_DTYPES row per id in `customer_ids`.

    `xref`: core.customer_xref rows (source, customer_id); `activity`: customer_id,
    occurred_at rows from the facts (or None). No consent is known, so email and SMS consent
    are False; ads consent is True because nobody opted out.
    """
    if len(customer_ids) == 0:
        return empty_profiles()
    ids = pd.Series(sorted(customer_ids), dtype="string")
    profiles = empty_profiles().reindex(range(len(ids)))
    profiles["customer_id"] = ids
    mine = xref[xref["customer_id"].isin(set(ids))]
    sources = mine.groupby("customer_id")["source"].agg(lambda s: ",".join(sorted(set(s))))
    profiles["sources"] = ids.map(sources)
    profiles["source_count"] = profiles["sources"].str.count(",").fillna(-1).astype("int64") + 1
    profiles["record_count"] = 0
    profiles["email_consent"] = False
    profiles["sms_consent"] = False
    profiles["ads_consent"] = True
    if activity is not None and len(activity):
        seen = activity.groupby("customer_id")["occurred_at"].agg(["min", "max"])
        profiles["first_seen"] = ids.map(seen["min"])
        profiles["last_seen"] = ids.map(seen["max"])
    return profiles.astype(GOLDEN_PROFILE_DTYPES)
