"""Codes: countries (ISO 3166 alpha-2), currencies (ISO 4217) and enumerated values.

Countries accept alpha-2, alpha-3, English names (official and common, via pycountry) and a
short list of everyday aliases ("UK", "USA", "Deutschland", "中国"). Currencies accept ISO 4217
codes in any case plus the unambiguous symbols € and £ and "RMB". Enumerations are lower-cased,
spaces and hyphens become underscores, and obvious synonyms map onto the allowed value
("complete" → "completed", "canceled" → "cancelled", "pos" → "store", "pageview" → "page_view").
"""

from __future__ import annotations

import functools

import pandas as pd
import pycountry

from cdp_assets.quality.checked import STRING, Checked, UniqueValues, no_rule

INVALID_COUNTRY = "invalid_country"
INVALID_CURRENCY = "invalid_currency"
INVALID_ENUM = "invalid_enum"

COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "america": "US",
    "united states of america": "US",
    "deutschland": "DE",
    "allemagne": "DE",
    "germany (de)": "DE",
    "frankreich": "FR",
    "españa": "ES",
    "espana": "ES",
    "italia": "IT",
    "nederland": "NL",
    "holland": "NL",
    "the netherlands": "NL",
    "österreich": "AT",
    "oesterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "belgië": "BE",
    "belgique": "BE",
    "danmark": "DK",
    "sverige": "SE",
    "norge": "NO",
    "suomi": "FI",
    "polska": "PL",
    "brasil": "BR",
    "méxico": "MX",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "czech republic": "CZ",
    "czechia": "CZ",
    "ivory coast": "CI",
    "vietnam": "VN",
    "taiwan": "TW",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "macedonia": "MK",
    "uae": "AE",
    "emirates": "AE",
    "hong kong": "HK",
    "macau": "MO",
    "macao": "MO",
    "中国": "CN",
    "中國": "CN",
    "中华人民共和国": "CN",
    "prc": "CN",
    "china (prc)": "CN",
    "日本": "JP",
    "한국": "KR",
    "대한민국": "KR",
    "台灣": "TW",
    "台湾": "TW",
    "香港": "HK",
}

CURRENCY_ALIASES: dict[str, str] = {"€": "EUR", "£": "GBP", "RMB": "CNY", "US$": "USD"}

# Synonyms: (normalised input) → canonical value. Applied only when the target is one of the
# field's allowed values, so "phone" stays "phone" for ticket channels and orders alike.
ENUM_SYNONYMS: dict[str, str] = {
    # order status
    "complete": "completed",
    "done": "completed",
    "fulfilled": "completed",
    "shipped": "completed",
    "delivered": "completed",
    "paid": "completed",
    "canceled": "cancelled",
    "cancel": "cancelled",
    "void": "cancelled",
    "voided": "cancelled",
    "refund": "refunded",
    "returned": "refunded",
    "partial_refund": "partially_refunded",
    "partially_returned": "partially_refunded",
    "processing": "pending",
    "on_hold": "pending",
    "awaiting_payment": "pending",
    # channels
    "pos": "store",
    "in_store": "store",
    "instore": "store",
    "retail": "store",
    "shop": "store",
    "offline": "store",
    "online": "web",
    "website": "web",
    "ecommerce": "web",
    "e_commerce": "web",
    "webshop": "web",
    "mobile": "app",
    "mobile_app": "app",
    "ios": "app",
    "android": "app",
    "telephone": "phone",
    "call": "phone",
    "call_center": "phone",
    "callcenter": "phone",
    "e_mail": "email",
    "mail": "email",
    "live_chat": "chat",
    "livechat": "chat",
    "social_media": "social",
    "facebook": "social",
    "twitter": "social",
    "instagram": "social",
    # ticket status
    "new": "open",
    "reopened": "open",
    "solved": "resolved",
    "waiting": "pending",
    # event types
    "pageview": "page_view",
    "page": "page_view",
    "view_item": "product_view",
    "product_viewed": "product_view",
    "addtocart": "add_to_cart",
    "add_to_basket": "add_to_cart",
    "product_added": "add_to_cart",
    "remove_from_basket": "remove_from_cart",
    "product_removed": "remove_from_cart",
    "begin_checkout": "checkout_started",
    "checkout": "checkout_started",
    "order_completed": "purchase",
    "order": "purchase",
    "transaction": "purchase",
    "sign_up": "signup",
    "register": "signup",
    "registration": "signup",
    "log_in": "login",
    "signin": "login",
    "sign_in": "login",
    "identify_user": "identify",
}


@functools.lru_cache(maxsize=100_000)
def country_code(text: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a country code or name, or None."""
    value = text.strip()
    if not value:
        return None
    upper = value.upper()
    if len(upper) == 2 and upper.isascii() and upper.isalpha():
        if upper == "UK":
            return "GB"
        found = pycountry.countries.get(alpha_2=upper)
        return found.alpha_2 if found else None
    if len(upper) == 3 and upper.isascii() and upper.isalpha():
        found = pycountry.countries.get(alpha_3=upper)
        if found:
            return found.alpha_2
    alias = COUNTRY_ALIASES.get(value.lower())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(value).alpha_2
    except LookupError:
        return None


@functools.lru_cache(maxsize=10_000)
def currency_code(text: str) -> str | None:
    """ISO 4217 code for a code in any case (or €, £, RMB), or None."""
    value = text.strip()
    alias = CURRENCY_ALIASES.get(value.upper())
    if alias:
        return alias
    upper = value.upper()
    if (
        len(upper) == 3
        and upper.isascii()
        and upper.isalpha()
        and pycountry.currencies.get(alpha_3=upper)
    ):
        return upper
    return None


def _by_unique(series: pd.Series, lookup, rule_name: str) -> Checked:  # noqa: ANN001
    uv = UniqueValues.of(series)
    found = [lookup(v) for v in uv.values.tolist()]
    values = uv.broadcast(pd.Series(found, dtype=STRING))
    rule = no_rule(series.index).mask(values.isna() & series.notna(), rule_name)
    return Checked(values, rule)


def normalise_country(series: pd.Series) -> Checked:
    """Countries as alpha-2; unknown → `invalid_country`."""
    return _by_unique(series, country_code, INVALID_COUNTRY)


def normalise_currency(series: pd.Series) -> Checked:
    """Currencies as ISO 4217; unknown → `invalid_currency`."""
    return _by_unique(series, currency_code, INVALID_CURRENCY)


def _enum_key(text: str) -> str:
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    while "__" in key:
        key = key.replace("__", "_")
    return key


def enum_value(text: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed value `text` means, or None."""
    key = _enum_key(text)
    if key in allowed:
        return key
    synonym = ENUM_SYNONYMS.get(key)
    if synonym in allowed:
        return synonym
    compact = key.replace("_", "")
    for value in allowed:
        if value.replace("_", "") == compact:
            return value
    synonym = ENUM_SYNONYMS.get(compact)
    if synonym in allowed:
        return synonym
    return None


def normalise_enum(series: pd.Series, allowed: tuple[str, ...]) -> Checked:
    """Enumerated values; anything that is not (a synonym of) an allowed value → `invalid_enum`."""
    return _by_unique(series, lambda v: enum_value(v, allowed), INVALID_ENUM)
