"""Per-field validation state: typed values, the first rule each row failed, and its reason.

A field that fails a rule on a row is nulled on that row; later rules on the same field and
row are not evaluated again (the first failure is the one reported). Whether a failure
quarantines the row or becomes an issue is decided later, from the field's `required` flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cdp_assets.quality.checked import no_rule
from cdp_assets.staging.reasons import ReasonContext, sentence


@dataclass
class FieldState:
    name: str
    required: bool
    order: int  # position in the kind's canonical fields (derived columns after them)
    raw: pd.Series  # the raw text as read (default filled), StringDtype
    values: pd.Series  # typed values
    rule: pd.Series  # StringDtype, NA where passed
    reason: pd.Series  # StringDtype, NA where passed


@dataclass
class Validation:
    """The validation state of every canonical (and derived) field of one source frame."""

    index: pd.Index
    context: ReasonContext
    fields: dict[str, FieldState] = field(default_factory=dict)

    def add(
        self, name: str, required: bool, order: int, raw: pd.Series, values: pd.Series
    ) -> FieldState:
        state = FieldState(
            name, required, order, raw, values, no_rule(self.index), no_rule(self.index)
        )
        self.fields[name] = state
        return state

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def values(self, name: str) -> pd.Series | None:
        state = self.fields.get(name)
        return None if state is None else state.values

    def fail(
        self,
        name: str,
        rules: pd.Series,
        per_row: dict[str, pd.Series] | None = None,
        reason_values: pd.Series | None = None,
        template: str | None = None,
        **static: object,
    ) -> pd.Series:
        """Apply a rule column to a field: rows not yet failed get rule, reason and a null value.

        Returns the rows newly failed. `reason_values` replaces the raw value in the sentence.
        """
        state = self.fields[name]
        new = (rules.notna() & state.rule.isna()).fillna(False).astype(bool)
        if not new.any():
            return new
        quoted_values = state.raw if reason_values is None else reason_values
        for rule in pd.unique(rules[new].to_numpy(object)):
            rows = new & (rules == rule).fillna(False)
            rows_per_row = {k: v[rows] for k, v in (per_row or {}).items()}
            reasons = sentence(
                str(rule),
                name,
                quoted_values[rows],
                self.context,
                rows_per_row,
                template,
                **static,
            )
            state.rule = state.rule.mask(rows, str(rule))
            state.reason = state.reason.mask(rows, reasons)
        state.values = _null_where(state.values, new)
        return new

    def set_values(self, name: str, values: pd.Series) -> None:
        self.fields[name].values = values


def _null_where(values: pd.Series, rows: pd.Series) -> pd.Series:
    return values.mask(rows)


__all__ = ["FieldState", "Validation"]
