"""At most one alert per asset and cause per day.

The ledger maps `<cause>|<asset>` to the last day (ISO date, in the project's time zone) an
alert was sent for it: one entry per asset and cause, overwritten, so it never grows with
time. `defs.alerts` keeps it in the Dagster instance's key-value store (see there why)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Protocol

from cdp_assets.alerts.messages import Alert

LEDGER_PREFIX = "cdp_assets/alerts/"


class AlertLedger(Protocol):
    def get(self, keys: set[str]) -> Mapping[str, str]: ...

    def set(self, pairs: Mapping[str, str]) -> None: ...


class MemoryLedger:
    """A ledger in a dict (tests, one process)."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, keys: set[str]) -> Mapping[str, str]:
        return {k: self.entries[k] for k in keys if k in self.entries}

    def set(self, pairs: Mapping[str, str]) -> None:
        self.entries.update(pairs)


def _ledger_key(alert: Alert) -> str:
    return LEDGER_PREFIX + alert.dedup_key


def due_alerts(alerts: Iterable[Alert], ledger: AlertLedger, day: dt.date) -> list[Alert]:
    """The alerts not yet sent on `day`, the first of each asset and cause only."""
    unique: dict[str, Alert] = {}
    for alert in alerts:
        unique.setdefault(_ledger_key(alert), alert)
    sent = ledger.get(set(unique))
    return [a for key, a in unique.items() if sent.get(key) != day.isoformat()]


def record_sent(alerts: Iterable[Alert], ledger: AlertLedger, day: dt.date) -> None:
    ledger.set({_ledger_key(a): day.isoformat() for a in alerts})
