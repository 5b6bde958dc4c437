"""Postal codes, normalised and checked per country.

Known formats are normalised to their written form (GB "sw1a1aa" → "SW1A 1AA", CA "k1a0b1" →
"K1A 0B1", US "123456789" → "12345-6789", NL "1234ab" → "1234 AB") and must then fit the
country's pattern, else `invalid_postal_code`. All-digit codes that lost their leading zeros in a
spreadsheet (US "2134" → "02134", DE "1067" → "01067") are padded when at most two digits are
missing and the code is otherwise digits only. Countries without a known format accept any
trimmed value (whitespace runs collapsed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.quality.checked import (
    STRING,
    Checked,
    as_text,
    fullmatch,
    take_rows,
    unique_pairs,
)

INVALID_POSTAL_CODE = "invalid_postal_code"

# Each alphanumeric format as (first part, second part): written with one space between them.
_GB_PARTS = (
    r"GIR|[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]",
    r"0AA|[0-9][ABD-HJLNP-UW-Z]{2}",
)
_CA_PARTS = (r"[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z]", r"[0-9][ABCEGHJ-NPRSTV-Z][0-9]")
_IE_PARTS = (r"[AC-FHKNPRTV-Y][0-9]{2}|D6W", r"[0-9AC-FHKNPRTV-Y]{4}")
_NL_PARTS = (r"[1-9][0-9]{3}", r"[A-Z]{2}")


def _joined(parts: tuple[str, str], sep: str) -> str:
    return f"(?:{parts[0]}){sep}(?:{parts[1]})"


_GB = re.compile(f"^{_joined(_GB_PARTS, '')}$")
_CA = re.compile(f"^{_joined(_CA_PARTS, '')}$")
_IE = re.compile(f"^{_joined(_IE_PARTS, '')}$")
_NL = re.compile(f"^{_joined(_NL_PARTS, '')}$")


@dataclass(frozen=True)
class _Digits:
    """An all-digit format: `length` digits, optionally written split at `split` with `sep`."""

    length: int
    split: int | None = None
    sep: str = ""
    pad: bool = False  # leading zeros exist and spreadsheets drop them

    @property
    def written(self) -> str:
        """Regex of the normalised form (a value matching it normalises to itself)."""
        if self.split is None:
            return f"[0-9]{{{self.length}}}"
        return f"[0-9]{{{self.split}}}{re.escape(self.sep)}[0-9]{{{self.length - self.split}}}"

    def __call__(self, value: str) -> str | None:
        compact = re.sub(r"[\s\-.]", "", value)
        if not compact.isascii() or not compact.isdigit():
            return None
        if self.pad and self.length - 2 <= len(compact) < self.length:
            compact = compact.zfill(self.length)
        if len(compact) != self.length:
            return None
        if self.split is None:
            return compact
        return compact[: self.split] + self.sep + compact[self.split :]


def _us(value: str) -> str | None:
    compact = re.sub(r"[\s\-]", "", value)
    if not compact.isascii() or not compact.isdigit():
        return None
    if len(compact) in (3, 4):
        compact = compact.zfill(5)
    elif len(compact) == 8:
        compact = compact.zfill(9)
    if len(compact) == 5:
        return compact
    if len(compact) == 9:
        return f"{compact[:5]}-{compact[5:]}"
    return None


def _split_last3(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def normalise(value: str) -> str | None:
        compact = re.sub(r"[\s\-]", "", value).upper()
        if not pattern.match(compact):
            return None
        return f"{compact[:-3]} {compact[-3:]}"

    return normalise


def _split_at(pattern: re.Pattern[str], at: int) -> Callable[[str], str | None]:
    def normalise(value: str) -> str | None:
        compact = re.sub(r"[\s\-]", "", value).upper()
        if not pattern.match(compact):
            return None
        return f"{compact[:at]} {compact[at:]}"

    return normalise


POSTAL_FORMATS: dict[str, Callable[[str], str | None]] = {
    "US": _us,
    "GB": _split_last3(_GB),
    "CA": _split_last3(_CA),
    "IE": _split_at(_IE, 3),
    "NL": _split_at(_NL, 4),
    "DE": _Digits(5, pad=True),
    "FR": _Digits(5, pad=True),
    "IT": _Digits(5, pad=True),
    "ES": _Digits(5, pad=True),
    "MX": _Digits(5, pad=True),
    "FI": _Digits(5, pad=True),
    "KR": _Digits(5, pad=True),
    "CN": _Digits(6),
    "IN": _Digits(6),
    "RU": _Digits(6),
    "SG": _Digits(6, pad=True),
    "AU": _Digits(4, pad=True),
    "NZ": _Digits(4, pad=True),
    "ZA": _Digits(4, pad=True),
    "AT": _Digits(4),
    "BE": _Digits(4),
    "CH": _Digits(4),
    "DK": _Digits(4),
    "NO": _Digits(4, pad=True),
    "HU": _Digits(4),
    "JP": _Digits(7, split=3, sep="-"),
    "BR": _Digits(8, split=5, sep="-", pad=True),
    "PT": _Digits(7, split=4, sep="-"),
    "PL": _Digits(5, split=2, sep="-", pad=True),
    "SE": _Digits(5, split=3, sep=" "),
    "CZ": _Digits(5, split=3, sep=" "),
}


# Regexes of the normalised written forms: values that match are already normalised, so the
# per-value normaliser only sees the others.
WRITTEN_FORMS: dict[str, str] = {
    "US": r"[0-9]{5}(?:-[0-9]{4})?",
    "GB": _joined(_GB_PARTS, " "),
    "CA": _joined(_CA_PARTS, " "),
    "IE": _joined(_IE_PARTS, " "),
    "NL": _joined(_NL_PARTS, " "),
    **{c: f.written for c, f in POSTAL_FORMATS.items() if isinstance(f, _Digits)},
}


def normalise_postal_code(value: str, country: str | None) -> str | None:
    """One postal code in `country`'s written form, or None when it does not fit."""
    text = " ".join(value.split())
    if not text:
        return None
    fmt = POSTAL_FORMATS.get((country or "").upper())
    if fmt is None:
        return text
    return fmt(text)


def normalise_postal_codes(series: pd.Series, country: str | pd.Series | None) -> Checked:
    """Postal codes per row country (a column or one country for all rows)."""
    text = as_text(series)
    countries = (
        country.astype(STRING)
        if isinstance(country, pd.Series)
        else pd.Series(country, index=series.index, dtype=STRING)
    )
    codes, values, pair_countries = unique_pairs(text, countries)
    normalised = np.full(len(values), None, dtype=object)
    done = np.zeros(len(values), dtype=bool)
    country_values = pair_countries.fillna("").to_numpy(object)
    for country_code, form in WRITTEN_FORMS.items():
        rows = np.flatnonzero(country_values == country_code)
        if len(rows):
            written = fullmatch(values.iloc[rows], form)
            normalised[rows[written]] = values.iloc[rows[written]].to_numpy(object)
            done[rows[written]] = True
    rest = np.flatnonzero(~done)
    if len(rest):
        texts = values.iloc[rest].tolist()
        normalised[rest] = [
            normalise_postal_code(v, c or None)
            for v, c in zip(texts, country_values[rest].tolist(), strict=True)
        ]
    per_pair = pd.Series(normalised, dtype=STRING)
    rules = pd.Series(np.where(per_pair.isna().to_numpy(), INVALID_POSTAL_CODE, None), dtype=STRING)
    return Checked(take_rows(per_pair, codes, series.index), take_rows(rules, codes, series.index))
