"""Marketing consent per customer and channel, from the consent fields of their records.

"Any opt-out wins; an opt-in needs a confirmed double opt-in and must be the latest event."
Precisely, for the email channel (SMS is the same with the `sms_*` fields):

- a record with `email_opt_in` True and a non-null `email_opt_in_confirmed_at` is a
  *confirmed opt-in* event at `email_opt_in_confirmed_at`;
- a record with `email_opt_in` True but no confirmation time is *not* an opt-in (single
  opt-in), and is not an opt-out either: it is ignored;
- a record with `email_opt_in` False is an *opt-out* event at the record's `seen_at`
  (the time the source last stated it); with `seen_at` null its time is *unknown*;
- a record with `email_opt_in` null says nothing.

`email_consent` is True exactly when the customer has at least one confirmed opt-in, no
opt-out with an unknown time, and no opt-out at or after the latest confirmed opt-in (a tie
goes to the opt-out). Otherwise it is False -- including when nothing is known: there is no
consent without a double opt-in. `email_consent_at` is the latest confirmed opt-in time and
`email_consent_source` the source of that record (ties: higher trust, then smallest source,
record id); both are null when consent is False.

Ads work the other way round (opt-out model): `ads_consent` is False if any record of the
customer has `ads_opt_out` True, else True (also when nothing is known).

Everything is vectorised over records (`numpy.maximum.at` per customer code); no Python
loop runs per customer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from cdp_assets.contracts.golden_profile import CONSENT_DTYPES

CONSENT_CHANNELS: tuple[str, ...] = ("email", "sms")
CONSENT_INPUT_COLUMNS: tuple[str, ...] = (
    "source",
    "record_id",
    "trust",
    "seen_at",
    "email_opt_in",
    "email_opt_in_confirmed_at",
    "sms_opt_in",
    "sms_opt_in_confirmed_at",
    "ads_opt_out",
)

_NEVER = np.iinfo(np.int64).min  # NaT's int64 value: "no event" in max-reductions


class ChannelConsent(NamedTuple):
    """One channel's verdict per customer code."""

    granted: np.ndarray  # bool
    granted_at: np.ndarray  # int64 epoch microseconds, _NEVER when not granted
    record: np.ndarray  # int64 position of the winning opt-in record, -1 when not granted


def epoch_micros(values: pd.Series) -> np.ndarray:
    """UTC instants as int64 microseconds since the epoch; NaT becomes int64 min."""
    instants = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
    return instants.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").view("int64")


def _is(flag: pd.Series, value: bool) -> np.ndarray:
    """Where a nullable boolean column is exactly `value` (null is neither)."""
    return flag.astype("boolean").eq(value).fillna(False).to_numpy(dtype=bool)


def _latest_per_customer(values: np.ndarray, codes: np.ndarray, n_customers: int) -> np.ndarray:
    latest = np.full(n_customers, _NEVER, dtype=np.int64)
    np.maximum.at(latest, codes, values)
    return latest


def _winning_opt_in(
    records: pd.DataFrame, candidates: np.ndarray, codes: np.ndarray, n_customers: int
) -> np.ndarray:
    """Position of the record giving each customer's latest confirmed opt-in, -1 if none.

    `candidates`: positions of records whose confirmed opt-in is their customer's latest.
    Several per customer are ordered by trust (higher first), then source, then record id.
    """
    winner = np.full(n_customers, -1, dtype=np.int64)
    cand_codes = codes[candidates]
    tied = np.bincount(cand_codes, minlength=n_customers)[cand_codes] > 1
    winner[cand_codes[~tied]] = candidates[~tied]
    if tied.any():
        rows = candidates[tied]
        ties = pd.DataFrame(
            {
                "code": codes[rows],
                "trust": records["trust"].to_numpy()[rows],
                "source": records["source"].array.take(rows),
                "record_id": records["record_id"].array.take(rows),
                "row": rows,
            }
        ).sort_values(["code", "trust", "source", "record_id"], ascending=[True, False, True, True])
        first = ties.drop_duplicates("code")
        winner[first["code"].to_numpy()] = first["row"].to_numpy()
    return winner


def channel_consent(
    records: pd.DataFrame, channel: str, codes: np.ndarray, n_customers: int
) -> ChannelConsent:
    """Double-opt-in consent of one channel (`email` or `sms`) per customer code."""
    opted_in = _is(records[f"{channel}_opt_in"], True)
    opted_out = _is(records[f"{channel}_opt_in"], False)
    confirmed_at = epoch_micros(records[f"{channel}_opt_in_confirmed_at"])
    seen_at = epoch_micros(records["seen_at"])

    opt_in_at = np.where(opted_in & (confirmed_at != _NEVER), confirmed_at, _NEVER)
    opt_out_at = np.where(opted_out, seen_at, _NEVER)
    unknown_out = (opted_out & (seen_at == _NEVER)).astype(np.int64)

    latest_in = _latest_per_customer(opt_in_at, codes, n_customers)
    latest_out = _latest_per_customer(opt_out_at, codes, n_customers)
    any_unknown_out = _latest_per_customer(unknown_out, codes, n_customers) > 0
    granted = (latest_in != _NEVER) & ~any_unknown_out & (latest_out < latest_in)

    candidates = np.flatnonzero((opt_in_at != _NEVER) & (opt_in_at == latest_in[codes]))
    candidates = candidates[granted[codes[candidates]]]
    record = _winning_opt_in(records, candidates, codes, n_customers)
    return ChannelConsent(granted, np.where(granted, latest_in, _NEVER), record)


def ads_consent(records: pd.DataFrame, codes: np.ndarray, n_customers: int) -> np.ndarray:
    """False for customers with an `ads_opt_out` True on any record, else True."""
    opted_out = np.zeros(n_customers, dtype=bool)
    opted_out[codes[_is(records["ads_opt_out"], True)]] = True
    return ~opted_out


def _instants(micros: np.ndarray) -> pd.Series:
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def consent_columns(
    records: pd.DataFrame, codes: np.ndarray, n_customers: int
) -> dict[str, pd.Series]:
    """The CONSENT_DTYPES columns, row i for customer code i (codes: 0..n_customers-1)."""
    codes = np.asarray(codes, dtype=np.int64)
    columns: dict[str, pd.Series] = {}
    for channel in CONSENT_CHANNELS:
        verdict = channel_consent(records, channel, codes, n_customers)
        columns[f"{channel}_consent"] = pd.Series(verdict.granted, dtype="boolean")
        columns[f"{channel}_consent_at"] = _instants(verdict.granted_at)
        source = records["source"].astype("string").array.take(verdict.record, allow_fill=True)
        columns[f"{channel}_consent_source"] = pd.Series(source, dtype="string")
    columns["ads_consent"] = pd.Series(ads_consent(records, codes, n_customers), dtype="boolean")
    return {name: columns[name].astype(dtype) for name, dtype in CONSENT_DTYPES.items()}


def customer_consent(records: pd.DataFrame) -> pd.DataFrame:
    """Consent per customer: one row per `customer_id` (the index, sorted), CONSENT_DTYPES.

    `records`: identity records (records.py) with a non-null `customer_id`.
    """
    missing = [c for c in ("customer_id", *CONSENT_INPUT_COLUMNS) if c not in records.columns]
    if missing:
        raise ValueError(f"customer consent: records lack column(s) {', '.join(missing)}")
    if records["customer_id"].isna().any():
        raise ValueError("customer consent: records with a null customer_id")
    codes, customers = pd.factorize(records["customer_id"].astype("string"), sort=True)
    columns = consent_columns(records.reset_index(drop=True), codes, len(customers))
    frame = pd.DataFrame(columns)
    frame.index = pd.Index(customers, dtype="string", name="customer_id")
    return frame


def apply_campaign_opt_outs(profiles: pd.DataFrame, opt_outs: pd.DataFrame) -> pd.DataFrame:
    """Profiles after the opt-outs of campaign responses: an unsubscribe or complaint
    (`opt_outs`: customer_id, channel, occurred_at) withdraws that channel's consent under the
    same rule as a record's opt-out -- it wins over a confirmed opt-in at or before it; a
    later confirmed opt-in restores consent. For ads (opt-out model) any opt-out counts."""
    if opt_outs.empty or profiles.empty:
        return profiles
    result = profiles.copy()
    for channel in CONSENT_CHANNELS:
        mine = opt_outs[opt_outs["channel"] == channel]
        if mine.empty:
            continue
        latest = mine.groupby("customer_id")["occurred_at"].max()
        when = result["customer_id"].map(latest)
        withdrawn = (
            result[f"{channel}_consent"].fillna(False)
            & when.notna()
            & (when >= result[f"{channel}_consent_at"]).fillna(True)
        ).astype(bool)
        result.loc[withdrawn, f"{channel}_consent"] = False
        result.loc[withdrawn, f"{channel}_consent_at"] = pd.NaT
        result.loc[withdrawn, f"{channel}_consent_source"] = pd.NA
    ads = set(opt_outs.loc[opt_outs["channel"] == "ads", "customer_id"])
    if ads:
        result.loc[result["customer_id"].isin(ads), "ads_consent"] = False
    return result.astype({c: profiles[c].dtype for c in CONSENT_DTYPES})
