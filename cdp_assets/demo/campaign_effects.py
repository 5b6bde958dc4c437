"""The true effect of a campaign message on one customer: `tau`, the probability that the
message alone makes them buy within the conversion window (an *added* probability, on top of
whatever they would have bought anyway).

The effect depends on the traits the demo drew each person from (people.csv):
`r` = purchase_rate_per_year, `s` = satisfaction (0–1), whether they are a loyalty member, and
`p0`, their baseline chance of buying in the window anyway:

    active  = days of the window before their churn day (churn_on), 0 for lapsed customers
    p0      = 1 - exp(-r * active / 365.25)                     (no seasonality: approximate)
    e       = 1 - exp(-r / 2.5)                                 (how engaged they once were)
    fade    = 0.5 + 0.5 * exp(-days since churn_on / 365)       (1 for active customers)
    noise   = 0.7 + 0.6 * u,  u ~ U(0, 1) hashed from (seed, campaign, arm, person_id)

    recommendations  tau = 0.2 * e * s**2 * (1 - p0)**2 * fade * noise
    coupon           tau = (0.025 + 0.04 * (1 - s) + 0.02 * exp(-r / 2)) * (1 - p0) * noise
    vip_offer        tau = (0.03 + 0.05 * s + 0.03 * loyalty_member) * (1 - p0) * noise

each clipped to [0, MAX_TAU = 0.15]. Personalised recommendations work for frequent, satisfied
buyers; a coupon gives a smaller, flatter lift that favours infrequent and less satisfied
customers; the VIP offer is moderate and larger for loyalty members. The factor `1 - p0` makes
customers who would buy anyway ("sure things") gain little, and lapsed customers (p0 = 0) gain
most (recommendations: less the longer ago they lapsed). Among active customers the
recommendations effect rises with the purchase rate, then falls for the heaviest buyers; the
effect is not ordered like the baseline purchase probability, so targeting by uplift
beats targeting by purchase probability. `noise` is the part no feature explains; being hashed
from the person it is the same whichever customers are exported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_TAU = 0.15
NOISE_LOW, NOISE_SPAN = 0.7, 0.6
_NEVER = np.iinfo(np.int64).max // 2  # churn day of people who never churn


@dataclass(frozen=True)
class Traits:
    """The people's traits the effects depend on, one entry per people.csv row."""

    person_id: np.ndarray  # object (str)
    rate: np.ndarray  # purchases per year
    satisfaction: np.ndarray  # 0..1
    churn_day: np.ndarray  # days since 1970-01-01 they stop buying; large when unknown
    loyalty: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.person_id)


def _numbers(people: pd.DataFrame, column: str, default: float) -> np.ndarray:
    if column not in people.columns:
        return np.full(len(people), default)
    values = pd.to_numeric(people[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), default, values)


def _days(people: pd.DataFrame, column: str) -> np.ndarray:
    if column not in people.columns:
        return np.full(len(people), _NEVER, dtype=np.int64)
    when = pd.to_datetime(people[column], errors="coerce", format="%Y-%m-%d")
    days = (when - pd.Timestamp("1970-01-01")).dt.days
    return days.fillna(_NEVER).to_numpy(dtype=np.int64)


def _flags(people: pd.DataFrame, column: str) -> np.ndarray:
    if column not in people.columns:
        return np.zeros(len(people), dtype=bool)
    text = people[column].astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "yes"]).to_numpy(dtype=bool, na_value=False)


def people_traits(people: pd.DataFrame) -> Traits:
    """Traits from people.csv columns (person_id; purchase_rate_per_year and satisfaction,
    default 1.0 and 0.7; churn_on and loyalty_member optional)."""
    if "person_id" not in people.columns:
        raise ValueError("people: a person_id column is needed")
    return Traits(
        person_id=people["person_id"].astype(str).to_numpy(dtype=object),
        rate=np.clip(_numbers(people, "purchase_rate_per_year", 1.0), 0.0, None),
        satisfaction=np.clip(_numbers(people, "satisfaction", 0.7), 0.0, 1.0),
        churn_day=_days(people, "churn_on"),
        loyalty=_flags(people, "loyalty_member"),
    )


def baseline_probability(traits: Traits, window_open_day: int, window_days: int) -> np.ndarray:
    """p0: the chance of at least one order in the window without the campaign (Poisson at
    the person's rate over the window's days before they churn; seasonality ignored)."""
    active = np.clip(traits.churn_day - window_open_day, 0, window_days)
    return 1.0 - np.exp(-traits.rate * active / 365.25)


def hashed_uniform(seed: int, scope: str, keys: np.ndarray) -> np.ndarray:
    """A uniform draw in [0, 1) per key, from a hash of (seed, scope, key): the same key gets
    the same draw whatever else is drawn."""
    out = np.empty(len(keys))
    prefix = f"{seed}|{scope}|".encode()
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(prefix + str(key).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def _recommendations(t: Traits, p0: np.ndarray, open_day: int) -> np.ndarray:
    engaged = 1.0 - np.exp(-t.rate / 2.5)
    lapsed_days = np.clip(open_day - t.churn_day, 0, None)
    fade = 0.5 + 0.5 * np.exp(-lapsed_days / 365.0)
    return 0.2 * engaged * t.satisfaction**2 * (1.0 - p0) ** 2 * fade


def _coupon(t: Traits, p0: np.ndarray, open_day: int) -> np.ndarray:
    return (0.025 + 0.04 * (1.0 - t.satisfaction) + 0.02 * np.exp(-t.rate / 2.0)) * (1.0 - p0)


def _vip_offer(t: Traits, p0: np.ndarray, open_day: int) -> np.ndarray:
    return (0.03 + 0.05 * t.satisfaction + 0.03 * t.loyalty) * (1.0 - p0)


EFFECT_MODELS: dict[str, Callable[[Traits, np.ndarray, int], np.ndarray]] = {
    "recommendations": _recommendations,
    "coupon": _coupon,
    "vip_offer": _vip_offer,
}


def true_effect(
    model: str,
    traits: Traits,
    window_open_day: int,
    window_days: int,
    seed: int,
    campaign: str,
    arm: str,
) -> np.ndarray:
    """tau per person for a message of `campaign`'s `arm` that reaches them (see the module
    docstring), in [0, MAX_TAU]. `window_open_day`: day number (days since 1970-01-01) the
    conversion window opens."""
    if model not in EFFECT_MODELS:
        raise ValueError(f"unknown effect model {model!r}: one of {', '.join(EFFECT_MODELS)}")
    noise = NOISE_LOW + NOISE_SPAN * hashed_uniform(seed, f"{campaign}|{arm}", traits.person_id)
    p0 = baseline_probability(traits, window_open_day, window_days)
    lift = EFFECT_MODELS[model](traits, p0, window_open_day)
    return np.clip(lift * noise, 0.0, MAX_TAU)
