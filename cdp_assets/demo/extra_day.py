"""One more day of data after a demo set's end date, landed as new files next to the old ones.

`add_extra_day` is the "next night" of a demo brand: about `fraction` (default 1 %) of each
source's rows again, dated the day after the end date —

- shop orders, as repeat purchases of existing accounts (templates drawn from the latest
  month's orders), with their order items copied from the template orders;
- web events, from the latest month's events, moved to the new day;
- shop accounts: half new customers (new account ids, new emails, no phone) and half changed
  records of existing accounts (same account id, newsletter consent switched and a new street
  number), which staging supersedes by their latest version.

Every new id continues the source's numbering (after the largest id present), so nothing
collides with the history. The files are named after the new day (`orders_2026-11-21.csv`,
`events_2026-11-21.jsonl`, ...) and are the same bytes for the same landing folder and seed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_FRACTION = 0.01
MONTH = r"(\d{4}-\d{2})"
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}T")
TEXT_ENCODINGS = ("utf-8", "cp1252", "latin-1")


@dataclass
class ExtraDaySummary:
    """What one more day added: rows per file written."""

    day: dt.date
    rows: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        lines = [f"one more day: {self.day}"]
        lines += [f"  {name:<40} {rows:>9,} rows" for name, rows in self.rows.items()]
        return "\n".join(lines)


def _month_files(folder: Path, stem: str, suffix: str) -> list[Path]:
    """The demo's monthly files of a source folder (`<stem>_YYYY-MM.csv`), oldest first.
    Other files with a month in their name (a re-delivery of a few lines) are not its
    history: drawing the new day from them would repeat those few people only."""
    name = re.compile(re.escape(stem) + "_" + MONTH + re.escape(suffix))
    months = {p: name.fullmatch(p.name) for p in folder.glob(f"{stem}_*{suffix}")}
    files = {p: m.group(1) for p, m in months.items() if m}
    if not files:
        raise FileNotFoundError(f"no monthly {stem}_YYYY-MM{suffix} file in {folder}")
    return sorted(files, key=files.__getitem__)


def _data_lines(folder: Path, suffix: str, header: bool) -> int:
    """Rows of every file of a source folder (lines, less one header line per CSV file)."""
    total = 0
    for path in folder.glob(f"*{suffix}"):
        with path.open("rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
        total += max(lines - int(header), 0)
    return total


def _read_csv(path: Path) -> pd.DataFrame:
    """A landing CSV file as text columns (no value parsed), whatever its encoding."""
    for encoding in TEXT_ENCODINGS:
        try:
            return pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                encoding=encoding,
                on_bad_lines="skip",
            )
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{path}: none of the encodings {TEXT_ENCODINGS} reads it")


def _next_ids(values: pd.Series, prefix: str, count: int) -> list[str]:
    """`count` ids after the largest `<prefix><digits>` id in `values`, same width."""
    digits = values.str.extract(rf"^{re.escape(prefix)}(\d+)$")[0].dropna()
    width = int(digits.str.len().max()) if len(digits) else 8
    start = int(digits.astype("int64").max()) + 1 if len(digits) else 1
    return [f"{prefix}{n:0{width}d}" for n in range(start, start + count)]


def _on_day(stamps: pd.Series, day: dt.date) -> pd.Series:
    """ISO timestamps moved to `day` (time of day kept); anything else becomes noon UTC."""
    iso = stamps.str.match(ISO_DAY.pattern)
    return stamps.where(~iso, day.isoformat() + stamps.str.slice(10)).where(
        iso, f"{day.isoformat()}T12:00:00Z"
    )


def _write_csv(frame: pd.DataFrame, path: Path, summary: ExtraDaySummary, landing: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")
    summary.rows[str(path.relative_to(landing))] = len(frame)


def _orders(
    rng: np.random.Generator, landing: Path, day: dt.date, fraction: float, summary: ExtraDaySummary
) -> None:
    orders_dir, items_dir = landing / "shop" / "orders", landing / "shop" / "order_items"
    count = round(fraction * _data_lines(orders_dir, ".csv", header=True))
    month_files = _month_files(orders_dir, "orders", ".csv")
    templates = _read_csv(month_files[-1])
    every_id = pd.concat([_read_csv(p)["order_number"] for p in month_files], ignore_index=True)
    picked = templates.iloc[rng.integers(0, len(templates), count)].reset_index(drop=True)
    new_ids = pd.Series(_next_ids(every_id, "SO-", count))
    old_ids = picked["order_number"]
    picked["order_number"] = new_ids
    picked["ordered_at"] = _on_day(picked["ordered_at"], day)
    _write_csv(picked, orders_dir / f"orders_{day}.csv", summary, landing)
    items = pd.concat(
        [_read_csv(p) for p in _month_files(items_dir, "items", ".csv")[-2:]], ignore_index=True
    )
    renamed = pd.DataFrame({"order_id": old_ids, "new_id": new_ids})
    new_items = renamed.merge(items, on="order_id", how="inner", sort=False)
    new_items = new_items.assign(order_id=new_items["new_id"]).drop(columns="new_id")
    _write_csv(new_items[items.columns], items_dir / f"items_{day}.csv", summary, landing)


def _events(
    rng: np.random.Generator, landing: Path, day: dt.date, fraction: float, summary: ExtraDaySummary
) -> None:
    folder = landing / "web" / "events"
    count = round(fraction * _data_lines(folder, ".jsonl", header=False))
    latest = _month_files(folder, "events", ".jsonl")[-1]
    text = latest.read_bytes().decode("utf-8", errors="replace")
    templates = [line for line in text.splitlines() if line.strip()]
    records = []
    for index in rng.integers(0, len(templates), count):
        try:
            records.append(json.loads(templates[index]))
        except json.JSONDecodeError:  # the demo's malformed lines are not templates
            continue
    first = _largest_event_number(folder) + 1
    day_text = day.isoformat()
    path = folder / f"events_{day}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for number, record in enumerate(records, start=first):
            stamp = record.get("timestamp")
            record["event_id"] = f"EV{number:010d}"
            record["timestamp"] = (
                day_text + stamp[10:]
                if isinstance(stamp, str) and ISO_DAY.match(stamp)
                else f"{day_text}T12:00:00Z"
            )
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    summary.rows[str(path.relative_to(landing))] = len(records)


def _largest_event_number(folder: Path) -> int:
    """The largest EV number in any events file (the numbering runs across months)."""
    pattern = re.compile(rb'"event_id":"EV(\d+)"')
    largest = 0
    for path in folder.glob("*.jsonl"):
        numbers = [int(n) for n in pattern.findall(path.read_bytes())]
        largest = max([largest, *numbers])
    return largest


def _accounts(
    rng: np.random.Generator, landing: Path, day: dt.date, fraction: float, summary: ExtraDaySummary
) -> None:
    folder = landing / "shop" / "accounts"
    month_files = _month_files(folder, "accounts", ".csv")
    every = pd.concat([_read_csv(p) for p in month_files], ignore_index=True)
    half = max(round(fraction / 2 * _data_lines(folder, ".csv", header=True)), 1)
    new = every.iloc[rng.integers(0, len(every), half)].reset_index(drop=True)
    new["account_id"] = _next_ids(every["account_id"], "A", half)
    local = new["email"].str.split("@").str[0]
    domain = new["email"].str.split("@").str[1].fillna("example.com")
    new["email"] = local + "." + new["account_id"].str.lower() + "@" + domain
    new["phone"] = ""
    new["created_at"] = _on_day(new["created_at"], day)
    new_opt_in = new["newsletter"].str.lower().eq("yes")
    new["newsletter_confirmed_at"] = np.where(new_opt_in, f"{day}T10:00:00Z", "")
    changed = every.iloc[rng.choice(len(every), min(half, len(every)), replace=False)]
    changed = changed.reset_index(drop=True)
    opted_in = changed["newsletter"].str.lower().eq("yes")
    changed["newsletter"] = np.where(opted_in, "no", "yes")
    changed["newsletter_confirmed_at"] = np.where(opted_in, "", f"{day}T09:00:00Z")
    number = changed["street"].str.extract(r"^(\d+)")[0]
    changed["street"] = np.where(
        number.notna(),
        (pd.to_numeric(number, errors="coerce").fillna(0).astype("int64") + 2).astype(str)
        + changed["street"].str.replace(r"^\d+", "", regex=True),
        changed["street"],
    )
    frame = pd.concat([new, changed], ignore_index=True)
    _write_csv(frame, folder / f"accounts_{day}.csv", summary, landing)


def add_extra_day(
    out: Path, seed: int, end_date: dt.date, fraction: float = DEFAULT_FRACTION
) -> ExtraDaySummary:
    """Lands one more day (`end_date` + 1) in `out/landing`: new orders and their items, web
    events, and new and changed shop accounts, each about `fraction` of its source's rows."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    landing = Path(out) / "landing"
    if not landing.is_dir():
        raise FileNotFoundError(f"no demo landing folder at {landing} (generate the demo first)")
    day = end_date + dt.timedelta(days=1)
    for earlier in landing.rglob(f"*_{day}.*"):  # landed before: replaced, not counted
        earlier.unlink()
    summary = ExtraDaySummary(day)
    streams = np.random.SeedSequence([seed, day.toordinal()]).spawn(3)
    _orders(np.random.default_rng(streams[0]), landing, day, fraction, summary)
    _events(np.random.default_rng(streams[1]), landing, day, fraction, summary)
    _accounts(np.random.default_rng(streams[2]), landing, day, fraction, summary)
    return summary
