"""Numbers as a reader sees them: money with its currency, counts with separators, shares as
percentages and changes against a previous period."""

from __future__ import annotations

import math

DASH = "–"  # shown for a figure that cannot be computed (nothing to compare with)


def is_missing(value: float | int | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value: float | int | None) -> str:
    """12345 → '12,345'."""
    return DASH if is_missing(value) else f"{round(float(value)):,}"  # type: ignore[arg-type]


def money(value: float | None, currency: str, decimals: int = 0) -> str:
    """448386.92 → '448,387 USD'; with decimals=2 → '448,386.92 USD'."""
    if is_missing(value):
        return DASH
    return f"{float(value):,.{decimals}f} {currency}"  # type: ignore[arg-type]


def percent(value: float | None, decimals: int = 1) -> str:
    """A share 0.1551 → '15.5 %'."""
    if is_missing(value):
        return DASH
    return f"{100.0 * float(value):.{decimals}f} %"  # type: ignore[arg-type]


def relative_change(now: float | None, before: float | None) -> float | None:
    """(now - before) / before; None when there is nothing to compare with (before is 0)."""
    if is_missing(now) or is_missing(before) or before == 0:
        return None
    return (float(now) - float(before)) / abs(float(before))  # type: ignore[arg-type]


def signed_percent(change: float | None, decimals: int = 1) -> str:
    """A relative change 0.125 → '+12.5 %'."""
    if is_missing(change):
        return DASH
    return f"{100.0 * float(change):+.{decimals}f} %"  # type: ignore[arg-type]


def point_change(now: float | None, before: float | None, decimals: int = 1) -> str:
    """The difference of two shares in percentage points: 0.30 vs 0.25 → '+5.0 pp'."""
    if is_missing(now) or is_missing(before):
        return DASH
    return f"{100.0 * (float(now) - float(before)):+.{decimals}f} pp"  # type: ignore[arg-type]


def number(value: float | None, decimals: int = 1) -> str:
    return DASH if is_missing(value) else f"{float(value):,.{decimals}f}"  # type: ignore[arg-type]
