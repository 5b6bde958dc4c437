"""The `campaigns` and `activation` sections of `cdp.yaml`: campaigns with randomised arms,
what each arm gets, and the global control group held out of every campaign."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from cdp_assets.config.base import NAME_PATTERN, StrictModel

OfferType = Literal["coupon", "discount", "recommendations", "none"]
# Shares are percentages; their sum may be off by rounding in the file, not more.
SHARE_TOLERANCE = 1e-6


class CampaignArm(StrictModel):
    """One arm of a campaign: its share of the assigned customers and what it gets."""

    name: str = Field(pattern=NAME_PATTERN)
    share: float = Field(gt=0, le=100, description="percent of the campaign's customers")
    control: bool = Field(False, description="gets nothing and is never exported")
    offer: OfferType = "none"
    coupon_code: str | None = Field(None, min_length=1, max_length=64)
    discount_percent: float | None = Field(None, gt=0, lt=100)

    @model_validator(mode="after")
    def _offer(self) -> CampaignArm:
        if self.control and (self.offer != "none" or self.coupon_code or self.discount_percent):
            raise ValueError("a control arm gets no offer, coupon or discount")
        if self.offer == "coupon" and not self.coupon_code:
            raise ValueError("offer 'coupon' needs coupon_code")
        if self.offer == "discount" and self.discount_percent is None:
            raise ValueError("offer 'discount' needs discount_percent")
        if self.offer in ("recommendations", "none") and (
            self.coupon_code or self.discount_percent
        ):
            raise ValueError(f"offer {self.offer!r} takes no coupon_code or discount_percent")
        return self


class CampaignConfig(StrictModel):
    """A campaign: an audience, the destinations its arms are exported to, its dates, its
    arms, the conversion window and the metric it is judged by."""

    name: str = Field(pattern=NAME_PATTERN)
    audience: str
    destinations: tuple[str, ...] = Field(min_length=1)
    start: dt.date
    end: dt.date
    arms: tuple[CampaignArm, ...] = Field(min_length=1)
    conversion_window_days: int = Field(14, ge=1, le=365)
    primary_metric: Literal["conversion", "revenue"] = "conversion"
    description: str = ""

    @model_validator(mode="after")
    def _arms(self) -> CampaignConfig:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        names = [a.name for a in self.arms]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"arms: names used twice: {', '.join(twice)}")
        if "global_control" in names:
            raise ValueError("arms: 'global_control' is the name of the global control group")
        total = sum(a.share for a in self.arms)
        if abs(total - 100) > SHARE_TOLERANCE:
            raise ValueError(f"arms: shares sum to {total:g} %, not 100 %")
        if sum(a.control for a in self.arms) > 1:
            raise ValueError("arms: at most one control arm")
        return self

    @property
    def control_arm(self) -> str | None:
        return next((a.name for a in self.arms if a.control), None)

    def arm(self, name: str) -> CampaignArm:
        return next(a for a in self.arms if a.name == name)

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


class ActivationConfig(StrictModel):
    """Settings that span campaigns."""

    global_control_share: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="share of all customers held out of every campaign (0.05 = 5 %)",
    )
    assignment_salt: str = Field(
        "cdp",
        min_length=1,
        description="mixed into the assignment hash; changing it re-randomises customers not "
        "yet assigned (assignments already made are kept)",
    )
