"""The consent audit of export files: every row of a file written, re-checked from the file
back to the customer 360 rows, independently of how the rows were selected."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from cdp_assets.activation.audience_selection import CHANNELS, apply_consent, export_rows
from cdp_assets.activation.export_files import read_export_file

AD_HASHES = ("email_sha256", "phone_sha256")


def allowed_identifiers(profiles: pd.DataFrame) -> dict[str, set[str]]:
    """Per channel, the identifiers (ads: their hashes) of people who may receive it."""
    eligible = {
        channel: export_rows(apply_consent(profiles, channel)[0], channel) for channel in CHANNELS
    }
    return {
        "email": set(eligible["email"]["email"].dropna()),
        "sms": set(eligible["sms"]["phone"].dropna()),
        "ads": set(eligible["ads"][AD_HASHES[0]].dropna())
        | set(eligible["ads"][AD_HASHES[1]].dropna()),
    }


def rows_without_consent(files: Iterable[tuple[str, Path]], profiles: pd.DataFrame) -> int:
    """Rows of the (channel, file) pairs whose person may not receive that channel. An ads
    row passes when each hash it carries belongs to someone who did not opt out."""
    allowed = allowed_identifiers(profiles)
    violations = 0
    for channel, path in files:
        full = read_export_file(path)
        if channel == "ads":
            hashes = full[list(AD_HASHES)]
            ok = hashes.isin(allowed["ads"]) | hashes.isna()
            violations += int((~ok.all(axis=1)).sum())
        else:
            column = "email" if channel == "email" else "phone"
            violations += int((~full[column].isin(allowed[channel])).sum())
    return violations
