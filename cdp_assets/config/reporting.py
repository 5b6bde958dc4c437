"""The `reporting` section of `cdp.yaml`: the customer insights report."""

from __future__ import annotations

from pydantic import Field

from cdp_assets.config.base import StrictModel


class ReportingConfig(StrictModel):
    """Where the self-contained HTML insights report is written, and how much it shows."""

    report_dir: str = Field(
        "reports",
        description="folder of the insights report (relative to cdp.yaml): a dated copy per "
        "analysis date and customer_insights_latest.html",
    )
    period_days: int = Field(
        30, ge=7, le=365, description="headline figures: this many days against the ones before"
    )
    top_customers: int = Field(
        20, ge=0, le=200, description="customers in the top predicted value table (pseudonyms)"
    )
