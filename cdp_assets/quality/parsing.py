"""Text to typed values: numbers, whole numbers, booleans, dates and timestamps.

Every parser takes a text column (already trimmed, NA for empty) and returns `Checked`: the
typed column, NA where the text did not parse, and the rule it failed.

Numbers
    Plain machine numbers ("1234.5", "-3", "1e3") parse directly. Grouped numbers parse only
    when the grouping cannot be misread: "1,234.50", "1.234,50", "12,50", "1,234,567",
    "1 234,50", "1'234.50". "1,234" alone is ambiguous (1234 or 1.234) and is rejected.
    A currency symbol or ISO code around the number is ignored ("$12.50", "12.50 EUR").
Timestamps
    `fmt` is a strptime format (`source.date_formats[field]`) or "epoch"/"epoch_ms"; values
    that do not fit it are tried as ISO-8601, which is never ambiguous. ISO values may carry an
    offset or Z (converted to UTC) or not (local time in `tz`, converted to UTC); a date alone is
    midnight local time. Local times that occur twice (autumn DST change) take the first (summer
    time) instant; local times that do not exist (spring change) move forward by the gap.
Dates
    Calendar dates (no time zone): the date part of the value, "1985-04-12T00:00:00Z" included.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cdp_assets.quality.checked import STRING, Checked, UniqueValues, extract, no_rule

INVALID_NUMBER = "invalid_number"
INVALID_INTEGER = "invalid_integer"
INVALID_BOOLEAN = "invalid_boolean"
INVALID_DATE = "invalid_date"

EPOCH_FORMATS = {"epoch": "s", "epoch_s": "s", "unix": "s", "epoch_ms": "ms", "unix_ms": "ms"}

_PLAIN_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_CURRENCY_AROUND = re.compile(
    r"^(?:[A-Za-z]{3}\s*|[$€£¥₹₩]\s*)?(?P<n>[^$€£¥₹₩]*?)(?:\s*[$€£¥₹₩]|\s+[A-Za-z]{3})?$"
)
_SIGN_NUMBER = re.compile(r"^(?P<sign>[+-]?)\s*(?P<body>.+)$")
_COMMA_GROUPS_DOT = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+$")  # 1,234.50
_DOT_GROUPS_COMMA = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+$")  # 1.234,50
_COMMA_GROUPS = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3}){2,}$")  # 1,234,567
_DOT_GROUPS = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3}){2,}$")  # 1.234.567
_ONE_COMMA_THREE = re.compile(r"^[0-9]{1,3},[0-9]{3}$")  # 1,234: ambiguous
_DECIMAL_COMMA = re.compile(r"^[0-9]+,[0-9]+$")  # 12,50 / 1234,5
_SPACE_GROUPS = re.compile(r"^[0-9]{1,3}(?:[ \u00a0\u202f'][0-9]{3})+(?:[.,][0-9]+)?$")  # 1 234,50
_PLAIN = re.compile(rf"^{_PLAIN_NUMBER}$")

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})

# An ISO-8601 value that ends in an offset or Z after a time of day.
_ISO_OFFSET = (
    r".*[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)? ?(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)"
)
_ISO_DATE_PART = r"^(?P<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(?:[T ].*)?$"


# -- numbers -----------------------------------------------------------------------------------


def _number_from_text(text: str, integer: bool = False) -> float | None:
    """The slow path for one distinct value that is not a plain machine number."""
    match = _CURRENCY_AROUND.match(text.strip())
    if not match:
        return None
    body_match = _SIGN_NUMBER.match(match.group("n").strip())
    if not body_match:
        return None
    sign, body = body_match.group("sign"), body_match.group("body").strip()
    if _COMMA_GROUPS_DOT.match(body) or _COMMA_GROUPS.match(body):
        normalised = body.replace(",", "")
    elif _DOT_GROUPS_COMMA.match(body) or _DOT_GROUPS.match(body):
        normalised = body.replace(".", "").replace(",", ".")
    elif _ONE_COMMA_THREE.match(body):
        if not integer:
            return None  # 1,234 — thousands or decimals? Refuse to guess.
        normalised = body.replace(",", "")
    elif _DECIMAL_COMMA.match(body):
        normalised = body.replace(",", ".")
    elif _SPACE_GROUPS.match(body):
        digits = re.sub(r"[ \u00a0\u202f']", "", body)
        normalised = digits.replace(",", ".")
    elif _PLAIN.match(body):
        normalised = body
    else:
        return None
    try:
        value = float(sign + normalised)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _parse_numbers(series: pd.Series, integer: bool) -> tuple[pd.Series, pd.Series]:
    """(float64 values per row, per-row bool 'text present but unparsable')."""
    uv = UniqueValues.of(series)
    uniques = uv.values
    plain = uniques.str.fullmatch(f"(?:{_PLAIN_NUMBER})").fillna(False).to_numpy(bool)
    parsed = np.full(len(uniques), np.nan)
    if plain.any():
        parsed[plain] = pd.to_numeric(uniques[plain], errors="coerce").to_numpy(float)
    rest = np.flatnonzero(~plain)
    if len(rest):
        texts = uniques.iloc[rest].tolist()
        parsed[rest] = [
            np.nan if (v := _number_from_text(t, integer)) is None else v for t in texts
        ]
    parsed[~np.isfinite(parsed)] = np.nan
    values = uv.broadcast(pd.Series(parsed, dtype="float64"))
    bad = uv.broadcast(pd.Series(np.isnan(parsed), dtype="boolean")).fillna(False).astype(bool)
    return values, bad


def parse_decimal(series: pd.Series) -> Checked:
    """Numbers as float64; unparsable text → `invalid_number`."""
    values, bad = _parse_numbers(series, integer=False)
    rule = no_rule(series.index).mask(bad, INVALID_NUMBER)
    return Checked(values.astype("float64"), rule)


_INT64_LIMIT = 2.0**62


def parse_integer(series: pd.Series) -> Checked:
    """Whole numbers as Int64 ("3" and "3.0" are 3); "3.5", "abc" → `invalid_integer`."""
    values, bad = _parse_numbers(series, integer=True)
    raw = values.to_numpy(float)
    whole = np.isfinite(raw) & (np.floor(raw) == raw) & (np.abs(raw) < _INT64_LIMIT)
    bad = bad | (~np.isnan(raw) & ~whole)
    ints = pd.array(np.where(whole, raw, 0).astype(np.int64), dtype="Int64")
    ints[~whole] = pd.NA
    rule = no_rule(series.index).mask(bad, INVALID_INTEGER)
    return Checked(pd.Series(ints, index=series.index), rule)


# -- booleans ----------------------------------------------------------------------------------


def parse_boolean(series: pd.Series) -> Checked:
    """true/false/yes/no/1/0/y/n/t/f (any case) → boolean; other text → `invalid_boolean`."""
    uv = UniqueValues.of(series)
    lowered = uv.values.str.lower().tolist()
    parsed = [True if v in _TRUE else False if v in _FALSE else None for v in lowered]
    values = uv.broadcast(pd.Series(parsed, dtype="boolean"))
    bad = uv.broadcast(pd.Series([p is None for p in parsed], dtype="boolean"))
    rule = no_rule(series.index).mask(bad.fillna(False).astype(bool), INVALID_BOOLEAN)
    return Checked(values, rule)


# -- dates and timestamps ----------------------------------------------------------------------


def _has_tz_directive(fmt: str) -> bool:
    return "%z" in fmt or "%Z" in fmt


def _localise(naive: pd.Series, tz: str) -> pd.Series:
    if naive.empty:
        return naive.dt.tz_localize("UTC")
    ambiguous = np.ones(len(naive), dtype=bool)  # the first (summer-time) instant
    local = naive.dt.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _iso_instants(texts: pd.Series, tz: str) -> pd.Series:
    """ISO-8601 text → UTC instants (NaT where it does not parse)."""
    out = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us, UTC]")
    if texts.empty:
        return out
    aware = texts.str.fullmatch(f"(?:{_ISO_OFFSET})").fillna(False).to_numpy(bool)
    if aware.any():
        parsed = pd.to_datetime(texts[aware], format="ISO8601", errors="coerce", utc=True)
        out[aware] = parsed.astype("datetime64[us, UTC]")
    if (~aware).any():
        naive = pd.to_datetime(texts[~aware], format="ISO8601", errors="coerce")
        if getattr(naive.dt, "tz", None) is not None:  # pragma: no cover - defensive
            naive = naive.dt.tz_convert("UTC")
            out[~aware] = naive.astype("datetime64[us, UTC]")
        else:
            out[~aware] = _localise(naive.astype("datetime64[us]"), tz)
    return out


def _formatted_instants(texts: pd.Series, fmt: str, tz: str) -> pd.Series:
    unit = EPOCH_FORMATS.get(fmt.lower())
    if unit is not None:
        numbers = pd.to_numeric(texts, errors="coerce")
        parsed = pd.to_datetime(numbers, unit=unit, errors="coerce", utc=True)
        return parsed.astype("datetime64[us, UTC]")
    if _has_tz_directive(fmt):
        parsed = pd.to_datetime(texts, format=fmt, errors="coerce", utc=True)
        return parsed.astype("datetime64[us, UTC]")
    parsed = pd.to_datetime(texts, format=fmt, errors="coerce").astype("datetime64[us]")
    return _localise(parsed, tz)


def parse_timestamp(series: pd.Series, fmt: str | None = None, tz: str = "UTC") -> Checked:
    """Instants as datetime64[us, UTC]; unparsable or impossible → `invalid_date`."""
    uv = UniqueValues.of(series)
    texts = uv.values
    if fmt:
        parsed = _formatted_instants(texts, fmt, tz)
        retry = parsed.isna().to_numpy()
        if retry.any():
            parsed[retry] = _iso_instants(texts[retry], tz)
    else:
        parsed = _iso_instants(texts, tz)
    values = uv.broadcast(parsed.astype("datetime64[us, UTC]"))
    bad = uv.broadcast(pd.Series(parsed.isna().to_numpy(), dtype="boolean"))
    rule = no_rule(series.index).mask(bad.fillna(False).astype(bool), INVALID_DATE)
    return Checked(values, rule)


def parse_date(series: pd.Series, fmt: str | None = None) -> Checked:
    """Calendar dates as datetime64[us] at midnight; unparsable/impossible → `invalid_date`."""
    uv = UniqueValues.of(series)
    texts = uv.values
    parsed = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us]")
    todo = np.ones(len(texts), dtype=bool)
    if fmt and len(texts):
        unit = EPOCH_FORMATS.get(fmt.lower())
        if unit is not None:
            numbers = pd.to_numeric(texts, errors="coerce")
            got = pd.to_datetime(numbers, unit=unit, errors="coerce")
        else:
            got = pd.to_datetime(texts, format=fmt, errors="coerce", utc=_has_tz_directive(fmt))
            if getattr(got.dt, "tz", None) is not None:
                got = got.dt.tz_localize(None)
        parsed[:] = got.dt.normalize().astype("datetime64[us]")
        todo = parsed.isna().to_numpy()
    if todo.any():
        rest = texts[todo]
        date_part = extract(rest, _ISO_DATE_PART)["date"]
        got = pd.to_datetime(date_part, format="%Y-%m-%d", errors="coerce")
        parsed[todo] = got.astype("datetime64[us]").to_numpy()
    values = uv.broadcast(parsed.astype("datetime64[us]"))
    bad = uv.broadcast(pd.Series(parsed.isna().to_numpy(), dtype="boolean"))
    rule = no_rule(series.index).mask(bad.fillna(False).astype(bool), INVALID_DATE)
    return Checked(values, rule)


__all__ = [
    "INVALID_BOOLEAN",
    "INVALID_DATE",
    "INVALID_INTEGER",
    "INVALID_NUMBER",
    "STRING",
    "parse_boolean",
    "parse_date",
    "parse_decimal",
    "parse_integer",
    "parse_timestamp",
]
