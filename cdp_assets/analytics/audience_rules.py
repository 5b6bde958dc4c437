"""The audience rule language: a small, safe filter over customer columns, parsed, never eval'ed.

Grammar (keywords are case-insensitive, column names are not)::

    rule       := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | predicate
    predicate  := column ( ("==" | "!=" | "<" | "<=" | ">" | ">=") value
                         | ["not"] "in" "(" value ("," value)* ")"
                         | ["not"] "between" value "and" value
                         | "is" ["not"] "null" )
    value      := number | 'text' | "text" | true | false

Numbers are written in ASCII digits, may be negative and have decimals or an exponent
(`-1.5e3`), and must be finite (`1e400` is refused); a string is quoted with
`'` or `"`, may hold the other quote, and doubles its own quote to include it (`'Can''t'`).
A datetime column compares with a quoted date or timestamp (`first_order_at >= '2024-01-01'`;
one without a time zone is read as UTC).

Nulls follow SQL's three-valued logic: a comparison, `in` or `between` involving a null is
*unknown*; `not unknown` is unknown; `false and unknown` is false; `true or unknown` is true;
a customer belongs to the audience only when the whole rule is *true*. So
`not (latest_nps <= 6)` excludes customers without an NPS answer, and `is null` /
`is not null` are the only tests that are true on a null.

Limits (a rule beyond them is a RuleError, not a crash): `MAX_RULE_LENGTH` characters,
`MAX_NESTING` levels of parentheses and `not` one inside the other, `MAX_NUMBER_LENGTH`
characters in a number.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cdp_assets.config.loader import ConfigError

Scalar = float | int | str | bool
ColumnKind = Literal["number", "text", "boolean", "datetime", "empty"]


class RuleError(ValueError):
    """A rule that cannot be parsed or applied; `position` is the 1-based column in the rule."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


# -- tokens ----------------------------------------------------------------------------------

COMPARISON_OPS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=")
KEYWORDS = frozenset({"and", "or", "not", "in", "between", "is", "null", "true", "false"})
TokenKind = Literal["ident", "keyword", "number", "string", "op", "(", ")", ",", "end"]

# [0-9], not \d: \d (and int()/float()) would read Arabic-Indic or fullwidth digits as numbers.
_NUMBER_RE = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
MAX_RULE_LENGTH = 10_000  # characters; the longest shipped rule has under 200
MAX_NESTING = 50  # parentheses and `not`, one inside the other
MAX_NUMBER_LENGTH = 64  # characters of one number literal
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OP_CHARS = "=!<>"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # as written (keywords lower-cased)
    position: int  # 1-based column of its first character
    value: Scalar | None = None  # the literal's value (number, string)

    def describe(self) -> str:
        if self.kind == "end":
            return "end of rule"
        if self.kind in ("number", "string"):
            return f"{self.kind} {self.text}"
        return repr(self.text)


def tokenize(text: str) -> list[Token]:
    """The tokens of a rule, ending with an `end` token; RuleError on a character that starts
    no token, an unknown operator or an unterminated string."""
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(
            f"the rule is {len(text):,} characters long; at most {MAX_RULE_LENGTH:,} are allowed"
        )
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "(),":
            tokens.append(Token(char, char, i + 1))  # type: ignore[arg-type]
            i += 1
        elif char in "'\"":
            token, i = _string_token(text, i)
            tokens.append(token)
        elif char in _OP_CHARS:
            token, i = _operator_token(text, i)
            tokens.append(token)
        elif number := _NUMBER_RE.match(text, i):
            tokens.append(_number_token(text, number, i))
            i = number.end()
        elif ident := _IDENT_RE.match(text, i):
            word = ident.group()
            if word.lower() in KEYWORDS:
                tokens.append(Token("keyword", word.lower(), i + 1))
            else:
                tokens.append(Token("ident", word, i + 1))
            i = ident.end()
        else:
            hint = {"&": " (write 'and')", "|": " (write 'or')"}.get(char, "")
            raise RuleError(f"unexpected character {char!r} at position {i + 1}{hint}", i + 1)
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _string_token(text: str, start: int) -> tuple[Token, int]:
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    while i < len(text):
        if text[i] == quote:
            if text[i + 1 : i + 2] == quote:  # a doubled quote stands for itself
                parts.append(quote)
                i += 2
                continue
            value = "".join(parts)
            return Token("string", text[start : i + 1], start + 1, value), i + 1
        parts.append(text[i])
        i += 1
    raise RuleError(
        f"unterminated string starting at position {start + 1}; expected a closing {quote}",
        start + 1,
    )


def _operator_token(text: str, start: int) -> tuple[Token, int]:
    end = start
    while end < len(text) and text[end] in _OP_CHARS:
        end += 1
    op = text[start:end]
    if op not in COMPARISON_OPS:
        hint = " (use == to test equality)" if op == "=" else ""
        raise RuleError(
            f"unknown operator {op!r} at position {start + 1}{hint}; expected one of "
            + ", ".join(COMPARISON_OPS),
            start + 1,
        )
    return Token("op", op, start + 1), end


def _number_token(text: str, match: re.Match[str], start: int) -> Token:
    written = match.group()
    if match.end() < len(text) and (text[match.end()].isalnum() or text[match.end()] == "_"):
        raise RuleError(
            f"unexpected character {text[match.end()]!r} at position {match.end() + 1} "
            f"after the number {written}",
            match.end() + 1,
        )
    if len(written) > MAX_NUMBER_LENGTH:
        raise RuleError(
            f"the number at position {start + 1} is {len(written):,} characters long; at most "
            f"{MAX_NUMBER_LENGTH} are allowed",
            start + 1,
        )
    is_int = "." not in written and "e" not in written.lower()
    value = int(written) if is_int else float(written)
    if not math.isfinite(float(value)):
        raise RuleError(
            f"the number {written} at position {start + 1} is too large (not finite)", start + 1
        )
    return Token("number", written, start + 1, value)


# -- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A literal value and where it stands in the rule."""

    value: Scalar
    position: int


@dataclass(frozen=True)
class Comparison:
    column: str
    op: str
    value: Value
    position: int  # of the column


@dataclass(frozen=True)
class InList:
    column: str
    values: tuple[Value, ...]
    negated: bool
    position: int


@dataclass(frozen=True)
class Between:
    column: str
    low: Value
    high: Value
    negated: bool
    position: int


@dataclass(frozen=True)
class IsNull:
    column: str
    negated: bool
    position: int


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Predicate = Comparison | InList | Between | IsNull
Expr = Predicate | Not | And | Or


def _predicates(expr: Expr) -> Iterator[Predicate]:
    if isinstance(expr, Not):
        yield from _predicates(expr.operand)
    elif isinstance(expr, And | Or):
        for operand in expr.operands:
            yield from _predicates(operand)
    else:
        yield expr


def _literals(predicate: Predicate) -> tuple[Value, ...]:
    if isinstance(predicate, Comparison):
        return (predicate.value,)
    if isinstance(predicate, InList):
        return predicate.values
    if isinstance(predicate, Between):
        return (predicate.low, predicate.high)
    return ()


@dataclass(frozen=True)
class Rule:
    """A parsed rule: its text and syntax tree."""

    text: str
    expr: Expr

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the rule uses, in order of first use."""
        return tuple(dict.fromkeys(p.column for p in _predicates(self.expr)))

    def predicates(self) -> tuple[Predicate, ...]:
        """The rule's column tests, left to right."""
        return tuple(_predicates(self.expr))


# -- parser ----------------------------------------------------------------------------------

_AFTER_COLUMN = (
    "an operator (==, !=, <, <=, >, >=, in, not in, between, not between, is null, is not null)"
)


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # parentheses and `not` open around the current token

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.text in words

    def fail(self, expected: str) -> RuleError:
        token = self.token
        return RuleError(
            f"unexpected {token.describe()} at position {token.position}; expected {expected}",
            token.position,
        )

    def parse(self) -> Expr:
        if self.token.kind == "end":
            raise RuleError("empty rule; expected a column name, 'not' or '('", 1)
        expr = self.or_expr()
        if self.token.kind != "end":
            if self.token.kind == ")":
                raise RuleError(
                    f"unexpected ')' at position {self.token.position} (no '(' to close); "
                    "expected 'and', 'or' or the end of the rule",
                    self.token.position,
                )
            raise self.fail("'and', 'or' or the end of the rule")
        return expr

    def or_expr(self) -> Expr:
        operands = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Expr:
        operands = [self.not_expr()]
        while self.at_keyword("and"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Expr:
        if self.at_keyword("not"):
            self.enter()
            self.advance()
            expr: Expr = Not(self.not_expr())
            self.depth -= 1
            return expr
        if self.token.kind == "(":
            self.enter()
            opened = self.advance().position
            expr = self.or_expr()
            if self.token.kind != ")":
                raise self.fail(f"')' to close the '(' at position {opened}, 'and' or 'or'")
            self.advance()
            self.depth -= 1
            return expr
        return self.predicate()

    def enter(self) -> None:
        """One level deeper; RuleError beyond MAX_NESTING (the parser, and every walk of the
        tree, recurses once per level)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise RuleError(
                f"more than {MAX_NESTING} parentheses and 'not' one inside the other at "
                f"position {self.token.position}",
                self.token.position,
            )

    def predicate(self) -> Predicate:
        if self.token.kind != "ident":
            raise self.fail("a column name, 'not' or '('")
        column = self.advance()
        name, position = column.text, column.position
        if self.token.kind == "op":
            op = self.advance().text
            return Comparison(name, op, self.value(), position)
        negated = self.at_keyword("not")
        if negated:
            self.advance()
            if not self.at_keyword("in", "between"):
                raise self.fail("'in' or 'between' after 'not'")
        if self.at_keyword("in"):
            self.advance()
            return InList(name, self.value_list(), negated, position)
        if self.at_keyword("between"):
            self.advance()
            low = self.value()
            if not self.at_keyword("and"):
                raise self.fail("'and' between the bounds of 'between'")
            self.advance()
            return Between(name, low, self.value(), negated, position)
        if self.at_keyword("is"):
            self.advance()
            is_not = self.at_keyword("not")
            if is_not:
                self.advance()
            if not self.at_keyword("null"):
                raise self.fail("'null'")
            self.advance()
            return IsNull(name, is_not, position)
        raise self.fail(_AFTER_COLUMN)

    def value_list(self) -> tuple[Value, ...]:
        if self.token.kind != "(":
            raise self.fail("'(' to start the list of values")
        self.advance()
        values = [self.value()]
        while self.token.kind == ",":
            self.advance()
            values.append(self.value())
        if self.token.kind != ")":
            raise self.fail("',' or ')' to close the list")
        self.advance()
        return tuple(values)

    def value(self) -> Value:
        token = self.token
        if token.kind in ("number", "string"):
            self.advance()
            return Value(token.value, token.position)  # type: ignore[arg-type]
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.advance()
            return Value(token.text == "true", token.position)
        if token.kind == "keyword" and token.text == "null":
            raise self.fail("a value (test for a missing value with 'is null')")
        if token.kind == "ident":
            raise self.fail("a value (quote text: 'like this')")
        raise self.fail("a value")


def parse_rule(text: str, columns: Iterable[str] | Mapping[str, str] | None = None) -> Rule:
    """Parse a rule; with `columns`, also check that it only uses those columns (and, when
    `columns` maps names to pandas dtypes or kinds, that each value suits its column)."""
    rule = Rule(text, _Parser(text).parse())
    if columns is not None:
        check_columns(rule, columns)
    return rule


# -- column checks ---------------------------------------------------------------------------


def unknown_column_error(name: str, position: int, known: Iterable[str]) -> RuleError:
    """`unknown column 'x' at position 3 (did you mean y?)`."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {_or_list(close)}?)" if close else ""
    return RuleError(f"unknown column {name!r} at position {position}{hint}", position)


def _or_list(names: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_columns(rule: Rule, columns: Iterable[str] | Mapping[str, str]) -> None:
    """RuleError on the first column the rule uses that is not in `columns`; when `columns`
    is a mapping of column -> dtype (or kind), also on a value of the wrong kind."""
    known = columns if isinstance(columns, Mapping) else dict.fromkeys(columns, "")
    for predicate in rule.predicates():
        if predicate.column not in known:
            raise unknown_column_error(predicate.column, predicate.position, known)
        kind = known[predicate.column]
        if kind:
            _check_kinds(predicate, dtype_kind(kind))


def dtype_kind(dtype: Any) -> ColumnKind:
    """The kind of values a column holds, from a pandas dtype (or its name, or a kind)."""
    if isinstance(dtype, str) and dtype in ("number", "text", "boolean", "datetime", "empty"):
        return dtype  # type: ignore[return-value]
    dtype = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def _series_kind(series: pd.Series) -> ColumnKind:
    if series.dtype != object:
        return dtype_kind(series.dtype)
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "empty":
        return "empty"
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    if inferred == "boolean":
        return "boolean"
    if inferred in ("datetime", "datetime64", "date"):
        return "datetime"
    return "text"


def _literal_kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


_HOW_TO_WRITE = {
    "number": "a number",
    "text": "a quoted text",
    "boolean": "true or false",
    "datetime": "a quoted date such as '2024-01-31'",
}


def _check_kinds(predicate: Predicate, kind: ColumnKind) -> None:
    """RuleError when a value cannot be compared with the column's kind of values."""
    if kind == "empty":
        return
    for literal in _literals(predicate):
        expected = "text" if kind == "datetime" else kind
        if _literal_kind(literal.value) != expected:
            raise RuleError(
                f"column {predicate.column!r} holds {kind} values; the value at position "
                f"{literal.position} must be {_HOW_TO_WRITE[kind]}",
                literal.position,
            )
        if kind == "datetime":
            _timestamp(literal)
    if kind == "boolean" and not (
        isinstance(predicate, InList | IsNull)
        or (isinstance(predicate, Comparison) and predicate.op in ("==", "!="))
    ):
        raise RuleError(
            f"column {predicate.column!r} holds true/false values; use ==, !=, in or is null "
            f"(position {predicate.position})",
            predicate.position,
        )


def _timestamp(literal: Value) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(str(literal.value))
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise RuleError(
            f"{literal.value!r} at position {literal.position} is not a date or timestamp",
            literal.position,
        )
    return stamp


# -- evaluation ------------------------------------------------------------------------------

# Three-valued truth: (is_true, is_false) boolean arrays; neither means unknown (null).
Truth = tuple[np.ndarray, np.ndarray]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def evaluate(rule: Rule | str, frame: pd.DataFrame) -> np.ndarray:
    """A boolean array, one entry per row of `frame`: True where the rule is true (unknown
    counts as not matching). RuleError when a column is missing or a value does not suit it."""
    if isinstance(rule, str):
        rule = parse_rule(rule)
    is_true, _ = _truth(rule.expr, frame)
    return is_true


def _truth(expr: Expr, frame: pd.DataFrame) -> Truth:
    if isinstance(expr, Not):
        is_true, is_false = _truth(expr.operand, frame)
        return is_false, is_true
    if isinstance(expr, And):
        parts = [_truth(operand, frame) for operand in expr.operands]
        return (
            np.logical_and.reduce([t for t, _ in parts]),
            np.logical_or.reduce([f for _, f in parts]),
        )
    if isinstance(expr, Or):
        parts = [_truth(operand, frame) for operand in expr.operands]
        return (
            np.logical_or.reduce([t for t, _ in parts]),
            np.logical_and.reduce([f for _, f in parts]),
        )
    return _predicate_truth(expr, frame)


def _predicate_truth(predicate: Predicate, frame: pd.DataFrame) -> Truth:
    if predicate.column not in frame.columns:
        raise unknown_column_error(predicate.column, predicate.position, map(str, frame.columns))
    series = frame[predicate.column]
    null = series.isna().to_numpy(dtype=bool)
    if isinstance(predicate, IsNull):
        is_true = ~null if predicate.negated else null
        return is_true, ~is_true
    kind = _series_kind(series)
    _check_kinds(predicate, kind)
    known = np.zeros(len(series), dtype=bool)
    if kind != "empty":
        known = ~null
    values = _comparable(series[known], kind)
    result = np.zeros(len(series), dtype=bool)
    result[known] = _test(predicate, values, kind)
    return result & known, ~result & known


def _comparable(series: pd.Series, kind: ColumnKind) -> np.ndarray:
    """The non-null values of a column as a plain numpy array that compares with literals."""
    if kind == "number":
        return series.to_numpy(dtype="float64")
    if kind == "boolean":
        return series.to_numpy(dtype=bool)
    if kind == "datetime":
        stamps = pd.to_datetime(series)
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        return stamps.to_numpy(dtype="datetime64[ns]")
    return series.astype(str).to_numpy(dtype=object)


def _literal_value(literal: Value, kind: ColumnKind) -> Any:
    if kind == "number":
        return float(literal.value)
    if kind == "datetime":
        stamp = _timestamp(literal)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return np.datetime64(stamp.to_datetime64(), "ns")
    return literal.value


def _test(predicate: Predicate, values: np.ndarray, kind: ColumnKind) -> np.ndarray:
    if isinstance(predicate, Comparison):
        result = _OPS[predicate.op](values, _literal_value(predicate.value, kind))
    elif isinstance(predicate, InList):
        wanted = np.array([_literal_value(v, kind) for v in predicate.values], dtype=values.dtype)
        result = np.isin(values, wanted)
        result = ~result if predicate.negated else result
    else:
        low = _literal_value(predicate.low, kind)
        high = _literal_value(predicate.high, kind)
        result = (values >= low) & (values <= high)
        result = ~result if predicate.negated else result
    return np.asarray(result, dtype=bool)


# -- audiences in cdp.yaml -------------------------------------------------------------------


def _name_and_text(audience: Any) -> tuple[str, str]:
    if isinstance(audience, Mapping):
        return str(audience["name"]), str(audience["rule"])
    return str(audience.name), str(audience.rule)


def parse_audiences(
    audiences: Sequence[Any],
    known_columns: Iterable[str] | Mapping[str, str],
    key: str = "analytics.audiences",
) -> dict[str, Rule]:
    """Each audience's parsed rule by name (audiences are `AudienceRule`s or dicts with `name`
    and `rule`). ConfigError naming the audience and the position on the first bad rule."""
    known = known_columns if isinstance(known_columns, Mapping) else list(known_columns)
    rules: dict[str, Rule] = {}
    for i, audience in enumerate(audiences):
        name, text = _name_and_text(audience)
        try:
            rules[name] = parse_rule(text, known)
        except RuleError as exc:
            raise ConfigError(f"{key}[{i}] ({name}): {exc}") from exc
    return rules


def check_rules(
    audiences: Sequence[Any],
    known_columns: Iterable[str] | Mapping[str, str],
    key: str = "analytics.audiences",
) -> None:
    """ConfigError like `analytics.audiences[2] (abandoned_cart_24h): unknown column
    'hours_since_cart' at position 1 (did you mean hours_since_abandoned_cart?)`."""
    parse_audiences(audiences, known_columns, key)
