"""Identity-record frames for the probabilistic matching tests: hand-written rows and a small
seeded synthetic population with known duplicates and households (no emails, no phones)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable

import pandas as pd

from cdp_assets.demo.names import NAME_BOOKS

STRING_COLUMNS = ("first_name", "last_name", "street", "city", "postal_code", "country")
CONTACT_COLUMNS = ("email_key", "phone")


def make_records(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Identity records (records.py columns used by matching) from partial rows."""
    rows = list(rows)
    frame = pd.DataFrame(
        {
            "node": pd.Series(range(len(rows)), dtype="int64"),
            **{
                column: pd.Series([row.get(column) for row in rows], dtype="string")
                for column in (*STRING_COLUMNS, *CONTACT_COLUMNS)
            },
            "birth_date": pd.Series(
                pd.to_datetime([row.get("birth_date") for row in rows]), dtype="datetime64[us]"
            ),
        }
    )
    return frame


FIRST_NAMES = list(dict.fromkeys(NAME_BOOKS["US"].male + NAME_BOOKS["US"].female))
NICKNAMES = {
    "Robert": "Bob",
    "William": "Bill",
    "Elizabeth": "Liz",
    "Margaret": "Peggy",
    "Katherine": "Kate",
    "James": "Jim",
    "Michael": "Mike",
    "Richard": "Dick",
    "Thomas": "Tom",
    "Jennifer": "Jenny",
    "Patricia": "Patty",
    "Daniel": "Dan",
    "Christopher": "Chris",
    "Joseph": "Joe",
    "Charles": "Chuck",
    "Steven": "Steve",
    "Andrew": "Andy",
    "Kenneth": "Ken",
    "Edward": "Ted",
    "Benjamin": "Ben",
}
SURNAMES = list(dict.fromkeys(NAME_BOOKS["US"].family))  # the demo's US family names
CITIES = {
    "Springfield": "627",
    "Riverton": "841",
    "Lakewood": "802",
    "Fairview": "370",
    "Georgetown": "781",
    "Salem": "973",
    "Madison": "537",
    "Clinton": "284",
}
STREETS = [
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Church",
    "High",
]


def _typo(rng: random.Random, value: str) -> str:
    position = rng.randrange(1, len(value) - 1)
    return value[:position] + value[position + 1] + value[position] + value[position + 2 :]


def _address(rng: random.Random) -> dict[str, object]:
    city = rng.choice(list(CITIES))
    return {
        "city": city,
        "postal_code": CITIES[city] + f"{rng.randrange(10, 40):02d}",
        "street": f"{rng.randrange(1, 400)} {rng.choice(STREETS)} Street",
    }


def _person(rng: random.Random) -> dict[str, object]:
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 65 * 365))
    return {
        "first_name": rng.choice(FIRST_NAMES),
        "last_name": rng.choice(SURNAMES),
        "birth_date": birth.isoformat(),
        **_address(rng),
    }


def _duplicate(rng: random.Random, person: dict[str, object], damage: str) -> dict[str, object]:
    copy = dict(person)
    if damage == "nickname" and copy["first_name"] in NICKNAMES:
        copy["first_name"] = NICKNAMES[str(copy["first_name"])]
    elif damage in ("nickname", "first_typo"):
        copy["first_name"] = _typo(rng, str(copy["first_name"]))
    elif damage == "last_typo":
        copy["last_name"] = _typo(rng, str(copy["last_name"]))
    elif damage == "transposed":
        birth = dt.date.fromisoformat(str(copy["birth_date"]))
        if birth.day <= 12 and birth.day != birth.month:
            copy["birth_date"] = birth.replace(month=birth.day, day=birth.month).isoformat()
        else:
            copy["birth_date"] = birth.replace(year=birth.year + 1).isoformat()
    elif damage == "moved":
        copy.update(_address(rng))
    elif damage == "swapped":
        copy["first_name"], copy["last_name"] = copy["last_name"], copy["first_name"]
    elif damage == "formatting":
        copy["first_name"] = str(copy["first_name"]).upper()
        copy["street"] = str(copy["street"]).replace("Street", "St.")
        copy["postal_code"] = f" {copy['postal_code']} "
    elif damage == "missing":
        copy["birth_date"] = None
    return copy


DAMAGES = (
    "nickname",
    "first_typo",
    "last_typo",
    "transposed",
    "moved",
    "swapped",
    "formatting",
    "missing",
)


def synthetic_population(
    people: int = 300, duplicates: int = 120, households: int = 40, seed: int = 11
) -> tuple[pd.DataFrame, pd.Series]:
    """Records and their true person id, shuffled.

    `duplicates` extra records of random people, each with one kind of damage from DAMAGES
    (round robin); `households` extra people who share the surname and the whole address of
    an existing person but have their own first name and birth date.
    """
    rng = random.Random(seed)
    persons = [_person(rng) for _ in range(people)]
    for _ in range(households):
        head = rng.choice(persons[:people])
        member = _person(rng)
        while member["first_name"] == head["first_name"]:
            member["first_name"] = rng.choice(FIRST_NAMES)
        member.update({key: head[key] for key in ("last_name", "city", "postal_code", "street")})
        persons.append(member)
    rows = [(index, person) for index, person in enumerate(persons)]
    for number in range(duplicates):
        index = rng.randrange(len(persons))
        rows.append((index, _duplicate(rng, persons[index], DAMAGES[number % len(DAMAGES)])))
    rng.shuffle(rows)
    return make_records(row for _, row in rows), pd.Series([index for index, _ in rows])


def true_pairs(person: pd.Series) -> set[tuple[int, int]]:
    """Record index pairs (left < right) of the same person."""
    by_person: dict[int, list[int]] = {}
    for node, index in enumerate(person):
        by_person.setdefault(int(index), []).append(node)
    return {
        (nodes[i], nodes[j])
        for nodes in by_person.values()
        for i in range(len(nodes))
        for j in range(i + 1, len(nodes))
    }
