"""The `quality` section of `cdp.yaml`: validation thresholds and quarantine shares."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import Field, field_validator, model_validator

from cdp_assets.config.base import StrictModel


class QualityConfig(StrictModel):
    """Thresholds of the validation rules and of the quarantine-share checks."""

    quarantine_warn_share: float = Field(0.05, ge=0, le=1)
    quarantine_fail_share: float = Field(0.25, ge=0, le=1)
    max_order_amount: float = Field(25_000.0, gt=0, description="in the base currency")
    max_unit_price: float = Field(10_000.0, gt=0, description="in the base currency")
    max_quantity: int = Field(1_000, gt=0)
    min_age_years: int = Field(13, ge=0)
    max_age_years: int = Field(110, gt=0)
    earliest_date: dt.date = Field(
        dt.date(1990, 1, 1), description="facts before this are implausible"
    )
    future_tolerance_hours: float = Field(24.0, ge=0)
    test_email_patterns: tuple[str, ...] = Field(
        default=(),
        description="extra regexes (matched against the whole address) that mark test emails",
    )
    disposable_email_domains: tuple[str, ...] = Field(
        default=(), description="extra disposable domains, added to the built-in list"
    )
    duplicate_identifier_limit: int = Field(
        1,
        ge=1,
        description="records of one customer source that may share an email or phone before "
        "the value is flagged",
    )

    @field_validator("test_email_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _warn_below_fail(self) -> QualityConfig:
        if self.quarantine_warn_share > self.quarantine_fail_share:
            raise ValueError("quarantine_warn_share must not exceed quarantine_fail_share")
        return self
