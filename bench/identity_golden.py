"""Benchmark: golden customer profiles (survivorship + consent) on synthetic identity records.

    .venv/bin/python bench/identity_golden.py --records 1500000

Builds N synthetic identity records (records.py schema plus customer_id) for about N / 1.5
customers from five sources of different trust, with realistic gaps (missing names, emails,
addresses), Han names, consent events of every kind, and one activity row per record; then
times `golden_profiles`. Prints seconds, rows/s and peak RSS, and a JSON record at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd

SOURCES = (("shop", 3), ("crm", 5), ("pos", 1), ("loyalty", 4), ("newsletter", 2))
T0 = pd.Timestamp("2020-01-01", tz="UTC").value // 1000  # epoch microseconds
SPAN = 6 * 365 * 24 * 3600 * 10**6


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _strings(prefix: str, numbers: np.ndarray, present: np.ndarray) -> pd.Series:
    text = prefix + pd.Series(numbers).astype("string")
    return text.where(present)


def _instants(rng: np.random.Generator, n: int, present: np.ndarray) -> pd.Series:
    micros = T0 + rng.integers(0, SPAN, n)
    values = pd.Series(micros.astype("datetime64[us]")).dt.tz_localize("UTC")
    return values.where(present)


def _flags(rng: np.random.Generator, n: int, p_true: float, p_null: float) -> pd.Series:
    draw = rng.random(n)
    values = pd.array(draw < p_true, dtype="boolean")
    values[draw > 1 - p_null] = pd.NA
    return pd.Series(values)


def synthetic_records(n: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, activity): n identity records of about n / 1.5 customers."""
    rng = np.random.default_rng(seed)
    customers = max(int(n / 1.5), 1)
    customer = np.concatenate([np.arange(customers), rng.integers(0, customers, n - customers)])
    source = rng.integers(0, len(SOURCES), n)
    names = np.array([s for s, _ in SOURCES], dtype=object)
    trust = np.array([t for _, t in SOURCES])[source]
    yes = lambda p: rng.random(n) < p  # noqa: E731 - a tiny local sampler
    han = yes(0.05)
    first = _strings("First", rng.integers(0, 5000, n), yes(0.9))
    first = first.where(~han, pd.Series(np.where(rng.random(n) < 0.5, "小明", "秀英")))
    last = _strings("Last", rng.integers(0, 20000, n), yes(0.85))
    last = last.where(~han, pd.Series(np.where(rng.random(n) < 0.5, "王", "李")))
    created = _instants(rng, n, yes(0.95))
    updated = _instants(rng, n, yes(0.6))
    confirmed_email = _instants(rng, n, yes(0.3))
    records = pd.DataFrame(
        {
            "customer_id": _strings("C", customer, np.ones(n, bool)),
            "node": np.arange(n),
            "source": pd.Series(names[source], dtype="string"),
            "record_id": _strings("R", np.arange(n), np.ones(n, bool)),
            "trust": trust,
            "email": _strings("person", customer, yes(0.7)) + "@example.com",
            "email_key": _strings("person", customer, yes(0.7)) + "@example.com",
            "phone": _strings("+4420", rng.integers(10**7, 10**8, n), yes(0.5)),
            "loyalty_id": _strings("L", customer, yes(0.2)),
            "first_name": first,
            "last_name": last,
            "birth_date": pd.Series(
                (np.datetime64("1950-01-01") + rng.integers(0, 20000, n)).astype("datetime64[us]")
            ).where(yes(0.3)),
            "street": _strings("Street ", rng.integers(1, 999, n), yes(0.6)),
            "city": _strings("City", rng.integers(0, 500, n), yes(0.65)),
            "region": _strings("R", rng.integers(0, 50, n), yes(0.4)),
            "postal_code": _strings("P", rng.integers(10000, 99999, n), yes(0.6)),
            "country": pd.Series(np.where(yes(0.5), "GB", "DE")).where(yes(0.7)),
            "loyalty_tier": pd.Series(np.where(yes(0.2), "gold", "silver")).where(yes(0.2)),
            "loyalty_points": pd.Series(rng.integers(0, 10000, n)).astype("Int64").where(yes(0.2)),
            "created_at": created,
            "updated_at": updated,
            "email_opt_in": _flags(rng, n, 0.4, 0.3),
            "email_opt_in_confirmed_at": confirmed_email,
            "sms_opt_in": _flags(rng, n, 0.2, 0.5),
            "sms_opt_in_confirmed_at": _instants(rng, n, yes(0.1)),
            "ads_opt_out": _flags(rng, n, 0.05, 0.6),
        }
    )
    records["seen_at"] = records["updated_at"].fillna(records["created_at"])
    activity = pd.DataFrame(
        {
            "customer_id": records["customer_id"],
            "occurred_at": _instants(rng, n, np.ones(n, bool)),
        }
    )
    return records, activity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from cdp_assets.identity.golden import golden_profiles

    start = time.perf_counter()
    records, activity = synthetic_records(args.records, args.seed)
    generated = time.perf_counter() - start
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    profiles = golden_profiles(records, activity)
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    print(f"records:     {len(records):,}  (cores: {os.cpu_count()})")
    print(f"customers:   {len(profiles):,}")
    print(f"generation:  {generated:8.1f} s   peak {rss_before:,.0f} MB")
    print(
        f"golden:      {seconds:8.1f} s   {len(records) / seconds:>12,.0f} records/s   "
        f"peak {peak:,.0f} MB (process)"
    )
    print(
        json.dumps(
            {
                "records": len(records),
                "customers": len(profiles),
                "generation_seconds": round(generated, 2),
                "golden_seconds": round(seconds, 2),
                "peak_rss_mb_before": round(rss_before),
                "peak_rss_mb": round(peak),
                "email_consent_rate": round(float(profiles["email_consent"].mean()), 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
