"""How one person is written down by different systems: the variations identity resolution
has to see through.

Emails: case, surrounding spaces, Gmail dots and `+tags` (the same mailbox), or another address
altogether. Phones: national and international formats, the household landline. Names:
nicknames (Bob for Robert), typos, first and last swapped, upper case, pinyin or Han
characters for Chinese names. Addresses: the one current when the record was made (people
move), street abbreviations, postal codes without their space or leading zero.

Every function takes the people the rows belong to and a style code per row (drawn by the
caller with `styles`), so rendering the same rows twice gives the same text.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.demo import text
from cdp_assets.demo.people import Address, Population
from cdp_assets.demo.phones import format_phones
from cdp_assets.demo.places import COUNTRIES, STREET_ABBREVIATIONS

# Email styles
EMAIL_AS_IS, EMAIL_TITLE, EMAIL_UPPER, EMAIL_PADDED, EMAIL_GMAIL_DOTS, EMAIL_TAG, EMAIL_OTHER = (
    range(7)
)
# Name styles
NAME_AS_IS, NAME_NICK, NAME_TYPO, NAME_SWAPPED, NAME_UPPER, NAME_LATIN, NAME_LOWER = range(7)

CN = COUNTRIES.index("CN")
_TAGS = ("shop", "news", "orders", "promo", "hp")


def styles(rng: np.random.Generator, n: int, weights: Mapping[int, float]) -> np.ndarray:
    """A style code per row, with the given relative weights."""
    codes = np.array(list(weights))
    p = np.array(list(weights.values()), dtype=float)
    return codes[rng.choice(len(codes), size=n, p=p / p.sum())]


def emails(pop: Population, person: np.ndarray, style: np.ndarray) -> pa.Array:
    local = text.take(pop.email_local, person)
    domain = text.take(pop.email_domain, person)
    gmail = pop.gmail[person]
    plain = text.cat(local, "@", domain)
    out = plain
    out = text.where(style == EMAIL_TITLE, pc.utf8_title(plain), out)
    out = text.where(style == EMAIL_UPPER, pc.utf8_upper(plain), out)
    out = text.where(style == EMAIL_PADDED, text.cat(" ", plain, " "), out)
    undotted = text.cat(pc.replace_substring(local, ".", ""), "@", domain)
    # A Gmail user without dots may add one: j.smith ↔ jsmith are the same mailbox.
    dotted = text.cat(
        pc.utf8_slice_codeunits(local, 0, 1),
        ".",
        pc.utf8_slice_codeunits(local, 1, 64),
        "@",
        domain,
    )
    has_dot = np.asarray(pc.match_substring(local, "."))
    numeric = np.asarray(pc.match_substring_regex(local, "^[0-9]+$"))
    gmail_variant = text.where(has_dot, undotted, text.where(numeric, plain, dotted))
    out = text.where((style == EMAIL_GMAIL_DOTS) & gmail, gmail_variant, out)
    tag = text.pick(_TAGS, person % len(_TAGS))
    out = text.where(style == EMAIL_TAG, text.cat(local, "+", tag, "@", domain), out)
    other = text.take(pop.alt_email, person)
    has_other = np.asarray(pc.is_valid(other))
    return text.where((style == EMAIL_OTHER) & has_other, other, out)


def phones(
    pop: Population,
    person: np.ndarray,
    style: np.ndarray,
    use_landline: np.ndarray,
    international: np.ndarray | None = None,
) -> pa.Array:
    """The person's mobile, or the household landline where `use_landline` (and they have one),
    written in the row's style."""
    landline = use_landline & pop.has_landline[person]
    mobile = pop.mobile.take(person)
    line = pop.landline.take(person)
    number = type(mobile)(
        mobile.country,
        text.where(landline, line.area, mobile.area),
        text.where(landline, line.subscriber, mobile.subscriber),
    )
    return format_phones(number, style, international)


def e164(pop: Population, person: np.ndarray, use_landline: np.ndarray) -> pa.Array:
    landline = use_landline & pop.has_landline[person]
    return text.where(landline, pop.landline.take(person).e164(), pop.mobile.take(person).e164())


def names(pop: Population, person: np.ndarray, style: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """(first, last) as typed: Chinese people in Han characters unless NAME_LATIN."""
    first = text.take(pop.first_name, person)
    last = text.take(pop.last_name, person)
    first_latin = text.take(pop.first_latin, person)
    last_latin = text.take(pop.last_latin, person)
    cn = pop.country[person] == CN
    latin = (style == NAME_LATIN) | (cn & np.isin(style, [NAME_TYPO, NAME_LOWER]))
    first = text.where(latin, first_latin, first)
    last = text.where(latin, last_latin, last)
    nick = text.take(pop.nickname, person)
    has_nick = np.asarray(pc.is_valid(nick))
    first = text.where((style == NAME_NICK) & has_nick & ~cn, nick, first)
    typo_first = text.take(pop.first_typo, person)
    typo_last = text.take(pop.last_typo, person)
    has_typo = np.asarray(pc.is_valid(typo_first))
    which = person % 2 == 0
    typo = (style == NAME_TYPO) & has_typo
    first = text.where(typo & which, typo_first, first)
    last = text.where(typo & ~which, typo_last, last)
    upper = style == NAME_UPPER
    last = text.where(upper, pc.utf8_upper(last), last)
    lower = style == NAME_LOWER
    first = text.where(lower, pc.utf8_lower(first), first)
    last = text.where(lower, pc.utf8_lower(last), last)
    swapped = style == NAME_SWAPPED
    return text.where(swapped, last, first), text.where(swapped, first, last)


def full_names(pop: Population, person: np.ndarray, style: np.ndarray) -> pa.Array:
    """One name field: "First Last"; swapped as "Last, First"; upper as "LAST First";
    Chinese as 王小明 (family name first, no space) or in pinyin "Wang Xiaoming"."""
    first, last = names(pop, person, np.where(style == NAME_SWAPPED, NAME_AS_IS, style))
    cn = pop.country[person] == CN
    western = text.cat(first, " ", last)
    out = text.where(style == NAME_SWAPPED, text.cat(last, ", ", first), western)
    out = text.where(style == NAME_UPPER, text.cat(last, " ", first), out)
    han = text.cat(text.take(pop.last_name, person), text.take(pop.first_name, person))
    pinyin = text.cat(text.take(pop.last_latin, person), " ", text.take(pop.first_latin, person))
    pinyin_western = text.cat(
        text.take(pop.first_latin, person), " ", text.take(pop.last_latin, person)
    )
    chinese = text.where(
        style == NAME_LATIN, pinyin, text.where(style == NAME_SWAPPED, pinyin_western, han)
    )
    return text.where(cn, chinese, out)


def address_on(pop: Population, person: np.ndarray, day: np.ndarray) -> Address:
    """The address a person had on `day` (the old one before their move)."""
    before = (pop.moved_day[person] >= 0) & (np.asarray(day) < pop.moved_day[person])
    return pop.old_address.take(person).where(before, pop.address.take(person))


def streets(address: Address, country: np.ndarray, abbreviate: np.ndarray) -> pa.Array:
    """Streets, abbreviated (or spelled out) on the rows asked: "Main St" ↔ "Main Street"."""
    out = address.street
    for c, code in enumerate(COUNTRIES):
        rows = abbreviate & (country == c)
        if not rows.any():
            continue
        changed = address.street
        for pattern, replacement in STREET_ABBREVIATIONS[code]:
            changed = pc.replace_substring_regex(changed, pattern, replacement, max_replacements=1)
        out = text.where(rows, changed, out)
    return out


def postal_codes(address: Address, country: np.ndarray, loose: np.ndarray) -> pa.Array:
    """Postal codes as typed on the rows asked: GB lower-case without the space, ZIP+4 cut to
    five digits, German/French leading zeros dropped (spreadsheets) — all still valid."""
    code = address.postal_code
    gb = loose & (country == COUNTRIES.index("GB"))
    us = loose & (country == COUNTRIES.index("US"))
    eu = loose & np.isin(country, [COUNTRIES.index("DE"), COUNTRIES.index("FR")])
    out = text.where(gb, pc.utf8_lower(pc.replace_substring(code, " ", "")), code)
    out = text.where(us, pc.utf8_slice_codeunits(code, 0, 5), out)
    return text.where(eu, pc.utf8_ltrim(code, "0"), out)
