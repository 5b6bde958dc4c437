"""The three customer sources: shop accounts (CSV), CRM contacts (SQLite), loyalty members
(JSON Lines) — one person, three ways of writing them down.

shop_accounts
    One row per account in the file of its sign-up month (`shop/accounts/accounts_YYYY-MM.csv`);
    accounts migrated from the old shop are in `accounts_initial_load.csv`, the German and
    French ones in `accounts_eu_legacy.csv`, encoded in Latin-1. Some people open a second
    account with another address. Birth dates are written day/month/year; `preferred_language`
    and `referral_code` are extra columns cdp.yaml does not map.
crm_contacts
    Agents' records of people who called or wrote: one `full_name` (nicknames, "Last, First"),
    the address current when the contact was made (people move), sometimes a work address or
    the household landline, timestamps in UTC without offset.
loyalty_members
    The stores' programme (US): card number, tier and points, one `name` field, often the
    household landline as phone, joined-at with a UTC offset.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_assets.demo import badvalues as bad
from cdp_assets.demo import identities as ids
from cdp_assets.demo import text
from cdp_assets.demo.delivery import NULLED, QUARANTINE, CellDefect, SourceTable
from cdp_assets.demo.people import Population
from cdp_assets.demo.places import COUNTRIES, COUNTRY_SPELLINGS, LANGUAGES
from cdp_assets.demo.settings import DemoSettings

DAY = 86_400
ISO_Z = "%Y-%m-%dT%H:%M:%SZ"
DOB_FORMAT = "%d/%m/%Y"
LEGACY_EU_FILE = "shop/accounts/accounts_eu_legacy.csv"
INITIAL_LOAD_FILE = "shop/accounts/accounts_initial_load.csv"
TIERS = ("bronze", "silver", "gold", "platinum")
_DE, _FR = COUNTRIES.index("DE"), COUNTRIES.index("FR")


def month_files(prefix: str, seconds: np.ndarray, suffix: str) -> tuple[list[str], np.ndarray]:
    """Per row, the file of its month (`prefix` + YYYY-MM + `suffix`); rows sorted by time."""
    months = (np.asarray(seconds) // DAY).astype("datetime64[D]").astype("datetime64[M]")
    unique, code = np.unique(months, return_inverse=True)
    return [f"{prefix}{m}{suffix}" for m in unique.astype(str)], code


def country_text(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    """ISO codes mostly, the country's name or an alias sometimes ("UK", "Deutschland")."""
    iso = text.pick(COUNTRIES, country)
    spelled = [COUNTRY_SPELLINGS[c][0] for c in COUNTRIES]
    alias = [COUNTRY_SPELLINGS[c][-1] if c != "CN" else "China" for c in COUNTRIES]
    u = rng.random(len(country))
    return text.where(
        u < 0.12, text.pick(spelled, country), text.where(u < 0.18, text.pick(alias, country), iso)
    )


def customer_defects(email: str, phone: str, postal: str) -> list[CellDefect]:
    """Field defects every customer source can carry (all nulled: the fields are optional)."""
    return [
        CellDefect(email, "email", "test_email", NULLED, bad.TEST_EMAILS, "has_email"),
        CellDefect(email, "email", "invalid_email", NULLED, bad.INVALID_EMAILS, "has_email"),
        CellDefect(phone, "phone", "fake_phone", NULLED, bad.FAKE_PHONES, "has_phone"),
        CellDefect(postal, "postal_code", "invalid_postal_code", NULLED, bad.INVALID_POSTAL),
    ]


# -- shop accounts -------------------------------------------------------------------------------


def shop_accounts(rng: np.random.Generator, pop: Population, settings: DemoSettings) -> SourceTable:
    holders = np.flatnonzero(pop.has_account)
    late = pop.acquired_day[holders] + 300 > settings.end_day
    second = holders[
        (rng.random(len(holders)) < 0.05) & np.asarray(pc.is_valid(pop.alt_email))[holders] & ~late
    ]
    person = np.concatenate([holders, second])
    numbers = np.concatenate(
        [pop.account_number[holders], pop.account_number.max() + 1 + np.arange(len(second))]
    )
    is_second = np.arange(len(person)) >= len(holders)
    created_day = pop.acquired_day[person] + np.where(
        is_second, rng.integers(30, 300, len(person)), 0
    )
    created = created_day * DAY + rng.integers(8 * 3600, 23 * 3600, len(person))
    legacy = pop.legacy[person] & ~is_second
    eu = legacy & np.isin(pop.country[person], [_DE, _FR])
    months, month_code = month_files("shop/accounts/accounts_", created, ".csv")
    files = [INITIAL_LOAD_FILE, LEGACY_EU_FILE, *months]
    code = np.where(eu, 1, np.where(legacy, 0, month_code + 2))
    order = np.lexsort((numbers, code))
    person, numbers, created, code, is_second = (
        a[order] for a in (person, numbers, created, code, is_second)
    )
    n = len(person)

    email_style = ids.styles(
        rng,
        n,
        {
            ids.EMAIL_AS_IS: 0.86,
            ids.EMAIL_TITLE: 0.04,
            ids.EMAIL_PADDED: 0.02,
            ids.EMAIL_GMAIL_DOTS: 0.04,
            ids.EMAIL_TAG: 0.04,
        },
    )
    email = ids.emails(pop, person, email_style)
    email = text.where(is_second, text.take(pop.alt_email, person), email)
    name_style = ids.styles(
        rng,
        n,
        {
            ids.NAME_AS_IS: 0.9,
            ids.NAME_UPPER: 0.03,
            ids.NAME_SWAPPED: 0.03,
            ids.NAME_TYPO: 0.02,
            ids.NAME_LOWER: 0.02,
        },
    )
    latin1 = np.array([f == LEGACY_EU_FILE for f in files])[code]
    name_style = np.where(latin1, ids.NAME_AS_IS, name_style)  # upper-case ß is not Latin-1
    first, last = ids.names(pop, person, name_style)
    has_phone = rng.random(n) < 0.85
    phone = text.null_where(
        ~has_phone, ids.phones(pop, person, rng.integers(0, 7, n), rng.random(n) < 0.5)
    )
    country = pop.country[person]
    address = ids.address_on(pop, person, created // DAY)
    has_dob = rng.random(n) < 0.7
    opt_in = rng.random(n) < 0.45
    answered = rng.random(n) < 0.93
    confirmed = np.minimum(created + rng.integers(60, 3 * DAY, n), settings.end_second)
    columns = {
        "account_id": text.ids("A", numbers, 7),
        "email": email,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "birth_date": text.null_where(~has_dob, text.dates(pop.birth_day[person], DOB_FORMAT)),
        "street": ids.streets(address, country, rng.random(n) < 0.2),
        "city": address.city,
        "region": address.region,
        "postal_code": ids.postal_codes(address, country, rng.random(n) < 0.1),
        "country": text.where(latin1, text.pick(COUNTRIES, country), country_text(rng, country)),
        "created_at": text.instants(created, ISO_Z),
        "newsletter": text.null_where(~answered, text.where(opt_in, "yes", "no")),
        "newsletter_confirmed_at": text.null_where(
            ~(opt_in & answered), text.instants(confirmed, ISO_Z)
        ),
        "preferred_language": text.pick(LANGUAGES, country),
        "referral_code": text.null_where(
            rng.random(n) < 0.8, text.tokens(rng, n, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 8)
        ),
    }
    defects = customer_defects("email", "phone", "postal_code") + [
        CellDefect("account_id", "source_record_id", "missing_required", QUARANTINE, bad.empty()),
        CellDefect(
            "birth_date",
            "birth_date",
            "invalid_date",
            NULLED,
            bad.one_of("31/02/1990", "30/02/1985", "12/13/1979"),
        ),
        CellDefect(
            "birth_date",
            "birth_date",
            "implausible_birth_date",
            NULLED,
            bad.one_of("05/03/2031", "01/01/1890"),
        ),
        CellDefect("created_at", "created_at", "future_date", NULLED, bad.FUTURE_TIMESTAMPS),
    ]
    return SourceTable(
        name="shop_accounts",
        format="csv",
        columns=columns,
        record_id=columns["account_id"],
        person=person,
        files=files,
        file_code=code,
        defects=defects,
        masks={"has_email": np.asarray(pc.is_valid(email)), "has_phone": has_phone},
        encodings={LEGACY_EU_FILE: "latin-1"},
    )


# -- CRM -----------------------------------------------------------------------------------------


def crm_contacts(
    rng: np.random.Generator, pop: Population, crm: np.ndarray, settings: DemoSettings
) -> SourceTable:
    person = np.flatnonzero(crm)
    n = len(person)
    start = np.maximum(pop.acquired_day[person], settings.start_day)
    day = start + (rng.random(n) * np.maximum(settings.end_day - start, 1)).astype(np.int64)
    created = day * DAY + rng.integers(8 * 3600, 20 * 3600, n)
    country = pop.country[person]
    address = ids.address_on(pop, person, day)
    name_style = ids.styles(
        rng,
        n,
        {
            ids.NAME_AS_IS: 0.7,
            ids.NAME_NICK: 0.1,
            ids.NAME_SWAPPED: 0.1,
            ids.NAME_UPPER: 0.05,
            ids.NAME_LATIN: 0.05,
        },
    )
    email_style = ids.styles(
        rng,
        n,
        {ids.EMAIL_AS_IS: 0.8, ids.EMAIL_UPPER: 0.05, ids.EMAIL_OTHER: 0.1, ids.EMAIL_TAG: 0.05},
    )
    email = ids.emails(pop, person, email_style)
    has_email = rng.random(n) < 0.9
    has_phone = rng.random(n) < 0.8
    phone = ids.phones(
        pop, person, rng.integers(0, 7, n), rng.random(n) < 0.6, np.ones(n, dtype=bool)
    )
    has_dob = rng.random(n) < 0.4
    columns = {
        "contact_id": text.ids("C", np.arange(1, n + 1), 7),
        "full_name": ids.full_names(pop, person, name_style),
        "email": text.null_where(~has_email, email),
        "phone": text.null_where(~has_phone, phone),
        "street": address.street,
        "city": address.city,
        "postal_code": address.postal_code,
        "country": text.pick(COUNTRIES, country),
        "birth_date": text.null_where(~has_dob, text.dates(pop.birth_day[person], "%Y-%m-%d")),
        "created_at": text.instants(created, "%Y-%m-%d %H:%M:%S"),
    }
    defects = customer_defects("email", "phone", "postal_code") + [
        CellDefect(
            "birth_date",
            "birth_date",
            "implausible_birth_date",
            NULLED,
            bad.one_of("1899-01-01", "2030-06-15"),
        ),
    ]
    return SourceTable(
        name="crm_contacts",
        format="sql",
        columns=columns,
        record_id=columns["contact_id"],
        person=person,
        files=["crm/crm.sqlite"],
        file_code=np.zeros(n, dtype=np.int64),
        defects=defects,
        masks={"has_email": has_email, "has_phone": has_phone},
        sql_table="contacts",
    )


# -- loyalty -------------------------------------------------------------------------------------


def loyalty_card_numbers(pop: Population) -> pa.Array:
    """The card number of every person (null for non-members): 7100 + 8 digits."""
    member = np.cumsum(pop.loyalty)
    return text.null_where(
        ~pop.loyalty, text.cat("7100", text.zero_padded(member * 7919 % 100_000_000, 8))
    )


def loyalty_members(rng: np.random.Generator, pop: Population, cards: pa.Array) -> SourceTable:
    person = np.flatnonzero(pop.loyalty)
    n = len(person)
    joined = pop.acquired_day[person] * DAY + rng.integers(10 * 3600, 20 * 3600, n)
    country = pop.country[person]
    name_style = ids.styles(
        rng, n, {ids.NAME_AS_IS: 0.75, ids.NAME_NICK: 0.1, ids.NAME_UPPER: 0.1, ids.NAME_TYPO: 0.05}
    )
    has_email = rng.random(n) < 0.8
    has_phone = rng.random(n) < 0.9
    phone = ids.phones(pop, person, rng.integers(0, 7, n), rng.random(n) < 0.6, country != 0)
    sms = rng.random(n) < 0.35
    tier = np.minimum((rng.gamma(1.2, 1.0, n)).astype(np.int64), 3)
    address = pop.address.take(person)
    columns = {
        "member_id": text.ids("LM", np.arange(1, n + 1), 6),
        "card_number": text.take(cards, person),
        "name": ids.full_names(pop, person, name_style),
        "email": text.null_where(~has_email, ids.emails(pop, person, np.zeros(n, dtype=np.int64))),
        "phone": text.null_where(~has_phone, phone),
        "zip": ids.postal_codes(address, country, rng.random(n) < 0.3),
        "tier": text.pick(TIERS, tier),
        "points": text.integers(rng.integers(0, 5_000, n)),
        "joined_at": text.iso_offset(joined, "America/New_York"),
        "sms_opt_in": text.where(sms, "true", "false"),
        "sms_opt_in_at": text.null_where(~sms, text.iso_offset(joined + 120, "America/New_York")),
    }
    defects = customer_defects("email", "phone", "zip") + [
        CellDefect(
            "points", "loyalty_points", "invalid_integer", NULLED, bad.one_of('"12.5"', '"lots"')
        ),
        CellDefect("member_id", "source_record_id", "missing_required", QUARANTINE, bad.empty()),
    ]
    return SourceTable(
        name="loyalty_members",
        format="jsonl",
        columns=columns,
        record_id=columns["member_id"],
        person=person,
        files=["loyalty/members.jsonl"],
        file_code=np.zeros(n, dtype=np.int64),
        defects=defects,
        masks={"has_email": has_email, "has_phone": has_phone},
        numeric=frozenset({"points"}),
    )
