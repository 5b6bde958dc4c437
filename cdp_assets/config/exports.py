"""The `exports` section of `cdp.yaml`: audience export destinations and their channels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from cdp_assets.config.base import NAME_PATTERN, StrictModel
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES

Channel = Literal["email", "sms", "ads"]
EXPORT_KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("customer_id", "email", "first_name"),
    "sms": ("customer_id", "phone"),
    "ads": ("email_sha256", "phone_sha256"),
}


class ExportDestination(StrictModel):
    """Where an audience goes: a channel decides the columns and the consent rule."""

    name: str = Field(pattern=NAME_PATTERN)
    channel: Channel
    format: Literal["csv", "parquet"] = "csv"
    audiences: tuple[str, ...] = Field(
        (), description="audiences sent to this destination; empty: every audience"
    )
    fields: tuple[str, ...] = Field(
        (), description="email channel only: extra activation.customer_360 columns"
    )

    @model_validator(mode="after")
    def _fields(self) -> ExportDestination:
        if self.fields and self.channel != "email":
            raise ValueError(f"fields: only email destinations take extra fields ({self.channel})")
        for i, name in enumerate(self.fields):
            if name not in CUSTOMER_360_DTYPES:
                raise ValueError(
                    f"fields[{i}]: {name!r} is not a column of activation.customer_360"
                )
            if name in EXPORT_KEY_COLUMNS["email"]:
                raise ValueError(f"fields[{i}]: {name!r} is always exported")
        return self


class ExportsConfig(StrictModel):
    """Audience exports: files per audience and destination, under `dir`."""

    dir: str = Field("exports", description="export folder, relative to cdp.yaml")
    destinations: tuple[ExportDestination, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ExportsConfig:
        names = [d.name for d in self.destinations]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"destinations: names used twice: {', '.join(duplicated)}")
        return self
