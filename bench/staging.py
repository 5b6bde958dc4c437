"""Staging throughput on synthetic raw frames (a measurement, not a test; not collected).

    .venv/bin/python bench/staging.py --orders 1000000 --customers 300000

Builds messy but realistic raw frames (mostly distinct ids, timestamps, emails and phones; a
few per cent of bad values; some repeated record ids), runs `stage_source` on one core and
prints rows per second and the outcome counts.

    .venv/bin/python bench/staging.py --increment /work/shared_data/p100k/landing

Incremental staging in the warehouse (issue #16): copies a demo landing folder, ingests every
source of the repository's cdp.yaml into a fresh DuckDB warehouse, then times the staging steps
(`stage_into_warehouse`, as the assets run them) three times: a full staging; after one more day
(a new raw batch per source of about 1 % of its rows — half new versions of existing records,
half new records — appended in SQL as raw ingestion appends a batch); and with nothing new.
Then a forced full re-stage of the same raw tables, and a comparison: the incremental tables
(staged, the source's staging quarantine and issues) must equal the re-staged ones row for row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchlib import peak_rss_mb

from cdp_assets.config import CDPConfig, SourceConfig, parse_config
from cdp_assets.staging import stage_source
from cdp_assets.warehouse import TableRef, Warehouse, WarehouseSession

STAGED_AT = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)

CONFIG = {
    "base_currency": "USD",
    "fx_rates": {"EUR": 1.08, "GBP": 1.27},
    "timezone": "America/New_York",
    "default_country": "US",
    "sources": [
        {
            "name": "shop_orders",
            "kind": "orders",
            "format": "csv",
            "path": "orders/*.csv",
            "columns": {
                "order_id": "order_number",
                "customer_ref": "customer_id",
                "email": "email",
                "ordered_at": "created_at",
                "amount": "total",
                "currency": "currency",
                "status": "status",
                "channel": "channel",
                "store_id": "store",
            },
        },
        {
            "name": "shop_customers",
            "kind": "customers",
            "format": "csv",
            "path": "customers/*.csv",
            "columns": {
                "source_record_id": "id",
                "email": "email",
                "phone": "phone",
                "first_name": "first_name",
                "last_name": "last_name",
                "birth_date": "dob",
                "street": "street",
                "city": "city",
                "postal_code": "zip",
                "country": "country",
                "created_at": "created_at",
                "updated_at": "updated_at",
                "email_opt_in": "accepts_marketing",
                "email_opt_in_confirmed_at": "marketing_confirmed_at",
                "loyalty_points": "points",
            },
        },
    ],
}


def _lineage(n: int, rng: np.random.Generator) -> dict[str, object]:
    files = np.where(np.arange(n) < n // 2, "batch_1.csv", "batch_2.csv")
    t0 = pd.Timestamp("2026-11-01 02:00", tz="UTC")
    return {
        "_file": pd.array(files, dtype="string"),
        "_line": pd.array(np.arange(n) % (n // 2 + 1) + 2, dtype="Int64"),
        "_batch_id": pd.array(np.where(np.arange(n) < n // 2, "b1", "b2"), dtype="string"),
        "_ingested_at": pd.Series(np.where(np.arange(n) < n // 2, t0, t0 + pd.Timedelta(days=1)))
        .astype("datetime64[us, UTC]")
        .to_numpy(),
        "_row_hash": pd.array(rng.integers(0, 2**62, n), dtype="Int64"),
    }


def _mostly_unique(n: int, rng: np.random.Generator, resent: float = 0.03) -> np.ndarray:
    """Ids 0..n-1 shuffled, with `resent` of them repeating an earlier id (a new version)."""
    ids = rng.permutation(n)
    again = rng.random(n) < resent
    ids[again] = rng.choice(ids[: max(1, n // 2)], int(again.sum()))
    return ids


def _messy(
    values: np.ndarray, rng: np.random.Generator, share: float, junk: list[str]
) -> np.ndarray:
    out = values.astype(object)
    bad = rng.random(len(out)) < share
    out[bad] = rng.choice(np.array(junk, dtype=object), int(bad.sum()))
    return out


def orders_frame(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.char.add("SO-", _mostly_unique(n, rng).astype(str))
    seconds = rng.integers(0, 3 * 365 * 86400, n)
    created = pd.to_datetime(seconds, unit="s", origin=pd.Timestamp("2023-11-01"))
    created_text = created.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(object)
    created_text = _messy(created_text, rng, 0.01, ["2025-02-30T10:00:00", "yesterday", ""])
    total = np.round(rng.gamma(2.0, 40.0, n), 2).astype(str)
    total = _messy(total, rng, 0.01, ["-12.00", "abc", "99999999"])
    customers = np.char.add("C", rng.integers(0, n // 3, n).astype(str))
    emails = np.char.add(
        np.char.add("user", rng.integers(0, n // 3, n).astype(str)), "@example-shop.com"
    )
    frame = {
        "order_number": ids.astype(object),
        "customer_id": customers.astype(object),
        "email": emails.astype(object),
        "created_at": created_text,
        "total": total,
        "currency": rng.choice(
            np.array(["USD", "usd", "EUR", "GBP", "JPY", None], dtype=object),
            n,
            p=[0.6, 0.1, 0.15, 0.1, 0.01, 0.04],
        ),
        "status": rng.choice(
            np.array(
                ["completed", "Complete", "canceled", "refunded", "pending", "??"], dtype=object
            ),
            n,
            p=[0.7, 0.1, 0.05, 0.05, 0.09, 0.01],
        ),
        "channel": rng.choice(np.array(["web", "POS", "app", "in-store"], dtype=object), n),
        "store": rng.choice(np.array([None, "S1", "S2", "S3"], dtype=object), n),
        "coupon": rng.choice(np.array([None, "WELCOME10", "BF2025"], dtype=object), n),
    }
    df = pd.DataFrame({k: pd.array(v, dtype="string") for k, v in frame.items()})
    for k, v in _lineage(n, rng).items():
        df[k] = v
    return df


def customers_frame(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.char.add("C", _mostly_unique(n, rng).astype(str))
    first = rng.choice(np.array(["Anna", "John", "Zoë", "王", "María", "Li", "Tom", "Olga"]), n)
    last = rng.choice(np.array(["Smith", "Müller", "小明", "García", "Nguyen", "O'Brien"]), n)
    domains = np.array(
        [
            "gmail.com",
            "yahoo.com",
            "outlook.com",
            "GoogleMail.com",
            "web.de",
            "mailinator.com",
            "example.com",
        ]
    )
    local = np.char.add(
        np.char.add(np.char.lower(first.astype(str)), "."), rng.integers(0, 10**7, n).astype(str)
    )
    emails = np.char.add(
        np.char.add(local, "@"),
        rng.choice(domains, n, p=[0.4, 0.15, 0.2, 0.05, 0.15, 0.025, 0.025]),
    )
    emails = _messy(emails, rng, 0.02, ["not-an-email", "foo@", "", "a@a.com"])
    area = rng.integers(201, 990, n)
    exchange = rng.integers(200, 1000, n)
    line = rng.integers(0, 10000, n)
    fmt = rng.integers(0, 4, n)
    phones = np.where(
        fmt == 0,
        [f"({a}) {e}-{x:04d}" for a, e, x in zip(area, exchange, line, strict=True)],
        np.where(
            fmt == 1,
            [f"+1 {a} {e} {x:04d}" for a, e, x in zip(area, exchange, line, strict=True)],
            np.where(
                fmt == 2,
                [f"{a}.{e}.{x:04d}" for a, e, x in zip(area, exchange, line, strict=True)],
                [f"+44 20 7946 {x:04d}" for x in line],
            ),
        ),
    ).astype(object)
    phones = _messy(phones, rng, 0.02, ["0000000000", "12345", "n/a", "555-1234"])
    dob = (
        pd.to_datetime(rng.integers(-20000, 12000, n), unit="D")
        .strftime("%Y-%m-%d")
        .to_numpy(object)
    )
    dob = _messy(dob, rng, 0.01, ["1985-02-30", "2024-01-01", "unknown"])
    created = pd.to_datetime(
        rng.integers(0, 5 * 365 * 86400, n), unit="s", origin=pd.Timestamp("2021-01-01")
    )
    updated = created + pd.to_timedelta(rng.integers(0, 200 * 86400, n), unit="s")
    frame = {
        "id": ids.astype(object),
        "email": emails,
        "phone": phones,
        "first_name": first.astype(object),
        "last_name": last.astype(object),
        "dob": dob,
        "street": np.char.add(rng.integers(1, 999, n).astype(str), " Main St").astype(object),
        "city": rng.choice(np.array(["Boston", "New York", "London", "Berlin"], dtype=object), n),
        "zip": rng.integers(1000, 99999, n).astype(str).astype(object),
        "country": rng.choice(
            np.array(["US", "USA", "United States", "GB", "DE", None], dtype=object), n
        ),
        "created_at": created.strftime("%Y-%m-%d %H:%M:%S").to_numpy(object),
        "updated_at": updated.strftime("%Y-%m-%d %H:%M:%S").to_numpy(object),
        "accepts_marketing": rng.choice(np.array(["true", "false", "yes", None], dtype=object), n),
        "marketing_confirmed_at": rng.choice(
            np.array(["2024-03-01T10:00:00Z", None], dtype=object), n
        ),
        "points": rng.integers(0, 5000, n).astype(str).astype(object),
        "favourite_store": rng.choice(np.array(["S1", "S2", None], dtype=object), n),
    }
    df = pd.DataFrame({k: pd.array(v, dtype="string") for k, v in frame.items()})
    for k, v in _lineage(n, rng).items():
        df[k] = v
    return df


def measure(kind: str, raw: pd.DataFrame) -> dict[str, object]:
    config = parse_config(CONFIG, file=Path("cdp.yaml"), base_dir=Path("."))
    source = config.sources_of_kind(kind)[0]
    start = time.perf_counter()
    result = stage_source(raw, source, config, STAGED_AT)
    seconds = time.perf_counter() - start
    return {
        "kind": kind,
        "rows": len(raw),
        "seconds": round(seconds, 2),
        "rows_per_second": int(len(raw) / seconds),
        "staged": result.rows_staged,
        "quarantined": result.rows_quarantined,
        "superseded": result.superseded,
        "issues": len(result.issues),
    }


# ------------------------------------------------------------------ incremental, in the warehouse

DAY_SHARE = 100  # one raw row in DAY_SHARE is sent again the next day (≈1 % new rows)
DAY_BATCH = "bench-day-2"


def _id_column(source: SourceConfig) -> str | None:
    """The raw column of the source's record id (order items: of the order id), if mapped."""
    from cdp_assets.contracts.canonical import RECORD_ID_FIELD
    from cdp_assets.ingest import raw_column_name

    column = source.columns.get(RECORD_ID_FIELD[source.kind])
    return raw_column_name(column) if column else None


def land_one_more_day(session: WarehouseSession, source: SourceConfig) -> int:
    """Appends a new raw batch: every DAY_SHARE-th raw row again, with fresh lineage; every
    other one of them under a new record id (a new record), the rest as a new version. The
    batch is recorded in the file ledger, as raw ingestion records every batch."""
    from cdp_assets.warehouse.warehouse import quote_ident

    ref = TableRef("raw", source.name)
    if not session.table_exists(ref):
        return 0
    id_column = _id_column(source)
    new_id = (
        f"CASE WHEN n % 2 = 0 THEN {quote_ident(id_column)} || '-d2' "
        f"ELSE {quote_ident(id_column)} END AS {quote_ident(id_column)}, "
        if id_column
        else ""
    )
    session.conn.exec_driver_sql(
        f"INSERT INTO {ref.sql} BY NAME SELECT * EXCLUDE (n) REPLACE ({new_id}"
        f"'bench/day-2/{source.name}.csv' AS _file, n + 1 AS _line, "
        f"'{DAY_BATCH}' AS _batch_id, now() AS _ingested_at) FROM ("
        f"SELECT *, row_number() OVER (ORDER BY _file, _line) AS n FROM {ref.sql} "
        f"WHERE _line % {DAY_SHARE} = 7)"
    )
    rows = int(session.scalar(f"SELECT COUNT(*) FROM {ref.sql} WHERE _batch_id = '{DAY_BATCH}'"))
    _record_in_file_ledger(session, source, rows)
    return rows


def _record_in_file_ledger(session: WarehouseSession, source: SourceConfig, rows: int) -> None:
    """The file ledger row raw ingestion writes with every batch it appends."""
    from cdp_assets.contracts.canonical import LEDGER_DTYPES
    from cdp_assets.warehouse import coerce_frame

    now = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("us")
    entry = {
        "source": source.name,
        "file": f"bench/day-2/{source.name}.csv",
        "content_hash": DAY_BATCH,
        "batch_id": DAY_BATCH,
        "modified_at": now,
        "ingested_at": now,
        "status": "ingested",
        "rows_read": rows,
        "rows_loaded": rows,
    }
    ledger = coerce_frame(pd.DataFrame([entry]), LEDGER_DTYPES)
    session.append(TableRef("ops", "ingested_files"), ledger)


def _stage_every_source(wh: Warehouse, config: CDPConfig, **kwargs: object) -> dict[str, dict]:
    from cdp_assets.defs.ingestion.staging import stage_into_warehouse

    steps = {}
    for source in config.sources:
        start = time.perf_counter()
        plan, totals, staged = stage_into_warehouse(
            wh, source, config, dt.datetime.now(dt.UTC), **kwargs
        )
        steps[source.name] = {
            "seconds": round(time.perf_counter() - start, 2),
            "mode": plan.mode,
            "rows_in": totals.rows_in if totals else 0,
            "staged": staged,
        }
    return steps


_SNAPSHOT_WHERE = {
    "staged": None,
    "quarantine": "source = '{s}' AND stage = 'staging'",
    "issues": "source = '{s}'",
}


def _table_of(name: str, source: str) -> str:
    return {
        "staged": f"staging.{source}",
        "quarantine": "ops.quarantine",
        "issues": "ops.data_quality_issues",
    }[name]


def _keep_snapshot(session: WarehouseSession, config: CDPConfig) -> None:
    session.conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench")
    for source in config.sources:
        for name, where in _SNAPSHOT_WHERE.items():
            filter_ = f" WHERE {where.format(s=source.name)}" if where else ""
            session.conn.exec_driver_sql(
                f"CREATE OR REPLACE TABLE bench.{name}_{source.name} AS "
                f"SELECT * FROM {_table_of(name, source.name)}{filter_}"
            )


def _differences(session: WarehouseSession, config: CDPConfig) -> dict[str, int]:
    """Rows in one of (incremental, full re-stage) and not the other, per table and source."""
    out = {}
    for source in config.sources:
        for name, where in _SNAPSHOT_WHERE.items():
            filter_ = f" WHERE {where.format(s=source.name)}" if where else ""
            now = f"SELECT * FROM {_table_of(name, source.name)}{filter_}"
            kept = f"SELECT * FROM bench.{name}_{source.name}"
            out[f"{name}:{source.name}"] = int(
                session.scalar(
                    f"SELECT (SELECT COUNT(*) FROM ({now} EXCEPT ALL {kept}) a) + "
                    f"(SELECT COUNT(*) FROM ({kept} EXCEPT ALL {now}) b)"
                )
            )
    return out


def _total(steps: dict[str, dict]) -> float:
    return round(sum(s["seconds"] for s in steps.values()), 2)


def measure_increment(landing: Path, workdir: Path, compare: bool = True) -> dict[str, object]:
    from cdp_assets.config import load_config
    from cdp_assets.defs.ingestion.raw import ingest_into_warehouse

    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "cdp.yaml", workdir / "cdp.yaml")
    shutil.copytree(landing, workdir / "data" / "landing")
    config = load_config(workdir / "cdp.yaml")
    wh = Warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}")
    start = time.perf_counter()
    ingested_at = pd.Timestamp(dt.datetime.now(dt.UTC)).floor("us")
    for source in config.sources:
        ingest_into_warehouse(wh, source, config, "bench-day-1", ingested_at)
    ingest_seconds = round(time.perf_counter() - start, 2)

    full = _stage_every_source(wh, config)
    with wh.transaction() as session:
        day = {s.name: land_one_more_day(session, s) for s in config.sources}
    increment = _stage_every_source(wh, config)
    nothing = _stage_every_source(wh, config)
    restage: dict[str, dict] = {}
    differences: dict[str, int] = {}
    if compare:
        with wh.transaction() as session:
            _keep_snapshot(session, config)
        restage = _stage_every_source(wh, config, force_full=True)
        with wh.transaction() as session:
            differences = _differences(session, config)
    rows_raw = sum(wh.row_count(TableRef("raw", s.name)) for s in config.sources)
    return {
        "ingest_seconds": ingest_seconds,
        "raw_rows": rows_raw,
        "day_rows": sum(day.values()),
        "full_seconds": _total(full),
        "increment_seconds": _total(increment),
        "nothing_new_seconds": _total(nothing),
        "forced_full_seconds": _total(restage),
        "peak_rss_mb": round(peak_rss_mb()),
        "rows_differing_from_full_restage": sum(differences.values()) if compare else None,
        "steps": {"full": full, "increment": increment, "nothing_new": nothing},
        "differences": differences,
    }


def print_increment(figures: dict[str, object]) -> None:
    full, inc, nothing = (
        figures[k] for k in ("full_seconds", "increment_seconds", "nothing_new_seconds")
    )
    print(f"raw rows {figures['raw_rows']:,} (ingested in {figures['ingest_seconds']} s)")
    print(f"full staging       {full:8.2f} s")
    print(
        f"one more day       {inc:8.2f} s   ({figures['day_rows']:,} new raw rows; "
        f"{inc / full:.1%} of full)"
    )
    print(f"nothing new        {nothing:8.2f} s   ({nothing / full:.1%} of full)")
    print(f"forced full        {figures['forced_full_seconds']:8.2f} s")
    print(f"peak RSS           {figures['peak_rss_mb']:,} MB")
    print(
        "rows differing between incremental and full re-stage:",
        figures["rows_differing_from_full_restage"],
    )
    for phase in ("full", "increment", "nothing_new"):
        steps = figures["steps"][phase]
        print(
            f"  {phase:12s}",
            ", ".join(f"{k} {v['seconds']}s ({v['rows_in']:,} in)" for k, v in steps.items()),
        )
    print(json.dumps(figures, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--increment", type=Path, help="a demo landing folder (read only)")
    parser.add_argument("--workdir", type=Path, help="kept when given (--increment)")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the forced full re-stage (--increment)"
    )
    args = parser.parse_args()
    if args.increment:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cdp_bench_staging_"))
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            print_increment(measure_increment(args.increment, workdir, not args.no_compare))
        finally:
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
        return
    if args.orders:
        print(measure("orders", orders_frame(args.orders)))
    if args.customers:
        print(measure("customers", customers_frame(args.customers)))


if __name__ == "__main__":
    main()
