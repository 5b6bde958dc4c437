"""The `identity` section of `cdp.yaml`: identifier limits, blocked values, overrides and
probabilistic matching."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from cdp_assets.config.base import StrictModel, is_name

IdentifierType = Literal["email_key", "phone", "loyalty_id"]


def _record_ref(value: str) -> str:
    source, sep, record_id = value.partition(":")
    if not sep or not is_name(source) or not record_id:
        raise ValueError(f"{value!r} is not 'source:record_id' (e.g. 'shop_accounts:A0000003')")
    return value


class RecordPair(StrictModel):
    """Two records named `source:record_id`, for manual must-link and cannot-link overrides."""

    left: str
    right: str
    reason: str = ""

    @field_validator("left", "right")
    @classmethod
    def _ref(cls, value: str) -> str:
        return _record_ref(value)


class ProbabilisticConfig(StrictModel):
    """Fellegi-Sunter matching of records that share no strong identifier."""

    enabled: bool = True
    threshold: float = Field(0.98, gt=0, lt=1, description="match probability for a link")
    max_block_size: int = Field(500, ge=2)
    u_sample_pairs: int = Field(200_000, ge=1_000)
    seed: int = 42


class ProfileLimits(StrictModel):
    """What one person plausibly has; a cluster over a limit is split along its weakest links."""

    emails: int = Field(4, ge=1)
    phones: int = Field(4, ge=1)
    birth_dates: int = Field(2, ge=1, description="distinct, day/month transpositions folded")
    records: int = Field(1_000, ge=2, description="customer-source records")


class IdentityConfig(StrictModel):
    """Identity resolution: identifier sharing limits, blocked values, overrides, matching."""

    id_prefix: str = Field("C", pattern=r"^[A-Z]{1,4}$")
    identifier_limits: dict[IdentifierType, int] = Field(
        default_factory=lambda: {"email_key": 20, "phone": 10, "loyalty_id": 5},
        description="customer records that may share one value before it counts as shared",
    )
    max_fact_rows_per_day: int = Field(
        6,
        ge=1,
        description="fact rows on one day carrying one identifier value before it is "
        "treated as shared (a store's own phone typed at the till)",
    )
    blocked_values: dict[IdentifierType, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "email_key": (r"^(test|noreply|no-reply|none|null|info|admin)@", r"@example\."),
            "phone": (r"^\+\d*(\d)\1{6,}$", r"^\+1\d{3}55501\d{2}$"),
        },
        description="regular expressions; matching values are never used for linking",
    )
    probabilistic: ProbabilisticConfig = Field(default_factory=ProbabilisticConfig)
    profile_limits: ProfileLimits = Field(default_factory=ProfileLimits)
    must_link: tuple[RecordPair, ...] = ()
    cannot_link: tuple[RecordPair, ...] = ()
    full_resolution_every_days: int | None = Field(
        7,
        ge=1,
        description="re-resolve everything at least this often even when the inputs are "
        "unchanged (null: only when they change); see README 'Incremental identity'",
    )
    incremental_max_changed_share: float | None = Field(
        0.05,
        ge=0,
        le=1,
        description="between full resolutions, re-resolve only the records new, changed or "
        "removed since the last one when they are at most this share of all records (null: "
        "always in full); see README 'Incremental identity'",
    )
    max_cluster_growth: float = Field(
        0.5, ge=0, description="warn when the largest cluster grows by more than this share"
    )

    @field_validator("blocked_values")
    @classmethod
    def _patterns_compile(cls, values: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for kind, patterns in values.items():
            for i, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{kind}[{i}]: invalid regex {pattern!r}: {exc}") from exc
        return values
