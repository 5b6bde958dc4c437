"""Phone numbers: E.164 via libphonenumber's metadata, with fake-number detection.

Each row is read in its region (the row's country when the caller passes one, else the source's
default country); numbers written with +CC are read as such whatever the region.

Speed. `phonenumbers.parse` costs ~50 µs a value, too slow for millions of customer records
whose phones are nearly all distinct. So the common shapes — digits with spaces, dashes, dots,
slashes and parentheses, optionally after a `+` — are parsed here by a vectorised
re-statement of libphonenumber's own parse and validation steps (national-prefix stripping,
country code with or without `+`, possible lengths, per-type number patterns, region choice
within shared country codes), run over the distinct values of a region at once with the
library's own metadata regexes. Everything else (IDD prefixes such as 00/011, letters,
extensions, regions with national-prefix transform rules, non-geographic codes) goes to
`phonenumbers.parse` itself, once per distinct value. The tests check both paths agree.

Rules: `fake_phone` (all one digit, mostly one digit, or an ascending/descending run of seven
or more digits) is tested first, then `invalid_phone` (does not parse, or is not a valid
number per libphonenumber). Fictional ranges (US 555-01xx, Ofcom drama numbers) are not
flagged: they are valid numbers and demo data uses them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    SUPPORTED_REGIONS,
    NumberParseException,
)

from cdp_assets.quality.checked import (
    STRING,
    Checked,
    as_text,
    extract,
    fullmatch,
    prefix_match,
    take_rows,
    unique_pairs,
)

INVALID_PHONE = "invalid_phone"
FAKE_PHONE = "fake_phone"

_MIN_NSN = 2
_MAX_NSN = 17
_FAST_INPUT = r"\+?[0-9 ().\-/]{0,60}[0-9][0-9 ().\-/]{0,60}"
_SEPARATORS = r"[ ().\-/]"
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_COUNTRY_CODES = frozenset(str(cc) for cc in COUNTRY_CODE_TO_REGION_CODE)

# Length-test outcomes (libphonenumber's ValidationResult), as small ints.
_POSSIBLE, _LOCAL_ONLY, _TOO_SHORT, _INVALID_LENGTH, _TOO_LONG = range(5)

# Fake numbers: runs of seven ascending or descending digits (wrapping 9→0).
_RUNS = "|".join(
    {("0123456789" * 2)[i : i + 7] for i in range(10)}
    | {("9876543210" * 2)[i : i + 7] for i in range(10)}
)


@dataclass(frozen=True)
class _Desc:
    pattern: str
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class _Region:
    """The parts of one region's metadata the fast path needs."""

    region: str
    cc: int
    idd: str | None
    national_prefix: str | None  # national_prefix_for_parsing
    has_transform: bool
    general: _Desc
    general_lengths: tuple[int, ...]
    local_lengths: tuple[int, ...]
    types: tuple[_Desc, ...]
    leading_digits: str | None


def _desc(desc) -> _Desc | None:  # noqa: ANN001
    if desc is None or not desc.national_number_pattern:
        return None
    return _Desc(desc.national_number_pattern, tuple(desc.possible_length))


@functools.lru_cache(maxsize=512)
def _region(region: str | None) -> _Region | None:
    if region is None:
        return None
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    if metadata is None or metadata.general_desc is None:
        return None
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    types = tuple(d for d in (_desc(getattr(metadata, n)) for n in _TYPE_DESCS) if d is not None)
    return _Region(
        region=region.upper(),
        cc=metadata.country_code,
        idd=metadata.international_prefix or None,
        national_prefix=metadata.national_prefix_for_parsing or None,
        has_transform=bool(metadata.national_prefix_transform_rule),
        general=general,
        general_lengths=tuple(sorted(metadata.general_desc.possible_length)),
        local_lengths=tuple(metadata.general_desc.possible_length_local_only),
        types=types,
        leading_digits=metadata.leading_digits or None,
    )


@functools.lru_cache(maxsize=512)
def _main_region(cc: int) -> _Region | None:
    """Metadata parse uses after a country code: its main region's (None: non-geographic)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    if not regions or regions[0] == "001":
        return None
    return _region(regions[0])


# -- vectorised pieces of libphonenumber -------------------------------------------------------


_fullmatch = fullmatch
_prefix_match = prefix_match


def _matches_desc(s: pd.Series, lengths: np.ndarray, desc: _Desc) -> np.ndarray:
    """`_is_number_matching_desc`: possible length, then the pattern (on those rows only)."""
    ok = np.isin(lengths, desc.lengths) if desc.lengths else np.ones(len(s), dtype=bool)
    if ok.any():
        ok[ok] = _fullmatch(s[ok], desc.pattern)
    return ok


def _is_typed(s: pd.Series, meta: _Region) -> np.ndarray:
    """`_number_type_helper(...) != UNKNOWN`, i.e. valid for the region."""
    lengths = s.str.len().to_numpy(np.int64)
    ok = _matches_desc(s, lengths, meta.general)
    if not ok.any():
        return ok
    any_type = np.zeros(len(s), dtype=bool)
    for desc in meta.types:
        todo = ok & ~any_type
        if not todo.any():
            break
        any_type[todo] = _matches_desc(s[todo], lengths[todo], desc)
    return ok & any_type


def _length_test(s: pd.Series, meta: _Region) -> np.ndarray:
    """`_test_number_length` for the unknown type (general description)."""
    n = s.str.len().to_numpy(np.int64)
    possible = meta.general_lengths
    out = np.full(len(s), _INVALID_LENGTH)
    out[np.isin(n, possible[1:])] = _POSSIBLE
    out[n > possible[-1]] = _TOO_LONG
    out[n < possible[0]] = _TOO_SHORT
    out[n == possible[0]] = _POSSIBLE
    out[np.isin(n, meta.local_lengths)] = _LOCAL_ONLY
    return out


def _strip_national_prefix(s: pd.Series, meta: _Region) -> pd.Series:
    """`_maybe_strip_national_prefix_carrier_code` for regions without a transform rule."""
    if meta.national_prefix is None or s.empty:
        return s
    prefix = _non_capturing(meta.national_prefix)
    parts = extract(s, f"^(?P<np>(?:{prefix}))(?P<rest>.*)$")
    matched = parts["np"].notna().to_numpy(bool)
    if not matched.any():
        return s
    rest = parts["rest"]
    viable_before = _fullmatch(s, meta.general.pattern)
    viable_after = np.zeros(len(s), dtype=bool)
    viable_after[matched] = _fullmatch(rest[matched], meta.general.pattern)
    strip = matched & ~(viable_before & ~viable_after)
    return s.mask(strip, rest)


def _non_capturing(pattern: str) -> str:
    """The same pattern with its capture groups made non-capturing (RE2 extraction needs
    every group named; which prefix matched is all the fast path needs)."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


def _after_country_code(rest: pd.Series, meta: _Region) -> tuple[pd.Series, np.ndarray]:
    """Parse's steps after the country code: strip a national prefix if the rest stays a
    possible length. Returns the national number and rows that fail parse outright."""
    too_short = (rest.str.len() < _MIN_NSN).to_numpy(bool)
    stripped = _strip_national_prefix(rest, meta)
    lt = _length_test(stripped, meta)
    keep = ~np.isin(lt, (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH))
    national = rest.mask(keep, stripped)
    too_long = (national.str.len() > _MAX_NSN).to_numpy(bool)
    return national, too_short | too_long


def _valid_for_code(cc: int, nsn: pd.Series) -> np.ndarray:
    """`is_valid_number` for numbers of one country code (region chosen as the library does)."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    if len(regions) == 1:
        meta = _region(regions[0])
        return _is_typed(nsn, meta) if meta else np.zeros(len(nsn), dtype=bool)
    chosen = np.full(len(nsn), -1)
    typed_known = np.zeros(len(nsn), dtype=bool)
    for i, region in enumerate(regions):
        meta = _region(region)
        open_rows = chosen < 0
        if meta is None or not open_rows.any():
            continue
        if meta.leading_digits is not None:
            hit = np.zeros(len(nsn), dtype=bool)
            hit[open_rows] = _prefix_match(nsn[open_rows], meta.leading_digits)
        else:
            hit = np.zeros(len(nsn), dtype=bool)
            hit[open_rows] = _is_typed(nsn[open_rows], meta)
            typed_known |= hit
        chosen[hit] = i
    valid = typed_known.copy()
    for i in np.unique(chosen[(chosen >= 0) & ~typed_known]):
        rows = (chosen == i) & ~typed_known
        valid[rows] = _is_typed(nsn[rows], _region(regions[i]))
    return valid


@dataclass
class _Parsed:
    """Per distinct cleaned value: decided by the fast path?, valid?, E.164, NSN."""

    decided: np.ndarray
    valid: np.ndarray
    e164: np.ndarray  # object, None where invalid
    nsn: np.ndarray  # object, None where unknown


def _fast_parse(cleaned: pd.Series, region: str | None) -> _Parsed:
    """libphonenumber's parse + is_valid_number over distinct '+digits' / 'digits' strings."""
    n = len(cleaned)
    out = _Parsed(
        np.zeros(n, bool), np.zeros(n, bool), np.full(n, None, object), np.full(n, None, object)
    )
    plus = cleaned.str.startswith("+").to_numpy(bool)
    digits = cleaned.str.lstrip("+")
    length = digits.str.len().to_numpy(np.int64)
    candidates: list[tuple[int, np.ndarray, pd.Series]] = []  # (cc, row positions, national)
    failed: list[np.ndarray] = []

    def after_cc(cc: int, rows: np.ndarray, rest: pd.Series) -> None:
        meta = _main_region(cc)
        if meta is None or meta.has_transform:
            return  # slow path
        national, fails = _after_country_code(rest, meta)
        failed.append(rows[fails])
        candidates.append((cc, rows[~fails], national[~fails]))

    # Written with +: the country code is the (prefix-free) 1–3 digit code that starts it.
    plus_rows = np.flatnonzero(plus & (length >= 3) & (length <= 20))
    if len(plus_rows):
        d = digits.iloc[plus_rows]
        assigned = np.zeros(len(plus_rows), dtype=bool)
        for k in (1, 2, 3):
            head = d.str.slice(0, k)
            hit = (
                ~assigned
                & head.isin(_COUNTRY_CODES).to_numpy(bool)
                & ~d.str.startswith("0").to_numpy(bool)
            )
            for code in pd.unique(head[hit]):
                rows = hit & (head == code).to_numpy(bool)
                after_cc(int(code), plus_rows[rows], d[rows].str.slice(k).reset_index(drop=True))
            assigned |= hit

    meta = _region(region)
    national_rows = np.flatnonzero(~plus & (length >= 3) & (length <= _MAX_NSN))
    if meta is not None and not meta.has_transform and len(national_rows):
        d = digits.iloc[national_rows].reset_index(drop=True)
        idd = _prefix_match(d, meta.idd) if meta.idd else np.zeros(len(d), bool)
        cc_str = str(meta.cc)
        with_cc = d.str.startswith(cc_str).to_numpy(bool) & ~idd
        as_cc = np.zeros(len(d), dtype=bool)
        if with_cc.any():
            full = d[with_cc].reset_index(drop=True)
            potential = _strip_national_prefix(full.str.slice(len(cc_str)), meta)
            better = (
                ~_fullmatch(full, meta.general.pattern)
                & _fullmatch(potential, meta.general.pattern)
            ) | (_length_test(full, meta) == _TOO_LONG)
            as_cc[np.flatnonzero(with_cc)[better]] = True
            if better.any():
                after_cc(meta.cc, national_rows[as_cc], potential[better].reset_index(drop=True))
        plain = ~idd & ~as_cc
        if plain.any():
            national, fails = _after_country_code(d[plain].reset_index(drop=True), meta)
            rows = national_rows[plain]
            failed.append(rows[fails])
            candidates.append((meta.cc, rows[~fails], national[~fails]))

    for rows in failed:
        out.decided[rows] = True
    by_code: dict[int, list[tuple[np.ndarray, pd.Series]]] = {}
    for cc, rows, national in candidates:
        by_code.setdefault(cc, []).append((rows, national.reset_index(drop=True)))
    for cc, parts in by_code.items():
        rows = np.concatenate([p[0] for p in parts])
        nsn = pd.concat([p[1] for p in parts], ignore_index=True).astype(STRING)
        if not len(rows):
            continue
        valid = _valid_for_code(cc, nsn)
        nsn_values = nsn.to_numpy(object)
        out.decided[rows] = True
        out.valid[rows] = valid
        out.nsn[rows] = nsn_values
        e164 = np.array(["+" + str(cc) + v for v in nsn_values], dtype=object)
        out.e164[rows[valid]] = e164[valid]
    return out


def _slow_parse(text: str, region: str | None) -> tuple[bool, str | None, str | None]:
    """(valid, E.164, national significant number) by phonenumbers itself."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return False, None, None
    nsn = phonenumbers.national_significant_number(number)
    if not phonenumbers.is_valid_number(number):
        return False, None, nsn
    return True, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), nsn


def is_fake_digits(digits: pd.Series) -> pd.Series:
    """All one digit, 70 %+ one digit, or a run of 7 ascending/descending digits (≥ 6 digits)."""
    d = as_text(digits)
    length = d.str.len().fillna(0).to_numpy(np.int64)
    fake = np.zeros(len(d), dtype=bool)
    rows = np.flatnonzero((length >= 6) & (length <= 20))
    if len(rows):
        # Digits as a fixed-width code-point matrix: one pass per digit counts them all.
        matrix = d.iloc[rows].to_numpy(object).astype("U20").view(np.uint32)
        matrix = matrix.reshape(len(rows), 20)
        most = np.zeros(len(rows), dtype=np.int64)
        for digit in b"0123456789":
            most = np.maximum(most, (matrix == digit).sum(axis=1))
        fake[rows] = most >= 0.7 * length[rows]
        fake[rows] |= fullmatch(d.iloc[rows], f".*(?:{_RUNS}).*")
    return pd.Series(fake, index=digits.index)


def _phones_for_region(texts: pd.Series, region: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(E.164 or None, rule or None) for distinct texts read in one region."""
    n = len(texts)
    fast_shape = fullmatch(texts, _FAST_INPUT)
    cleaned = texts.str.replace(_SEPARATORS, "", regex=True)
    e164 = np.full(n, None, object)
    valid = np.zeros(n, dtype=bool)
    nsn = np.full(n, None, object)
    decided = np.zeros(n, dtype=bool)
    if fast_shape.any():
        shaped = np.flatnonzero(fast_shape)
        codes, uniques = pd.factorize(cleaned.iloc[shaped])
        parsed = _fast_parse(pd.Series(np.asarray(uniques, dtype=object), dtype=STRING), region)
        decided[shaped] = parsed.decided[codes]
        valid[shaped] = parsed.valid[codes]
        e164[shaped] = parsed.e164[codes]
        nsn[shaped] = parsed.nsn[codes]
    lib_region = region if region in SUPPORTED_REGIONS else None
    for i in np.flatnonzero(~decided):
        valid[i], e164[i], nsn[i] = _slow_parse(texts.iloc[i], lib_region)
    digits = cleaned.str.replace(r"[^0-9]", "", regex=True)
    check = pd.Series(np.where(pd.isna(nsn), digits.to_numpy(object), nsn), dtype=STRING)
    fake = is_fake_digits(check).to_numpy(bool)
    rule = np.where(fake, FAKE_PHONE, np.where(valid, None, INVALID_PHONE)).astype(object)
    e164 = np.where(fake, None, e164)
    return e164, rule


def normalise_phones(series: pd.Series, region: str | pd.Series | None) -> Checked:
    """Phones as E.164 strings; fake → `fake_phone`, unparsable/invalid → `invalid_phone`.

    `region`: one ISO country for all rows, or a per-row column (NA rows: no region, so only
    numbers written with +CC can be read).
    """
    text = as_text(series).str.strip()
    text = text.mask(text == "")
    regions = (
        region.astype(STRING)
        if isinstance(region, pd.Series)
        else pd.Series(region, index=series.index, dtype=STRING)
    )
    codes, texts, pair_regions = unique_pairs(text, regions)
    e164 = np.full(len(texts), None, object)
    rule = np.full(len(texts), None, object)
    region_values = pair_regions.to_numpy(object)
    for value in pd.unique(region_values):
        rows = np.flatnonzero(pd.isna(region_values) if pd.isna(value) else region_values == value)
        got_e164, got_rule = _phones_for_region(
            texts.iloc[rows].reset_index(drop=True), None if pd.isna(value) else str(value)
        )
        e164[rows] = got_e164
        rule[rows] = got_rule
    values = take_rows(pd.Series(e164, dtype=STRING), codes, series.index)
    rules = take_rows(pd.Series(rule, dtype=STRING), codes, series.index)
    return Checked(values, rules)


def phone_region(country: pd.Series | None, default: str) -> pd.Series | str:
    """Region to read each row's phone in: the row's (valid) country, else `default`."""
    if country is None:
        return default
    usable = country.isin(SUPPORTED_REGIONS).fillna(False)
    return country.where(usable, default).astype(STRING)
