"""The whole `cdp.yaml`: `CDPConfig`, its sections and the checks that span sections."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, PrivateAttr, field_validator, model_validator

from cdp_assets.config.alerts import AlertsConfig
from cdp_assets.config.analytics import AnalyticsConfig
from cdp_assets.config.base import StrictModel, check_country, check_currency, check_timezone
from cdp_assets.config.campaigns import ActivationConfig, CampaignConfig
from cdp_assets.config.exports import ExportsConfig
from cdp_assets.config.identity import IdentityConfig
from cdp_assets.config.models import ModelsConfig
from cdp_assets.config.privacy import PrivacyConfig
from cdp_assets.config.quality import QualityConfig
from cdp_assets.config.reporting import ReportingConfig
from cdp_assets.config.sources import SourceConfig
from cdp_assets.config.warehouse import WarehouseConfig


class CDPConfig(StrictModel):
    """The whole `cdp.yaml`."""

    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    landing_dir: str = Field("data/landing", description="relative to cdp.yaml")
    base_currency: str = "USD"
    fx_rates: dict[str, float] = Field(
        default_factory=dict, description="base-currency units per unit of each currency"
    )
    timezone: str = "UTC"
    default_country: str = "US"
    as_of: dt.date | None = Field(None, description="analysis date; CDP_AS_OF overrides it")
    quality: QualityConfig = Field(default_factory=QualityConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    exports: ExportsConfig = Field(default_factory=ExportsConfig)
    activation: ActivationConfig = Field(default_factory=ActivationConfig)
    campaigns: tuple[CampaignConfig, ...] = ()
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)
    sources: tuple[SourceConfig, ...] = ()

    # Set by the loader: the folder of cdp.yaml, against which relative paths resolve.
    _base_dir: str = PrivateAttr(default=".")

    @field_validator("base_currency")
    @classmethod
    def _base_currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("fx_rates")
    @classmethod
    def _fx(cls, rates: dict[str, float]) -> dict[str, float]:
        checked: dict[str, float] = {}
        for code, rate in rates.items():
            if rate is None or rate <= 0:
                raise ValueError(f"{code}: rate must be a positive number, got {rate!r}")
            try:
                checked[check_currency(code)] = float(rate)
            except ValueError as exc:
                raise ValueError(f"{code}: {exc}") from None
        return checked

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)  # type: ignore[return-value]

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str) -> str:
        return check_country(value)

    @model_validator(mode="after")
    def _sources_consistent(self) -> CDPConfig:
        base_rate = self.fx_rates.get(self.base_currency)
        if base_rate is not None and base_rate != 1.0:
            # Ignored (the base converts at 1): the rates were likely written for another base.
            raise ValueError(
                f"fx_rates.{self.base_currency}: the base currency's rate must be 1, got "
                f"{base_rate:g} (rates are {self.base_currency} per unit of each currency: were "
                "they written for another base_currency?)"
            )
        seen: dict[str, int] = {}
        for i, source in enumerate(self.sources):
            source._index = i
            if source.name in seen:
                raise ValueError(
                    f"sources[{i}].name: {source.name!r} is already used by sources[{seen[source.name]}]"
                )
            seen[source.name] = i
        by_name = {s.name: s for s in self.sources}
        for i, source in enumerate(self.sources):
            ref = source.customer_ref_source
            if ref is not None:
                target = by_name.get(ref)
                if target is None:
                    raise ValueError(f"sources[{i}].customer_ref_source: no source named {ref!r}")
                if target.kind != "customers":
                    raise ValueError(
                        f"sources[{i}].customer_ref_source: {ref!r} is of kind {target.kind!r}, "
                        "not 'customers'"
                    )
            currency = source.defaults.get("currency")
            if currency is not None:
                try:
                    check_currency(str(currency))
                except ValueError as exc:
                    raise ValueError(f"sources[{i}].defaults.currency: {exc}") from exc
        customer_sources = {s.name for s in self.sources if s.kind == "customers"}
        for section in ("must_link", "cannot_link"):
            for i, pair in enumerate(getattr(self.identity, section)):
                for side in ("left", "right"):
                    name = getattr(pair, side).partition(":")[0]
                    if name not in customer_sources:
                        raise ValueError(
                            f"identity.{section}[{i}].{side}: {name!r} is not a customers source"
                        )
        audiences = {a.name for a in self.analytics.audiences}
        for i, destination in enumerate(self.exports.destinations):
            for j, name in enumerate(destination.audiences):
                if name not in audiences:
                    raise ValueError(
                        f"exports.destinations[{i}].audiences[{j}]: no audience named {name!r} "
                        "in analytics.audiences"
                    )
        self._check_campaigns(audiences)
        return self

    def _check_campaigns(self, audiences: set[str]) -> None:
        destinations = {d.name for d in self.exports.destinations}
        seen: set[str] = set()
        for i, campaign in enumerate(self.campaigns):
            if campaign.name in seen:
                raise ValueError(f"campaigns[{i}].name: {campaign.name!r} is used twice")
            seen.add(campaign.name)
            if campaign.audience not in audiences:
                raise ValueError(
                    f"campaigns[{i}].audience: no audience named {campaign.audience!r} in "
                    "analytics.audiences"
                )
            for j, name in enumerate(campaign.destinations):
                if name not in destinations:
                    raise ValueError(
                        f"campaigns[{i}].destinations[{j}]: no destination named {name!r} in "
                        "exports.destinations"
                    )

    def campaign(self, name: str) -> CampaignConfig | None:
        return next((c for c in self.campaigns if c.name == name), None)

    def campaign_channels(self) -> dict[str, tuple[str, ...]]:
        """The channels each campaign is sent on (its destinations' channels)."""
        channel = {d.name: d.channel for d in self.exports.destinations}
        return {
            c.name: tuple(dict.fromkeys(channel[d] for d in c.destinations)) for c in self.campaigns
        }

    # -- helpers ---------------------------------------------------------------------------

    @property
    def base_dir(self) -> str:
        return self._base_dir

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r} in cdp.yaml")

    def sources_of_kind(self, kind: str) -> tuple[SourceConfig, ...]:
        return tuple(s for s in self.sources if s.kind == kind)

    def fx_rate(self, currency: str) -> float | None:
        """Base-currency units per unit of `currency`; None when no rate is configured."""
        if currency == self.base_currency:
            return 1.0
        return self.fx_rates.get(currency)

    def source_timezone(self, source: SourceConfig) -> str:
        return source.timezone or self.timezone

    def source_country(self, source: SourceConfig) -> str:
        country = source.default_country or source.defaults.get("country") or self.default_country
        return str(country).upper()
