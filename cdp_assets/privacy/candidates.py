"""Which rows of a table may hold one of a few people's identifiers: a SQL condition the
warehouse evaluates set-wise, so that erasure and the trace check read those rows only.

The condition is a superset: every row in which the exact readers (`identifiers`,
`tables`) would find one of the wanted values satisfies it; the readers then decide, row by
row, on the few rows it lets through. Per column (cast to text), a row is a candidate when:

- its text, lower-cased and without dots, contains a *needle* of a wanted value: the value
  itself (lower-cased, without dots; for `<source>:<id>` records the id), and for an email the
  local part before any `+tag` followed, after other characters, by `@` and the domain — so
  that the matching key (`J.Doe+news@GoogleMail.com` → `jdoe@gmail.com`) is found too;
- in a column that may hold a phone number (a phone field, free text, identity nodes), its
  digits (letters read as keypad digits, as libphonenumber does; anything else between them
  skipped) contain the last 7 digits of a wanted phone — any national or international
  spelling of the number does;
- it holds a character outside ASCII (Unicode normalisation could fold it onto a wanted value),
  a NUL or DEL, or a `%` (percent-encoded text is decoded by the readers): such rows are left
  to the readers.

Values never go into the SQL text as literals of identifiers alone: the needles are bound as
one regular-expression parameter. A column costs one regular-expression match: the text
needles, the phone needles and the `%`/NUL/DEL test are one alternation over the lower-cased
text without dots (a phone needle lets anything but a digit or a letter stand between two
digits, so a dot removed changes nothing it finds), and non-ASCII text is told by its length
in bytes against its length in characters, which needs no regular expression. One match
instead of three made the candidate selection about 2.5 times cheaper at 1,000,000 people.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cdp_assets.privacy.identifiers import Identifiers
from cdp_assets.warehouse.warehouse import quote_ident

PHONE_TAIL = 7  # digits of a wanted phone's end that any spelling of it contains
_LETTERS = {"2": "abc", "3": "def", "4": "ghi", "5": "jkl", "6": "mno"}
_LETTERS |= {"7": "pqrs", "8": "tuv", "9": "wxyz"}
_SEPARATED = "[^0-9a-z]*"
_GMAIL = ("gmail.com", "googlemail.com")


_SPECIAL = set("\\^$.|?*+()[]{}")
# Lower-cased ASCII text the readers may read otherwise than the SQL: percent-encoded, or with
# a NUL or DEL character.
_ODD_ASCII = "%|[\\x00\\x7f]"


def _escape(text: str) -> str:
    """A literal in a regular expression that RE2 (DuckDB) and PostgreSQL both read alike:
    only the operators are escaped."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def _dotless(text: str) -> str:
    return text.lower().replace(".", "")


def text_needles(wanted: Identifiers) -> list[str]:
    """Regular expressions (already escaped) of the wanted values, for lower-cased text
    without dots."""
    needles: set[str] = set()
    for kind, values in wanted.values.items():
        if kind == "phone":
            continue
        for value in values:
            if kind == "email" and "@" in value:
                local, _, domain = value.lower().rpartition("@")
                local = local.split("+", 1)[0]
                domains = _GMAIL if domain in _GMAIL else (domain,)
                pattern = "|".join(_escape(_dotless(d)) for d in domains)
                needles.add(f"{_escape(_dotless(local))}[^@]*@({pattern})")
                continue
            if kind == "record":
                value = value.split(":", 1)[1] if ":" in value else value
            needle = _dotless(value.strip())
            if needle:
                needles.add(_escape(needle))
    return sorted(needles)


def phone_needles(wanted: Identifiers) -> list[str]:
    """Per wanted phone, its last PHONE_TAIL digits as a regular expression over lower-cased
    text: each digit may also be written as a keypad letter, and anything but a digit or a
    letter may stand between two digits (`650 253-0000`, `(0)7700 900123`)."""
    tails = set()
    for phone in wanted.values["phone"]:
        digits = re.sub(r"\D", "", phone)
        if digits:
            tails.add(digits[-PHONE_TAIL:])
    return sorted(_SEPARATED.join(f"[{d}{_LETTERS.get(d, '')}]" for d in t) for t in tails)


class CandidateFilter:
    """The SQL condition selecting the rows of a table that may hold a wanted value."""

    def __init__(self, wanted: Identifiers, dialect: str) -> None:
        self.dialect = dialect
        self.text_pattern = "|".join(text_needles(wanted))
        self.phone_pattern = "|".join(phone_needles(wanted))
        self.params: dict[str, str] = {}
        if self.text_pattern or self.phone_pattern:
            # Text the SQL cannot judge is selected too (`_ODD_ASCII`, `_non_ascii`).
            self.params["_cdp_needles"] = "|".join(p for p in (self.text_pattern, _ODD_ASCII) if p)
            self.params["_cdp_needles_phones"] = "|".join(
                p for p in (self.text_pattern, self.phone_pattern, _ODD_ASCII) if p
            )

    @property
    def empty(self) -> bool:
        return not self.params

    def params_for(self, where: str) -> dict[str, str]:
        """The parameters `where` (from `where`) names: DuckDB refuses unused ones."""
        return {k: v for k, v in self.params.items() if re.search(f":{k}\\b", where)}

    def _matches(self, expression: str, parameter: str) -> str:
        if self.dialect == "postgresql":
            return f"({expression}) ~ :{parameter}"
        return f"regexp_matches({expression}, :{parameter})"

    def _non_ascii(self, text: str) -> str:
        """Text with a character outside ASCII: more bytes than characters."""
        if self.dialect == "postgresql":
            return f"octet_length({text}) <> char_length({text})"
        return f"strlen({text}) <> length({text})"

    def column(self, name: str, phones: bool = True) -> str:
        """The condition on one column (`phones`: it may hold a phone number)."""
        text = f"CAST({quote_ident(name)} AS VARCHAR)"
        parameter = "_cdp_needles_phones" if phones and self.phone_pattern else "_cdp_needles"
        needles = self._matches(f"replace(lower({text}), '.', '')", parameter)
        return f"({self._non_ascii(text)} OR {needles})"

    def where(self, columns: Iterable[str], phones: Iterable[str] | None = None) -> str:
        """The condition on a row: any of `columns` may hold a wanted value. Phones are
        looked for in the `phones` columns only (default: all of them)."""
        columns = list(columns)
        with_phones = set(columns if phones is None else phones)
        parts = [self.column(c, c in with_phones) for c in columns]
        return "(" + " OR ".join(parts) + ")" if parts and not self.empty else "FALSE"
