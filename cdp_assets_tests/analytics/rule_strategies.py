"""Hypothesis strategies for audience rules, valid and garbage, and the one property every rule
must have: it parses (and evaluates), or it is a ConfigError naming its audience.

Shared by `test_audience_rules.py` (a small seeded set) and `bench/fuzz_rules.py` (>= 10,000).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from hypothesis import strategies as st

from cdp_assets.analytics.audience_rules import check_rules
from cdp_assets.analytics.audiences import audience_members
from cdp_assets.config import ConfigError

AUDIENCE = "fuzzed_audience"
KEY = "analytics.audiences"
# The columns rules may use, with their pandas dtypes (load-time check), and a small frame of
# customers with those columns (run-time evaluation), nulls included.
COLUMNS: dict[str, str] = {
    "customer_id": "string",
    "monetary": "float64",
    "frequency": "int64",
    "recency_days": "Int64",
    "rfm_segment": "string",
    "email_consent": "boolean",
    "first_order_at": "datetime64[us, UTC]",
}
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": pd.array(["C1", "C2", "C3", "C4"], dtype="string"),
        "monetary": [620.0, 80.0, None, 1500.0],
        "frequency": [4, 1, 0, 12],
        "recency_days": pd.array([200, 10, None, 700], dtype="Int64"),
        "rfm_segment": pd.array(["At Risk", "New", None, "Champions"], dtype="string"),
        "email_consent": pd.array([True, False, None, True], dtype="boolean"),
        "first_order_at": pd.to_datetime(
            ["2023-01-05", "2024-06-01", None, "2022-02-02"], utc=True
        ),
    }
)

_KNOWN = sorted(set(COLUMNS) - {"customer_id"})
_NAMES = st.one_of(
    st.sampled_from(_KNOWN), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
)
_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.sampled_from(["1e400", "-1e400", "1e-400", ".5", "5.", "-0", "1E+3", "9" * 400]),
    st.integers(1, 6000).map(lambda n: "7" * n),  # beyond int()'s 4,300-digit limit
)
_STRINGS = st.one_of(
    st.text(max_size=12).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.text(max_size=12).map(lambda t: '"' + t.replace('"', '""') + '"'),
    st.sampled_from(["'2024-01-01'", "'2023-01-05T10:00:01Z'", "'99999-99-99'", "'not a date'"]),
)
_VALUES = st.one_of(_NUMBERS, _STRINGS, st.sampled_from(["true", "false", "TRUE", "null"]))


@st.composite
def _predicate(draw: st.DrawFn) -> str:
    column = draw(_NAMES)
    form = draw(st.sampled_from(["cmp", "in", "between", "null"]))
    if form == "cmp":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{column} {op} {draw(_VALUES)}"
    if form == "in":
        values = draw(st.lists(_VALUES, min_size=1, max_size=4))
        negated = draw(st.sampled_from(["", "not "]))
        return f"{column} {negated}in ({', '.join(values)})"
    if form == "between":
        negated = draw(st.sampled_from(["", "not "]))
        return f"{column} {negated}between {draw(_VALUES)} and {draw(_VALUES)}"
    return f"{column} is {draw(st.sampled_from(['', 'not ']))}null"


_SUITED_VALUES: dict[str, st.SearchStrategy[str]] = {
    "monetary": st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: f"{v:g}"),
    "frequency": st.integers(0, 20).map(str),
    "recency_days": st.integers(-5, 1000).map(str),
    "rfm_segment": st.sampled_from(["'At Risk'", "'New'", '"Can\'t Lose Them"', "'Champions'"]),
    "email_consent": st.sampled_from(["true", "false"]),
    "first_order_at": st.dates().map(lambda d: f"'{d.isoformat()}'"),
}


@st.composite
def _suited_predicate(draw: st.DrawFn) -> str:
    """A test of a known column with values of its kind (most of these parse and evaluate)."""
    column = draw(st.sampled_from(_KNOWN))
    value = _SUITED_VALUES[column]
    forms = ["==", "!=", "in", "null"] if column == "email_consent" else None
    form = draw(st.sampled_from(forms or ["==", "!=", "<", "<=", ">", ">=", "in", "between"]))
    if form == "in":
        return f"{column} in ({', '.join(draw(st.lists(value, min_size=1, max_size=3)))})"
    if form == "between":
        return f"{column} between {draw(value)} and {draw(value)}"
    if form == "null":
        return f"{column} is not null"
    return f"{column} {form} {draw(value)}"


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from([" and ", " or ", " AND ", " Or "]), children).map(
            "".join
        ),
        children.map(lambda c: f"not {c}"),
        children.map(lambda c: f"({c})"),
    )


# Rules the grammar accepts, though a value may not suit its column or a column be unknown.
WELL_FORMED = st.recursive(st.one_of(_suited_predicate(), _predicate()), _combine, max_leaves=12)
# Rules that also suit the columns: most parse and evaluate.
SUITED = st.recursive(_suited_predicate(), _combine, max_leaves=8)


@st.composite
def _deeply_nested(draw: st.DrawFn) -> str:
    depth = draw(st.integers(0, 3000))
    inner = draw(WELL_FORMED)
    if draw(st.booleans()):
        return "(" * depth + inner + ")" * depth
    return "not " * depth + inner


_TOKENS = st.sampled_from(
    [
        "(",
        ")",
        ",",
        "'",
        '"',
        "not",
        "and",
        "or",
        "in",
        "between",
        "is",
        "null",
        "==",
        "=",
        "<>",
        "!",
        "monetary",
        "frequency",
        "1",
        "-",
        ".",
        "e",
        "1e400",
        "\u0663",
        "\uff13",
        "\x00",
        "\n",
        "&",
        "|",
        "__import__",
    ]
)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    """A well-formed rule with characters inserted, deleted or replaced."""
    text = draw(WELL_FORMED)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(_TOKENS, st.characters()))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    return text


GARBAGE = st.one_of(
    st.text(max_size=40),
    st.lists(_TOKENS, max_size=30).map(" ".join),
    st.lists(_TOKENS, max_size=30).map("".join),
    _mutated(),
    _deeply_nested(),
    st.integers(0, 30_000).map(lambda n: "monetary > 1 and " * n + "frequency > 0"),
)
RULES = st.one_of(SUITED, WELL_FORMED, GARBAGE)


class RuleCrash(AssertionError):
    """A rule that raised something other than a ConfigError naming its audience."""


@dataclass
class Outcomes:
    parsed: int = 0
    rejected: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)  # (rule, exception)

    @property
    def rules(self) -> int:
        return self.parsed + self.rejected + len(self.crashes)


def check_rule(text: str) -> str:
    """'parsed' (the rule passed the load-time check and evaluated over CUSTOMERS) or
    'rejected' (a ConfigError naming the audience); RuleCrash on any other exception."""
    audiences = [{"name": AUDIENCE, "rule": text}]
    try:
        check_rules(audiences, COLUMNS)
        audience_members(audiences, CUSTOMERS)
    except ConfigError as exc:
        if f"{KEY}[0] ({AUDIENCE}): " not in str(exc):
            raise RuleCrash(f"ConfigError not naming the audience: {exc}") from exc
        return "rejected"
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        raise RuleCrash(f"{type(exc).__name__}: {exc}"[:500]) from exc
    return "parsed"


def record(outcomes: Outcomes, text: str) -> None:
    try:
        result = check_rule(text)
    except RuleCrash as exc:
        outcomes.crashes.append((text[:200], str(exc)))
        return
    if result == "parsed":
        outcomes.parsed += 1
    else:
        outcomes.rejected += 1
