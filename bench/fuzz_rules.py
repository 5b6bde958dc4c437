"""Property-based fuzzing of the audience rule grammar.

    python bench/fuzz_rules.py [--rules 10000] [--seed 12]

Generates rules with hypothesis (well-formed ones, ones that also suit the columns, and
garbage: random text, token soup, mutated rules, nesting up to 3,000 deep, numbers of up to
6,000 digits, rules past the length limit; strategies in
cdp_assets_tests/analytics/rule_strategies.py) and puts each through the load-time check and
an evaluation over a small customers frame. Every rule must either parse (and evaluate) or be
a ConfigError naming its audience; anything else is a crash. Prints the counts and exits 1 on
a crash, showing the first few.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' strategies

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from cdp_assets_tests.analytics.rule_strategies import RULES, Outcomes, record  # noqa: E402


def fuzz(rules: int, random_seed: int) -> Outcomes:
    outcomes = Outcomes()

    @seed(random_seed)
    @settings(
        max_examples=rules,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(RULES)
    def one(text: str) -> None:
        record(outcomes, text)  # never raises: crashes are counted, not shrunk

    one()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    started = time.perf_counter()
    outcomes = fuzz(args.rules, args.seed)
    seconds = time.perf_counter() - started
    print(
        f"rules {outcomes.rules:,}  parsed {outcomes.parsed:,}  rejected {outcomes.rejected:,}  "
        f"crashes={len(outcomes.crashes)}  time {seconds:.1f} s "
        f"({outcomes.rules / seconds:,.0f} rules/s, seed {args.seed})"
    )
    for text, error in outcomes.crashes[:5]:
        print(f"  crash: {error}\n    rule: {text!r}")
    return 1 if outcomes.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
