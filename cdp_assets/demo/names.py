"""Person names per country: given and family names, nicknames, romanised forms, typos.

The name lists live in `data/names.json` (shipped with the package), read once on import.
Chinese names are written in Han characters with their pinyin alongside (same position in the
parallel tuples), family name first. German and French names carry their accents; `ascii_fold`
gives the spelling people use in email addresses (Müller → mueller, Zoé → zoe).

The generator draws names by index: the order of every list is part of what a seed produces.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

NAMES_FILE = "data/names.json"


@dataclass(frozen=True)
class NameBook:
    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]
    # Chinese only: pinyin of the entries above, position by position.
    male_latin: tuple[str, ...] = ()
    female_latin: tuple[str, ...] = ()
    family_latin: tuple[str, ...] = ()


def _name_book(lists: dict[str, list[Any]]) -> NameBook:
    """A country's lists: plain names, or [written, romanised] pairs (Chinese)."""
    parts: dict[str, tuple[str, ...]] = {}
    for part in ("male", "female", "family"):
        entries = lists[part]
        if all(isinstance(entry, str) for entry in entries):
            parts[part] = tuple(entries)
        else:
            parts[part] = tuple(written for written, _ in entries)
            parts[f"{part}_latin"] = tuple(latin for _, latin in entries)
    return NameBook(**parts)


def _load() -> tuple[dict[str, NameBook], dict[str, tuple[str, ...]]]:
    text = resources.files(__package__).joinpath(NAMES_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    books = {country: _name_book(lists) for country, lists in data["name_books"].items()}
    nicknames = {name: tuple(options) for name, options in data["nicknames"].items()}
    return books, nicknames


NAME_BOOKS: dict[str, NameBook]
# Nicknames by formal given name: the first is the most common.
NICKNAMES: dict[str, tuple[str, ...]]
NAME_BOOKS, NICKNAMES = _load()

_FOLD = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ı": "i",
        "ł": "l",
    }
)


def ascii_fold(text: str) -> str:
    """Spelling without accents as people type it in an email address (Müller → Mueller)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c.isascii())


def email_word(text: str) -> str:
    """A name as it appears in an email local part: folded, lower-case, letters only."""
    return "".join(c for c in ascii_fold(text).lower() if c.isalnum())


_KEYBOARD = {
    "a": "sq",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k",
    "m": "n",
    "n": "bm",
    "o": "ip",
    "p": "o",
    "q": "w",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "x": "zc",
    "y": "tu",
    "z": "x",
}


def typo(name: str, rng: np.random.Generator) -> str:
    """One slip of the keyboard in a Latin-script name: swap, drop, double or hit a neighbour."""
    letters = [i for i, c in enumerate(name) if c.isalpha() and c.isascii()]
    if len(name) < 4 or len(letters) < 3:
        return name + name[-1]
    kind = int(rng.integers(0, 4))
    i = letters[int(rng.integers(1, len(letters)))]  # keep the initial: people notice it
    if kind == 0 and i + 1 < len(name) and name[i + 1].isalpha():
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if kind == 1:
        return name[:i] + name[i + 1 :]
    if kind == 2:
        return name[:i] + name[i] + name[i:]
    near = _KEYBOARD.get(name[i].lower(), "e")
    swap = near[int(rng.integers(0, len(near)))]
    return name[:i] + (swap.upper() if name[i].isupper() else swap) + name[i + 1 :]
