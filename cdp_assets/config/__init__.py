"""cdp.yaml: schema and loading."""

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
from cdp_assets.config.schema import (
    AnalyticsConfig,
    AudienceRule,
    CDPConfig,
    IdentityConfig,
    ModelsConfig,
    ProfileLimits,
    QualityConfig,
    SourceConfig,
    WarehouseConfig,
)

__all__ = [
    "AnalyticsConfig",
    "AudienceRule",
    "ModelsConfig",
    "CDPConfig",
    "ConfigError",
    "IdentityConfig",
    "ProfileLimits",
    "QualityConfig",
    "SourceConfig",
    "WarehouseConfig",
    "as_of_date",
    "landing_dir",
    "load_config",
    "parse_config",
    "resolve_path",
    "source_url",
    "warehouse_url",
]
