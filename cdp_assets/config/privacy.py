"""The `privacy` section of `cdp.yaml`: where the suppression-list salt comes from."""

from __future__ import annotations

from pydantic import Field

from cdp_assets.config.base import StrictModel


class PrivacyConfig(StrictModel):
    """Erasure and suppression. Identifiers of erased people are kept only as salted hashes."""

    salt_env: str = Field(
        "CDP_PRIVACY_SALT",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the suppression-list salt",
    )
    salt_file: str = Field(
        ".cdp_privacy_salt",
        description="where a random salt is kept when the environment variable is unset "
        "(relative to cdp.yaml; created on first use, readable by its owner only)",
    )
