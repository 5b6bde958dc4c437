"""The catalogue of validation rules: every quarantined row and data-quality issue names one.

`QUARANTINE` rules reject a whole row into `ops.quarantine`; `FIELD` rules null (or flag) one
field and record it in `ops.data_quality_issues`. Whether a bad value quarantines its row or is
nulled follows from the field: a required canonical field (see `cdp_assets.contracts.canonical`) that
fails a field rule quarantines the row under that same rule name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    check: str  # code | uniqueness | data_type | plausibility | fake_data | structure | consent
    description: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        # structure (ingest)
        Rule("malformed_line", "structure", "line cannot be parsed (field count, quoting, JSON)"),
        Rule(
            "unreadable_file",
            "structure",
            "nothing in the file can be read (header, format, encoding), or it links outside"
            " the landing folder; quarantined whole",
        ),
        Rule(
            "too_many_columns",
            "structure",
            "row has a value in a column beyond the source's column limit",
        ),
        Rule(
            "exact_duplicate",
            "uniqueness",
            "row identical to one already loaded (dropped, counted)",
        ),
        Rule("duplicate_file", "uniqueness", "file content already ingested under another name"),
        # required fields
        Rule("missing_required", "structure", "a required field is empty"),
        # data types
        Rule("invalid_number", "data_type", "value does not parse as a number"),
        Rule("invalid_integer", "data_type", "value does not parse as a whole number"),
        Rule("invalid_date", "data_type", "value does not parse as a date/time, or no such day"),
        Rule("invalid_boolean", "data_type", "value does not parse as a boolean"),
        # codes
        Rule("invalid_country", "code", "not an ISO 3166 country"),
        Rule("invalid_currency", "code", "not an ISO 4217 currency"),
        Rule("missing_fx_rate", "code", "no FX rate configured for the currency"),
        Rule("invalid_postal_code", "code", "postal code does not fit the country's format"),
        Rule("invalid_enum", "code", "value not in the field's list of allowed values"),
        Rule("unknown_campaign", "code", "campaign_id names no campaign in cdp.yaml (campaigns)"),
        # plausibility
        Rule("future_date", "plausibility", "date after the analysis date"),
        Rule("date_too_early", "plausibility", "date before quality.earliest_date"),
        Rule("implausible_birth_date", "plausibility", "age outside quality.min/max_age_years"),
        Rule("negative_amount", "plausibility", "amount, price or on-hand units below zero"),
        Rule("amount_out_of_range", "plausibility", "amount or price above the configured maximum"),
        Rule("invalid_quantity", "plausibility", "quantity not in 1..quality.max_quantity"),
        Rule("nps_out_of_range", "plausibility", "NPS not in 0..10"),
        Rule("csat_out_of_range", "plausibility", "CSAT not in 1..5"),
        # fake data
        Rule("invalid_email", "fake_data", "email address is not valid"),
        Rule("test_email", "fake_data", "test or placeholder email address"),
        Rule("disposable_email", "fake_data", "email at a disposable-mail domain"),
        Rule("invalid_phone", "fake_data", "phone number is not a valid number for its country"),
        Rule(
            "fake_phone",
            "fake_data",
            "70 % or more one digit, or a run of 7 ascending or descending digits",
        ),
        # uniqueness
        Rule("superseded_record", "uniqueness", "an older version of a record id (latest kept)"),
        Rule(
            "duplicate_identifier",
            "uniqueness",
            "email or phone shared by several records of one customer source (flagged)",
        ),
        # consent
        Rule(
            "unconfirmed_opt_in", "consent", "opt-in without a confirmation timestamp (set false)"
        ),
    )
}

# Actions recorded in ops.data_quality_issues.
ACTION_NULLED = "nulled"
ACTION_FLAGGED = "flagged"
ACTION_SUPERSEDED = "superseded"
ACTION_SET_FALSE = "set_false"
