"""Normalised SHA-256 hashes of emails and phone numbers for ad-platform customer lists.

Ad platforms match hashed identifiers against their own hashes of the same normalised text,
so the normalisation must be exactly theirs. The rules, as Google documents them:

* Google Ads API, enhanced conversions ("Normalize and hash user-provided data",
  developers.google.com/google-ads/api/docs/conversions/enhance-conversions) and Campaign
  Manager 360 enhanced conversions (developers.google.com/doubleclick-advertisers/guides/
  conversions_ec): hash with SHA-256 after removing leading and trailing whitespace,
  converting the text to lower case, formatting phone numbers in E.164, and removing all
  periods (.) that precede the domain in gmail.com and googlemail.com addresses.
* Display & Video 360 Customer Match ("Prepare user data", developers.google.com/
  display-video/api/guides/tasks/upload-customer-match-audience/prepare-data): remove
  whitespace, lower-case, phone in E.164 including the country code, SHA-256.
* Google Ads help "Formatting guidelines for uploading hashed data"
  (support.google.com/google-ads/answer/7476159) and its template: lower-case, no extra
  spaces, phone in E.164 before hashing.
* Meta customer lists (facebook.com/business/help/2082575038703844): phone numbers must
  carry the country code; emails are trimmed and lower-cased before hashing.

None of these documents stripping "+tags" from the local part, so a `+` suffix is kept (some
third-party guides strip it for Gmail; Google's own documents do not). E.164 keeps its
leading '+', as in Google's examples (+12125650000) and TikTok's hashed example.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.identity.membership import arrow_strings

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: object) -> str | None:
    """`value` as stripped text; None when null or blank."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def normalise_email_for_ads(email: object) -> str | None:
    """Trimmed, lower-cased email; periods removed from the local part of gmail.com and
    googlemail.com addresses. None when null, blank or not of the form local@domain."""
    text = _text(email)
    if text is None:
        return None
    local, at, domain = text.lower().rpartition("@")
    if not at or not local or not domain:
        return None
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalise_phone_for_ads(phone: object, default_region: str = "US") -> str | None:
    """The phone number in E.164 with its leading '+'. Text already in E.164 is kept as it
    is; anything else is parsed with `phonenumbers` (numbers without a country code are read
    in `default_region`). None when null, blank or not a valid number."""
    text = _text(phone)
    if text is None:
        return None
    if _E164_RE.match(text):
        return text
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hash_email(email: object) -> str | None:
    """SHA-256 hex of the ads-normalised email; None when there is no usable email."""
    normalised = normalise_email_for_ads(email)
    return None if normalised is None else sha256_hex(normalised)


def hash_phone(phone: object, default_region: str = "US") -> str | None:
    """SHA-256 hex of the E.164 phone number; None when there is no valid number."""
    normalised = normalise_phone_for_ads(phone, default_region)
    return None if normalised is None else sha256_hex(normalised)


def _map_unique(series: pd.Series, function: Callable[[object], str | None]) -> pd.Series:
    """`function` applied once per distinct non-null value, as a "string" Series on the same
    index. The distinct values are found and spread back in Arrow (dictionary encoding and
    `take`): only they cross into Python, not every row (at 1,000,000 profiles the per-row
    conversions to and from Python objects cost more than the hashing)."""
    encoded = pc.dictionary_encode(arrow_strings(series))
    mapped = pa.array([function(value) for value in encoded.dictionary.to_pylist()], pa.string())
    hashed = pc.take(mapped, encoded.indices)
    return pd.Series(pd.arrays.ArrowStringArray(hashed), index=series.index).astype("string")


def hash_emails(series: pd.Series) -> pd.Series:
    """`hash_email` of every value: a "string" Series, <NA> where there is no usable email."""
    return _map_unique(series, hash_email)


def hash_phones(series: pd.Series, default_region: str = "US") -> pd.Series:
    """`hash_phone` of every value: a "string" Series, <NA> where there is no valid number."""
    return _map_unique(series, lambda phone: hash_phone(phone, default_region))
