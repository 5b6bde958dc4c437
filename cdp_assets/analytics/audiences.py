"""Audiences: who matches each configured rule today, membership history, changes and jumps.

`activation.audience_membership` holds one row per member per run (audience, customer_id,
entered_at, as_of), `entered_at` being the first day of the member's current, unbroken
membership. `activation.audience_changes` holds every run's additions and removals.
Runs are compared with the latest earlier run in the history; re-running a day replaces
that day's rows, so a re-run gives the same tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cdp_assets.analytics.audience_rules import RuleError, evaluate, parse_audiences
from cdp_assets.config.loader import ConfigError
from cdp_assets.contracts.features import FEATURE_DTYPES

MEMBER_COLUMNS: tuple[str, ...] = ("audience", "customer_id")
MEMBERSHIP_COLUMNS: tuple[str, ...] = ("audience", "customer_id", "entered_at", "as_of")
CHANGE_COLUMNS: tuple[str, ...] = ("audience", "customer_id", "change", "as_of")
SIZE_COLUMNS: tuple[str, ...] = ("audience", "previous_size", "size", "change_share", "warn")

# The columns analytics.rfm adds to the features (pandas dtypes, as rules see them).
RFM_AUDIENCE_COLUMNS: dict[str, str] = {
    "recency_days": "Int64",
    "frequency": "int64",
    "monetary": "float64",
    "r_score": "Int64",
    "f_score": "Int64",
    "m_score": "Int64",
    "rfm_score": "string",
    "rfm_segment": "string",
}

# Model scores rules may use (predictive audiences), by the `ml` table they come from. An
# audience that uses one is built after scoring.
SCORE_AUDIENCE_COLUMNS: dict[str, dict[str, str]] = {
    "churn_scores": {"churn_probability": "float64"},
    "customer_ltv": {
        "predicted_ltv": "float64",
        "p_alive": "float64",
        "days_to_next_order": "Int64",
    },
    "lead_scores": {"lead_probability": "float64"},
    "uplift_scores": {
        "expected_uplift": "float64",
        "best_offer": "string",
        "uplift_decile": "Int64",
    },
}

_DAY = "datetime64[us]"


def score_columns() -> dict[str, str]:
    """Every model-score column audience rules may use, with its dtype."""
    return {c: t for columns in SCORE_AUDIENCE_COLUMNS.values() for c, t in columns.items()}


def score_tables_used(audiences: Sequence[Any]) -> list[str]:
    """The `ml` tables whose scores some audience's rule uses, in SCORE_AUDIENCE_COLUMNS order."""
    rules = parse_audiences(audiences, audience_columns(score_columns()))
    used = {c for rule in rules.values() for c in rule.columns}
    return [t for t, columns in SCORE_AUDIENCE_COLUMNS.items() if used & set(columns)]


def score_frame(scores: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """customer_id and every score column, from the `ml` tables in `scores` (by table name):
    churn_probability, predicted_ltv (predicted revenue in the LTV horizon), p_alive,
    days_to_next_order (from as_of to the expected next order date), lead_probability, and
    the uplift model's expected_uplift, best_offer (the next best offer's arm) and
    uplift_decile."""
    frame = pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    for table, source in scores.items():
        if table == "churn_scores":
            part = source[["customer_id", "churn_probability"]]
        elif table == "lead_scores":
            part = source[["customer_id", "lead_probability"]]
        elif table == "uplift_scores":
            part = source[["customer_id", "expected_uplift", "best_arm", "uplift_decile"]]
            part = part.rename(columns={"best_arm": "best_offer"})
        else:
            next_order = pd.to_datetime(source["expected_next_order_date"])
            days = (next_order - pd.Timestamp(as_of)).dt.days
            part = pd.DataFrame(
                {
                    "customer_id": source["customer_id"],
                    "predicted_ltv": source["predicted_revenue"],
                    "p_alive": source["p_alive"],
                    "days_to_next_order": days,
                }
            )
        frame = frame.merge(part.astype({"customer_id": "string"}), on="customer_id", how="outer")
    for column in score_columns():  # scores not built yet (no promoted model) are null
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=score_columns()[column])
    return frame.astype({"customer_id": "string"} | score_columns())


def audience_columns(*extra: Mapping[str, str]) -> dict[str, str]:
    """The columns audience rules may use, with their dtypes: the customer features, the RFM
    columns, and any `extra` mappings (model scores, later)."""
    columns = {**FEATURE_DTYPES, **RFM_AUDIENCE_COLUMNS}
    for more in extra:
        columns.update(more)
    return columns


def audience_frame(features: pd.DataFrame, *others: pd.DataFrame) -> pd.DataFrame:
    """The features with the columns of `others` (each keyed by customer_id, e.g. analytics.rfm)
    that the features lack, joined on; customers missing from another frame get nulls."""
    frame = features
    for other in others:
        new = [c for c in other.columns if c not in frame.columns]
        if new:
            frame = frame.merge(other[["customer_id", *new]], on="customer_id", how="left")
    return frame


# -- members ---------------------------------------------------------------------------------


def audience_members(
    audiences: Sequence[Any], customers: pd.DataFrame, key: str = "analytics.audiences"
) -> pd.DataFrame:
    """(audience, customer_id) for every customer matching each audience's rule, in the order
    of `audiences` (`AudienceRule`s or dicts with name and rule), then by customer_id.
    ConfigError naming the audience when a rule is bad or does not suit the columns."""
    rules = parse_audiences(audiences, [str(c) for c in customers.columns], key)
    parts = []
    for i, (name, rule) in enumerate(rules.items()):
        try:
            matched = evaluate(rule, customers)
        except RuleError as exc:
            raise ConfigError(f"{key}[{i}] ({name}): {exc}") from exc
        ids = customers.loc[matched, "customer_id"]
        parts.append(pd.DataFrame({"audience": name, "customer_id": ids.sort_values().to_numpy()}))
    return _typed(pd.concat([_empty(MEMBER_COLUMNS), *parts], ignore_index=True), MEMBER_COLUMNS)


# -- history ---------------------------------------------------------------------------------


def update_membership(
    history: pd.DataFrame | None,
    current: pd.DataFrame,
    as_of: dt.date,
    changes: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new membership history and changes table after the run of `as_of`.

    `current` is this run's (audience, customer_id); `history` and `changes` are the tables as
    they stand (None or empty on the first run). A member who was in the audience at the
    previous run keeps their `entered_at`; anyone else enters on `as_of`. Rows of `as_of`
    already present are replaced. An audience absent from `current` has no members now, so
    all its previous members are removed (that is also what deleting an audience does).
    """
    day = _day(as_of)
    history = _membership(history)
    earlier = history[history["as_of"] < day]
    later = history[history["as_of"] > day]
    previous = _latest_run(earlier)

    members = _typed(current.loc[:, list(MEMBER_COLUMNS)].drop_duplicates(), MEMBER_COLUMNS)
    run = members.merge(previous[["audience", "customer_id", "entered_at"]], how="left")
    run["entered_at"] = run["entered_at"].fillna(day).astype(_DAY)
    run["as_of"] = day

    new_history = pd.concat([earlier, run, later], ignore_index=True)
    new_history = new_history.sort_values(["as_of", "audience", "customer_id"], ignore_index=True)
    return _typed(new_history, MEMBERSHIP_COLUMNS), _new_changes(changes, previous, members, day)


def _new_changes(
    changes: pd.DataFrame | None, previous: pd.DataFrame, members: pd.DataFrame, day: pd.Timestamp
) -> pd.DataFrame:
    keys = list(MEMBER_COLUMNS)
    added = _anti_join(members, previous[keys]).assign(change="added")
    removed = _anti_join(previous[keys], members).assign(change="removed")
    run = pd.concat([added, removed], ignore_index=True).assign(as_of=day)
    old = _typed(changes if changes is not None else _empty(CHANGE_COLUMNS), CHANGE_COLUMNS)
    old = old[old["as_of"] != day]
    result = pd.concat([old, _typed(run, CHANGE_COLUMNS)], ignore_index=True)
    result = result.sort_values(["as_of", "audience", "change", "customer_id"], ignore_index=True)
    return _typed(result, CHANGE_COLUMNS)


def size_jumps(
    history: pd.DataFrame,
    as_of: dt.date,
    warn_share: float,
    audiences: Iterable[str] = (),
) -> pd.DataFrame:
    """Each audience's size at `as_of` against the previous run: (audience, previous_size,
    size, change_share, warn).

    `change_share` is (size - previous_size) / previous_size; `warn` is true when its absolute
    value exceeds `warn_share`, or when an audience empty at the previous run now has members
    (its share is then null). On the first run `previous_size` and `change_share` are null and
    nothing warns. `audiences` (the configured names) adds rows for empty audiences.
    """
    day = _day(as_of)
    history = _membership(history)
    now = history[history["as_of"] == day]
    previous = _latest_run(history[history["as_of"] < day])
    has_previous = not previous.empty

    # Distinct names first: a set of the columns themselves made a Python string per member.
    seen = {*now["audience"].unique(), *previous["audience"].unique()}
    names = list(dict.fromkeys([*audiences, *sorted(seen)]))
    size = now.groupby("audience").size().reindex(names, fill_value=0).to_numpy(dtype="int64")
    before = previous.groupby("audience").size().reindex(names, fill_value=0)
    before = before.to_numpy(dtype="float64") if has_previous else np.full(len(names), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(before > 0, (size - before) / before, np.nan)
    warn = (np.abs(np.nan_to_num(share)) > warn_share) | ((before == 0) & (size > 0))
    return pd.DataFrame(
        {
            "audience": pd.array(names, dtype="string"),
            "previous_size": pd.array(before, dtype="Float64").astype("Int64"),
            "size": size,
            "change_share": share,
            "warn": warn,
        }
    )


# -- helpers ---------------------------------------------------------------------------------


def _day(value: dt.date | pd.Timestamp | str) -> pd.Timestamp:
    """A date as a naive midnight timestamp (how dates are stored in the warehouse)."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.normalize().as_unit("us")


def _days(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.dt.normalize().astype(_DAY)


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _typed(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The columns in order, ids and labels as strings, dates as midnight timestamps."""
    frame = frame.loc[:, list(columns)].copy()
    for column in columns:
        if column in ("entered_at", "as_of"):
            frame[column] = _days(frame[column])
        else:
            frame[column] = frame[column].astype("string")
    return frame.reset_index(drop=True)


def _membership(history: pd.DataFrame | None) -> pd.DataFrame:
    return _typed(
        history if history is not None else _empty(MEMBERSHIP_COLUMNS), MEMBERSHIP_COLUMNS
    )


def _latest_run(history: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest run in `history` (empty when there is none)."""
    if history.empty:
        return history
    return history[history["as_of"] == history["as_of"].max()]


def _anti_join(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Rows of `left` whose (audience, customer_id) is not in `right`."""
    keys = list(MEMBER_COLUMNS)
    merged = left[keys].merge(right[keys].drop_duplicates(), how="left", indicator=True)
    return merged.loc[merged["_merge"] == "left_only", keys].reset_index(drop=True)
