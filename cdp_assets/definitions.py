"""The one Definitions object of the code location."""

from pathlib import Path

import dagster as dg

from cdp_assets.reporting.log_masking import install_log_masking


@dg.definitions
def defs() -> dg.Definitions:
    # Emails and phone numbers in log messages are masked before any handler sees them.
    install_log_masking()
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
