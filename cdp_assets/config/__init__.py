"""cdp.yaml: its schema, one module per section, and loading.

Every model of the schema is importable from here (`from cdp_assets.config import
ExportDestination`); the modules below hold them by section of the file:

    base        the strict base model and the small value checks the sections share
    warehouse   `warehouse`
    quality     `quality`
    sources     `sources`
    identity    `identity`
    analytics   `analytics`: RFM segments, holiday windows, audiences
    models      `models`: the predictive models
    forecast    `models.forecast`: sales and demand forecasts
    exports     `exports`: audience export destinations
    campaigns   `campaigns` and `activation`: arms, offers, the global control group
    privacy     `privacy`
    reporting   `reporting`: the customer insights report
    project     `CDPConfig`, the whole file, and the checks that span sections
    loader      reading the file, environment overrides, readable errors, paths
"""

from cdp_assets.config.alerts import AlertsConfig
from cdp_assets.config.analytics import (
    DEFAULT_AUDIENCES,
    DEFAULT_RFM_SEGMENTS,
    AnalyticsConfig,
    AudienceRule,
    HolidayWindow,
    RfmSegmentRule,
)
from cdp_assets.config.base import StrictModel
from cdp_assets.config.campaigns import (
    ActivationConfig,
    CampaignArm,
    CampaignConfig,
    OfferType,
)
from cdp_assets.config.exports import (
    EXPORT_KEY_COLUMNS,
    Channel,
    ExportDestination,
    ExportsConfig,
)
from cdp_assets.config.forecast import ForecastConfig
from cdp_assets.config.identity import (
    IdentifierType,
    IdentityConfig,
    ProbabilisticConfig,
    ProfileLimits,
    RecordPair,
)
from cdp_assets.config.loader import (
    ConfigError,
    as_of_date,
    landing_dir,
    load_config,
    parse_config,
    resolve_path,
    source_url,
    warehouse_url,
)
from cdp_assets.config.models import (
    ChurnConfig,
    LeadsConfig,
    LtvConfig,
    ModelsConfig,
    RecommendationsConfig,
    SnapshotConfig,
)
from cdp_assets.config.privacy import PrivacyConfig
from cdp_assets.config.project import CDPConfig
from cdp_assets.config.quality import QualityConfig
from cdp_assets.config.reporting import ReportingConfig
from cdp_assets.config.sources import SourceConfig, SourceFormat
from cdp_assets.config.warehouse import WarehouseConfig

__all__ = [
    "ActivationConfig",
    "CampaignArm",
    "CampaignConfig",
    "OfferType",
    # the whole file and its sections
    "CDPConfig",
    "WarehouseConfig",
    "QualityConfig",
    "SourceConfig",
    "IdentityConfig",
    "AnalyticsConfig",
    "ModelsConfig",
    "ExportsConfig",
    "PrivacyConfig",
    "AlertsConfig",
    "ReportingConfig",
    # models within the sections
    "AudienceRule",
    "ChurnConfig",
    "ExportDestination",
    "ForecastConfig",
    "HolidayWindow",
    "LeadsConfig",
    "LtvConfig",
    "ProbabilisticConfig",
    "ProfileLimits",
    "RecommendationsConfig",
    "RecordPair",
    "RfmSegmentRule",
    "SnapshotConfig",
    "StrictModel",
    # value types and defaults
    "Channel",
    "DEFAULT_AUDIENCES",
    "DEFAULT_RFM_SEGMENTS",
    "EXPORT_KEY_COLUMNS",
    "IdentifierType",
    "SourceFormat",
    # loading
    "ConfigError",
    "as_of_date",
    "landing_dir",
    "load_config",
    "parse_config",
    "resolve_path",
    "source_url",
    "warehouse_url",
]
