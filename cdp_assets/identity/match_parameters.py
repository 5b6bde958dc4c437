"""What a full resolution learnt for probabilistic matching, kept between full resolutions.

The matcher learns u, m and the match prior λ (EM) and the name term frequencies from all the
records, so every new record moves every weight a little. An incremental resolution scores
its pairs with the parameters of the last full resolution instead (frozen), which is what
makes it equal to a full resolution with those same parameters: a pair's weight then depends
on its two records only. The periodic full resolution learns them again.

Stored as two warehouse tables (`as_tables` / `from_tables`): one row per field level (m, u,
with λ and the settings digest on every row), and the name shares of first and last names
that are above the floor (a name not listed has the floor share, `name=None`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.identity.comparisons import FIELDS
from cdp_assets.identity.fellegi_sunter import FellegiSunterModel

LEVEL_DTYPES: dict[str, str] = {
    "learnt_at": "datetime64[us, UTC]",  # run_at of the full resolution (core.identity_runs)
    "settings_digest": "string",  # the identity settings they were learnt with
    "field": "string",
    "level_index": "int64",
    "level": "string",
    "m": "float64",  # NaN for the null level
    "u": "float64",
    "match_prior": "float64",
}
NAME_SHARE_DTYPES: dict[str, str] = {
    "learnt_at": "datetime64[us, UTC]",
    "field": "string",  # first_name | last_name
    "name": "string",  # the name's match key; null: the floor every other name gets
    "share": "float64",
}


@dataclass(frozen=True)
class NameShares:
    """Term frequency share of each name of one field (match keys), and the floor share of
    every name not listed (`term_frequency.frequencies` floors all shares there)."""

    shares: dict[str, float]
    floor: float

    def lookup(self, names: np.ndarray) -> np.ndarray:
        """Share per name of a features vocabulary."""
        return np.array([self.shares.get(name, self.floor) for name in names], dtype=np.float64)

    @classmethod
    def of(cls, names: np.ndarray, share: np.ndarray, floor: float) -> NameShares:
        """From a learnt share per vocabulary name: only those above the floor are kept."""
        above = np.flatnonzero(share > floor)
        return cls({str(names[i]): float(share[i]) for i in above}, floor)


@dataclass(frozen=True)
class MatchParameters:
    """The Fellegi–Sunter model and the name shares (None: no term frequency adjustment)."""

    model: FellegiSunterModel
    name_shares: dict[str, NameShares] | None

    def as_tables(
        self, learnt_at: pd.Timestamp, settings_digest: str
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        model = self.model
        levels = pd.DataFrame(
            [
                (learnt_at, settings_digest, name, index, level, m[index], u[index])
                for name, level_names, m, u in zip(
                    model.fields, model.level_names, model.m, model.u, strict=True
                )
                for index, level in enumerate(level_names)
            ],
            columns=[c for c in LEVEL_DTYPES if c != "match_prior"],
        ).assign(match_prior=model.match_prior)
        rows = [
            (learnt_at, name, value, share)
            for name, shares in (self.name_shares or {}).items()
            for value, share in [*shares.shares.items(), (None, shares.floor)]
        ]
        names = pd.DataFrame(rows, columns=list(NAME_SHARE_DTYPES))
        return levels.astype(LEVEL_DTYPES), names.astype(NAME_SHARE_DTYPES)

    @classmethod
    def from_tables(cls, levels: pd.DataFrame, names: pd.DataFrame) -> MatchParameters:
        """The stored parameters; the model's correlated fields come from the settings
        (`probabilistic.frozen_links`), which the settings digest says are unchanged."""
        fields, level_names, m, u = [], [], [], []
        present = set(levels["field"].astype(str))
        for name in (name for name in FIELDS if name in present):
            rows = levels[levels["field"] == name].sort_values("level_index")
            fields.append(name)
            level_names.append(tuple(rows["level"].astype(str)))
            m.append(rows["m"].to_numpy(dtype=np.float64))
            u.append(rows["u"].to_numpy(dtype=np.float64))
        model = FellegiSunterModel(
            tuple(fields),
            tuple(level_names),
            tuple(m),
            tuple(u),
            float(levels["match_prior"].iloc[0]),
        )
        shares: dict[str, NameShares] | None = None
        if len(names):
            shares = {}
            for name, rows in names.groupby("field", sort=False):
                listed = rows[rows["name"].notna()]
                floor = rows.loc[rows["name"].isna(), "share"]
                shares[str(name)] = NameShares(
                    dict(
                        zip(listed["name"].astype(str), listed["share"].astype(float), strict=True)
                    ),
                    float(floor.iloc[0]),
                )
        return cls(model, shares)
