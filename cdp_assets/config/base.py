"""What every section of `cdp.yaml` shares: the strict base model and small value checks."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import BaseModel, ConfigDict

from cdp_assets.config.secrets import url_secrets

# A name written into cdp.yaml (a source, ...): lower-case letters, digits and _. Always
# used with `fullmatch`: `$` of `match` would accept a trailing newline.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
# The same for pydantic's `Field(pattern=...)`: its Rust regex engine reads `$` as the end of
# the text (and `\d` as any Unicode digit: write [0-9]).
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


def is_name(value: str) -> bool:
    return NAME_RE.fullmatch(value) is not None


def no_password(url: str | None, instead: str) -> str | None:
    """Credentials come from environment variables only, never from cdp.yaml: a URL whose
    password or query parameters (`password=`, `odbc_connect=...PWD=...`, ...) hold one is
    refused, and so is a value SQLAlchemy cannot read as a URL (the message shows neither)."""
    if url is None:
        return url
    found = url_secrets(url)
    if found:
        where = ", ".join(dict.fromkeys(where for where, _ in found))
        raise ValueError(
            f"the URL holds a credential ({where}): remove it from cdp.yaml and set {instead}"
        )
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
