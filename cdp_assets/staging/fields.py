"""Typing and normalising each canonical field by its logical type, with its field rules.

Unmapped fields (no column, no default) are null. A required field that is empty fails
`missing_required`; a value that does not parse or normalise fails its type's rule; a parsed
date/time outside the plausible window fails `future_date` / `date_too_early` (birth dates:
`implausible_birth_date` instead). The window is set by the wall clock at staging, never by
the analysis date: staging keeps facts dated after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import PANDAS_DTYPES, CanonicalField, fields_of
from cdp_assets.quality.checked import STRING, Checked, no_rule
from cdp_assets.quality.codes import normalise_country, normalise_currency, normalise_enum
from cdp_assets.quality.emails import normalise_emails
from cdp_assets.quality.names import NAME_LIKE_FIELDS, clean_name
from cdp_assets.quality.parsing import (
    parse_boolean,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_timestamp,
)
from cdp_assets.quality.phones import normalise_phones, phone_region
from cdp_assets.quality.plausibility import birth_date_rule, time_window_rule, utc_instant
from cdp_assets.quality.postal_codes import normalise_postal_codes
from cdp_assets.quality.text import clean_text
from cdp_assets.staging.mapping import SourceFrame
from cdp_assets.staging.validation import Validation

MISSING_REQUIRED = "missing_required"
BIRTH_DATE = "birth_date"
EMAIL_KEY = "email_key"
DERIVED_ORDER = 10_000  # derived columns sort after the canonical fields


@dataclass(frozen=True)
class FieldSettings:
    """What normalisation needs to know about the source and the project."""

    source: SourceConfig
    config: CDPConfig
    now: dt.datetime  # the wall clock at staging (UTC)

    @property
    def today(self) -> dt.date:
        return utc_instant(self.now).date()

    @property
    def country(self) -> str:
        return self.config.source_country(self.source)

    @property
    def timezone(self) -> str:
        return self.config.source_timezone(self.source)


def empty_column(type_: str, index: pd.Index) -> pd.Series:
    return pd.Series(pd.NA, index=index).astype(PANDAS_DTYPES[type_])


def cleaned_text(f: CanonicalField, raw: pd.Series) -> pd.Series:
    """A field's raw text trimmed, NFC-normalised, placeholders nulled (names and streets also
    with whitespace runs collapsed): the value of `string` and `id` fields, the input of the
    other types' parsers."""
    if f.type in ("string", "id") and f.name in NAME_LIKE_FIELDS:
        return clean_name(raw)
    return clean_text(raw)


def _processing_order(fields: tuple[CanonicalField, ...]) -> list[CanonicalField]:
    """Countries first: postal codes and phones are read in the row's country."""
    return sorted(fields, key=lambda f: 0 if f.type == "country" else 1)


def validate_fields(frame: SourceFrame, settings: FieldSettings, validation: Validation) -> None:
    fields = fields_of(frame.source.kind)
    order = {f.name: i for i, f in enumerate(fields)}
    row_country: pd.Series | None = None
    country_text_empty: pd.Series | None = None
    for f in _processing_order(fields):
        raw = frame.texts.get(f.name)
        if raw is None:
            state = validation.add(
                f.name,
                f.required,
                order[f.name],
                pd.Series(pd.NA, index=frame.index, dtype=STRING),
                empty_column(f.type, frame.index),
            )
            if f.type == "email":
                validation.add(
                    EMAIL_KEY, False, DERIVED_ORDER, state.raw, empty_column("string", frame.index)
                )
            continue
        cleaned = cleaned_text(f, raw)
        state = validation.add(f.name, f.required, order[f.name], raw, cleaned)
        if f.required:
            validation.fail(f.name, no_rule(frame.index).mask(cleaned.isna(), MISSING_REQUIRED))
        if f.type in ("string", "id"):
            continue
        if f.type == "email":
            quality = settings.config.quality
            emails = normalise_emails(
                cleaned, quality.test_email_patterns, quality.disposable_email_domains
            )
            _apply(validation, f.name, emails)
            key = emails.key.mask(validation.values(f.name).isna())
            validation.add(EMAIL_KEY, False, DERIVED_ORDER, raw, key.astype(STRING))
        elif f.type == "phone":
            region = phone_region(row_country, settings.country)
            checked = normalise_phones(cleaned, region)
            per_row = {"region": region} if isinstance(region, pd.Series) else None
            _apply(
                validation,
                f.name,
                checked,
                per_row=per_row,
                **({} if per_row else {"region": region}),
            )
        elif f.type == "country":
            checked = normalise_country(cleaned)
            _apply(validation, f.name, checked)
            if row_country is None:
                row_country = validation.values(f.name)
                country_text_empty = cleaned.isna()
        elif f.type == "postal_code":
            if row_country is not None and country_text_empty is not None:
                # Valid row country, else the source default when the country is empty, else
                # unknown (the code is accepted as written).
                country = row_country.mask(country_text_empty, settings.country)
            else:
                country = pd.Series(settings.country, index=frame.index, dtype=STRING)
            checked = normalise_postal_codes(cleaned, country)
            _apply(validation, f.name, checked, per_row={"country": country})
        elif f.type == "currency":
            _apply(validation, f.name, normalise_currency(cleaned))
        elif f.type == "enum":
            _apply(
                validation, f.name, normalise_enum(cleaned, f.values), allowed=", ".join(f.values)
            )
        elif f.type == "decimal":
            _apply(validation, f.name, parse_decimal(cleaned))
        elif f.type == "integer":
            _apply(validation, f.name, parse_integer(cleaned))
        elif f.type == "boolean":
            _apply(validation, f.name, parse_boolean(cleaned))
        elif f.type in ("date", "timestamp"):
            _dates(validation, f, cleaned, settings)
        else:  # pragma: no cover - the canonical types are closed
            raise ValueError(f"unknown field type {f.type!r}")


def _apply(
    validation: Validation,
    name: str,
    checked: Checked,
    per_row: dict[str, pd.Series] | None = None,
    **static: object,
) -> None:
    validation.set_values(name, checked.values.mask(validation.fields[name].rule.notna()))
    validation.fail(name, checked.rule, per_row=per_row, **static)


def _dates(
    validation: Validation, f: CanonicalField, cleaned: pd.Series, settings: FieldSettings
) -> None:
    fmt = settings.source.date_formats.get(f.name)
    expected = f" (expected format {fmt!r} or ISO-8601)" if fmt else ""
    if f.type == "date":
        checked = parse_date(cleaned, fmt)
    else:
        checked = parse_timestamp(cleaned, fmt, settings.timezone)
    _apply(validation, f.name, checked, date_format=expected)
    quality = settings.config.quality
    values = validation.values(f.name)
    if f.name == BIRTH_DATE:
        rules = birth_date_rule(
            values, settings.today, quality.min_age_years, quality.max_age_years
        )
    else:
        rules = time_window_rule(
            values, settings.now, quality.earliest_date, quality.future_tolerance_hours
        )
    validation.fail(f.name, rules)
