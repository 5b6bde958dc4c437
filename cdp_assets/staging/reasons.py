"""Reasons: one readable sentence per quarantined row or issue, naming the field and value.

Sentences are built vectorised from a template per rule: `{field}` is the field name and
`{value}` the raw value as read, quoted ("amount '-35.00' is negative").
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cdp_assets.quality.checked import STRING

MAX_VALUE_CHARS = 80

TEMPLATES: dict[str, str] = {
    "missing_required": "{field} is empty",
    "invalid_number": "{field} {value} is not a number",
    "invalid_integer": "{field} {value} is not a whole number",
    "invalid_date": "{field} {value} is not a valid date/time{date_format}",
    "invalid_boolean": "{field} {value} is not a boolean (true/false, yes/no, 1/0)",
    "invalid_country": "{field} {value} is not an ISO 3166 country",
    "invalid_currency": "{field} {value} is not an ISO 4217 currency",
    "invalid_enum": "{field} {value} is not one of {allowed}",
    "invalid_postal_code": "{field} {value} does not fit the postal code format of {country}",
    "future_date": (
        "{field} {value} is in the future: more than {tolerance_hours} h after the staging time"
    ),
    "date_too_early": "{field} {value} is before the earliest plausible date {earliest}",
    "implausible_birth_date": (
        "{field} {value} gives an age outside {min_age}–{max_age} years on {today}"
    ),
    "negative_amount": "{field} {value} is negative",
    "amount_out_of_range": "{field} {value} is above the maximum of {maximum} {base_currency}",
    "invalid_quantity": "{field} {value} is not between 1 and {max_quantity}",
    "nps_out_of_range": "{field} {value} is not between 0 and 10",
    "csat_out_of_range": "{field} {value} is not between 1 and 5",
    "invalid_email": "{field} {value} is not a valid email address",
    "test_email": "{field} {value} is a test or placeholder address",
    "disposable_email": "{field} {value} is at a disposable-mail domain",
    "invalid_phone": "{field} {value} is not a valid phone number for {region}",
    "fake_phone": "{field} {value} has repeated or sequential digits",
    "missing_fx_rate": (
        "no FX rate from currency {value} to {base_currency} in fx_rates: {field} left empty"
    ),
    "unconfirmed_opt_in": ("{field} {value} has no {confirmation} (double opt-in): set to false"),
}


@dataclass(frozen=True)
class ReasonContext:
    """Static facts the sentences quote (dates, limits, base currency)."""

    today: str  # the staging day (UTC)
    tolerance_hours: str
    earliest: str
    min_age: int
    max_age: int
    max_quantity: int
    base_currency: str
    max_order_amount: float
    max_unit_price: float


def quoted(values: pd.Series) -> pd.Series:
    """Raw values quoted for a sentence ('…' for long ones, 'empty' for nulls)."""
    text = values.astype(STRING)
    long = (text.str.len() > MAX_VALUE_CHARS).fillna(False)
    if long.any():
        text = text.mask(long, text[long].str.slice(0, MAX_VALUE_CHARS) + "…")
    return ("'" + text + "'").fillna("(empty)").astype(STRING)


def sentence(
    rule: str,
    field: str,
    values: pd.Series,
    ctx: ReasonContext,
    per_row: dict[str, pd.Series] | None = None,
    template: str | None = None,
    **static: object,
) -> pd.Series:
    """The reason for each row of `values` (raw values) failing `rule` on `field`.

    `per_row` fills placeholders whose text differs by row (a row's country, region);
    `static` fills the others (date format, allowed values, limits). `template` overrides the
    rule's usual sentence.
    """
    template = template or TEMPLATES.get(rule, "{field} {value} fails " + rule)
    facts: dict[str, object] = {
        "today": ctx.today,
        "tolerance_hours": ctx.tolerance_hours,
        "earliest": ctx.earliest,
        "min_age": ctx.min_age,
        "max_age": ctx.max_age,
        "max_quantity": ctx.max_quantity,
        "base_currency": ctx.base_currency,
        "maximum": "",
        "date_format": "",
        "allowed": "",
        "confirmation": "",
        "country": "its country",
        "region": "its country",
    }
    facts.update(static)
    facts["field"] = field
    per_row = dict(per_row or {})
    per_row["value"] = quoted(values)
    # Split the template at the per-row placeholders and concatenate column-wise.
    out = pd.Series("", index=values.index, dtype=STRING)
    rest = template
    while True:
        positions = [(rest.find("{" + k + "}"), k) for k in per_row if "{" + k + "}" in rest]
        if not positions:
            out = out + rest.format(**facts)
            break
        position, key = min(positions)
        out = out + rest[:position].format(**facts)
        column = per_row[key].astype(STRING).reindex(values.index)
        out = out + column.fillna(str(facts.get(key, "")))
        rest = rest[position + len(key) + 2 :]
    return out.astype(STRING)
