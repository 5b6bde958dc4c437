"""`python -m cdp_assets.demo --people N --seed S --end-date YYYY-MM-DD [--history-days D] --out DIR`.

With `--extra-day`, nothing is regenerated: one more day after the end date (about 1 % new
rows: orders, events, new and changed accounts) lands as new files in DIR/landing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from cdp_assets.demo.extra_day import DEFAULT_FRACTION, add_extra_day
from cdp_assets.demo.generate import generate_demo
from cdp_assets.demo.settings import (
    DEFAULT_END_DATE,
    DEFAULT_PEOPLE,
    DEFAULT_SEED,
    HISTORY_DAYS,
    MIN_HISTORY_DAYS,
)


def _history_days(text: str) -> int:
    """argparse type of --history-days: a whole number of days, at least MIN_HISTORY_DAYS."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if days < MIN_HISTORY_DAYS:
        raise argparse.ArgumentTypeError(f"{days} days: at least {MIN_HISTORY_DAYS} are needed")
    return days


def main(argv: list[str] | None = None) -> None:
    """Parses the arguments, generates the demo set and prints its summary."""
    parser = argparse.ArgumentParser(prog="python -m cdp_assets.demo", description=__doc__)
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=DEFAULT_END_DATE)
    parser.add_argument(
        "--history-days",
        type=_history_days,
        default=HISTORY_DAYS,
        help=f"days of order history before the end date (default {HISTORY_DAYS}, "
        f"at least {MIN_HISTORY_DAYS}); legacy accounts start a year earlier",
    )
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument(
        "--extra-day",
        action="store_true",
        help="land one more day after --end-date in the existing OUT/landing (not regenerated)",
    )
    parser.add_argument(
        "--extra-day-fraction",
        type=float,
        default=DEFAULT_FRACTION,
        help=f"new rows of the extra day per source, as a fraction (default {DEFAULT_FRACTION})",
    )
    args = parser.parse_args(argv)
    if args.extra_day:
        try:
            extra = add_extra_day(args.out, args.seed, args.end_date, args.extra_day_fraction)
        except (FileNotFoundError, ValueError) as error:
            parser.error(str(error))
        print(extra.text())
        return
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)

    summary = generate_demo(
        args.people,
        args.seed,
        args.end_date,
        args.out,
        history_days=args.history_days,
        progress=progress,
    )
    print(summary.text())


if __name__ == "__main__":
    main()
