"""The one Definitions object of the code location."""

from pathlib import Path

import dagster as dg

from cdp_assets.defs.column_schema import with_column_schemas
from cdp_assets.defs.resources import project_config, warehouse_kind
from cdp_assets.defs.spec_defaults import apply_spec_defaults
from cdp_assets.reporting.log_masking import install_log_masking


@dg.definitions
def defs() -> dg.Definitions:
    # Emails and phone numbers in log messages are masked before any handler sees them.
    install_log_masking()
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    loaded = with_column_schemas(loaded, project_config())
    return apply_spec_defaults(loaded, warehouse_kind(project_config()))
