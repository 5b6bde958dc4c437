"""The people behind the data: who they are, where they live, how they shop and when they stop.

Each person has one true identity (names, birth date, email, mobile, address), a household for
some (shared landline and address), a move for some (an old and a new address), and the
behaviour later work has to recover: a purchase rate drawn from a gamma distribution (so order
counts are gamma-Poisson), category affinities, a satisfaction level, the day they became a
customer and the day they silently stop buying (`churn_day`, possibly after the end date; the
service module brings it forward after bad experiences). Roles say where a person shows up:
shop account, guest checkouts, stores (US East Coast only), loyalty programme, CRM, website.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.demo import names, places, text
from cdp_assets.demo.catalogue import CATEGORIES
from cdp_assets.demo.phones import LANDLINE_COUNTRIES, Phones, draw_phones, unique_phones
from cdp_assets.demo.places import COUNTRIES, STORES
from cdp_assets.demo.settings import DemoSettings

EMAIL_DOMAINS: dict[str, tuple[tuple[str, float], ...]] = {
    "US": (
        ("gmail.com", 45),
        ("yahoo.com", 14),
        ("outlook.com", 11),
        ("hotmail.com", 7),
        ("icloud.com", 11),
        ("aol.com", 5),
        ("comcast.net", 4),
        ("protonmail.com", 3),
    ),
    "GB": (
        ("gmail.com", 40),
        ("hotmail.co.uk", 15),
        ("yahoo.co.uk", 9),
        ("outlook.com", 11),
        ("btinternet.com", 10),
        ("icloud.com", 10),
        ("sky.com", 5),
    ),
    "DE": (
        ("gmail.com", 30),
        ("web.de", 25),
        ("gmx.de", 24),
        ("t-online.de", 11),
        ("outlook.de", 6),
        ("posteo.de", 4),
    ),
    "FR": (
        ("gmail.com", 35),
        ("orange.fr", 20),
        ("free.fr", 14),
        ("laposte.net", 10),
        ("hotmail.fr", 11),
        ("sfr.fr", 10),
    ),
    "CN": (
        ("qq.com", 45),
        ("163.com", 25),
        ("126.com", 10),
        ("sina.com", 5),
        ("gmail.com", 5),
        ("outlook.com", 10),
    ),
}
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


@dataclass
class NameTables:
    """Every (country, gender) list of given names and every family-name list, flattened."""

    given: pa.Array
    given_latin: pa.Array
    given_email: pa.Array
    given_offset: np.ndarray  # (countries, 2) start of each (country, gender) block
    given_count: np.ndarray
    family: pa.Array
    family_latin: pa.Array
    family_email: pa.Array
    family_offset: np.ndarray
    family_count: np.ndarray
    nick: pa.Array
    nick_offset: np.ndarray  # per given-name entry
    nick_count: np.ndarray


def _name_tables() -> NameTables:
    given: list[str] = []
    given_latin: list[str] = []
    given_offset = np.zeros((len(COUNTRIES), 2), dtype=np.int64)
    given_count = np.zeros((len(COUNTRIES), 2), dtype=np.int64)
    family: list[str] = []
    family_latin: list[str] = []
    family_offset = np.zeros(len(COUNTRIES), dtype=np.int64)
    family_count = np.zeros(len(COUNTRIES), dtype=np.int64)
    for c, code in enumerate(COUNTRIES):
        book = names.NAME_BOOKS[code]
        for g, (native, latin) in enumerate(
            ((book.male, book.male_latin), (book.female, book.female_latin))
        ):
            given_offset[c, g] = len(given)
            given_count[c, g] = len(native)
            given.extend(native)
            given_latin.extend(latin or native)
        family_offset[c] = len(family)
        family_count[c] = len(book.family)
        family.extend(book.family)
        family_latin.extend(book.family_latin or book.family)
    nick: list[str] = []
    nick_offset = np.zeros(len(given), dtype=np.int64)
    nick_count = np.zeros(len(given), dtype=np.int64)
    for i, name in enumerate(given):
        options = names.NICKNAMES.get(name, ())
        nick_offset[i] = len(nick)
        nick_count[i] = len(options)
        nick.extend(options)
    return NameTables(
        given=text.strings(given),
        given_latin=text.strings(given_latin),
        given_email=text.strings([names.email_word(v) for v in given_latin]),
        given_offset=given_offset,
        given_count=given_count,
        family=text.strings(family),
        family_latin=text.strings(family_latin),
        family_email=text.strings([names.email_word(v) for v in family_latin]),
        family_offset=family_offset,
        family_count=family_count,
        nick=text.strings(nick or [""]),
        nick_offset=nick_offset,
        nick_count=nick_count,
    )


@dataclass
class Address:
    street: pa.Array
    city: pa.Array
    region: pa.Array
    postal_code: pa.Array
    city_index: np.ndarray

    def take(self, index: np.ndarray) -> Address:
        return Address(
            text.take(self.street, index),
            text.take(self.city, index),
            text.take(self.region, index),
            text.take(self.postal_code, index),
            self.city_index[index],
        )

    def where(self, mask: np.ndarray, other: Address) -> Address:
        """This address where mask, else other's."""
        return Address(
            text.where(mask, self.street, other.street),
            text.where(mask, self.city, other.city),
            text.where(mask, self.region, other.region),
            text.where(mask, self.postal_code, other.postal_code),
            np.where(mask, self.city_index, other.city_index),
        )


@dataclass
class Population:
    n: int
    person_id: pa.Array
    country: np.ndarray  # index into COUNTRIES
    female: np.ndarray
    first_name: pa.Array  # native script (Han for CN)
    last_name: pa.Array
    first_latin: pa.Array  # pinyin for CN, else the same as first_name
    last_latin: pa.Array
    nickname: pa.Array  # null when the given name has none
    first_typo: pa.Array  # a mistyped spelling (null for people never mistyped)
    last_typo: pa.Array
    birth_day: np.ndarray  # day number
    email_local: pa.Array
    email_domain: pa.Array
    gmail: np.ndarray
    alt_email: pa.Array  # a second address some people use elsewhere (null for most)
    mobile: Phones
    landline: Phones  # household landline (rows without one: has_landline False)
    has_landline: np.ndarray
    household: np.ndarray  # household id (the head's index), -1 for none
    address: Address  # current address
    old_address: Address  # address before the move (same as current for non-movers)
    moved_day: np.ndarray  # day of the move, -1 for non-movers
    acquired_day: np.ndarray  # first contact with the brand (day number)
    churn_day: np.ndarray  # last day the person would still buy (may be after the end)
    rate: np.ndarray  # purchases per year while active
    affinity: np.ndarray  # (n, categories) float32, rows sum to 1
    satisfaction: np.ndarray  # 0..1
    has_account: np.ndarray
    guest: np.ndarray  # buys online without an account (guest checkout)
    store_shopper: np.ndarray
    online_shopper: np.ndarray
    loyalty: np.ndarray
    web_active: np.ndarray
    app_user: np.ndarray
    home_store: np.ndarray  # index into STORES, -1 for none
    legacy: np.ndarray  # account migrated from before the history start
    account_number: np.ndarray  # -1 without an account
    crm: np.ndarray  # set by the service module (contacts follow tickets)

    @property
    def affinity_cumulative(self) -> np.ndarray:
        return np.cumsum(self.affinity, axis=1, dtype=np.float32)

    def e164(self) -> pa.Array:
        return self.mobile.e164()

    def email(self) -> pa.Array:
        return text.cat(self.email_local, "@", self.email_domain)

    def account_ids(self, index: np.ndarray) -> pa.Array:
        return account_id_text(self.account_number[index])


def account_id_text(numbers: np.ndarray) -> pa.Array:
    return text.null_where(np.asarray(numbers) < 0, text.ids("A", np.maximum(numbers, 0), 7))


def _pick_in_blocks(rng: np.random.Generator, offset: np.ndarray, count: np.ndarray) -> np.ndarray:
    return offset + (rng.random(len(offset)) * count).astype(np.int64)


def _draw_addresses(rng: np.random.Generator, country: np.ndarray) -> Address:
    n = len(country)
    parts: dict[str, list[pa.Array]] = {"street": [], "city": [], "region": [], "postal": []}
    order: list[np.ndarray] = []
    city_index = np.zeros(n, dtype=np.int64)
    for c in range(len(COUNTRIES)):
        rows = np.flatnonzero(country == c)
        if not len(rows):
            continue
        drawn = places.draw_addresses(rng, c, len(rows))
        parts["street"].append(drawn.street)
        parts["city"].append(drawn.city)
        parts["region"].append(drawn.region)
        parts["postal"].append(drawn.postal_code)
        city_index[rows] = drawn.city_index
        order.append(rows)
    return Address(
        text.scatter(parts["street"], order, n),
        text.scatter(parts["city"], order, n),
        text.scatter(parts["region"], order, n),
        text.scatter(parts["postal"], order, n),
        city_index,
    )


def _emails(
    rng: np.random.Generator, country: np.ndarray, given: pa.Array, family: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """Local parts and domains, from romanised names; QQ numbers for some Chinese people."""
    n = len(country)
    domain_parts: list[pa.Array] = []
    order: list[np.ndarray] = []
    for c, code in enumerate(COUNTRIES):
        rows = np.flatnonzero(country == c)
        if not len(rows):
            continue
        options = EMAIL_DOMAINS[code]
        weights = np.array([w for _, w in options], dtype=float)
        pick = rng.choice(len(options), size=len(rows), p=weights / weights.sum())
        domain_parts.append(text.pick([d for d, _ in options], pick))
        order.append(rows)
    domain = text.scatter(domain_parts, order, n)
    style = rng.integers(0, 8, n)
    year = text.integers(rng.integers(60, 100, n) % 100)
    digits = text.integers(rng.integers(1, 999, n))
    initial = pc.utf8_slice_codeunits(given, 0, 1)
    shapes = [
        text.cat(given, ".", family),
        text.cat(given, family),
        text.cat(initial, ".", family),
        text.cat(given, "_", family),
        text.cat(given, ".", family, year),
        text.cat(given, digits),
        text.cat(family, ".", given),
        text.cat(initial, family, digits),
    ]
    local = shapes[0]
    for k in range(1, len(shapes)):
        local = text.where(style == k, shapes[k], local)
    qq = (np.asarray(pc.equal(domain, "qq.com"))) & (rng.random(n) < 0.6)
    local = text.where(qq, text.integers(rng.integers(10_000_000, 3_999_999_999, n)), local)
    return local, domain


def _mailboxes(addresses: pd.Series) -> pd.Series:
    lower = pd.Series(addresses).astype(str).str.lower()
    gmail = lower.str.endswith(("@gmail.com", "@googlemail.com"))
    local = lower.str.split("@").str[0].str.replace(".", "", regex=False)
    return lower.where(~gmail, local + "@gmail.com")


def _unique_locals(local: pa.Array, domain: pa.Array, taken: pd.Series | None = None) -> pa.Array:
    """Appends the row number to local parts whose mailbox is already taken. Gmail ignores dots
    and case, so `adam.morris@` and `adammorris@gmail.com` are one mailbox: one person."""
    addresses = pd.Series(text.cat(local, "@", domain).to_numpy(zero_copy_only=False))
    mailbox = _mailboxes(addresses)
    dup = mailbox.duplicated().to_numpy().copy()
    if taken is not None:
        dup |= mailbox.isin(_mailboxes(taken)).to_numpy()
    if not dup.any():
        return local
    suffix = text.integers(np.arange(len(local)) + 1000)
    return text.where(dup, text.cat(local, suffix), local)


def _households(rng: np.random.Generator, country: np.ndarray, settings_share: float) -> np.ndarray:
    """Household id per person (the head's index), -1 for people living on their own."""
    n = len(country)
    household = np.full(n, -1, dtype=np.int64)
    for c, code in enumerate(COUNTRIES):
        if code not in LANDLINE_COUNTRIES and code != "US":
            continue
        rows = rng.permutation(np.flatnonzero(country == c))
        heads = int(len(rows) * settings_share)
        if heads == 0:
            continue
        head_rows = rows[:heads]
        size = np.where(rng.random(heads) < 0.3, 2, 1)  # other members per household
        members = rows[heads : heads + int(size.sum())]
        owners = np.repeat(head_rows, size)[: len(members)]
        household[head_rows] = head_rows
        household[members] = owners
    return household


def make_population(rng: np.random.Generator, settings: DemoSettings) -> Population:
    n = settings.people
    tables = _name_tables()
    country = rng.choice(len(COUNTRIES), size=n, p=places.COUNTRY_SHARES)
    female = rng.random(n) < 0.52
    g = female.astype(np.int64)
    given_idx = _pick_in_blocks(
        rng, tables.given_offset[country, g], tables.given_count[country, g]
    )
    family_idx = _pick_in_blocks(rng, tables.family_offset[country], tables.family_count[country])

    # Households: members share the head's address, landline and (mostly) family name.
    household = _households(rng, country, 0.06)
    in_household = household >= 0
    member = in_household & (household != np.arange(n))
    heads = np.maximum(household, 0)
    same_name = member & (rng.random(n) < 0.75)
    family_idx = np.where(same_name, family_idx[heads], family_idx)

    first_name = text.take(tables.given, given_idx)
    last_name = text.take(tables.family, family_idx)
    first_latin = text.take(tables.given_latin, given_idx)
    last_latin = text.take(tables.family_latin, family_idx)
    nick_count = tables.nick_count[given_idx]
    nick_index = tables.nick_offset[given_idx] + (rng.random(n) * nick_count).astype(np.int64)
    nick_index = np.minimum(nick_index, len(tables.nick) - 1)
    nickname = text.null_where(nick_count == 0, text.take(tables.nick, nick_index))

    # Typo-prone people: one mistyped spelling of each name, used by some sources.
    prone = np.flatnonzero(rng.random(n) < 0.12)
    first_typo = np.full(n, None, dtype=object)
    last_typo = np.full(n, None, dtype=object)
    typo_rng = np.random.default_rng(int(rng.integers(0, 2**62)))
    firsts = text.to_numpy(text.take(first_latin, prone))
    lasts = text.to_numpy(text.take(last_latin, prone))
    first_typo[prone] = [names.typo(v, typo_rng) for v in firsts]
    last_typo[prone] = [names.typo(v, typo_rng) for v in lasts]

    age_years = np.clip(18 + rng.gamma(2.3, 11.0, n), 18, 88)
    birth_day = settings.end_day - (age_years * 365.25).astype(np.int64)

    first_address = _draw_addresses(rng, country)
    first_address = first_address.where(~member, first_address.take(heads))

    # Phones: a mobile each, a landline per household; all distinct.
    head_rows = np.flatnonzero(in_household & ~member)
    mobile = draw_phones(rng, country, first_address.city_index)
    lines = draw_phones(rng, country[head_rows], first_address.city_index[head_rows], landline=True)
    both = unique_phones(
        rng,
        Phones(
            np.concatenate([mobile.country, lines.country]),
            pa.concat_arrays([mobile.area, lines.area]),
            pa.concat_arrays([mobile.subscriber, lines.subscriber]),
        ),
        np.concatenate([first_address.city_index, first_address.city_index[head_rows]]),
    )
    mobile = both.take(np.arange(n))
    if len(head_rows):
        slot = np.zeros(n, dtype=np.int64)
        slot[head_rows] = np.arange(len(head_rows))
        landline = both.take(n + slot[heads])
    else:
        landline = mobile

    given_email = text.take(tables.given_email, given_idx)
    family_email = text.take(tables.family_email, family_idx)
    local, domain = _emails(rng, country, given_email, family_email)
    local = _unique_locals(local, domain)
    gmail = np.asarray(pc.is_in(domain, value_set=pa.array(GMAIL_DOMAINS)))
    alt_local, alt_domain = _emails(rng, country, given_email, family_email)
    alt_local = text.cat(alt_local, text.integers(rng.integers(1, 99, n)))
    primary = pd.Series(text.cat(local, "@", domain).to_numpy(zero_copy_only=False))
    alt_local = _unique_locals(alt_local, alt_domain, taken=primary)
    has_alt = rng.random(n) < 0.22
    alt_email = text.null_where(~has_alt, text.cat(alt_local, "@", alt_domain))

    # Where people shop (stores are on the US East Coast, near where people first lived).
    city_names = np.array([c.name for c in places.CITIES["US"]])
    store_city = {s.city: k for k, s in enumerate(STORES)}
    us = country == COUNTRIES.index("US")
    home_store = np.full(n, -1, dtype=np.int64)
    us_rows = np.flatnonzero(us)
    home_store[us_rows] = [
        store_city.get(c, -1) for c in city_names[first_address.city_index[us_rows]].tolist()
    ]
    near_store = home_store >= 0
    u = rng.random(n)
    has_account = np.where(near_store, u < 0.45, np.where(us, u < 0.80, u < 0.86))
    store_only = near_store & (u >= 0.45) & (u < 0.90)
    guest = ~has_account & ~store_only
    omni = near_store & has_account & (rng.random(n) < 0.4)
    store_shopper = store_only | omni
    online_shopper = has_account | guest
    home_store = np.where(store_shopper, home_store, -1)
    loyalty = store_shopper & (rng.random(n) < 0.6)
    web_p = np.where(has_account, 0.52, np.where(guest, 0.25, 0.12))
    web_active = rng.random(n) < web_p
    app_user = has_account & (rng.random(n) < 0.25)

    # Acquisition: about a fifth of the account holders migrated from the old shop, before
    # the history window; the others arrive over the window, a little more often lately.
    start_day, end_day = settings.start_day, settings.end_day
    legacy = has_account & (rng.random(n) < 0.22)
    _ensure_latin1_accents(country, legacy, has_account, first_name, last_name)
    legacy_start = settings.first_day
    acquired = np.where(
        legacy,
        legacy_start + (rng.random(n) * (start_day - legacy_start)).astype(np.int64),
        start_day + (rng.random(n) ** 0.8 * (end_day - start_day - 3)).astype(np.int64),
    )

    # Moves: some people (not households) move once, after becoming customers.
    span = end_day - 10 - acquired - 30
    mover = ~in_household & (rng.random(n) < 0.10) & (span > 0)
    moved_day = np.where(
        mover, acquired + 30 + (rng.random(n) * np.maximum(span, 1)).astype(np.int64), -1
    )
    new_address = _draw_addresses(rng, country)
    address = new_address.where(mover, first_address)

    # Lifetimes: a third lapse within a few months, the others stay for years.
    short = rng.random(n) < 0.33
    lifetime = np.where(short, rng.exponential(75.0, n), rng.exponential(1_100.0, n))
    churn_day = acquired + 7 + lifetime.astype(np.int64)
    rate = np.clip(rng.gamma(1.3, 1.9, n), 0.05, 40.0) * np.where(guest, 0.5, 1.0)
    alpha = np.full(len(CATEGORIES), 0.35)
    affinity = rng.gamma(alpha, 1.0, size=(n, len(CATEGORIES))).astype(np.float32)
    affinity /= np.maximum(affinity.sum(axis=1, keepdims=True), 1e-9)
    satisfaction = rng.beta(4.0, 1.6, n)

    order = np.lexsort((np.arange(n), acquired))
    account_number = np.full(n, -1, dtype=np.int64)
    holders = order[has_account[order]]
    account_number[holders] = np.arange(1, len(holders) + 1)

    return Population(
        n=n,
        person_id=text.ids("P", np.arange(1, n + 1), 7),
        country=country,
        female=female,
        first_name=first_name,
        last_name=last_name,
        first_latin=first_latin,
        last_latin=last_latin,
        nickname=nickname,
        first_typo=pa.array(first_typo, type=text.STRING),
        last_typo=pa.array(last_typo, type=text.STRING),
        birth_day=birth_day,
        email_local=local,
        email_domain=domain,
        gmail=gmail,
        alt_email=alt_email,
        mobile=mobile,
        landline=landline,
        has_landline=in_household,
        household=household,
        address=address,
        old_address=first_address,
        moved_day=moved_day,
        acquired_day=acquired,
        churn_day=churn_day,
        rate=rate,
        affinity=affinity,
        satisfaction=satisfaction,
        has_account=has_account,
        guest=guest,
        store_shopper=store_shopper,
        online_shopper=online_shopper,
        loyalty=loyalty,
        web_active=web_active,
        app_user=app_user,
        home_store=home_store,
        legacy=legacy,
        account_number=account_number,
        crm=np.zeros(n, dtype=bool),
    )


def _ensure_latin1_accents(
    country: np.ndarray,
    legacy: np.ndarray,
    has_account: np.ndarray,
    first_name: pa.Array,
    last_name: pa.Array,
) -> None:
    """The legacy EU export (Latin-1) must hold accounts, at least one with an accented name:
    German or French account holders with accents are made legacy when none is."""
    eu = np.isin(country, [COUNTRIES.index("DE"), COUNTRIES.index("FR")]) & has_account

    def accented(rows: np.ndarray) -> list[int]:
        return [
            i
            for i in rows[:300].tolist()
            if not (first_name[i].as_py() + last_name[i].as_py()).isascii()
        ]

    have = np.flatnonzero(eu & legacy)
    if len(have) >= 2 and accented(have):
        return
    candidates = np.flatnonzero(eu & ~legacy)
    for i in (accented(candidates)[:1] + candidates[:2].tolist())[:2]:
        legacy[i] = True
