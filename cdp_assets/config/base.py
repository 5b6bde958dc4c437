"""What every section of `cdp.yaml` shares: the strict base model and small value checks."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import BaseModel, ConfigDict

# A name written into cdp.yaml (a source, ...): lower-case letters, digits and _.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# scheme://user:password@host — a password written into cdp.yaml.
_URL_PASSWORD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]+@")


def no_password(url: str | None, instead: str) -> str | None:
    """Credentials come from environment variables only, never from cdp.yaml."""
    if url is not None and _URL_PASSWORD_RE.match(url):
        raise ValueError(f"the URL holds a password: remove it from cdp.yaml and set {instead}")
    return url


class StrictModel(BaseModel):
    """Base of every section: unknown keys are errors (a misspelt key is not ignored), and a
    loaded configuration is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
        ) from exc
    return value


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"unknown ISO 4217 currency code {value!r}")
    return code


def check_country(value: str) -> str:
    code = value.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"unknown ISO 3166 alpha-2 country code {value!r}")
    return code
