"""Rules that belong to one source kind: order amounts and currency, item quantities and
prices, survey scores, ticket resolution times, campaign ids of campaign events, and the
double opt-in of customers.

Orders: an empty currency is the source's default currency, else the base currency. Amounts
convert to the base currency with `config.fx_rate`; with no rate `amount_base` stays empty
(`missing_fx_rate` issue on `amount_base`; the order itself stands). A negative amount is
`negative_amount`, a base amount above `quality.max_order_amount` is `amount_out_of_range` —
both on the required `amount`, so they quarantine the order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.quality.checked import STRING, no_rule
from cdp_assets.quality.consent import DOUBLE_OPT_IN_FIELDS, UNCONFIRMED_OPT_IN, unconfirmed_opt_ins
from cdp_assets.quality.plausibility import (
    AMOUNT_OUT_OF_RANGE,
    CSAT_OUT_OF_RANGE,
    CSAT_RANGE,
    INVALID_QUANTITY,
    NEGATIVE_AMOUNT,
    NPS_OUT_OF_RANGE,
    NPS_RANGE,
    above_rule,
    below_rule,
    outside_rule,
)
from cdp_assets.staging.fields import DERIVED_ORDER, FieldSettings
from cdp_assets.staging.reasons import quoted
from cdp_assets.staging.validation import Validation

MISSING_FX_RATE = "missing_fx_rate"
UNKNOWN_CAMPAIGN = "unknown_campaign"
INVALID_DATE = "invalid_date"
AMOUNT_BASE = "amount_base"


def _fmt_limit(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def apply_kind_rules(validation: Validation, settings: FieldSettings) -> None:
    kind = settings.source.kind
    if kind == "orders":
        _orders(validation, settings)
    elif kind == "order_items":
        _order_items(validation, settings)
    elif kind == "survey_responses":
        validation.fail("nps", outside_rule(validation.values("nps"), *NPS_RANGE, NPS_OUT_OF_RANGE))
        validation.fail(
            "csat", outside_rule(validation.values("csat"), *CSAT_RANGE, CSAT_OUT_OF_RANGE)
        )
    elif kind == "support_tickets":
        _tickets(validation)
    elif kind == "campaign_events":
        _campaign_events(validation, settings)
    elif kind == "inventory":
        # A negative count is a system's backorder or a keying error: not a stock level.
        on_hand = validation.values("on_hand_units")
        validation.fail("on_hand_units", below_rule(on_hand, 0, NEGATIVE_AMOUNT))


def _orders(validation: Validation, settings: FieldSettings) -> None:
    config = settings.config
    index = validation.index
    currency_state = validation.fields["currency"]
    assumed = str(settings.source.defaults.get("currency") or config.base_currency).upper()
    empty = currency_state.rule.isna() & currency_state.values.isna()
    currency = currency_state.values.mask(empty, assumed).astype(STRING)
    validation.set_values("currency", currency)

    amount = validation.values("amount")
    validation.fail("amount", below_rule(amount, 0.0, NEGATIVE_AMOUNT))

    codes, uniques = pd.factorize(currency, use_na_sentinel=True)
    rates = np.array([config.fx_rate(str(c)) or np.nan for c in uniques] + [np.nan])
    rate = rates[codes]  # -1 (no currency) picks the trailing NaN
    amount = validation.values("amount")
    base = pd.Series(amount.to_numpy(float) * rate, index=index, dtype="float64")
    # The derived column's raw value is the currency it could not convert from.
    state = validation.add(AMOUNT_BASE, False, DERIVED_ORDER, currency, base)
    no_rate = currency.notna() & pd.Series(np.isnan(rate), index=index) & amount.notna()
    validation.fail(AMOUNT_BASE, no_rule(index).mask(no_rate, MISSING_FX_RATE))
    maximum = config.quality.max_order_amount
    over = (state.values > maximum).fillna(False)
    if over.any():
        in_base = state.values[over].map(lambda v: f"{v:,.2f}").astype(STRING)
        validation.fail(
            "amount",
            no_rule(index).mask(over, AMOUNT_OUT_OF_RANGE),
            per_row={"currency": currency[over], "in_base": in_base},
            template=(
                "{field} {value} {currency} ({in_base} {base_currency}) is above the maximum "
                "order amount of {maximum} {base_currency}"
            ),
            maximum=_fmt_limit(maximum),
        )


def _order_items(validation: Validation, settings: FieldSettings) -> None:
    quality = settings.config.quality
    validation.fail(
        "quantity",
        outside_rule(validation.values("quantity"), 1, quality.max_quantity, INVALID_QUANTITY),
    )
    price = validation.values("unit_price")
    validation.fail("unit_price", below_rule(price, 0.0, NEGATIVE_AMOUNT))
    validation.fail(
        "unit_price",
        above_rule(validation.values("unit_price"), quality.max_unit_price, AMOUNT_OUT_OF_RANGE),
        maximum=_fmt_limit(quality.max_unit_price),
    )


def _tickets(validation: Validation) -> None:
    opened = validation.values("opened_at")
    resolved = validation.values("resolved_at")
    before = (resolved < opened).fillna(False)
    validation.fail(
        "resolved_at",
        no_rule(validation.index).mask(before, INVALID_DATE),
        per_row={"opened": quoted(validation.fields["opened_at"].raw)},
        template="{field} {value} is before opened_at {opened}",
    )


def _campaign_events(validation: Validation, settings: FieldSettings) -> None:
    """Events of a campaign cdp.yaml does not declare cannot be measured: quarantined."""
    known = {c.name for c in settings.config.campaigns}
    campaign = validation.values("campaign_id")
    unknown = campaign.notna() & ~campaign.isin(known)
    validation.fail(
        "campaign_id",
        no_rule(validation.index).mask(unknown, UNKNOWN_CAMPAIGN),
        template="{field} {value} is not a campaign of cdp.yaml ({known})",
        known=", ".join(sorted(known)) or "none configured",
    )


def consent_changes(validation: Validation) -> dict[str, pd.Series]:
    """Customers: set unconfirmed opt-ins false. Returns opt-in field → rows changed."""
    changed: dict[str, pd.Series] = {}
    for opt_in, confirmation in DOUBLE_OPT_IN_FIELDS.items():
        if opt_in not in validation:
            continue
        values = validation.values(opt_in)
        rows = unconfirmed_opt_ins(values, validation.values(confirmation))
        if rows.any():
            validation.set_values(opt_in, values.astype("boolean").mask(rows, False))
        changed[opt_in] = rows
    return changed


__all__ = [
    "AMOUNT_BASE",
    "MISSING_FX_RATE",
    "UNCONFIRMED_OPT_IN",
    "apply_kind_rules",
    "consent_changes",
]
