"""The audience rule language: parsing, error positions, evaluation with nulls, config checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from cdp_assets.analytics.audience_rules import (
    And,
    Between,
    Comparison,
    InList,
    IsNull,
    Not,
    Or,
    RuleError,
    Value,
    check_rules,
    evaluate,
    parse_rule,
)
from cdp_assets.analytics.audiences import audience_columns
from cdp_assets.config import DEFAULT_AUDIENCES, AnalyticsConfig, AudienceRule, ConfigError
from cdp_assets.contracts.features import FEATURE_COLUMNS
from cdp_assets_tests.analytics.rule_strategies import RULES, check_rule

RFM_COLUMNS = {
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
}


# -- parsing valid rules ---------------------------------------------------------------------


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_each_comparison_operator(op: str) -> None:
    rule = parse_rule(f"monetary {op} 500")
    assert rule.expr == Comparison("monetary", op, Value(500, 13 + len(op) - 2), 1)


def test_operators_need_no_spaces() -> None:
    assert parse_rule("frequency>=-2.5").expr == Comparison("frequency", ">=", Value(-2.5, 12), 1)


def test_and_binds_tighter_than_or() -> None:
    expr = parse_rule("a == 1 or b == 2 and c == 3").expr
    assert isinstance(expr, Or)
    first, second = expr.operands
    assert first == Comparison("a", "==", Value(1, 6), 1)
    assert isinstance(second, And)
    assert [p.column for p in second.operands] == ["b", "c"]


def test_not_binds_tighter_than_and() -> None:
    expr = parse_rule("not a == 1 and b == 2").expr
    assert isinstance(expr, And)
    assert isinstance(expr.operands[0], Not)
    assert expr.operands[1] == Comparison("b", "==", Value(2, 21), 16)


def test_nested_parentheses_override_precedence() -> None:
    expr = parse_rule("((a == 1 or b == 2)) and not (c == 3 or (d == 4))").expr
    assert isinstance(expr, And)
    left, right = expr.operands
    assert isinstance(left, Or) and [p.column for p in left.operands] == ["a", "b"]
    assert isinstance(right, Not) and isinstance(right.operand, Or)


def test_strings_hold_the_other_quote_or_a_doubled_one() -> None:
    rule = parse_rule("""s in ("Can't Lose Them", 'say "hi"', 'it''s', "")""")
    assert isinstance(rule.expr, InList)
    assert [v.value for v in rule.expr.values] == ["Can't Lose Them", 'say "hi"', "it's", ""]


def test_between_not_between_in_not_in() -> None:
    assert parse_rule("recency_days between 180 and 540").expr == Between(
        "recency_days", Value(180, 22), Value(540, 30), False, 1
    )
    negated = parse_rule("recency_days not between 1 and 2").expr
    assert isinstance(negated, Between) and negated.negated
    in_list = parse_rule("tier not in ('gold')").expr
    assert in_list == InList("tier", (Value("gold", 14),), True, 1)


def test_null_tests() -> None:
    assert parse_rule("latest_nps is null").expr == IsNull("latest_nps", False, 1)
    assert parse_rule("latest_nps is not null").expr == IsNull("latest_nps", True, 1)


def test_booleans_and_case_insensitive_keywords() -> None:
    expr = parse_rule("email_consent == TRUE AND sms_consent == false").expr
    assert isinstance(expr, And)
    assert [p.value.value for p in expr.operands] == [True, False]  # type: ignore[union-attr]


def test_columns_in_order_of_first_use() -> None:
    rule = parse_rule("b == 1 and (a is null or b > 2) and c between 1 and 2")
    assert rule.columns == ("b", "a", "c")


# -- invalid rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (
            "(monetary > 5 and frequency > 1",
            "unexpected end of rule at position 32; expected ')' to close the '(' at position 1",
            32,
        ),
        (
            "monetary > 5)",
            "unexpected ')' at position 13 (no '(' to close)",
            13,
        ),
        ("rfm_segment in ('A', )", "unexpected ')' at position 22; expected a value", 22),
        ("monetary >= and frequency > 1", "unexpected 'and' at position 13; expected a value", 13),
        ("monetary >", "unexpected end of rule at position 11; expected a value", 11),
        ("monetary = 5", "unknown operator '=' at position 10 (use == to test equality)", 10),
        ("monetary => 5", "unknown operator '=>' at position 10", 10),
        ("monetary <> 5", "unknown operator '<>' at position 10", 10),
        ("monetary ~ 5", "unexpected character '~' at position 10", 10),
        (
            "monetary > 5 frequency",
            "unexpected 'frequency' at position 14; expected 'and', 'or'",
            14,
        ),
        ("monetary > 5 5", "unexpected number 5 at position 14", 14),
        ("", "empty rule", 1),
        ("monetary frequency", "unexpected 'frequency' at position 10; expected an operator", 10),
        ("latest_nps == null", "expected a value (test for a missing value with 'is null')", 15),
        ("latest_nps is nothing", "unexpected 'nothing' at position 15; expected 'null'", 15),
        ("tier == gold", "unexpected 'gold' at position 9; expected a value (quote text", 9),
        ("tier == 'gold", "unterminated string starting at position 9", 9),
        ("a between 1 or 2", "unexpected 'or' at position 13; expected 'and' between", 13),
        ("a not > 1", "unexpected '>' at position 7; expected 'in' or 'between' after 'not'", 7),
        ("a in 'x'", "unexpected string 'x' at position 6; expected '(' to start the list", 6),
        ("500 < monetary", "unexpected number 500 at position 1; expected a column name", 1),
        ("a > 1 && b > 2", "unexpected character '&' at position 7 (write 'and')", 7),
        ("__import__('os') == 1", "unexpected '(' at position 11; expected an operator", 11),
    ],
)
def test_invalid_rules_name_the_position(text: str, message: str, position: int) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(text)
    assert message in str(info.value)
    assert info.value.position == position


def test_unknown_column_suggests_close_matches() -> None:
    with pytest.raises(RuleError) as info:
        parse_rule("monetary > 5 and hours_since_cart <= 24", list(FEATURE_COLUMNS))
    assert str(info.value) == (
        "unknown column 'hours_since_cart' at position 18 "
        "(did you mean hours_since_abandoned_cart?)"
    )


def test_unknown_column_without_close_match() -> None:
    with pytest.raises(RuleError, match=r"^unknown column 'zzz' at position 1$"):
        parse_rule("zzz > 1", list(FEATURE_COLUMNS))


def test_values_must_suit_the_column_when_dtypes_are_known() -> None:
    columns = audience_columns()
    with pytest.raises(
        RuleError, match="column 'monetary' holds number values; the value at position 12"
    ):
        parse_rule("monetary > '500'", columns)
    with pytest.raises(RuleError, match="column 'rfm_segment' holds text values"):
        parse_rule("rfm_segment in ('Champions', 5)", columns)
    with pytest.raises(RuleError, match="column 'email_consent' holds true/false values; use =="):
        parse_rule("email_consent > false", columns)
    with pytest.raises(RuleError, match="'soon' at position 18 is not a date"):
        parse_rule("first_order_at > 'soon'", columns)
    with pytest.raises(RuleError, match="'' at position 18 is not a date"):
        parse_rule("first_order_at > ''", columns)
    parse_rule("first_order_at >= '2024-01-01' and email_consent == true", columns)


# -- evaluation ------------------------------------------------------------------------------


@pytest.fixture
def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4"],
            "monetary": [1200.0, 80.0, np.nan, 500.0],
            "recency_days": pd.array([200, 10, None, 600], dtype="Int64"),
            "rfm_segment": pd.array(["At Risk", "Champions", None, "Can't Lose Them"], "string"),
            "email_consent": pd.array([True, False, None, True], dtype="boolean"),
            "first_order_at": pd.to_datetime(
                ["2023-01-05T10:00Z", "2024-06-01T00:00Z", None, "2022-02-02T00:00Z"]
            ),
            "loyalty_tier": [None, "gold", None, "platinum"],  # object column with nulls
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monetary >= 500", [True, False, False, True]),
        ("monetary < 500", [False, True, False, False]),
        ("monetary != 80", [True, False, False, True]),
        ("not monetary >= 500", [False, True, False, False]),  # null stays out
        ("not (monetary >= 500)", [False, True, False, False]),
        ("monetary is null", [False, False, True, False]),
        ("not monetary is null", [True, True, False, True]),
        ("monetary is not null", [True, True, False, True]),
        ("recency_days between 180 and 540", [True, False, False, False]),
        ("recency_days between 200 and 200", [True, False, False, False]),  # inclusive
        ("recency_days not between 180 and 540", [False, True, False, True]),
        ("rfm_segment in ('At Risk', \"Can't Lose Them\")", [True, False, False, True]),
        ("rfm_segment not in ('At Risk')", [False, True, False, True]),
        ("rfm_segment == 'champions'", [False, False, False, False]),  # case-sensitive
        ("rfm_segment < 'B'", [True, False, False, False]),
        ("email_consent == true", [True, False, False, True]),
        ("email_consent != true", [False, True, False, False]),
        ("loyalty_tier in ('gold', 'platinum')", [False, True, False, True]),
        ("first_order_at < '2023-01-05T10:00:01Z'", [True, False, False, True]),
        ("first_order_at >= '2024-01-01'", [False, True, False, False]),
        # three-valued logic: unknown or true = true, unknown and false = false
        ("monetary > 100 or recency_days < 50", [True, True, False, True]),
        ("not (monetary > 100 and recency_days > 1000)", [True, True, False, True]),
        ("not (monetary > 100 or recency_days < 50)", [False, False, False, False]),
        (
            "(loyalty_tier in ('gold', 'platinum') or monetary >= 1000) "
            "and recency_days between 180 and 540",
            [True, False, False, False],
        ),
    ],
)
def test_evaluate_with_sql_null_semantics(
    customers: pd.DataFrame, text: str, expected: list[bool]
) -> None:
    result = evaluate(parse_rule(text), customers)
    assert result.dtype == bool
    assert result.tolist() == expected


def test_evaluate_an_all_null_column_matches_nothing() -> None:
    frame = pd.DataFrame({"latest_nps": [None, None]}, dtype=object)
    assert evaluate("latest_nps <= 6", frame).tolist() == [False, False]
    assert evaluate("latest_nps is null", frame).tolist() == [True, True]


def test_evaluate_on_an_empty_frame() -> None:
    frame = pd.DataFrame({"monetary": pd.Series(dtype="float64")})
    assert evaluate("monetary > 1", frame).tolist() == []


def test_evaluate_rejects_a_value_of_the_wrong_kind(customers: pd.DataFrame) -> None:
    with pytest.raises(RuleError, match="column 'rfm_segment' holds text values"):
        evaluate("rfm_segment == 5", customers)


def test_evaluate_names_a_missing_column(customers: pd.DataFrame) -> None:
    with pytest.raises(
        RuleError, match="unknown column 'monetery' at position 1 \\(did you mean monetary\\?\\)"
    ):
        evaluate("monetery > 1", customers)


# -- cdp.yaml audiences ----------------------------------------------------------------------


def test_every_default_audience_uses_known_columns() -> None:
    known = set(FEATURE_COLUMNS) | RFM_COLUMNS
    for audience in DEFAULT_AUDIENCES:
        rule = parse_rule(audience["rule"], audience_columns())
        assert set(rule.columns) <= known, audience["name"]
    check_rules(AnalyticsConfig().audiences, audience_columns())


def test_check_rules_names_the_audience_and_position() -> None:
    audiences = [
        AudienceRule(name="champions", rule="rfm_segment == 'Champions'"),
        AudienceRule(name="big", rule="monetary >= 1000"),
        AudienceRule(name="abandoned_cart_24h", rule="hours_since_cart <= 24"),
    ]
    with pytest.raises(ConfigError) as info:
        check_rules(audiences, audience_columns())
    assert str(info.value) == (
        "analytics.audiences[2] (abandoned_cart_24h): unknown column 'hours_since_cart' at "
        "position 1 (did you mean hours_since_abandoned_cart?)"
    )


def test_check_rules_reports_syntax_errors_with_the_audience() -> None:
    audiences = [{"name": "broken", "rule": "monetary >= 500 and (frequency > 2"}]
    with pytest.raises(ConfigError, match=r"^analytics.audiences\[0\] \(broken\): unexpected end"):
        check_rules(audiences, ["monetary", "frequency"])


# -- hostile rules: limits, digits, non-finite numbers, fuzzing --------------------------------


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("(" * 400 + "monetary > 1" + ")" * 400, "more than 50 parentheses and 'not'"),
        ("not " * 2000 + "monetary > 1", "more than 50 parentheses and 'not'"),
        ("monetary > " + "9" * 5000, "the number at position 12 is 5,000 characters long"),
        ("monetary > " + "9" * 400, "the number at position 12 is 400 characters long"),
        ("monetary > 1e400", "the number 1e400 at position 12 is too large (not finite)"),
        ("monetary > -1e400", "the number -1e400 at position 12 is too large (not finite)"),
        ("monetary > 1 and " * 600 + "frequency > 0", "the rule is 10,213 characters long"),
    ],
)
def test_a_hostile_rule_is_a_config_error_naming_the_audience(rule: str, problem: str) -> None:
    audiences = [{"name": "hostile", "rule": rule}]
    with pytest.raises(ConfigError) as info:
        check_rules(audiences, ["monetary", "frequency"])
    assert str(info.value).startswith("analytics.audiences[0] (hostile): ")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("rule", "position"),
    [
        ("frequency > \u0663", 13),  # ARABIC-INDIC DIGIT THREE
        ("frequency > \uff13", 13),  # FULLWIDTH DIGIT THREE
        ("frequency > 1\u0969", 14),  # a Devanagari digit after an ASCII one
        ("frequency in (1, \u0662)", 18),
    ],
)
def test_only_ascii_digits_make_numbers(rule: str, position: int) -> None:
    with pytest.raises(RuleError, match="unexpected character") as info:
        parse_rule(rule)
    assert info.value.position == position


def test_rules_at_the_limits_parse_and_evaluate(customers: pd.DataFrame) -> None:
    expected = [True, False, False, True]  # monetary >= 500, the null excluded
    deepest = "(" * 50 + "monetary >= 500" + ")" * 50
    assert evaluate(parse_rule(deepest), customers).tolist() == expected
    even_nots = "not " * 50 + "monetary >= 500"
    assert evaluate(parse_rule(even_nots), customers).tolist() == expected
    assert evaluate(parse_rule("monetary >= " + "0" * 61 + "500"), customers).tolist() == expected
    assert parse_rule("monetary < 1e308").predicates()[0].value.value == 1e308


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(RULES)
def test_any_rule_parses_or_is_a_config_error_naming_its_audience(text: str) -> None:
    check_rule(text)  # raises RuleCrash on any other outcome


@pytest.mark.parametrize(
    "text",
    [
        "(" * 3000 + "monetary > 1" + ")" * 3000,
        "not " * 3000 + "(frequency > 0)",
        "monetary in (" + "7" * 4301 + ")",
        "monetary between 1e400 and 1",
    ],
)
def test_seeded_hostile_rules_never_crash(text: str) -> None:
    assert check_rule(text) == "rejected"
