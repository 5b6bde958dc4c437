"""Results of randomised campaigns, measured intention-to-treat by assignment.

A campaign assigns customers at random to arms (e.g. `personalised` 40 %, `generic` 40 %,
`control` 20 %). Every figure here is about the customers *assigned* to an arm, whether or not
they were exported, sent, or opened anything: that is what keeps the comparison randomised.

Point in time: only facts before the end of the `as_of` day (UTC midnight after it, the
*cutoff*) count — assignments, engagement events and orders alike. Export files carry no time,
so they count for customers assigned by the cutoff.

Per (campaign, arm):

* assignment: the first assignment of a customer to a campaign wins (a later re-assignment of
  the same customer is ignored); assignments to an arm the design does not plan are left out of
  every figure and counted in `unplanned_assigned`.
* engagement: distinct assigned customers with at least one event of each type.
* conversion: an assigned customer converts with at least one purchase (`is_purchase`) with
  `assigned_at <= ordered_at < assigned_at + conversion_window_days` and before the cutoff;
  their revenue is the sum of `net_amount_base` (null counts 0) of those purchases. The same
  order listed twice (same customer, order id and time) counts once.
* pre-period revenue (the CUPED covariate): the same sum over purchases in the
  `pre_period_days` days before the customer's assignment.

Uplifts compare each non-control arm with the control arm of its campaign:

* conversion: the difference of conversion rates; the interval is Newcombe's hybrid score
  interval (Newcombe 1998, method 10: Wilson score limits of each rate combined by the square-
  and-add rule), which keeps close to nominal coverage for small rates and small arms where
  the Wald interval undercovers, and never leaves [-1, 1]; the p-value is the two-sided
  two-proportion z-test with the pooled rate.
* revenue: the difference of revenue per assigned customer (non-buyers count 0), with Welch's
  t interval and two-sided p-value (Welch-Satterthwaite degrees of freedom).
* CUPED revenue: Y - theta * (X - mean X) with X the pre-period revenue and theta =
  cov(X, Y) / var(X) pooled over the two arms compared, then Welch as above. It estimates the
  same difference with less variance when X correlates with Y (theta = 0 when X never varies).

Sample ratio mismatch: a chi-square goodness-of-fit test of the assigned counts of the planned
arms against the planned shares; `srm_detected` when p < 0.001.

Everything is vectorised over customers (a numpy join of orders to assignments in bounded
chunks, `bincount` aggregates), so a million customers take seconds. No Dagster here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from cdp_assets.config import CampaignConfig

# column -> (pandas dtype, description)
CAMPAIGN_RESULT_COLUMNS: dict[str, tuple[str, str]] = {
    "campaign": ("string", "the campaign (CampaignDesign.name)"),
    "arm": ("string", "the arm, in the order of the design's shares"),
    "is_control": ("bool", "this arm is the campaign's control arm"),
    "primary_metric": ("string", "conversion | revenue: which uplift the primary_* columns copy"),
    "planned_share": ("float64", "planned share of the campaign's assigned customers"),
    "assigned": ("int64", "customers assigned to the arm by the end of as_of (first assignment)"),
    "observed_share": ("float64", "assigned / customers assigned to the campaign's planned arms"),
    "unplanned_assigned": (
        "int64",
        "customers of the campaign assigned to an arm the design does not plan (left out of "
        "every other figure; repeated on the campaign's rows)",
    ),
    "exported": (
        "int64",
        "distinct customers assigned to the campaign who were in an export file of this arm",
    ),
    "exported_off_arm": (
        "int64",
        "customers assigned to this arm who were in an export file of another arm (crossover)",
    ),
    "sent": ("int64", "assigned customers with a `send` event of the campaign"),
    "delivered": ("int64", "assigned customers with a `delivered` event"),
    "opened": ("int64", "assigned customers with an `open` event"),
    "clicked": ("int64", "assigned customers with a `click` event"),
    "bounced": ("int64", "assigned customers with a `bounce` event"),
    "unsubscribed": ("int64", "assigned customers with an `unsubscribe` event"),
    "complained": ("int64", "assigned customers with a `complaint` event"),
    "delivery_rate": ("float64", "delivered / sent (null: nothing sent)"),
    "open_rate": ("float64", "opened / delivered (null: nothing delivered)"),
    "click_rate": ("float64", "clicked / delivered (null: nothing delivered)"),
    "converters": (
        "int64",
        "assigned customers with a purchase in [assigned_at, assigned_at + window), by as_of",
    ),
    "conversion_rate": ("float64", "converters / assigned (null: nobody assigned)"),
    "revenue": ("float64", "net revenue (base currency) of those purchases"),
    "revenue_per_assigned": ("float64", "revenue / assigned (null: nobody assigned)"),
    "pre_period_revenue_per_assigned": (
        "float64",
        "mean net revenue in the pre_period_days before assignment (the CUPED covariate; "
        "a balance check between arms)",
    ),
    "coupon_code": ("string", "the coupon code the arm received (null: none)"),
    "coupon_redemptions": (
        "Int64",
        "purchases in the window of assigned customers with the arm's coupon code (orders; "
        "null: the arm has no code)",
    ),
    "window_complete": (
        "bool",
        "every assigned customer's conversion window ended by the end of as_of (true when "
        "nobody is assigned)",
    ),
    "assignment_open": (
        "bool",
        "as_of is before the design's end: more customers may still be assigned",
    ),
    "conversion_uplift": ("float64", "conversion_rate - the control's conversion_rate"),
    "conversion_uplift_low": ("float64", "lower limit, Newcombe hybrid score interval"),
    "conversion_uplift_high": ("float64", "upper limit, Newcombe hybrid score interval"),
    "conversion_p_value": (
        "float64",
        "two-sided two-proportion z-test, pooled rate (null: nobody or everybody converted)",
    ),
    "revenue_uplift": (
        "float64",
        "revenue_per_assigned - the control's (non-buyers count 0)",
    ),
    "revenue_uplift_low": ("float64", "lower limit, Welch t interval"),
    "revenue_uplift_high": ("float64", "upper limit, Welch t interval"),
    "revenue_p_value": ("float64", "two-sided Welch t-test (null: no variation in either arm)"),
    "cuped_revenue_uplift": (
        "float64",
        "revenue uplift adjusted by CUPED with pre-period revenue (theta pooled over both arms)",
    ),
    "cuped_revenue_uplift_low": ("float64", "lower limit, Welch t on the adjusted values"),
    "cuped_revenue_uplift_high": ("float64", "upper limit, Welch t on the adjusted values"),
    "cuped_revenue_p_value": ("float64", "two-sided Welch t-test on the adjusted values"),
    "incremental_conversions": ("float64", "conversion_uplift * assigned"),
    "incremental_revenue": ("float64", "revenue_uplift * assigned"),
    "primary_uplift": ("float64", "conversion_uplift or revenue_uplift, by primary_metric"),
    "primary_low": ("float64", "the primary uplift's lower limit"),
    "primary_high": ("float64", "the primary uplift's upper limit"),
    "primary_p_value": ("float64", "the primary uplift's p-value"),
    "srm_p_value": (
        "float64",
        "chi-square goodness of fit of the campaign's assigned counts to the planned shares "
        "(repeated on its rows; null: nobody assigned or a single arm)",
    ),
    "srm_detected": ("boolean", "srm_p_value < 0.001 (null with srm_p_value)"),
    "note": ("string", "why uplift figures are null, when they are"),
}
CAMPAIGN_RESULT_DTYPES: dict[str, str] = {
    name: dtype for name, (dtype, _) in CAMPAIGN_RESULT_COLUMNS.items()
}
CAMPAIGN_RESULT_DESCRIPTIONS: dict[str, str] = {
    name: text for name, (_, text) in CAMPAIGN_RESULT_COLUMNS.items()
}

# event_type -> result column (distinct customers)
EVENT_COLUMNS: dict[str, str] = {
    "send": "sent",
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "unsubscribe": "unsubscribed",
    "complaint": "complained",
}
SRM_ALPHA = 0.001

NOTE_CONTROL = "control arm: the baseline of the uplifts"
NOTE_NO_CONTROL = "no control arm: uplift cannot be measured"
NOTE_EMPTY_CONTROL = "control arm has no customers"
NOTE_EMPTY_ARM = "arm has no customers"
NOTE_TOO_FEW = "fewer than 2 customers in an arm: no revenue intervals"
NOTE_NOT_EXPORTED = (
    "no customer of this arm was in an export file (none had the channel's consent or an "
    "address): the campaign reached nobody, so there is no uplift to measure"
)
# Below this many converters in an arm or its control, the normal approximations behind the
# intervals (Wald, Welch on revenue that is zero for almost everyone) are not to be trusted.
MIN_CONVERTERS = 10
NOTE_FEW_CONVERTERS = (
    f"fewer than {MIN_CONVERTERS} converters in the arm or control: read the intervals with care"
)

_MICROS_PER_DAY = 86_400_000_000
_JOIN_CHUNK = 4_000_000  # order x assignment pairs expanded at once


@dataclass(frozen=True)
class CampaignDesign:
    """A randomised campaign as planned."""

    name: str
    start: dt.date  # first day customers can be assigned
    end: dt.date  # last day of the campaign
    conversion_window_days: int  # a conversion counts within this many days after assignment
    primary_metric: Literal["conversion", "revenue"]
    shares: dict[str, float]  # arm -> planned share of the assigned customers (sums to 1)
    control_arm: str | None  # the arm that gets nothing; None: uplift cannot be measured
    coupon_codes: dict[str, str] = field(default_factory=dict)  # arm -> its coupon code

    def validate(self) -> None:
        """Raise ValueError when the design is inconsistent."""
        where = f"campaign {self.name!r}"
        if not self.shares:
            raise ValueError(f"{where}: no arms")
        if any(not np.isfinite(s) or s < 0 for s in self.shares.values()):
            raise ValueError(f"{where}: shares must be finite and non-negative")
        if abs(sum(self.shares.values()) - 1.0) > 1e-6:
            raise ValueError(f"{where}: shares sum to {sum(self.shares.values())}, not 1")
        if self.control_arm is not None and self.control_arm not in self.shares:
            raise ValueError(f"{where}: control arm {self.control_arm!r} is not in shares")
        if unknown := set(self.coupon_codes) - set(self.shares):
            raise ValueError(f"{where}: coupon codes for unknown arms {sorted(unknown)}")
        if self.conversion_window_days < 1:
            raise ValueError(f"{where}: conversion_window_days must be at least 1")
        if self.primary_metric not in ("conversion", "revenue"):
            raise ValueError(f"{where}: primary_metric must be 'conversion' or 'revenue'")
        if self.end < self.start:
            raise ValueError(f"{where}: ends before it starts")


# ----------------------------------------------------------------------------- inputs


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> pd.DataFrame:
    """`frame` with `columns`; an empty frame may lack them (they are added, empty)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{name} lacks columns {missing}")
    if missing:
        frame = frame.assign(**{c: pd.Series([], dtype=object) for c in missing})
    return frame


def _micros(values: pd.Series) -> np.ndarray:
    """UTC instants as int64 microseconds since the epoch (NaT: int64 min)."""
    utc = pd.to_datetime(values, utc=True).dt.tz_convert(None)
    return utc.to_numpy(dtype="datetime64[us]").view("int64")


def _cutoff_micros(as_of: dt.date) -> int:
    """UTC midnight after `as_of`, microseconds since the epoch."""
    return (as_of + dt.timedelta(days=1) - dt.date(1970, 1, 1)).days * _MICROS_PER_DAY


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The values as Arrow large strings (zero-copy for Arrow-backed string columns)."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = values.astype("string[pyarrow]")
    return pa.array(values).cast(pa.large_string())


def _value_set(values: Sequence[str]) -> pa.Array:
    return pa.array(list(values), type=pa.large_string())


def _codes(values: pd.Series, value_set: pa.Array) -> np.ndarray:
    """Position of each value in `value_set` (-1: absent or null), by Arrow's hash lookup."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    found = pc.fill_null(pc.index_in(_arrow(values), value_set=value_set), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class _Arms:
    """The planned arms of all designs, one row per (campaign, arm) in output order."""

    frame: pd.DataFrame  # campaign, arm, is_control, primary_metric, planned_share, coupon_code
    campaign_of: np.ndarray  # arm row -> campaign index
    control_of: np.ndarray  # arm row -> arm row of its campaign's control (-1: none)
    window_us: np.ndarray  # campaign index -> conversion window, microseconds
    campaigns: pa.Array  # campaign names
    arm_names: pa.Array  # every arm name of any design
    row_table: np.ndarray  # [campaign index, arm name index] -> arm row (-1: not planned)
    coupon_of: np.ndarray  # arm row -> coupon index in `coupons` (-1: none)
    coupons: pa.Array

    def rows(self, campaign: np.ndarray, arm_name: np.ndarray) -> np.ndarray:
        """The arm row of (campaign index, arm name index) pairs (-1: not planned)."""
        valid = (campaign >= 0) & (arm_name >= 0)
        if not len(self.frame):
            return np.full(len(campaign), -1, dtype=np.int64)
        return np.where(valid, self.row_table[np.maximum(campaign, 0), np.maximum(arm_name, 0)], -1)


def _arms(designs: Sequence[CampaignDesign]) -> _Arms:
    names = [d.name for d in designs]
    if len(set(names)) != len(names):
        raise ValueError("campaign names must be unique")
    for design in designs:
        design.validate()
    arm_names = list(dict.fromkeys(arm for d in designs for arm in d.shares))
    coupons = sorted({c for d in designs for c in d.coupon_codes.values()})
    row_table = np.full((len(designs), max(len(arm_names), 1)), -1, dtype=np.int64)
    rows: list[dict[str, object]] = []
    campaign_of: list[int] = []
    control_of: list[int] = []
    for c, design in enumerate(designs):
        first = len(rows)
        arms = list(design.shares)
        for arm in arms:
            row_table[c, arm_names.index(arm)] = len(rows)
            campaign_of.append(c)
            control_of.append(
                first + arms.index(design.control_arm) if design.control_arm is not None else -1
            )
            rows.append(
                {
                    "campaign": design.name,
                    "arm": arm,
                    "is_control": arm == design.control_arm,
                    "primary_metric": design.primary_metric,
                    "planned_share": float(design.shares[arm]),
                    "coupon_code": design.coupon_codes.get(arm),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=["campaign", "arm", "is_control", "primary_metric", "planned_share", "coupon_code"],
    )
    coupon_of = [coupons.index(r["coupon_code"]) if r["coupon_code"] else -1 for r in rows]
    return _Arms(
        frame=frame,
        campaign_of=np.asarray(campaign_of, dtype=np.int64),
        control_of=np.asarray(control_of, dtype=np.int64),
        window_us=np.asarray(
            [d.conversion_window_days * _MICROS_PER_DAY for d in designs], dtype=np.int64
        ),
        campaigns=_value_set(names),
        arm_names=_value_set(arm_names),
        row_table=row_table,
        coupon_of=np.asarray(coupon_of, dtype=np.int64),
        coupons=_value_set(coupons),
    )


@dataclass
class _Assigned:
    """The campaigns' assigned customers (first assignment, planned arms), sorted by key."""

    arm: np.ndarray  # arm row
    campaign: np.ndarray  # campaign index
    customer: np.ndarray  # index into `customers`
    assigned_us: np.ndarray
    key: np.ndarray  # campaign * len(customers) + customer, ascending and unique
    customers: pa.Array  # distinct customer ids of the kept assignments
    unplanned: np.ndarray  # campaign index -> customers assigned to unplanned arms


def _assigned(arms: _Arms, assignments: pd.DataFrame, cutoff_us: int) -> _Assigned:
    frame = _require(assignments, ["campaign", "customer_id", "arm", "assigned_at"], "assignments")
    campaign = _codes(frame["campaign"], arms.campaigns)
    at = _micros(frame["assigned_at"])
    keep = (campaign >= 0) & frame["customer_id"].notna().to_numpy() & (at < cutoff_us)
    keep &= at != np.iinfo(np.int64).min
    index = np.flatnonzero(keep)
    campaign, at = campaign[index], at[index]
    ids = _arrow(frame["customer_id"]).take(pa.array(index))
    customers = pc.unique(ids)
    if isinstance(customers, pa.ChunkedArray):
        customers = customers.combine_chunks()
    customer = _codes_arrow(ids, customers)
    arm = arms.rows(campaign, _codes(frame["arm"].iloc[index], arms.arm_names))
    key = campaign * max(len(customers), 1) + customer
    # the first assignment of a customer to a campaign wins
    order = np.lexsort((at, key))
    key, arm, campaign, customer, at = (x[order] for x in (key, arm, campaign, customer, at))
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, arm, campaign, customer, at = (x[first] for x in (key, arm, campaign, customer, at))
    planned = arm >= 0
    unplanned = np.bincount(campaign[~planned], minlength=len(arms.campaigns))
    return _Assigned(
        arm=arm[planned],
        campaign=campaign[planned],
        customer=customer[planned],
        assigned_us=at[planned],
        key=key[planned],
        customers=customers,
        unplanned=unplanned.astype(np.int64),
    )


def _codes_arrow(values: pa.Array | pa.ChunkedArray, value_set: pa.Array) -> np.ndarray:
    found = pc.fill_null(pc.index_in(values, value_set=value_set), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def _assignment_rows(assigned: _Assigned, campaign: np.ndarray, customer: np.ndarray) -> np.ndarray:
    """The assigned row of each (campaign index, customer index) pair (-1: not assigned)."""
    if len(assigned.key) == 0:
        return np.full(len(campaign), -1, dtype=np.int64)
    key = campaign * max(len(assigned.customers), 1) + customer
    position = np.minimum(np.searchsorted(assigned.key, key), len(assigned.key) - 1)
    found = (campaign >= 0) & (customer >= 0) & (assigned.key[position] == key)
    return np.where(found, position, -1)


# ----------------------------------------------------------------------------- outcomes


@dataclass
class _Outcomes:
    """Per assigned row: the conversion-window and pre-period facts."""

    converted: np.ndarray  # bool
    first_conversion_us: np.ndarray  # int64, meaningful where converted
    revenue: np.ndarray  # float64, in the window
    pre_revenue: np.ndarray  # float64, in the pre-period
    redemptions: np.ndarray  # int64, purchases in the window with the arm's coupon code


def _outcomes(
    arms: _Arms,
    assigned: _Assigned,
    orders: pd.DataFrame,
    cutoff_us: int,
    pre_period_days: int,
) -> _Outcomes:
    n = len(assigned.key)
    converted = np.zeros(n, dtype=bool)
    first_us = np.zeros(n, dtype=np.int64)
    revenue = np.zeros(n, dtype=np.float64)
    pre_revenue = np.zeros(n, dtype=np.float64)
    redemptions = np.zeros(n, dtype=np.int64)
    frame = _require(
        orders,
        ["customer_id", "order_id", "ordered_at", "net_amount_base", "is_purchase", "coupon_code"],
        "orders",
    )
    if n == 0 or len(frame) == 0:
        return _Outcomes(converted, first_us, revenue, pre_revenue, redemptions)
    pre_us = int(pre_period_days) * _MICROS_PER_DAY
    t = _micros(frame["ordered_at"])
    customer = _codes(frame["customer_id"], assigned.customers)
    purchase = frame["is_purchase"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    keep = purchase & (customer >= 0) & (t < cutoff_us)
    keep &= t >= assigned.assigned_us.min() - pre_us
    index = np.flatnonzero(keep)
    # orders sorted by customer, then time: each customer's orders are one slice
    order = np.lexsort((t[index], customer[index]))
    index = index[order]
    o_customer, o_t = customer[index], t[index]
    # the same order listed twice (same customer, time and order id) counts once
    tie = (o_customer[1:] == o_customer[:-1]) & (o_t[1:] == o_t[:-1])
    if tie.any():
        candidate = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])
        ids = frame["order_id"].iloc[index[candidate]]
        repeated = (
            pd.DataFrame(
                {"customer": o_customer[candidate], "t": o_t[candidate], "id": ids.to_numpy()}
            )
            .duplicated()
            .to_numpy()
            & ids.notna().to_numpy()
        )
        unique = np.ones(len(index), dtype=bool)
        unique[candidate[repeated]] = False
        index, o_customer, o_t = index[unique], o_customer[unique], o_t[unique]
    o_amount = (
        pd.to_numeric(frame["net_amount_base"].iloc[index], errors="coerce")
        .astype("float64")
        .fillna(0.0)
        .to_numpy(dtype=np.float64)
    )
    o_coupon = _codes(frame["coupon_code"].iloc[index], arms.coupons) if len(arms.coupons) else None
    per_customer = np.bincount(o_customer, minlength=len(assigned.customers))
    slice_start = np.cumsum(per_customer) - per_customer
    pairs = per_customer[assigned.customer]  # orders to look at per assigned row
    cumulative = np.cumsum(pairs)
    total = int(cumulative[-1]) if n else 0
    bounds = np.unique(
        np.concatenate(
            [[0], np.searchsorted(cumulative, np.arange(_JOIN_CHUNK, total, _JOIN_CHUNK)), [n]]
        )
    )
    window = arms.window_us[assigned.campaign]
    arm_coupon = arms.coupon_of[assigned.arm]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        count = pairs[lo:hi]
        size = int(count.sum())
        if size == 0:
            continue
        row = np.repeat(np.arange(lo, hi), count)
        offset = np.arange(size) - np.repeat(np.cumsum(count) - count, count)
        position = slice_start[assigned.customer[row]] + offset
        ts = o_t[position]
        start = assigned.assigned_us[row]
        in_window = (ts >= start) & (ts < start + window[row])  # all are before the cutoff
        in_pre = (ts >= start - pre_us) & (ts < start)
        w_row = row[in_window] - lo
        revenue[lo:hi] += np.bincount(
            w_row, weights=o_amount[position][in_window], minlength=hi - lo
        )
        pre_revenue[lo:hi] += np.bincount(
            row[in_pre] - lo, weights=o_amount[position][in_pre], minlength=hi - lo
        )
        if len(w_row):
            # rows are grouped and each customer's orders ascend in time: the first is the min
            head = np.ones(len(w_row), dtype=bool)
            head[1:] = w_row[1:] != w_row[:-1]
            converted[lo + w_row[head]] = True
            first_us[lo + w_row[head]] = ts[in_window][head]
        if o_coupon is not None:
            code = arm_coupon[row]
            redeemed = in_window & (code >= 0) & (o_coupon[position] == code)
            redemptions[lo:hi] += np.bincount(row[redeemed] - lo, minlength=hi - lo)
    return _Outcomes(converted, first_us, revenue, pre_revenue, redemptions)


def _engagement(arms: _Arms, assigned: _Assigned, events: pd.DataFrame, cutoff_us: int):
    """arm row x event type: distinct assigned customers with such an event."""
    counts = np.zeros((len(arms.frame), len(EVENT_COLUMNS)), dtype=np.int64)
    frame = _require(events, ["campaign", "customer_id", "event_type", "occurred_at"], "events")
    if len(frame) == 0 or len(assigned.key) == 0:
        return counts
    kind = _codes(frame["event_type"], _value_set(EVENT_COLUMNS))
    t = _micros(frame["occurred_at"])
    row = _assignment_rows(
        assigned,
        _codes(frame["campaign"], arms.campaigns),
        _codes(frame["customer_id"], assigned.customers),
    )
    keep = (kind >= 0) & (row >= 0) & (t < cutoff_us) & (t != np.iinfo(np.int64).min)
    seen = np.zeros(len(assigned.key) * len(EVENT_COLUMNS), dtype=bool)
    seen[row[keep] * len(EVENT_COLUMNS) + kind[keep]] = True
    seen = seen.reshape(len(assigned.key), len(EVENT_COLUMNS))
    for k in range(len(EVENT_COLUMNS)):
        counts[:, k] = np.bincount(assigned.arm[seen[:, k]], minlength=len(arms.frame))
    return counts


def _exports(arms: _Arms, assigned: _Assigned, exported: pd.DataFrame):
    """(exported, exported_off_arm) per arm row."""
    n_arms = len(arms.frame)
    in_file = np.zeros(n_arms, dtype=np.int64)
    off_arm = np.zeros(n_arms, dtype=np.int64)
    frame = _require(exported, ["campaign", "arm", "customer_id"], "exported")
    if len(frame) == 0 or len(assigned.key) == 0:
        return in_file, off_arm
    campaign = _codes(frame["campaign"], arms.campaigns)
    row = _assignment_rows(assigned, campaign, _codes(frame["customer_id"], assigned.customers))
    file_arm = arms.rows(campaign, _codes(frame["arm"], arms.arm_names))
    keep = (row >= 0) & (file_arm >= 0)
    row, file_arm = row[keep], file_arm[keep]
    same = file_arm == assigned.arm[row]
    flag = np.zeros(len(assigned.key), dtype=bool)
    flag[row[same]] = True
    in_file += np.bincount(assigned.arm[flag], minlength=n_arms)
    crossed = np.unique(row[~same].astype(np.int64) * n_arms + file_arm[~same])
    in_file += np.bincount(crossed % n_arms, minlength=n_arms)
    off = np.zeros(len(assigned.key), dtype=bool)
    off[crossed // n_arms] = True
    off_arm += np.bincount(assigned.arm[off], minlength=n_arms)
    return in_file, off_arm


# ----------------------------------------------------------------------------- statistics


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (NaN where trials is 0)."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = _divide(k, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / scale
        half = z / scale * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_difference(
    k1: np.ndarray, n1: np.ndarray, k0: np.ndarray, n0: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p1 - p0 with Newcombe's hybrid score interval (1998, method 10)."""
    p1, p0 = _divide(k1, n1), _divide(k0, n0)
    low1, high1 = wilson_interval(k1, n1, confidence)
    low0, high0 = wilson_interval(k0, n0, confidence)
    difference = p1 - p0
    low = difference - np.sqrt((p1 - low1) ** 2 + (high0 - p0) ** 2)
    high = difference + np.sqrt((high1 - p1) ** 2 + (p0 - low0) ** 2)
    return difference, low, high


def two_proportion_p_value(
    k1: np.ndarray, n1: np.ndarray, k0: np.ndarray, n0: np.ndarray
) -> np.ndarray:
    """Two-sided z-test of p1 = p0 with the pooled rate (NaN when undefined)."""
    k1, n1, k0, n0 = (np.asarray(x, dtype=np.float64) for x in (k1, n1, k0, n0))
    pooled = _divide(k1 + k0, n1 + n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        z = (_divide(k1, n1) - _divide(k0, n0)) / se
    p = 2 * stats.norm.sf(np.abs(z))
    return np.where((se > 0) & np.isfinite(se), p, np.nan)


def welch(
    mean1: np.ndarray,
    var1: np.ndarray,
    n1: np.ndarray,
    mean0: np.ndarray,
    var0: np.ndarray,
    n0: np.ndarray,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's interval and two-sided p-value of mean1 - mean0 from summary figures
    (sample variances, ddof=1). NaN unless both n >= 2; a zero standard error gives the
    point as the interval and a null p-value."""
    m1, v1, n1, m0, v0, n0 = (
        np.asarray(x, dtype=np.float64) for x in (mean1, var1, n1, mean0, var0, n0)
    )
    ok = (n1 >= 2) & (n0 >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = v1 / n1, v0 / n0
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n0 - 1))
        difference = m1 - m0
        t = difference / se
    positive = ok & (se > 0)
    safe_df = np.where(positive, df, 1.0)
    quantile = stats.t.ppf(0.5 + confidence / 2, safe_df)
    p = np.where(positive, 2 * stats.t.sf(np.abs(np.where(positive, t, 0.0)), safe_df), np.nan)
    half = np.where(positive, quantile * se, 0.0)
    low = np.where(ok, difference - half, np.nan)
    high = np.where(ok, difference + half, np.nan)
    return low, high, p


def srm_p_values(
    observed: np.ndarray, shares: np.ndarray, campaign: np.ndarray, n_campaigns: int
) -> np.ndarray:
    """Per campaign: chi-square goodness of fit of the observed counts to the planned shares
    (arms planned at 0 % are left out unless they have customers: then p = 0)."""
    observed = np.asarray(observed, dtype=np.float64)
    total = np.bincount(campaign, weights=observed, minlength=n_campaigns)
    expected = total[campaign] * shares
    planned = shares > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(planned, (observed - expected) ** 2 / expected, 0.0)
    statistic = np.bincount(campaign, weights=np.nan_to_num(term), minlength=n_campaigns)
    df = np.bincount(campaign, weights=planned.astype(float), minlength=n_campaigns) - 1
    impossible = np.bincount(
        campaign, weights=((~planned) & (observed > 0)).astype(float), minlength=n_campaigns
    )
    p = np.where(df >= 1, stats.chi2.sf(statistic, np.maximum(df, 1)), np.nan)
    p = np.where(impossible > 0, 0.0, p)
    return np.where(total > 0, p, np.nan)


def _arm_moments(arm: np.ndarray, n_arms: int, y: np.ndarray, x: np.ndarray):
    """Per arm: count, means of y and x, and the centred sums Syy, Sxx, Sxy (stable two-pass)."""
    n = np.bincount(arm, minlength=n_arms).astype(np.float64)
    mean_y = _divide(np.bincount(arm, weights=y, minlength=n_arms), n)
    mean_x = _divide(np.bincount(arm, weights=x, minlength=n_arms), n)
    dy = y - np.nan_to_num(mean_y)[arm]
    dx = x - np.nan_to_num(mean_x)[arm]
    syy = np.bincount(arm, weights=dy * dy, minlength=n_arms)
    sxx = np.bincount(arm, weights=dx * dx, minlength=n_arms)
    sxy = np.bincount(arm, weights=dx * dy, minlength=n_arms)
    return n, np.nan_to_num(mean_y), np.nan_to_num(mean_x), syy, sxx, sxy


# ----------------------------------------------------------------------------- results


def _empty_results() -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series([], dtype=dtype) for name, dtype in CAMPAIGN_RESULT_DTYPES.items()}
    )


def campaign_results(
    designs: Sequence[CampaignDesign],
    assignments: pd.DataFrame,
    exported: pd.DataFrame,
    events: pd.DataFrame,
    orders: pd.DataFrame,
    as_of: dt.date,
    pre_period_days: int = 180,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per (campaign, arm), arms in the order of the design's shares, with the columns
    of CAMPAIGN_RESULT_COLUMNS (see the module docstring for the definitions and methods).

    Inputs: `assignments` (campaign, customer_id, arm, assigned_at), `exported` (campaign,
    arm, customer_id), `events` (campaign, customer_id, event_type, occurred_at), `orders`
    (customer_id, order_id, ordered_at, net_amount_base, is_purchase, coupon_code); rows of
    campaigns not in `designs` are ignored. Intervals are at `confidence`.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if pre_period_days < 0:
        raise ValueError("pre_period_days must be non-negative")
    arms = _arms(designs)
    if len(arms.frame) == 0:
        return _empty_results()
    cutoff_us = _cutoff_micros(as_of)
    assigned = _assigned(arms, assignments, cutoff_us)
    outcomes = _outcomes(arms, assigned, orders, cutoff_us, pre_period_days)
    n_arms = len(arms.frame)
    out = arms.frame.copy()

    n, mean_y, mean_x, syy, sxx, sxy = _arm_moments(
        assigned.arm, n_arms, outcomes.revenue, outcomes.pre_revenue
    )
    converters = np.bincount(assigned.arm[outcomes.converted], minlength=n_arms)
    campaign_total = np.bincount(arms.campaign_of, weights=n, minlength=len(arms.campaigns))
    out["assigned"] = n.astype(np.int64)
    out["observed_share"] = _divide(n, campaign_total[arms.campaign_of])
    out["unplanned_assigned"] = assigned.unplanned[arms.campaign_of]
    out["exported"], out["exported_off_arm"] = _exports(arms, assigned, exported)
    engagement = _engagement(arms, assigned, events, cutoff_us)
    for k, column in enumerate(EVENT_COLUMNS.values()):
        out[column] = engagement[:, k]
    out["delivery_rate"] = _divide(out["delivered"], out["sent"])
    out["open_rate"] = _divide(out["opened"], out["delivered"])
    out["click_rate"] = _divide(out["clicked"], out["delivered"])
    out["converters"] = converters
    out["conversion_rate"] = _divide(converters, n)
    out["revenue"] = np.bincount(assigned.arm, weights=outcomes.revenue, minlength=n_arms)
    out["revenue_per_assigned"] = _divide(out["revenue"], n)
    out["pre_period_revenue_per_assigned"] = np.where(n > 0, mean_x, np.nan)
    redemptions = np.bincount(assigned.arm, weights=outcomes.redemptions, minlength=n_arms)
    out["coupon_redemptions"] = pd.array(
        np.where(arms.coupon_of >= 0, redemptions, 0).astype(np.int64), dtype="Int64"
    )
    out.loc[arms.coupon_of < 0, "coupon_redemptions"] = pd.NA
    window_end = assigned.assigned_us + arms.window_us[assigned.campaign]
    late = np.bincount(assigned.arm[window_end > cutoff_us], minlength=n_arms)
    out["window_complete"] = late == 0
    ends = np.asarray([np.datetime64(d.end) for d in designs], dtype="datetime64[D]")
    out["assignment_open"] = ends[arms.campaign_of] > np.datetime64(as_of)

    # uplifts against the control arm of the campaign
    control = arms.control_of
    has_control = control >= 0
    c = np.where(has_control, control, 0)
    n0 = np.where(has_control, n[c], np.nan)
    treated = has_control & ~out["is_control"].to_numpy()
    measurable = treated & (n > 0) & (n0 > 0)
    mask = np.where(measurable, 1.0, np.nan)
    k0 = converters[c]
    difference, low, high = newcombe_difference(converters, n, k0, n0, confidence)
    out["conversion_uplift"] = difference * mask
    out["conversion_uplift_low"] = low * mask
    out["conversion_uplift_high"] = high * mask
    out["conversion_p_value"] = two_proportion_p_value(converters, n, k0, n0) * mask

    var1 = _divide(syy, n - 1)
    var0 = var1[c]
    out["revenue_uplift"] = (mean_y - mean_y[c]) * mask
    low, high, p = welch(mean_y, var1, n, mean_y[c], var0, n0, confidence)
    out["revenue_uplift_low"], out["revenue_uplift_high"] = low * mask, high * mask
    out["revenue_p_value"] = p * mask

    # CUPED: theta = cov(X, Y) / var(X) over the two arms together
    weight = _divide(n * n0, n + n0)
    pooled_sxx = sxx + sxx[c] + weight * (mean_x - mean_x[c]) ** 2
    pooled_sxy = sxy + sxy[c] + weight * (mean_x - mean_x[c]) * (mean_y - mean_y[c])
    theta = np.where(pooled_sxx > 0, _divide(pooled_sxy, pooled_sxx), 0.0)
    adjusted1 = mean_y - theta * mean_x
    adjusted0 = mean_y[c] - theta * mean_x[c]
    adj_var1 = _divide(syy - 2 * theta * sxy + theta**2 * sxx, n - 1)
    adj_var0 = _divide(syy[c] - 2 * theta * sxy[c] + theta**2 * sxx[c], n0 - 1)
    low, high, p = welch(
        adjusted1, np.maximum(adj_var1, 0), n, adjusted0, np.maximum(adj_var0, 0), n0, confidence
    )
    out["cuped_revenue_uplift"] = (adjusted1 - adjusted0) * mask
    out["cuped_revenue_uplift_low"], out["cuped_revenue_uplift_high"] = low * mask, high * mask
    out["cuped_revenue_p_value"] = p * mask

    out["incremental_conversions"] = out["conversion_uplift"] * n
    out["incremental_revenue"] = out["revenue_uplift"] * n
    revenue_metric = (out["primary_metric"] == "revenue").to_numpy()
    for target, conversion, revenue in (
        ("primary_uplift", "conversion_uplift", "revenue_uplift"),
        ("primary_low", "conversion_uplift_low", "revenue_uplift_low"),
        ("primary_high", "conversion_uplift_high", "revenue_uplift_high"),
        ("primary_p_value", "conversion_p_value", "revenue_p_value"),
    ):
        out[target] = np.where(revenue_metric, out[revenue], out[conversion])

    srm = srm_p_values(n, out["planned_share"].to_numpy(), arms.campaign_of, len(arms.campaigns))[
        arms.campaign_of
    ]
    out["srm_p_value"] = srm
    out["srm_detected"] = pd.array(np.where(np.isnan(srm), None, srm < SRM_ALPHA), dtype="boolean")
    few = np.minimum(converters, np.where(has_control, k0, np.inf)) < MIN_CONVERTERS
    out["note"] = _notes(out["is_control"].to_numpy(), has_control, n, n0, measurable, few)
    return out[list(CAMPAIGN_RESULT_DTYPES)].astype(CAMPAIGN_RESULT_DTYPES).reset_index(drop=True)


def _notes(
    is_control: np.ndarray,
    has_control: np.ndarray,
    n: np.ndarray,
    n0: np.ndarray,
    measurable: np.ndarray,
    few_converters: np.ndarray,
) -> pd.Series:
    control_empty = has_control & ~(n0 > 0)
    note = np.select(
        [
            ~has_control,
            is_control & control_empty,
            is_control,
            control_empty,
            n == 0,
            measurable & ((n < 2) | (n0 < 2)),
            measurable & few_converters,
        ],
        [
            NOTE_NO_CONTROL,
            NOTE_EMPTY_CONTROL,
            NOTE_CONTROL,
            NOTE_EMPTY_CONTROL,
            NOTE_EMPTY_ARM,
            NOTE_TOO_FEW,
            NOTE_FEW_CONVERTERS,
        ],
        default="",
    )
    return pd.Series(note, dtype="string").replace("", pd.NA)


# ----------------------------------------------------------------------------- plots


def cumulative_conversion_curves(
    designs: Sequence[CampaignDesign],
    assignments: pd.DataFrame,
    orders: pd.DataFrame,
    as_of: dt.date,
) -> pd.DataFrame:
    """Per (campaign, arm, day 0..window): the share of assigned customers observed for at
    least `day` days who converted within `day` days of assignment (customers assigned too
    recently to have been observed that long are left out of that day's share)."""
    columns = {
        "campaign": "string",
        "arm": "string",
        "day": "int64",
        "observed": "int64",
        "converted": "int64",
        "share": "float64",
    }
    arms = _arms(designs)
    if len(arms.frame) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    cutoff_us = _cutoff_micros(as_of)
    assigned = _assigned(arms, assignments, cutoff_us)
    outcomes = _outcomes(arms, assigned, orders, cutoff_us, 0)
    windows = arms.window_us // _MICROS_PER_DAY  # per campaign
    days = windows[arms.campaign_of]  # per arm row
    offsets = np.cumsum(days + 1) - (days + 1)  # each arm row's block of days 0..window
    size = int((days + 1).sum())
    window_days = days[assigned.arm]
    observed_days = np.minimum((cutoff_us - assigned.assigned_us) // _MICROS_PER_DAY, window_days)
    base = offsets[assigned.arm]
    # observed on days 0..observed_days; converted from floor(delay) + 1 on
    seen = np.bincount(base, minlength=size + 1) - np.bincount(
        base + observed_days + 1, minlength=size + 1
    )
    delay = (outcomes.first_conversion_us - assigned.assigned_us) // _MICROS_PER_DAY + 1
    starts = outcomes.converted & (delay <= observed_days)
    hit = np.bincount(base[starts] + delay[starts], minlength=size + 1) - np.bincount(
        base[starts] + observed_days[starts] + 1, minlength=size + 1
    )
    block = np.repeat(np.arange(len(arms.frame)), days + 1)
    # cumulative within each arm's block (the differences cancel at the block's end)
    observed = np.cumsum(seen[:size])
    converted = np.cumsum(hit[:size])
    frame = pd.DataFrame(
        {
            "campaign": arms.frame["campaign"].to_numpy()[block],
            "arm": arms.frame["arm"].to_numpy()[block],
            "day": np.arange(size) - offsets[block],
            "observed": observed,
            "converted": converted,
            "share": _divide(converted, observed),
        }
    )
    return frame.astype(columns)


def cumulative_conversion_plot(
    designs: Sequence[CampaignDesign],
    assignments: pd.DataFrame,
    orders: pd.DataFrame,
    as_of: dt.date,
) -> str:
    """Cumulative share converted by days since assignment, one line per arm and one panel
    per campaign, as a markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_assets.analytics.rfm import figure_markdown

    curves = cumulative_conversion_curves(designs, assignments, orders, as_of)
    names = [d.name for d in designs] or [""]
    fig, axes = plt.subplots(
        len(names), 1, figsize=(6, 2.8 * len(names)), squeeze=False, sharex=False
    )
    for ax, name in zip(axes[:, 0], names, strict=True):
        campaign = curves[curves["campaign"] == name]
        for arm, line in campaign.groupby("arm", sort=False):
            ax.step(line["day"], 100 * line["share"], where="post", label=str(arm))
        ax.set_title(name or "no campaigns")
        ax.set_xlabel("days since assignment")
        ax.set_ylabel("converted (%)")
        if len(campaign):
            ax.legend(fontsize="small")
    fig.tight_layout()
    return figure_markdown(fig, "Cumulative conversion by arm")


def uplift_plot(results: pd.DataFrame) -> str:
    """Each non-control arm's primary uplift with its interval and a vertical zero line, one
    panel per primary metric (conversion in percentage points, revenue per assigned customer),
    as a markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdp_assets.analytics.rfm import figure_markdown

    shown = results[results["primary_uplift"].notna()] if len(results) else results
    metrics = [m for m in ("conversion", "revenue") if (shown["primary_metric"] == m).any()]
    panels = metrics or ["none"]
    heights = [max(1, int((shown["primary_metric"] == m).sum())) for m in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(6, 1.2 + 0.45 * sum(heights) + 0.6 * len(panels)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, metric in zip(axes[:, 0], panels, strict=True):
        ax.axvline(0.0, color="grey", linewidth=1)
        if metric == "none":
            ax.set_title("no measurable uplift")
            ax.set_yticks([])
            continue
        rows = shown[shown["primary_metric"] == metric]
        scale = 100.0 if metric == "conversion" else 1.0
        estimate = rows["primary_uplift"].to_numpy(dtype=float) * scale
        low = rows["primary_low"].to_numpy(dtype=float, na_value=np.nan) * scale
        high = rows["primary_high"].to_numpy(dtype=float, na_value=np.nan) * scale
        position = np.arange(len(rows))[::-1]
        errors = np.vstack([np.nan_to_num(estimate - low), np.nan_to_num(high - estimate)])
        ax.errorbar(estimate, position, xerr=errors, fmt="o", color="#4477aa", capsize=3)
        ax.set_yticks(position)
        ax.set_yticklabels([f"{r.campaign} / {r.arm}" for r in rows.itertuples()])
        ax.set_xlabel(
            "conversion uplift (percentage points)"
            if metric == "conversion"
            else "revenue uplift per assigned customer"
        )
    fig.tight_layout()
    return figure_markdown(fig, "Campaign uplift")


# The figures an arm has only when it can be compared with its control.
UPLIFT_COLUMNS: tuple[str, ...] = tuple(
    f"{stem}{suffix}"
    for stem in ("conversion_uplift", "revenue_uplift", "cuped_revenue_uplift")
    for suffix in ("", "_low", "_high")
) + (
    "conversion_p_value", "revenue_p_value", "cuped_revenue_p_value",
    "incremental_conversions", "incremental_revenue",
    "primary_uplift", "primary_low", "primary_high", "primary_p_value",
)  # fmt: skip


def without_unexported_arms(results: pd.DataFrame) -> pd.DataFrame:
    """`campaign_results` rows where a treated arm has assigned customers but none of them
    was exported get null uplift figures and `NOTE_NOT_EXPORTED`: the arm was never sent
    anything (no consent on the channel, no address), so the difference from the control is
    chance, not the campaign. Apply to campaigns whose arms are exported by the platform (not
    to the marketing programme, whose arms are no export's)."""
    unexported = (
        ~results["is_control"].fillna(False).astype(bool)
        & results["assigned"].fillna(0).gt(0)
        & results["exported"].fillna(0).eq(0)
    ).to_numpy()
    if not unexported.any():
        return results
    out = results.copy()
    for column in UPLIFT_COLUMNS:
        out.loc[unexported, column] = pd.NA
    out.loc[unexported, "note"] = NOTE_NOT_EXPORTED
    return out.astype(CAMPAIGN_RESULT_DTYPES)


PROGRAMME = "all_campaigns"  # the pseudo-campaign that measures marketing as a whole
PROGRAMME_ARMS = ("marketed", "global_control")


def marketing_programme(
    designs: Sequence[CampaignDesign],
    assignments: pd.DataFrame,
    global_control_share: float,
    global_control_arm: str = "global_control",
) -> tuple[CampaignDesign, pd.DataFrame] | None:
    """The total lift of marketing: every customer assigned to any campaign, at their first
    assignment, either `marketed` (in some arm, a campaign's own control included) or held
    out of every campaign (`global_control`). None without a global control group.

    Conversion window: the longest of the campaigns'; primary metric: revenue per customer."""
    if global_control_share <= 0 or not designs or assignments.empty:
        return None
    first = assignments.sort_values("assigned_at", kind="stable").drop_duplicates("customer_id")
    held_out = first["arm"] == global_control_arm
    programme = pd.DataFrame(
        {
            "campaign": PROGRAMME,
            "customer_id": first["customer_id"].to_numpy(),
            "arm": np.where(held_out, PROGRAMME_ARMS[1], PROGRAMME_ARMS[0]),
            "assigned_at": first["assigned_at"].to_numpy(),
        }
    )
    design = CampaignDesign(
        name=PROGRAMME,
        start=min(d.start for d in designs),
        end=max(d.end for d in designs),
        conversion_window_days=max(d.conversion_window_days for d in designs),
        primary_metric="revenue",
        shares={
            PROGRAMME_ARMS[0]: 1 - global_control_share,
            PROGRAMME_ARMS[1]: global_control_share,
        },
        control_arm=PROGRAMME_ARMS[1],
    )
    return design, programme


def design_of(campaign: CampaignConfig) -> CampaignDesign:
    """The measurement design of a campaign of cdp.yaml (its shares as fractions)."""
    return CampaignDesign(
        name=campaign.name,
        start=campaign.start,
        end=campaign.end,
        conversion_window_days=campaign.conversion_window_days,
        primary_metric=campaign.primary_metric,
        shares={a.name: a.share / 100 for a in campaign.arms},
        control_arm=campaign.control_arm,
        coupon_codes={a.name: a.coupon_code for a in campaign.arms if a.coupon_code},
    )
