"""Phone numbers: valid numbers drawn from checked prefixes, and the ways people write them.

A number is (country, area, subscriber): area is the part after the country code that national
formats write after the trunk prefix 0 (GB, DE, FR) — "20" for London, "151" for a German
mobile, "6" for a French mobile, "138" for a Chinese mobile, the area code in the US.
Every prefix below was checked with `phonenumbers.is_valid_number` over random subscriber
digits; numbers that look fake (mostly one digit, or seven digits in a run) are redrawn, so
that clean records never trip the platform's `fake_phone` rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.demo import text
from cdp_assets.demo.places import CITIES, COUNTRIES

CALLING_CODES = ("1", "44", "49", "33", "86")
TRUNK = ("", "0", "0", "0", "")  # national trunk prefix written before the area

# Mobile prefixes (area) and subscriber lengths per country; US uses the city's area codes.
_MOBILE: dict[str, tuple[tuple[str, int], ...]] = {
    "GB": tuple((f"7{a}", 8) for a in "12345")
    + tuple((f"77{a}", 7) for a in "123456789")
    + (("78", 8),),
    "DE": tuple(
        (a, 8)
        for a in (
            "151",
            "152",
            "157",
            "159",
            "160",
            "170",
            "171",
            "172",
            "173",
            "174",
            "175",
            "176",
            "177",
            "178",
            "179",
        )
    ),
    "FR": tuple((f"6{a}", 7) for a in "0124568") + tuple((f"7{a}", 7) for a in "356789"),
    "CN": tuple(
        (a, 8)
        for a in (
            "130",
            "131",
            "132",
            "133",
            "135",
            "136",
            "137",
            "138",
            "139",
            "150",
            "151",
            "152",
            "155",
            "156",
            "157",
            "158",
            "159",
            "166",
            "176",
            "177",
            "180",
            "181",
            "182",
            "183",
            "185",
            "186",
            "187",
            "188",
            "189",
            "191",
            "198",
            "199",
        )
    ),
}
# Landlines of households, per country.
_LANDLINE: dict[str, tuple[tuple[str, int], ...]] = {
    "GB": (("207", 7), ("203", 7), ("208", 7), ("161", 7), ("141", 7)),
    "DE": (("30", 8), ("89", 8), ("40", 8), ("69", 8)),
    "FR": (("1", 8), ("3", 8), ("9", 8)),
}
LANDLINE_COUNTRIES = tuple(_LANDLINE)


@dataclass
class Phones:
    """n phone numbers: country index, area and subscriber digits (Arrow strings)."""

    country: np.ndarray
    area: pa.Array
    subscriber: pa.Array

    def e164(self) -> pa.Array:
        cc = text.pick(["+" + c for c in CALLING_CODES], self.country)
        return text.cat(cc, self.area, self.subscriber)

    def take(self, index: np.ndarray) -> Phones:
        idx = pa.array(np.asarray(index, dtype=np.int64))
        return Phones(self.country[index], self.area.take(idx), self.subscriber.take(idx))


def looks_fake(digits: np.ndarray) -> np.ndarray:
    """Rows of a digit matrix (national significant numbers, equal length) that the platform
    would call fake: 70 % or more one digit, or a run of 7 ascending/descending digits."""
    n, width = digits.shape
    counts = np.stack([(digits == d).sum(axis=1) for d in range(10)], axis=1)
    fake = counts.max(axis=1) >= 0.7 * width
    step = (digits[:, 1:] - digits[:, :-1]) % 10
    for target in (1, 9):
        run = np.zeros(n, dtype=np.int64)
        best = np.zeros(n, dtype=np.int64)
        for j in range(step.shape[1]):
            run = np.where(step[:, j] == target, run + 1, 0)
            best = np.maximum(best, run)
        fake |= best >= 6
    return fake


def _subscribers(
    rng: np.random.Generator, area_digits: np.ndarray, length: int, first_min: int
) -> np.ndarray:
    """Random subscriber digit matrices (n, length) whose full number does not look fake."""
    n = len(area_digits)
    sub = rng.integers(0, 10, size=(n, length))
    sub[:, 0] = rng.integers(first_min, 10, n)
    for _ in range(20):
        bad = looks_fake(np.concatenate([area_digits, sub], axis=1))
        if not bad.any():
            break
        k = int(bad.sum())
        sub[bad] = rng.integers(0, 10, size=(k, length))
        sub[bad, 0] = rng.integers(first_min, 10, k)
    return sub


def _digits_text(matrix: np.ndarray) -> pa.Array:
    n, width = matrix.shape
    chars = (matrix.astype(np.uint32) + ord("0")).astype(np.uint32)
    return pa.array(np.ascontiguousarray(chars).view(f"<U{width}").reshape(n), type=text.STRING)


def _from_prefixes(
    rng: np.random.Generator, prefixes: tuple[tuple[str, int], ...], n: int
) -> tuple[pa.Array, pa.Array]:
    choice = rng.integers(0, len(prefixes), n)
    areas: list[pa.Array] = []
    subs: list[pa.Array] = []
    order: list[np.ndarray] = []
    for k, (area, length) in enumerate(prefixes):
        rows = np.flatnonzero(choice == k)
        if not len(rows):
            continue
        area_digits = np.tile(np.array([int(c) for c in area]), (len(rows), 1))
        sub = _subscribers(rng, area_digits, length, 0 if len(area) > 1 else 1)
        areas.append(text.const(area, len(rows)))
        subs.append(_digits_text(sub))
        order.append(rows)
    return text.scatter(areas, order, n), text.scatter(subs, order, n)


def _us_numbers(rng: np.random.Generator, area_codes: np.ndarray) -> tuple[pa.Array, pa.Array]:
    n = len(area_codes)
    area_digits = (
        np.ascontiguousarray(area_codes.astype("<U3")).view(np.uint32).reshape(n, 3) - ord("0")
    ).astype(np.int64)
    sub = _subscribers(rng, area_digits, 7, 2)
    # Exchanges N11 are service codes; 555 is kept for the stores' fictional numbers.
    for _ in range(20):
        bad = ((sub[:, 1] == 1) & (sub[:, 2] == 1)) | (
            (sub[:, 0] == 5) & (sub[:, 1] == 5) & (sub[:, 2] == 5)
        )
        bad |= looks_fake(np.concatenate([area_digits, sub], axis=1))
        if not bad.any():
            break
        k = int(bad.sum())
        sub[bad] = rng.integers(0, 10, size=(k, 7))
        sub[bad, 0] = rng.integers(2, 10, k)
    return pa.array(area_codes.astype("<U3"), type=text.STRING), _digits_text(sub)


def draw_phones(
    rng: np.random.Generator, country: np.ndarray, city_index: np.ndarray, landline: bool = False
) -> Phones:
    """One number per person: a mobile (or a household landline) of the person's country;
    US numbers use an area code of the person's city."""
    n = len(country)
    areas: list[pa.Array] = []
    subs: list[pa.Array] = []
    order: list[np.ndarray] = []
    for c, code in enumerate(COUNTRIES):
        rows = np.flatnonzero(country == c)
        if not len(rows):
            continue
        if code == "US":
            cities = CITIES["US"]
            counts = np.array([len(c.area_codes) for c in cities])
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            flat = [a for c in cities for a in c.area_codes]
            city = city_index[rows]
            pick = (rng.random(len(rows)) * counts[city]).astype(np.int64)
            area, sub = _us_numbers(rng, np.asarray(flat)[starts[city] + pick])
        else:
            table = _LANDLINE.get(code, _MOBILE[code]) if landline else _MOBILE[code]
            area, sub = _from_prefixes(rng, table, len(rows))
        areas.append(area)
        subs.append(sub)
        order.append(rows)
    return Phones(np.asarray(country), text.scatter(areas, order, n), text.scatter(subs, order, n))


def unique_phones(
    rng: np.random.Generator, phones: Phones, city_index: np.ndarray, landline: bool = False
) -> Phones:
    """Redraws numbers that collide with another row's, until all are distinct."""
    for _ in range(50):
        e164 = phones.e164()
        dup = pd.Series(e164.to_numpy(zero_copy_only=False)).duplicated().to_numpy()
        if not dup.any():
            return phones
        rows = np.flatnonzero(dup)
        fresh = draw_phones(rng, phones.country[rows], city_index[rows], landline)
        area = text.to_numpy(phones.area)
        sub = text.to_numpy(phones.subscriber)
        area[rows] = text.to_numpy(fresh.area)
        sub[rows] = text.to_numpy(fresh.subscriber)
        phones = Phones(
            phones.country, pa.array(area, type=text.STRING), pa.array(sub, type=text.STRING)
        )
    return phones


# -- how people write numbers -------------------------------------------------------------------

# Styles per country; a row's style index is taken modulo the number of styles.
STYLES: dict[str, tuple[str, ...]] = {
    "US": ("paren", "dash", "dot", "intl_spaced", "e164", "plain", "one_dash"),
    "GB": ("national_spaced", "intl_spaced", "e164", "national_plain"),
    "DE": ("national_spaced", "intl_spaced", "e164", "national_slash"),
    "FR": ("national_pairs", "intl_pairs", "national_plain", "national_dots"),
    "CN": ("plain", "spaced", "intl_spaced", "e164", "dashed"),
}


def _slice(values: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    return pc.utf8_slice_codeunits(values, start, stop if stop is not None else 64)


def _pairs(digits: pa.Array, width: int) -> pa.Array:
    """'612345678' → '6 12 34 56 78' for French numbers (area digit then pairs)."""
    parts = [_slice(digits, 0, 1)]
    for i in range(1, width, 2):
        parts.append(" ")
        parts.append(_slice(digits, i, i + 2))
    return text.cat(*parts)


def _grouped(sub: pa.Array, cut: int) -> pa.Array:
    return text.cat(_slice(sub, 0, cut), " ", _slice(sub, cut))


def _format_group(code: str, style: str, area: pa.Array, sub: pa.Array) -> pa.Array:
    cc = CALLING_CODES[COUNTRIES.index(code)]
    trunk = TRUNK[COUNTRIES.index(code)]
    if code == "US":
        a, s3, s4 = area, _slice(sub, 0, 3), _slice(sub, 3)
        return {
            "paren": lambda: text.cat("(", a, ") ", s3, "-", s4),
            "dash": lambda: text.cat(a, "-", s3, "-", s4),
            "dot": lambda: text.cat(a, ".", s3, ".", s4),
            "intl_spaced": lambda: text.cat("+1 ", a, " ", s3, " ", s4),
            "e164": lambda: text.cat("+1", a, sub),
            "plain": lambda: text.cat(a, sub),
            "one_dash": lambda: text.cat("1-", a, "-", s3, "-", s4),
        }[style]()
    if code == "FR":
        digits = text.cat(area, sub)
        return {
            "national_pairs": lambda: text.cat("0", _pairs(digits, 9)),
            "intl_pairs": lambda: text.cat("+33 ", _pairs(digits, 9)),
            "national_plain": lambda: text.cat("0", digits),
            "national_dots": lambda: pc.replace_substring(
                text.cat("0", _pairs(digits, 9)), " ", "."
            ),
        }[style]()
    if code == "CN":
        spaced = text.cat(_slice(sub, 0, 4), " ", _slice(sub, 4))
        return {
            "plain": lambda: text.cat(area, sub),
            "spaced": lambda: text.cat(area, " ", spaced),
            "intl_spaced": lambda: text.cat("+86 ", area, " ", spaced),
            "e164": lambda: text.cat("+86", area, sub),
            "dashed": lambda: text.cat(area, "-", _slice(sub, 0, 4), "-", _slice(sub, 4)),
        }[style]()
    if code == "GB":
        # London 020 XXXX XXXX; other areas 0161 XXX XXXX; mobiles 07XXX XXXXXX.
        digits = text.cat(area, sub)
        london = np.asarray(pc.starts_with(area, "20"))
        mobile = np.asarray(pc.starts_with(area, "7"))
        head = text.where(
            london,
            _slice(digits, 0, 2),
            text.where(mobile, _slice(digits, 0, 4), _slice(digits, 0, 3)),
        )
        rest = text.where(
            london,
            text.cat(_slice(digits, 2, 6), " ", _slice(digits, 6)),
            text.where(
                mobile, _slice(digits, 4), text.cat(_slice(digits, 3, 6), " ", _slice(digits, 6))
            ),
        )
        return {
            "national_spaced": lambda: text.cat(trunk, head, " ", rest),
            "intl_spaced": lambda: text.cat("+", cc, " ", head, " ", rest),
            "e164": lambda: text.cat("+", cc, digits),
            "national_plain": lambda: text.cat(trunk, digits),
        }[style]()
    # DE
    return {
        "national_spaced": lambda: text.cat(trunk, area, " ", sub),
        "intl_spaced": lambda: text.cat("+", cc, " ", area, " ", sub),
        "e164": lambda: text.cat("+", cc, area, sub),
        "national_slash": lambda: text.cat(trunk, area, "/", sub),
    }[style]()


def international_style(country: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Whether numbers of these countries written in these styles carry the country code."""
    out = np.zeros(len(country), dtype=bool)
    for c, code in enumerate(COUNTRIES):
        styles = STYLES[code]
        intl = np.array([s.startswith("intl") or s == "e164" for s in styles])
        rows = country == c
        out[rows] = intl[np.asarray(style)[rows] % len(styles)]
    return out


def format_phones(
    phones: Phones, style: np.ndarray, international: np.ndarray | None = None
) -> pa.Array:
    """Each number written in a style of its country (style index modulo the styles).

    `international`: rows that must carry the country code (the reader does not know the
    row's country): their style is mapped to an international one.
    """
    n = len(phones.country)
    parts: list[pa.Array] = []
    order: list[np.ndarray] = []
    for c, code in enumerate(COUNTRIES):
        styles = STYLES[code]
        intl = [i for i, s in enumerate(styles) if s.startswith("intl") or s == "e164"]
        in_country = phones.country == c
        if not in_country.any():
            continue
        chosen = np.asarray(style) % len(styles)
        if international is not None:
            must = in_country & international
            chosen = np.where(must, np.asarray(intl)[np.asarray(style) % len(intl)], chosen)
        for k, name in enumerate(styles):
            rows = np.flatnonzero(in_country & (chosen == k))
            if not len(rows):
                continue
            idx = pa.array(rows)
            parts.append(
                _format_group(code, name, phones.area.take(idx), phones.subscriber.take(idx))
            )
            order.append(rows)
    return text.scatter(parts, order, n)
