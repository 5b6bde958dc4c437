"""Benchmark: sales forecasting (issue #14) — accuracy on the demo, speed at 5,000,000 orders.

    .venv/bin/python bench/forecast.py [--config cdp.yaml] [--as-of 2026-11-20]
    .venv/bin/python bench/forecast.py --orders 5000000 [--workdir DIR] [--seed 42]

Without --orders: reads the daily sales of the warehouse of `--config` (default the repo's
cdp.yaml, i.e. the `make demo` warehouse warehouse/cdp.duckdb) as of `--as-of`, runs
`forecast_sales` with the configured `models.forecast` and prints the backtest per level: the
chosen (reconciled) models' MASE against seasonal naive's and the 80 % / 95 % interval
coverage (each origin left out of its own calibration). Targets: >= 15 % better MASE than
seasonal naive at total and category level; 80 % coverage within 75-85 %.

With --orders N: writes a synthetic DuckDB warehouse (core.orders and core.order_items in the
core tables' shape: 3 years, yearly and weekly seasonality, a trend, 3 channels, 12 stores,
10 categories, 1-3 lines per order) and times, in a fresh process, the whole forecast as the
asset runs it (daily sales SQL + models + backtest + daily spread) and its peak RSS.
Target: < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchlib import peak_rss_mb, run_phase  # noqa: E402
from cdp_assets.config import load_config  # noqa: E402
from cdp_assets.config.analytics import AnalyticsConfig  # noqa: E402
from cdp_assets.config.forecast import ForecastConfig  # noqa: E402
from cdp_assets.config.loader import warehouse_url  # noqa: E402
from cdp_assets.defs.ml.inputs import resolved_orders  # noqa: E402
from cdp_assets.forecast.backtest import CHOSEN  # noqa: E402
from cdp_assets.forecast.customer_based import CustomerBasedOrdersForecaster  # noqa: E402
from cdp_assets.forecast.daily_sales import load_daily_sales  # noqa: E402
from cdp_assets.forecast.models import CUSTOMER_BASED  # noqa: E402
from cdp_assets.forecast.sales import forecast_sales  # noqa: E402
from cdp_assets.warehouse import Warehouse  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
TIMEZONE = "America/New_York"


def synthetic_warehouse(path: Path, orders: int, seed: int) -> None:
    """core.orders and core.order_items with `orders` orders over 3 years up to AS_OF."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute("CREATE SCHEMA IF NOT EXISTS core")
    con.execute(
        f"""CREATE OR REPLACE TABLE days AS
        WITH d AS (
            SELECT CAST(DATE '{AS_OF}' - INTERVAL (i) DAY AS DATE) AS day, i FROM range(1095) t(i)
        ), w AS (
            SELECT day, (1 + 0.3 * (1095 - i) / 365.0)
                * (1 + 0.8 * exp(-power((dayofyear(day) - 330) / 12.0, 2))
                     + 0.3 * exp(-power((dayofyear(day) - 350) / 8.0, 2)))
                * (CASE WHEN dayofweek(day) IN (0, 6) THEN 1.3 ELSE 1.0 END) AS weight
            FROM d
        )
        SELECT day, CAST(round({orders} * weight / SUM(weight) OVER ()) AS BIGINT) AS n FROM w"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE core.orders AS
        WITH o AS (SELECT day, unnest(range(n)) AS k FROM days),
        r AS (SELECT day, row_number() OVER () AS i, random() AS u, random() AS v FROM o)
        SELECT 'o' || i AS order_id, 'c' || (i % 700000) AS customer_id,
            CAST(day AS TIMESTAMP) + to_seconds(CAST(floor(v * 86400) AS BIGINT)) AS ts,
            CASE WHEN u < 0.7 THEN 'web' WHEN u < 0.85 THEN 'app' ELSE 'store' END AS channel,
            CASE WHEN u >= 0.85 THEN 's' || CAST(floor(v * 12) AS INTEGER) END AS store_id,
            round(15 + 120 * random(), 2) AS net_amount_base, TRUE AS is_purchase
        FROM r"""
    )
    con.execute(
        "ALTER TABLE core.orders ADD COLUMN ordered_at TIMESTAMPTZ; "
        "UPDATE core.orders SET ordered_at = CAST(ts AS TIMESTAMPTZ); "
        "ALTER TABLE core.orders DROP COLUMN ts"
    )
    con.execute(
        """CREATE OR REPLACE TABLE core.order_items AS
        SELECT order_id, 'p' || CAST(floor(random() * 500) AS INTEGER) AS product_id,
            'cat' || CAST(floor(random() * 10) AS INTEGER) AS category,
            1 + CAST(floor(random() * 3) AS INTEGER) AS quantity,
            round(5 + 60 * random(), 2) AS unit_price_base
        FROM (SELECT order_id, unnest(range(1 + CAST(floor(random() * 3) AS INTEGER)))
              FROM core.orders)"""
    )
    con.execute("DROP TABLE days")
    con.close()


def run_forecast(url: str, as_of: dt.date, timezone: str, settings: ForecastConfig, windows):
    """As the asset runs it: daily sales in SQL, the customer-based model from the resolved
    orders (when configured), then every model, the backtest and the daily spread."""
    started = time.perf_counter()
    with Warehouse(url, read_only=True).transaction() as session:
        daily = load_daily_sales(session, as_of, timezone, with_items=True)
        orders = resolved_orders(session) if CUSTOMER_BASED in settings.models else None
    sql_seconds = time.perf_counter() - started
    forecaster = (
        None
        if orders is None
        else CustomerBasedOrdersForecaster.from_resolved_orders(orders, timezone)
    )
    result = forecast_sales(daily, as_of, settings, windows, forecaster)
    return result, sql_seconds, time.perf_counter() - started


def report(result) -> dict:  # noqa: ANN001 - SalesForecast
    table = result.backtest
    print(table.round(3).to_string(index=False))
    print("\nper level: chosen vs seasonal naive")
    figures = {}
    for level in dict.fromkeys(table["level"]):
        chosen = result.figure(level, CHOSEN, "mase")
        naive = result.figure(level, "seasonal_naive", "mase")
        cov80 = result.figure(level, CHOSEN, "coverage_80")
        cov95 = result.figure(level, CHOSEN, "coverage_95")
        figures[level] = {"mase": chosen, "naive": naive, "coverage_80": cov80}
        print(
            f"  {level:9s} MASE {chosen:.3f} vs {naive:.3f} ({1 - chosen / naive:+.1%} better)"
            f"  coverage 80 % {cov80:.1%}  95 % {cov95:.1%}"
        )
    chosen = result.errors.loc[result.errors["model"] == CHOSEN]
    print(
        f"  all       coverage 80 % {chosen['inside_80'].astype(float).mean():.1%}"
        f"  95 % {chosen['inside_95'].astype(float).mean():.1%}"
    )
    print("\nchosen models:", result.chosen.groupby(["level", "model"]).size().to_dict())
    print("notes:", *result.notes, sep="\n  ")
    return figures


def demo(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    settings = config.models.forecast
    result, sql_s, total_s = run_forecast(
        warehouse_url(config),
        args.as_of,
        config.timezone,
        settings,
        config.analytics.holiday_windows,
    )
    print(
        f"demo warehouse {warehouse_url(config)} as of {args.as_of}: "
        f"{len(result.chosen)} series, SQL {sql_s:.1f} s, total {total_s:.1f} s\n"
    )
    report(result)


def phase_forecast(args: argparse.Namespace) -> None:
    settings = ForecastConfig()  # every model, the customer-based one included
    result, sql_s, total_s = run_forecast(
        f"duckdb:///{args.workdir / 'synthetic.duckdb'}",
        AS_OF,
        TIMEZONE,
        settings,
        AnalyticsConfig().holiday_windows,
    )
    print(
        json.dumps(
            {
                "sql_s": sql_s,
                "total_s": total_s,
                "series": len(result.chosen),
                "rows": len(result.rows),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def scale(args: argparse.Namespace) -> None:
    path = args.workdir / "synthetic.duckdb"
    started = time.perf_counter()
    if not path.exists() or args.rebuild:
        path.unlink(missing_ok=True)
        synthetic_warehouse(path, args.orders, args.seed)
    print(
        f"synthetic warehouse {path}: {args.orders:,} orders "
        f"({time.perf_counter() - started:.1f} s to write)"
    )
    figures = run_phase(__file__, "forecast", "--workdir", str(args.workdir))
    print(
        f"forecast (SQL + models + backtest + daily): {figures['total_s']:.1f} s "
        f"(daily sales SQL {figures['sql_s']:.1f} s), {figures['series']} series, "
        f"{figures['rows']:,} rows, peak RSS {figures['peak_rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "cdp.yaml")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF)
    parser.add_argument("--orders", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--phase", default=None)
    args = parser.parse_args()
    if args.phase == "forecast":
        phase_forecast(args)
    elif args.orders:
        if args.workdir is None:
            args.workdir = Path(tempfile.mkdtemp(prefix="bench_forecast_"))
        args.workdir.mkdir(parents=True, exist_ok=True)
        scale(args)
    else:
        demo(args)


if __name__ == "__main__":
    pd.set_option("display.width", 160)
    main()
