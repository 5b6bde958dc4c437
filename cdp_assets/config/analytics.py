"""The `analytics` section of `cdp.yaml`: RFM segments, holiday windows and audiences."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from cdp_assets.config.base import NAME_PATTERN, StrictModel

# MM-DD; [0-9], not \d, which would take any Unicode digit.
MONTH_DAY_PATTERN = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _score_range(value: str) -> tuple[int, int]:
    # ASCII digits only: int() would also read '٣' or ' 3 '
    found = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", str(value))
    if found is None:
        raise ValueError(f"{value!r} is not a score or a range of scores like '2-3'")
    bounds = (int(found[1]), int(found[2] or found[1]))
    if not 1 <= bounds[0] <= bounds[1] <= 5:
        raise ValueError(f"{value!r}: scores run from 1 to 5")
    return bounds


class RfmSegmentRule(StrictModel):
    """A named RFM segment: the recency and frequency scores (1-5, or a range) it covers."""

    name: str
    recency: str
    frequency: str

    @field_validator("recency", "frequency")
    @classmethod
    def _range(cls, value: str) -> str:
        _score_range(value)
        return str(value)

    def covers(self, r: int, f: int) -> bool:
        r_low, r_high = _score_range(self.recency)
        f_low, f_high = _score_range(self.frequency)
        return r_low <= r <= r_high and f_low <= f <= f_high


# The standard R x F map; the first rule that covers a cell names it.
DEFAULT_RFM_SEGMENTS: tuple[dict[str, str], ...] = (
    {"name": "Champions", "recency": "5", "frequency": "4-5"},
    {"name": "Loyal Customers", "recency": "3-4", "frequency": "4-5"},
    {"name": "Can't Lose Them", "recency": "1-2", "frequency": "5"},
    {"name": "At Risk", "recency": "1-2", "frequency": "3-4"},
    {"name": "Lost", "recency": "1", "frequency": "1"},
    {"name": "Hibernating", "recency": "1-2", "frequency": "1-2"},
    {"name": "Need Attention", "recency": "3", "frequency": "3"},
    {"name": "About to Sleep", "recency": "3", "frequency": "1-2"},
    {"name": "Potential Loyalists", "recency": "4-5", "frequency": "2-3"},
    {"name": "New Customers", "recency": "5", "frequency": "1"},
    {"name": "Promising", "recency": "4", "frequency": "1"},
)


class HolidayWindow(StrictModel):
    """A yearly acquisition window: `start` and `end` as MM-DD (inclusive), or the US Black
    Friday to Cyber Monday weekend with `black_friday: true`."""

    name: str
    start: str | None = Field(None, pattern=MONTH_DAY_PATTERN)
    end: str | None = Field(None, pattern=MONTH_DAY_PATTERN)
    black_friday: bool = False

    @model_validator(mode="after")
    def _dates_or_black_friday(self) -> HolidayWindow:
        if self.black_friday == (self.start is not None or self.end is not None):
            raise ValueError("give either start and end (MM-DD) or black_friday: true")
        if not self.black_friday and (self.start is None or self.end is None):
            raise ValueError("give both start and end (MM-DD)")
        return self


class AudienceRule(StrictModel):
    """A named audience: a rule over customer features, RFM segments and scores."""

    name: str = Field(pattern=NAME_PATTERN)
    rule: str
    description: str = ""


DEFAULT_AUDIENCES: tuple[dict[str, str], ...] = (
    {
        "name": "champions",
        "rule": "rfm_segment == 'Champions'",
        "description": "bought recently, often and the most",
    },
    {
        "name": "at_risk_high_spenders",
        "rule": "rfm_segment in ('At Risk', \"Can't Lose Them\") and monetary >= 500",
        "description": "valuable customers who have not bought for a while",
    },
    {
        "name": "abandoned_cart_24h",
        "rule": "hours_since_abandoned_cart <= 24",
        "description": "left a cart without ordering in the last 24 hours",
    },
    {
        "name": "lapsed_vips",
        "rule": "(loyalty_tier in ('gold', 'platinum') or monetary >= 1000) "
        "and recency_days between 180 and 540",
        "description": "top customers whose last order is 6 to 18 months old",
    },
    {
        "name": "new_customers_30d",
        "rule": "tenure_days <= 30",
        "description": "first order in the last 30 days",
    },
    {
        "name": "detractors",
        "rule": "latest_nps is not null and latest_nps <= 6",
        "description": "gave an NPS of 0 to 6 in their latest survey",
    },
)


class AnalyticsConfig(StrictModel):
    """RFM segments, acquisition windows, service levels and audiences."""

    rfm_segments: tuple[RfmSegmentRule, ...] = Field(
        default_factory=lambda: tuple(RfmSegmentRule(**s) for s in DEFAULT_RFM_SEGMENTS)
    )
    holiday_windows: tuple[HolidayWindow, ...] = Field(
        default_factory=lambda: (
            HolidayWindow(name="Black Friday-Cyber Monday", black_friday=True),
            HolidayWindow(name="11.11", start="11-11", end="11-11"),
            HolidayWindow(name="December", start="12-01", end="12-31"),
        )
    )
    value_horizons_days: tuple[int, ...] = (60, 90, 180)
    support_sla_hours: float = Field(24.0, gt=0)
    audiences: tuple[AudienceRule, ...] = Field(
        default_factory=lambda: tuple(AudienceRule(**a) for a in DEFAULT_AUDIENCES)
    )
    audience_change_warn_share: float = Field(
        0.5, ge=0, description="warn when an audience's size moves by more than this share"
    )

    @model_validator(mode="after")
    def _map_complete(self) -> AnalyticsConfig:
        missing = [
            f"R{r}F{f}"
            for r in range(1, 6)
            for f in range(1, 6)
            if not any(rule.covers(r, f) for rule in self.rfm_segments)
        ]
        if missing:
            raise ValueError(f"rfm_segments: no segment covers {', '.join(missing)}")
        names = [a.name for a in self.audiences]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"audiences: names used twice: {', '.join(duplicated)}")
        return self
