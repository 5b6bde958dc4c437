"""Reconciliation: the total is one number, and the members of the channel and category
levels each add up to it (the store level to the channel 'store' member when both are
forecast). The parent's forecast is kept; the gap is shared among the members in proportion
to the size of their own forecasts, so a member forecast near zero stays near zero."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cdp_assets.forecast.periods import ALL, TOTAL, SeriesKey
from cdp_assets.forecast.series import STORE_CHANNEL


def parent_of(level: str, members: Mapping[str, list[str]]) -> tuple[str, str] | None:
    """The (level, member) a level's members add up to, or None if they cover no parent."""
    if level in ("channel", "category"):
        return (TOTAL, ALL)
    if level == "store" and STORE_CHANNEL in members.get("channel", []):
        return ("channel", STORE_CHANNEL)
    return None


def share_gap(parent: np.ndarray, children: np.ndarray) -> np.ndarray:
    """Children (members x steps) adjusted so each step's column sums to `parent`."""
    gap = parent - children.sum(axis=0)
    size = np.abs(children)
    total = size.sum(axis=0)
    weights = np.where(total > 0, size / np.where(total > 0, total, 1.0), 1.0 / len(children))
    return children + weights * gap


def reconcile(
    forecasts: Mapping[SeriesKey, np.ndarray],
    members: Mapping[str, list[str]],
    metrics: tuple[str, ...],
) -> dict[SeriesKey, np.ndarray]:
    """Forecasts that add up; levels are reconciled top down (channel before store)."""
    out = {k: np.asarray(v, dtype=float).copy() for k, v in forecasts.items()}
    for level in ("channel", "category", "store"):
        parent = parent_of(level, members)
        if level not in members or parent is None:
            continue
        for metric in metrics:
            parent_key = SeriesKey(parent[0], parent[1], metric)
            keys = [SeriesKey(level, member, metric) for member in members[level]]
            if parent_key not in out or not all(k in out for k in keys):
                continue
            adjusted = share_gap(out[parent_key], np.vstack([out[k] for k in keys]))
            for key, row in zip(keys, adjusted, strict=True):
                out[key] = row
    return out
