"""Prediction intervals from the backtest's own errors: the empirical quantiles of errors
scaled by each series' MASE scale, pooled across series and grouped by how far ahead, so an
80 % interval covers what 80 % of past errors did. Their coverage is measured honestly by
leaving each backtest origin out of the quantiles its errors are judged against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVELS = {"80": (0.10, 0.90), "95": (0.025, 0.975)}
STEP_GROUPS = ((1, 2), (3, 4), (5, 8), (9, 13), (14, 26), (27, 104))
MIN_ERRORS_PER_GROUP = 20  # fewer: the group borrows the quantiles of all steps pooled


def step_group(steps: np.ndarray) -> np.ndarray:
    out = np.full(len(steps), len(STEP_GROUPS) - 1)
    for i, (low, high) in reversed(list(enumerate(STEP_GROUPS))):
        out[(steps >= low) & (steps <= high)] = i
    return out


@dataclass(frozen=True)
class ErrorQuantiles:
    """Quantiles of scaled errors (actual - forecast) / scale per step group."""

    table: pd.DataFrame  # index: step group; columns: q0.025, q0.1, q0.9, q0.975

    @classmethod
    def fit(cls, errors: pd.DataFrame) -> ErrorQuantiles:
        """`errors`: columns step, scaled_error."""
        qs = sorted({q for pair in LEVELS.values() for q in pair})
        values = errors["scaled_error"].to_numpy(dtype=float)
        pooled = np.quantile(values, qs) if len(values) else np.zeros(len(qs))
        groups = step_group(errors["step"].to_numpy())
        rows = {}
        for g in range(len(STEP_GROUPS)):
            inside = values[groups == g]
            rows[g] = np.quantile(inside, qs) if len(inside) >= MIN_ERRORS_PER_GROUP else pooled
        return cls(pd.DataFrame.from_dict(rows, orient="index", columns=[f"q{q}" for q in qs]))

    def bounds(
        self, forecast: np.ndarray, scale: float, steps: np.ndarray, level: str
    ) -> tuple[np.ndarray, np.ndarray]:
        low_q, high_q = LEVELS[level]
        picked = self.table.loc[step_group(steps)]
        low = forecast + picked[f"q{low_q}"].to_numpy() * scale
        high = forecast + picked[f"q{high_q}"].to_numpy() * scale
        return np.minimum(low, forecast), np.maximum(high, forecast)


LEVEL_SHRINK_ERRORS = 100  # a level's own quantiles weigh n / (n + this) against the pooled


def fit_by_level(errors: pd.DataFrame) -> dict[str, ErrorQuantiles]:
    """Quantiles per level (the total's scaled errors are smaller than a category's), shrunk
    towards all levels' pooled quantiles when the level has few errors; under "" the pooled
    quantiles, for a level without errors."""
    pooled = ErrorQuantiles.fit(errors)
    out = {"": pooled}
    for level, group in errors.groupby("level"):
        weight = len(group) / (len(group) + LEVEL_SHRINK_ERRORS)
        own = ErrorQuantiles.fit(group).table
        out[str(level)] = ErrorQuantiles(weight * own + (1 - weight) * pooled.table)
    return out


def quantiles_for(by_level: dict[str, ErrorQuantiles], level: str) -> ErrorQuantiles:
    return by_level.get(level, by_level[""])


def leave_one_origin_out_inside(errors: pd.DataFrame) -> pd.DataFrame:
    """Per backtest error, whether it falls inside the 80 % and 95 % intervals whose
    quantiles come from the other origins' errors (columns inside_80, inside_95; NA with a
    single origin). `errors`: columns level, origin, step, scaled_error."""
    out = pd.DataFrame(
        {f"inside_{level}": pd.array([pd.NA] * len(errors), dtype="boolean") for level in LEVELS},
        index=errors.index,
    )
    for origin in errors["origin"].unique():
        held = (errors["origin"] == origin).to_numpy()
        if held.all():
            continue
        by_level = fit_by_level(errors.loc[~held])
        for level, group in errors.loc[held].groupby("level"):
            quantiles = quantiles_for(by_level, str(level))
            picked = quantiles.table.loc[step_group(group["step"].to_numpy())]
            error = group["scaled_error"].to_numpy()
            for name, (low_q, high_q) in LEVELS.items():
                low = np.minimum(picked[f"q{low_q}"].to_numpy(), 0)
                high = np.maximum(picked[f"q{high_q}"].to_numpy(), 0)
                out.loc[group.index, f"inside_{name}"] = (error >= low) & (error <= high)
    return out
