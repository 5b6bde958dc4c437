"""Benchmark: customer features, RFM and cohorts on a synthetic core warehouse.

    .venv/bin/python bench/analytics.py --customers 1000000 [--workdir DIR]

Phase one (its own process, skipped when `--workdir` already holds the warehouse) builds a
DuckDB warehouse of `core` tables for N customers, generated vectorised with numpy and written
by DuckDB directly: profiles, ~2.3 orders per customer (55 % of buyers buy once),
~1.8 items per order, ~10 web events per customer in sessions, 0.3 tickets and 0.2 survey
answers per customer, some facts after `as_of` (which must be ignored). Phase two (a fresh
process, so its peak RSS is the analytics' own) times each step as the analytics assets run
it: features, RFM scores and segment summary, cohorts, acquisition comparison, and — outside
the target — the plots and writing the features table inside the warehouse.
Target: features + RFM + cohorts for 1,000,000 customers in under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchlib import peak_rss_mb, run_phase

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever is installed

AS_OF = dt.date(2026, 11, 20)
DAY = 86_400.0
TARGET_STEPS = ("features", "rfm", "cohorts")

CHANNELS = ["web", "app", "store", "marketplace", "phone"]
CHANNEL_P = [0.45, 0.25, 0.22, 0.05, 0.03]
STATUSES = ["completed", "partially_refunded", "cancelled", "refunded", "pending"]
STATUS_P = [0.85, 0.04, 0.05, 0.04, 0.02]
CATEGORIES = [
    "shoes", "bags", "dresses", "tops", "trousers", "outerwear",
    "accessories", "beauty", "home", "sport", "kids", "jewellery",
]  # fmt: skip
EVENT_TYPES = [
    "page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout_started",
    "purchase", "login", "search",
]  # fmt: skip
EVENT_P = [0.28, 0.34, 0.13, 0.03, 0.05, 0.04, 0.04, 0.09]
TIERS = ["bronze", "silver", "gold", "platinum"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "CA"]


# -- synthetic warehouse ---------------------------------------------------------------------


def _epoch(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()


def _instants(seconds: np.ndarray) -> pd.Series:
    """Epoch seconds (NaN: none) as naive UTC datetimes; DuckDB casts them to TIMESTAMPTZ."""
    return pd.Series(pd.to_datetime(seconds, unit="s").astype("datetime64[us]"))


def _index_in_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, .. within each run of a `np.repeat(.., counts)` array."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def _labels(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _customer(column: str) -> str:
    return f"'C' || lpad(CAST({column} AS VARCHAR), 8, '0')"


def _create(con: Any, table: str, frame: pd.DataFrame, select: str) -> None:
    """`core.<table>` as `select`, which reads `frame` under the name `src`."""
    con.register("src", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE core.{table} AS {select}")
    finally:
        con.unregister("src")


def _profiles(con: Any, rng: np.random.Generator, n: int) -> None:
    member = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "cid": np.arange(n),
            "member": member,
            "tier": rng.choice(4, n, p=[0.5, 0.3, 0.15, 0.05]),
            "points": np.where(member, rng.integers(0, 20_000, n), -1),
            "email": rng.random(n) < 0.55,
            "sms": rng.random(n) < 0.2,
            "ads": rng.random(n) < 0.9,
            "country": rng.choice(len(COUNTRIES), n),
        }
    )
    _create(
        con,
        "customer_profiles",
        frame,
        f"""SELECT
            {_customer("cid")} AS customer_id,
            CASE WHEN member THEN 'L' || cid END AS loyalty_id,
            CASE WHEN member THEN {_labels(TIERS)}[tier + 1] END AS loyalty_tier,
            CASE WHEN member THEN points END AS loyalty_points,
            email AS email_consent, sms AS sms_consent, ads AS ads_consent,
            {_labels(COUNTRIES)}[country + 1] AS country
        FROM src""",
    )


def _orders(con: Any, rng: np.random.Generator, n: int) -> None:
    # 8 % never buy; of the buyers 55 % buy once, the others 2 + Poisson(2.3) times
    repeat = np.where(rng.random(n) < 0.55, 1, 2 + rng.poisson(2.3, n))
    counts = np.where(rng.random(n) < 0.92, repeat, 0)
    cid = np.repeat(np.arange(n), counts)
    k = _index_in_group(counts)
    start, end = _epoch(AS_OF) - 3 * 365 * DAY, _epoch(AS_OF) + DAY
    gaps = np.where(k == 0, 0.0, rng.exponential(75 * DAY, len(cid)))
    cumulative = np.cumsum(gaps)
    since_first = cumulative - cumulative[np.repeat(np.cumsum(counts) - counts, counts)]
    t = rng.uniform(start, end, n)[cid] + since_first
    keep = t < end + 30 * DAY  # the data runs a month past as_of
    m = int(keep.sum())
    amount = rng.lognormal(4.2, 0.7, m).round(2)
    orders = pd.DataFrame(
        {
            "oid": np.arange(m),
            "cid": cid[keep],
            "ordered_at": _instants(t[keep]),
            "channel": rng.choice(5, m, p=CHANNEL_P),
            "status": rng.choice(5, m, p=STATUS_P),
            "amount": amount,
        }
    )
    _create(
        con,
        "orders",
        orders,
        f"""SELECT
            {_customer("cid")} AS customer_id, 'shop' AS source,
            'O' || oid AS order_id, CAST(ordered_at AS TIMESTAMPTZ) AS ordered_at,
            {_labels(CHANNELS)}[channel + 1] AS channel, CAST(NULL AS VARCHAR) AS store_id,
            {_labels(STATUSES)}[status + 1] AS status, 'USD' AS currency,
            amount, amount AS amount_base,
            CASE WHEN status <= 1 THEN amount ELSE 0 END AS net_amount_base,
            status <= 1 AS is_purchase
        FROM src""",
    )
    lines = 1 + rng.poisson(0.8, m)
    oid = np.repeat(np.arange(m), lines)
    items = pd.DataFrame(
        {
            "oid": oid,
            "category": rng.choice(len(CATEGORIES), len(oid)),
            "quantity": 1 + rng.poisson(0.3, len(oid)),
            "price": rng.lognormal(3.5, 0.6, len(oid)).round(2),
        }
    )
    _create(
        con,
        "order_items",
        items,
        f"""SELECT
            o.customer_id, 'items' AS source, 'shop' AS order_source, o.order_id,
            'P' || i.category || '-' || (i.oid % 500) AS product_id,
            CAST(NULL AS VARCHAR) AS product_name,
            {_labels(CATEGORIES)}[i.category + 1] AS category, i.quantity,
            i.price AS unit_price, i.price AS unit_price_base, o.ordered_at, o.status
        FROM src i JOIN core.orders o ON o.order_id = 'O' || i.oid""",
    )


def _events(con: Any, rng: np.random.Generator, n: int) -> None:
    sessions = rng.poisson(3.0, n)
    sid_customer = np.repeat(np.arange(n), sessions)
    s = len(sid_customer)
    anonymous = rng.random(s) < 0.1
    start = rng.uniform(_epoch(AS_OF) - 2 * 365 * DAY, _epoch(AS_OF) + 5 * DAY, s)
    per_session = 1 + rng.poisson(2.3, s)
    sid = np.repeat(np.arange(s), per_session)
    k = _index_in_group(per_session)
    e = len(sid)
    types = np.where(
        k == 0, rng.choice(2, e, p=[0.6, 0.4]), rng.choice(len(EVENT_TYPES), e, p=EVENT_P)
    )
    events = pd.DataFrame(
        {
            "eid": np.arange(e),
            "sid": sid,
            "cid": np.where(anonymous[sid], -1, sid_customer[sid]),
            "type": types,
            "occurred_at": _instants(start[sid] + k * 60.0 * (1 + rng.exponential(2.0, e))),
        }
    )
    _create(
        con,
        "events",
        events,
        f"""SELECT
            CASE WHEN cid >= 0 THEN {_customer("cid")} END AS customer_id, 'web' AS source,
            'E' || eid AS event_id, 'A' || sid AS anonymous_id,
            {_labels(EVENT_TYPES)}[type + 1] AS event_type,
            CAST(occurred_at AS TIMESTAMPTZ) AS occurred_at,
            CAST(NULL AS VARCHAR) AS product_id, 'S' || sid AS session_id,
            CAST(NULL AS VARCHAR) AS url, CAST(NULL AS VARCHAR) AS utm_source,
            CAST(NULL AS VARCHAR) AS utm_medium, CAST(NULL AS VARCHAR) AS utm_campaign
        FROM src""",
    )


def _service(con: Any, rng: np.random.Generator, n: int) -> None:
    t = int(0.3 * n)
    opened = rng.uniform(_epoch(AS_OF) - 3 * 365 * DAY, _epoch(AS_OF) + 5 * DAY, t)
    hours = rng.lognormal(np.log(12.0), 1.2, t)
    resolved = np.where(rng.random(t) < 0.06, np.nan, opened + hours * 3600.0)
    tickets = pd.DataFrame(
        {
            "tid": np.arange(t),
            "cid": rng.integers(0, n, t),
            "opened_at": _instants(opened),
            "resolved_at": _instants(resolved),
            "category": rng.choice(5, t),
        }
    )
    _create(
        con,
        "support_tickets",
        tickets,
        f"""SELECT
            {_customer("cid")} AS customer_id, 'desk' AS source, 'T' || tid AS ticket_id,
            CAST(opened_at AS TIMESTAMPTZ) AS opened_at,
            CAST(resolved_at AS TIMESTAMPTZ) AS resolved_at,
            ['delivery', 'returns', 'payment', 'product', 'account'][category + 1] AS category,
            'email' AS channel,
            CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END AS status
        FROM src""",
    )
    r = int(0.2 * n)
    nps_p = np.array([2, 1, 1, 2, 2, 4, 6, 12, 20, 22, 28], dtype=float)
    surveys = pd.DataFrame(
        {
            "rid": np.arange(r),
            "cid": rng.integers(0, n, r),
            "submitted_at": _instants(
                rng.uniform(_epoch(AS_OF) - 2 * 365 * DAY, _epoch(AS_OF) + 5 * DAY, r)
            ),
            "nps": np.where(rng.random(r) < 0.1, -1, rng.choice(11, r, p=nps_p / nps_p.sum())),
            "csat": 1 + rng.choice(5, r, p=[0.05, 0.08, 0.17, 0.35, 0.35]),
        }
    )
    _create(
        con,
        "survey_responses",
        surveys,
        f"""SELECT
            {_customer("cid")} AS customer_id, 'survey' AS source, 'R' || rid AS response_id,
            CAST(submitted_at AS TIMESTAMPTZ) AS submitted_at,
            CASE WHEN nps >= 0 THEN nps END AS nps, csat,
            CAST(NULL AS VARCHAR) AS purchase_for, CAST(NULL AS VARCHAR) AS comment
        FROM src""",
    )


def generate(path: Path, customers: int, seed: int) -> dict:
    import duckdb

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA IF NOT EXISTS core")
    for build in (_profiles, _orders, _events, _service):
        build(con, rng, customers)
    rows = {
        table: con.execute(f"SELECT COUNT(*) FROM core.{table}").fetchone()[0]
        for table in (
            "customer_profiles", "orders", "order_items", "events", "support_tickets",
            "survey_responses",
        )
    }  # fmt: skip
    con.close()
    return {"seconds": round(time.perf_counter() - start, 1), "rows": rows}


# -- the timed analytics ---------------------------------------------------------------------


def analytics(path: Path) -> dict:
    from cdp_assets.analytics.cohorts import (
        acquisition_comparison,
        cohorts,
        customer_acquisition,
        retention_heatmap,
    )
    from cdp_assets.analytics.features import customer_features, customer_features_sql
    from cdp_assets.analytics.rfm import rfm_grid_plot, rfm_scores, segment_summary
    from cdp_assets.config import AnalyticsConfig
    from cdp_assets.warehouse import TableRef, Warehouse

    config = AnalyticsConfig()
    warehouse = Warehouse(f"duckdb:///{path}")
    steps: dict[str, float] = {}
    results: dict[str, Any] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        results[name] = step()
        steps[name] = round(time.perf_counter() - start, 2)
        return results[name]

    with warehouse.transaction() as session:
        features = timed(
            "features", lambda: customer_features(session, AS_OF, config.support_sla_hours)
        )
        rfm = timed("rfm", lambda: rfm_scores(features, config.rfm_segments))
        timed("segment_summary", lambda: segment_summary(rfm))
        cohort_rows = timed("cohorts", lambda: cohorts(session, AS_OF))
        timed(
            "acquisition_comparison",
            lambda: acquisition_comparison(
                customer_acquisition(session, AS_OF, config.value_horizons_days),
                AS_OF,
                config.holiday_windows,
                config.value_horizons_days,
            ),
        )
        timed(
            "plots",
            lambda: (rfm_grid_plot(rfm, config.rfm_segments), retention_heatmap(cohort_rows)),
        )
        timed(
            "features_table_in_warehouse",
            lambda: session.replace_table_as(
                TableRef("analytics", "customer_features"),
                customer_features_sql(AS_OF, "duckdb", config.support_sla_hours),
            ),
        )
    summary = results["segment_summary"]
    return {
        "steps": steps,
        "customers": len(features),
        "buyers": len(rfm),
        "cohort_rows": len(cohort_rows),
        "segments": dict(zip(summary["segment"], summary["customers"].astype(int), strict=True)),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="kept (and reused) when given")
    parser.add_argument("--phase", choices=["generate", "analytics"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "generate":
        print(json.dumps(generate(args.db, args.customers, args.seed)))
        return 0
    if args.phase == "analytics":
        print(json.dumps(analytics(args.db)))
        return 0

    root = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_analytics_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    db = root / f"core_{args.customers}_{args.seed}.duckdb"
    try:
        if not db.exists():
            generated = run_phase(
                __file__, "generate", "--db", str(db), "--customers", str(args.customers),
                "--seed", str(args.seed),
            )  # fmt: skip
            rows = ", ".join(f"{t} {n:,}" for t, n in generated["rows"].items())
            print(f"generated in {generated['seconds']} s: {rows}")
        result = run_phase(__file__, "analytics", "--db", str(db))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    steps = result["steps"]
    target = sum(steps[s] for s in TARGET_STEPS)
    print(
        f"customers:        {result['customers']:,}  (buyers {result['buyers']:,}; cores: {os.cpu_count()})"
    )
    for name, seconds in steps.items():
        print(f"  {name:<28} {seconds:8.2f} s")
    print(f"features + RFM + cohorts: {target:8.2f} s   (target < 120 s)")
    print(f"all steps:                {sum(steps.values()):8.2f} s")
    print(f"peak RSS:                 {result['peak_rss_mb']:,} MB")
    print(json.dumps({"customers": args.customers, "target_seconds": round(target, 2), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
