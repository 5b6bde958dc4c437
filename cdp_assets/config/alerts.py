"""The `alerts` section of `cdp.yaml`: where failed runs, failed blocking checks and stale
assets are reported. Credentials and webhook URLs come from environment variables whose
names are written here, never from the file itself."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cdp_assets.config.base import NAME_PATTERN, StrictModel

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
AlertCause = Literal["run_failure", "check_failure", "stale"]
ALL_CAUSES: tuple[AlertCause, ...] = ("run_failure", "check_failure", "stale")


class EmailDestination(StrictModel):
    """Alerts by email over SMTP."""

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    sender: str = Field(alias="from", description="the From address")
    to: tuple[str, ...] = Field(min_length=1)
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (port 465) or none (a local relay)"
    )
    username_env: str | None = Field(None, pattern=ENV_NAME_PATTERN)
    password_env: str | None = Field(None, pattern=ENV_NAME_PATTERN)
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _check_address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for i, value in enumerate(values):
            try:
                _check_address(value)
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from None
        return values

    @model_validator(mode="after")
    def _login_pair(self) -> EmailDestination:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError(
                "username_env and password_env go together: set both (SMTP login) or neither"
            )
        return self


class WebhookDestination(StrictModel):
    """Alerts as a JSON POST: a Slack-compatible `{"text": ...}` plus structured fields."""

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["webhook"]
    url_env: str = Field(
        pattern=ENV_NAME_PATTERN,
        description="environment variable holding the URL (a webhook URL is a secret)",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120)


AlertDestination = Annotated[EmailDestination | WebhookDestination, Field(discriminator="type")]


class AlertsConfig(StrictModel):
    """Where and when alerts go. With no destination (or `enabled: false`) the alert sensors
    are not defined at all."""

    enabled: bool = True
    destinations: tuple[AlertDestination, ...] = ()
    causes: tuple[AlertCause, ...] = Field(
        ALL_CAUSES, description="which of run_failure, check_failure, stale raise alerts"
    )
    ui_base_url: str = Field(
        "http://127.0.0.1:3000", description="the Dagster UI, for links to runs and assets"
    )

    @field_validator("ui_base_url")
    @classmethod
    def _ui_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("destinations")
    @classmethod
    def _unique_names(
        cls, values: tuple[EmailDestination | WebhookDestination, ...]
    ) -> tuple[EmailDestination | WebhookDestination, ...]:
        seen: dict[str, int] = {}
        for i, destination in enumerate(values):
            if destination.name in seen:
                raise ValueError(
                    f"[{i}].name: {destination.name!r} is already used by "
                    f"destinations[{seen[destination.name]}]"
                )
            seen[destination.name] = i
        return values

    @property
    def active(self) -> bool:
        """Alerts are sent: enabled, with at least one destination."""
        return self.enabled and bool(self.destinations)


def _check_address(value: str) -> str:
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value.strip()):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip()
