"""Marketing consent: double opt-in.

An opt-in only stands with proof: `email_opt_in` true but no `email_opt_in_confirmed_at` is set
to false (`unconfirmed_opt_in`, action `set_false`); the same for SMS. An opt-out (false) always
stands, and an unknown consent (null) stays unknown. A source that does not map the
confirmation field at all therefore contributes no email/SMS opt-ins: without a confirmation
there is no consent the platform can prove.
"""

from __future__ import annotations

import pandas as pd

UNCONFIRMED_OPT_IN = "unconfirmed_opt_in"

# opt-in field → the field holding its confirmation timestamp
DOUBLE_OPT_IN_FIELDS: dict[str, str] = {
    "email_opt_in": "email_opt_in_confirmed_at",
    "sms_opt_in": "sms_opt_in_confirmed_at",
}


def unconfirmed_opt_ins(opt_in: pd.Series, confirmed_at: pd.Series | None) -> pd.Series:
    """Rows whose opt-in is true without a confirmation timestamp (bool column)."""
    yes = opt_in.astype("boolean").fillna(False).astype(bool)
    if confirmed_at is None:
        return yes
    return yes & confirmed_at.isna()


def enforce_double_opt_in(
    opt_in: pd.Series, confirmed_at: pd.Series | None
) -> tuple[pd.Series, pd.Series]:
    """(opt-in column with unconfirmed opt-ins set false, the rows that were changed)."""
    changed = unconfirmed_opt_ins(opt_in, confirmed_at)
    result = opt_in.astype("boolean").mask(changed, False)
    return result, changed
