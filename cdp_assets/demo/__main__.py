"""`python -m cdp_assets.demo --people N --seed S --end-date YYYY-MM-DD --out DIR`."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from cdp_assets.demo.generate import generate_demo
from cdp_assets.demo.settings import DEFAULT_END_DATE, DEFAULT_PEOPLE, DEFAULT_SEED


def main(argv: list[str] | None = None) -> None:
    """Parses the arguments, generates the demo set and prints its summary."""
    parser = argparse.ArgumentParser(prog="python -m cdp_assets.demo", description=__doc__)
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=DEFAULT_END_DATE)
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    summary = generate_demo(args.people, args.seed, args.end_date, args.out)
    print(summary.text())


if __name__ == "__main__":
    main()
