"""Backtest forecasts remembered between runs.

The backtest's origins are calendar weeks (`calendar_origins`), so the same origins recur
night after night, and a model's forecasts from an origin are a function of the weeks up to
it. Each (model, origin) result is kept under a fingerprint of what it was computed from —
the weekly values of every series up to the origin, the horizon, for gradient boosting the
calendar features up to the end of the horizon, for the customer-based model its own
fingerprint of the purchases up to the origin, and a version string (the code) — and reused
while the fingerprint is the same: the result is then exactly what fitting again would give.
Seasonal naive is not kept: it costs less than looking it up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.forecast import models as m
from cdp_assets.forecast.candidates import OriginForecasts
from cdp_assets.forecast.periods import SeriesKey

CACHED_MODELS: tuple[str, ...] = (m.ETS, m.GRADIENT_BOOSTING, m.CUSTOMER_BASED)
# The order `forecast_candidates` fills `by_model` in (the errors' row order follows it).
CANDIDATE_ORDER: tuple[str, ...] = (m.SEASONAL_NAIVE, m.ETS, m.GRADIENT_BOOSTING, m.CUSTOMER_BASED)

# The rows the cache is kept as (one per model, origin, series and step; one row with no
# series per entry, so that a model that forecast no series is remembered too).
BACKTEST_CACHE_COLUMNS: dict[str, str] = {
    "model": "string",
    "origin_date": "datetime64[us]",
    "fingerprint": "string",
    "level": "string",
    "member": "string",
    "metric": "string",
    "step": "int64",
    "forecast": "float64",
    "note": "string",
}


def calendar_origins(
    week_starts: pd.DatetimeIndex, first: int, count: int, spacing: int
) -> list[int]:
    """Origin positions, oldest first: the `count` latest weeks that end on a Sunday whose
    week number (days since 0001-01-01 // 7) is a multiple of `spacing`, with at least one
    week after them and MIN_WEEKS_ANY_MODEL weeks of history after `first`. The weeks must
    end on Sundays (`last_sunday`)."""
    ends = week_starts + pd.Timedelta(days=6)
    found: list[int] = []
    for position in range(len(week_starts) - 2, -1, -1):
        if len(found) == count or position - first + 1 < m.MIN_WEEKS_ANY_MODEL:
            break
        if (ends[position].date().toordinal() // 7) % spacing == 0:
            found.append(position)
    return sorted(found)


def last_sunday(day: dt.date) -> dt.date:
    """The Sunday on or before `day`: the end of the last whole calendar week (Monday to
    Sunday) up to it."""
    return day - dt.timedelta(days=day.toordinal() % 7)


def history_digest(weekly: pd.DataFrame, origin: int, version: str) -> str:
    """SHA-256 of the weeks up to position `origin` (their start days and every series'
    values) and `version`."""
    digest = hashlib.sha256(version.encode())
    digest.update(weekly.index[: origin + 1].to_numpy(dtype="datetime64[ns]").tobytes())
    for key in weekly.columns:
        digest.update(f"\x1e{key.level}\x1f{key.member}\x1f{key.metric}".encode())
        digest.update(weekly[key].to_numpy(dtype="float64")[: origin + 1].tobytes())
    return digest.hexdigest()


def model_fingerprint(model: str, history: str, horizon: int, extra: Iterable[bytes] = ()) -> str:
    digest = hashlib.sha256(f"{model}\x1f{history}\x1f{horizon}".encode())
    for part in extra:
        digest.update(b"\x1e" + part)
    return digest.hexdigest()


def calendar_bytes(calendar: pd.DataFrame, end: int) -> bytes:
    """The calendar features (week of year, holiday days) of positions up to `end`."""
    head = calendar.iloc[:end]
    return ",".join(map(str, head.columns)).encode() + head.to_numpy(dtype="float64").tobytes()


@dataclass
class CachedForecasts:
    """One model's forecasts of every series it forecast from one origin, and its notes."""

    fingerprint: str
    by_key: dict[SeriesKey, np.ndarray]
    notes: dict[SeriesKey, str] = field(default_factory=dict)


@dataclass
class BacktestCache:
    """(model, origin date) -> the forecasts and the fingerprint they were computed under.
    `reused` and `fitted` count this run's look-ups."""

    entries: dict[tuple[str, dt.date], CachedForecasts] = field(default_factory=dict)
    reused: int = 0
    fitted: int = 0

    def get(self, model: str, origin: dt.date, fingerprint: str) -> CachedForecasts | None:
        entry = self.entries.get((model, origin))
        return entry if entry is not None and entry.fingerprint == fingerprint else None

    def only(self, kept: Iterable[tuple[str, dt.date]]) -> BacktestCache:
        """The entries of `kept` only (this run's origins: older ones will not recur)."""
        wanted = set(kept)
        entries = {k: v for k, v in self.entries.items() if k in wanted}
        return BacktestCache(entries, self.reused, self.fitted)

    def same_as(self, stored: BacktestCache | None) -> bool:
        """Whether this run's cache holds exactly what `stored` (the table it read) holds: it
        fitted nothing (every entry was taken from `stored`) and kept the same origins. The
        table is then not written again."""
        return stored is not None and self.fitted == 0 and set(self.entries) == set(stored.entries)

    def to_frame(self) -> pd.DataFrame:
        """One row per (model, origin) without a series (step 0), then one per series and
        step, entries in (model, origin) order; columns built whole, not a frame per series."""
        columns: dict[str, list] = {c: [] for c in BACKTEST_CACHE_COLUMNS}
        for (model, origin), entry in sorted(self.entries.items()):
            keys = list(entry.by_key)
            lengths = [len(entry.by_key[k]) for k in keys]
            rows = 1 + sum(lengths)
            columns["model"].append(np.full(rows, model, dtype=object))
            columns["origin_date"].append(np.full(rows, np.datetime64(origin, "us")))
            columns["fingerprint"].append(np.full(rows, entry.fingerprint, dtype=object))
            for part in ("level", "member", "metric"):
                values = [getattr(k, part) for k in keys]
                columns[part].append(np.array([None, *np.repeat(values, lengths)], dtype=object))
            notes = [entry.notes.get(k) for k in keys]
            columns["note"].append(np.array([None, *np.repeat(notes, lengths)], dtype=object))
            columns["step"].append(
                np.concatenate([[0], *(np.arange(1, n + 1) for n in lengths)]).astype(np.int64)
            )
            columns["forecast"].append(
                np.concatenate([[np.nan], *(entry.by_key[k] for k in keys)]).astype(np.float64)
            )
        frame = pd.DataFrame(
            {c: np.concatenate(parts) if parts else [] for c, parts in columns.items()}
        )
        return frame.astype(BACKTEST_CACHE_COLUMNS)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> BacktestCache:
        """The cache `to_frame` wrote."""
        entries: dict[tuple[str, dt.date], CachedForecasts] = {}
        if frame.empty:
            return cls(entries)
        ordered = frame.sort_values(["model", "origin_date", "step"], kind="stable")
        for (model, origin, fingerprint), group in ordered.groupby(
            ["model", "origin_date", "fingerprint"], sort=False
        ):
            entry = CachedForecasts(str(fingerprint), {})
            series = group.loc[group["step"] > 0]
            for label, rows in series.groupby(["level", "member", "metric"], sort=False):
                key = SeriesKey(*(str(part) for part in label))
                entry.by_key[key] = rows["forecast"].to_numpy(dtype="float64")
                note = rows["note"].iloc[0]
                if not pd.isna(note):
                    entry.notes[key] = str(note)
            entries[(str(model), pd.Timestamp(origin).date())] = entry
        return cls(entries)


def merged_forecasts(
    fitted: OriginForecasts,
    reused: dict[str, CachedForecasts],
    keys: list[SeriesKey],
) -> OriginForecasts:
    """`fitted` with the `reused` models' forecasts added, in the order a run fitting every
    model gives them (models in candidate order, series in `keys` order)."""
    by_model = dict(fitted.by_model)
    notes = dict(fitted.notes)
    for model, entry in reused.items():
        by_model[model] = {k: entry.by_key[k] for k in keys if k in entry.by_key}
        notes.update({(model, k): note for k, note in entry.notes.items()})
    ordered = {name: by_model[name] for name in CANDIDATE_ORDER if name in by_model}
    note_order = {
        (name, k): notes[(name, k)] for name in CANDIDATE_ORDER for k in keys if (name, k) in notes
    }
    return OriginForecasts(fitted.origin, ordered, note_order)


def as_cached(forecasts: OriginForecasts, model: str, fingerprint: str) -> CachedForecasts:
    notes = {k: note for (name, k), note in forecasts.notes.items() if name == model}
    return CachedForecasts(fingerprint, dict(forecasts.by_model[model]), notes)
