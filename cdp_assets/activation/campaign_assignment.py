"""Who is in which arm of a campaign: deterministic, reproducible randomisation.

A customer's draw for a campaign is a keyed BLAKE2b hash of the campaign name and the customer
id (key: `activation.assignment_salt`), read as a number in [0, 1) and placed on the arms'
cumulative shares. The same customer, campaign and salt always give the same arm, on any
machine, in any run order. The global control group is drawn the same way from the customer
id alone, so a customer in it is held out of every campaign.

Assignments are sticky: a customer keeps the arm of their first assignment for the campaign's
life, even after leaving its audience; members who join the audience later are assigned on
the run they first appear, while the campaign is active (start ≤ as_of ≤ end).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from cdp_assets.config import CampaignConfig
from cdp_assets.identity.membership import string_isin

GLOBAL_CONTROL = "global_control"
ASSIGNMENT_DTYPES: dict[str, str] = {
    "campaign": "string",
    "customer_id": "string",
    "arm": "string",
    "assigned_at": "datetime64[us, UTC]",  # when the conversion window opens
}
_SCALE = float(2**64)


def unit_draws(salt: str, scope: str, customer_ids: pd.Series) -> np.ndarray:
    """A uniform number in [0, 1) per customer id for `scope` (a campaign, or the global
    control group): the first 8 bytes of BLAKE2b(scope | customer_id, key=salt)."""
    key = hashlib.blake2b(salt.encode("utf-8"), digest_size=32).digest()
    # The keyed state after `scope|` is computed once and copied per customer: the same
    # digests as hashing each whole message afresh, without re-keying every time.
    scoped = hashlib.blake2b(digest_size=8, key=key)
    scoped.update(f"{scope}|".encode())

    def digest(customer_id: str) -> bytes:
        state = scoped.copy()
        state.update(customer_id.encode("utf-8"))
        return state.digest()

    raw = b"".join(map(digest, map(str, customer_ids.tolist())))
    return np.frombuffer(raw, dtype=">u8").astype(np.float64) / _SCALE


def in_global_control(customer_ids: pd.Series, salt: str, share: float) -> np.ndarray:
    """Whether each customer is in the global control group (held out of every campaign)."""
    if share <= 0 or not len(customer_ids):
        return np.zeros(len(customer_ids), dtype=bool)
    return unit_draws(salt, GLOBAL_CONTROL, customer_ids) < share


def draw_arms(customer_ids: pd.Series, campaign: CampaignConfig, salt: str) -> np.ndarray:
    """The arm of each customer for `campaign`, by the arms' shares (percentages)."""
    names = np.array([a.name for a in campaign.arms], dtype=object)
    bounds = np.cumsum([a.share for a in campaign.arms]) / 100.0
    bounds[-1] = 1.0  # shares sum to 100 up to rounding: the last arm takes the remainder
    draws = unit_draws(salt, campaign.name, customer_ids)
    return names[np.searchsorted(bounds, draws, side="right")]


def window_opens(as_of: dt.date, timezone: str) -> pd.Timestamp:
    """A member assigned on the run of `as_of` is exported after it: their conversion window
    opens at the end of that day in the project's time zone."""
    local = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), ZoneInfo(timezone))
    return pd.Timestamp(local).tz_convert("UTC").as_unit("us")


def empty_assignments() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ASSIGNMENT_DTYPES.items()})


def assign_campaigns(
    campaigns: Sequence[CampaignConfig],
    members: pd.DataFrame,
    previous: pd.DataFrame | None,
    as_of: dt.date,
    salt: str,
    global_control_share: float,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """The campaign assignments after the run of `as_of`: `previous` (kept as they are) plus
    today's audience `members` (audience, customer_id) of every active campaign not assigned
    yet. Assignments of campaigns no longer in cdp.yaml are kept: they are history."""
    kept = empty_assignments() if previous is None or previous.empty else previous
    kept = kept.astype(ASSIGNMENT_DTYPES)[list(ASSIGNMENT_DTYPES)]
    opens = window_opens(as_of, timezone)
    new_parts = []
    for campaign in campaigns:
        if not campaign.active_on(as_of):
            continue
        ids = members.loc[members["audience"] == campaign.audience, "customer_id"].dropna()
        already = kept.loc[kept["campaign"] == campaign.name, "customer_id"]
        # Arrow's membership test and sort: sets of the columns made a Python string per id.
        ids = pd.Series(ids[~string_isin(ids, already)].unique(), dtype="string")
        ids = ids.sort_values(ignore_index=True)
        if ids.empty:
            continue
        arms = draw_arms(ids, campaign, salt)
        arms[in_global_control(ids, salt, global_control_share)] = GLOBAL_CONTROL
        new_parts.append(
            pd.DataFrame(
                {"campaign": campaign.name, "customer_id": ids, "arm": arms, "assigned_at": opens}
            ).astype(ASSIGNMENT_DTYPES)
        )
    result = pd.concat([kept, *new_parts], ignore_index=True) if new_parts else kept
    return result.sort_values(["campaign", "customer_id"], ignore_index=True)


def not_exported_arms(campaign: CampaignConfig) -> frozenset[str]:
    """Arms whose members must never appear in an export: the control arm and the global
    control group."""
    control = campaign.control_arm
    return frozenset({GLOBAL_CONTROL} | ({control} if control else set()))
