"""Benchmark: erasure of K people and the privacy trace check, on a demo brand of N people.

    .venv/bin/python bench/erasure.py --people 100000 [--requests 30] [--out bench/out/erasure]
        [--seed 42] [--history-days 730] [--reuse] [--no-profile]

Phases run in their own processes (so each peak RSS is its own), in `--out` (kept):

1. prepare — the demo set (default: the generator's 730 days of history), with the demo's own
   `privacy/erasure_requests.csv` moved out of the landing folder, then the real `nightly_refresh`
   job over everything but the `ml` and `ml_training` groups (as `make materialize` does
   first), so that raw, staging, core, analytics, activation and the export files exist. The
   warehouse and the exports are then copied to `pristine/` (`--reuse` restarts from there).
2. requests — K distinct customers of core.customer_profiles (with an email, a phone and one
   shop account, none of them shared), asked for erasure in turn by email (upper-cased), by
   phone, by customer id and by shop_accounts source record id.
3. erase — the `erase_personal_data` job. The functions the `ops/erasure_log` asset calls are
   wrapped with timers in this process only, so the step splits into resolution, deletion,
   export scrubbing and the trace check (warehouse + export files).
4. again — the landing lines naming those people delivered again as `again_*` files, then the
   `ingest_sources` job: rows suppressed per source.
5. recheck — `erase_personal_data` with no new request: its blocking check must still pass.
6. profile — on a copy of the pristine warehouse with the same requests staged: the domain
   functions called directly, with the time of every table in deletion and in the trace check.
7. (`--new-day`) newday — on a copy of the warehouse after phase 5, one more day lands
   (`python -m cdp_assets.demo --extra-day`: about 1 % new orders, items, web events and
   shop accounts) and the `ingest_sources` job ingests and stages it, the nightly trace check
   runs on it (untimed: what that night's erasure step proves), then a second day lands and
   is ingested and staged the same way; then, in a process of its own (so its peak RSS is the
   check's), nightly — the trace check of the second night, as the erasure step makes it
   with no new request (`checksums` + `verified_traces` over raw, staging and ops against the
   same list), timed wall and CPU, with how each table was covered and the rows read.

An independent scan (every text column of every table compared with the people's emails,
phones, customer ids and account ids in SQL) confirms that none is left after phases 3 and 4.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchlib import peak_rss_mb, run_phase, step_seconds

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whatever is installed

END_DATE = dt.date(2026, 11, 20)
NEW_DAY = END_DATE + dt.timedelta(days=1)  # the day `--new-day` lands
HISTORY_DAYS = 730  # the demo generator's default (two years)
WAREHOUSE_FILE = "warehouse.duckdb"
DEMO_REQUESTS = Path("privacy") / "erasure_requests.csv"
BENCH_REQUESTS = Path("privacy") / "bench_erasure_requests.csv"
ERASURE_JOB = "erase_personal_data"
ERASURE_STEP = "ops__erasure_log"
# The functions the ops/erasure_log asset calls, timed by name in the erase phases.
TIMED = (
    "load_suppressed",
    "finish_interrupted_scrubs",
    "checksums",
    "_scrub_exports",
    "_erase_from_model_store",
    "warehouse_traces",  # older code: every table read and hashed
    "verified_traces",  # newer code: through the trace ledger
    "_file_traces",  # exports and model store
    "export_traces",
)
# The functions of the erasure domain module `erase_pending` calls, timed there.
TIMED_DOMAIN = (
    "pending_requests",
    "read_identity_tables",
    "resolve",  # older code: once per request
    "resolve_all",  # newer code: every request at once
    "erase_subjects",
    "append_suppression",
    "log_rows",
)
# The code measured: other people edit it while benches run, so each phase records it.
CODE = (
    "cdp_assets/privacy/erasure.py",
    "cdp_assets/privacy/trace.py",
    "cdp_assets/privacy/tables.py",
    "cdp_assets/privacy/identifiers.py",
    "cdp_assets/privacy/suppression.py",
    "cdp_assets/privacy/export_scrub.py",
    "cdp_assets/defs/privacy/erasure.py",
)

# What `resolve` calls, timed in the profile phase (source_field_values runs inside the first
# and the last of the others: it normalises every email and phone of the frame it is given).
RESOLVE_PARTS = (
    "_record_values",
    "xref_values",
    "_fact_values",
    "matches",
    "_add_rows",
    "_add_facts",
    "_add_staged_facts",
    "_add_ad_hashes",
    "source_field_values",
)


# -- environment -----------------------------------------------------------------------------


def configure(root: Path, warehouse: Path | None = None) -> None:
    os.environ["CDP_CONFIG"] = str(root / "cdp.yaml")
    os.environ["CDP_WAREHOUSE_URL"] = f"duckdb:///{warehouse or root / WAREHOUSE_FILE}"
    os.environ["CDP_AS_OF"] = END_DATE.isoformat()


def code_version() -> dict[str, str]:
    """Short SHA-256 and modification time of each privacy source file."""
    import hashlib

    version = {}
    for name in CODE:
        path = REPO / name
        if path.exists():
            stamp = dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%H:%M:%S")
            version[name] = f"{hashlib.sha256(path.read_bytes()).hexdigest()[:10]} {stamp}"
    return version


def landing(root: Path) -> Path:
    return root / "data" / "landing"


def _definitions() -> Any:
    from cdp_assets.definitions import defs

    return defs()


def _run(job: str, **kwargs: Any) -> tuple[Any, dict[str, float], float]:
    """Runs a job of the real Definitions in process: result, step seconds, wall seconds."""
    import dagster as dg

    from cdp_assets.warehouse import dispose_engines

    definitions = _definitions()
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False, **kwargs
        )
        wall = time.perf_counter() - started
        steps = step_seconds(instance, result.run_id)
    dispose_engines()
    return result, steps, round(wall, 1)


# -- phase 1: demo and pipeline --------------------------------------------------------------


def prepare(root: Path, people: int, seed: int, history_days: int) -> dict:
    import dagster as dg

    from cdp_assets.demo import generate_demo

    started = time.perf_counter()
    generate_demo(
        people=people, seed=seed, end_date=END_DATE, out=root / "data", history_days=history_days
    )
    demo_seconds = round(time.perf_counter() - started, 1)
    demo_requests = landing(root) / DEMO_REQUESTS
    if demo_requests.exists():  # the bench writes its own requests after the first refresh
        shutil.move(demo_requests, root / "demo_erasure_requests.csv.aside")
    shutil.copy(REPO / "cdp.yaml", root / "cdp.yaml")
    configure(root)
    graph = _definitions().resolve_asset_graph()
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups("ml", "ml_training")
    keys = sorted(selection.resolve(graph))
    result, steps, wall = _run("nightly_refresh", asset_selection=keys)
    if not result.success:
        raise SystemExit("nightly_refresh (without the ml groups) failed")
    pristine = root / "pristine"
    shutil.rmtree(pristine, ignore_errors=True)
    pristine.mkdir()
    shutil.copy(root / WAREHOUSE_FILE, pristine / WAREHOUSE_FILE)
    shutil.copytree(root / "exports", pristine / "exports")
    return {
        "demo_seconds": demo_seconds,
        "pipeline_seconds": wall,
        "assets": len(keys),
        "slowest_steps": dict(sorted(steps.items(), key=lambda kv: -kv[1])[:6]),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def restore(root: Path) -> None:
    """Back to the state right after `prepare` (for --reuse)."""
    pristine = root / "pristine"
    shutil.copy(pristine / WAREHOUSE_FILE, root / WAREHOUSE_FILE)
    shutil.rmtree(root / "exports", ignore_errors=True)
    shutil.copytree(pristine / "exports", root / "exports")
    for path in landing(root).rglob("again_*"):
        path.unlink()
    for day in (NEW_DAY, NEW_DAY + dt.timedelta(days=1)):  # the new days' files (phase 7)
        for path in landing(root).rglob(f"*_{day}.*"):
            path.unlink()
    (landing(root) / BENCH_REQUESTS).unlink(missing_ok=True)


# -- phase 2: the requests -------------------------------------------------------------------


PICK_SQL = """
SELECT p.customer_id, p.email, p.phone, MIN(x.source_record_id) AS account_id
FROM core.customer_profiles p
JOIN core.customer_xref x
  ON x.customer_id = p.customer_id AND x.source = 'shop_accounts' AND x.identity_kind = 'record'
WHERE p.email IS NOT NULL AND p.phone IS NOT NULL
  AND p.email_key NOT IN (SELECT value FROM core.shared_identifiers)
  AND p.phone NOT IN (SELECT value FROM core.shared_identifiers)
GROUP BY p.customer_id, p.email, p.phone
HAVING COUNT(DISTINCT x.source_record_id) = 1
ORDER BY md5(p.customer_id)
LIMIT :k
"""


def requests(root: Path, k: int) -> dict:
    import pandas as pd

    from cdp_assets.warehouse import Warehouse

    configure(root)
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    people = wh.query(PICK_SQL, {"k": k})
    if len(people) < k:
        raise SystemExit(f"only {len(people)} customers fit the request mix, {k} asked")
    ids = people["customer_id"].tolist()
    listed = ", ".join(f"'{c}'" for c in ids)
    # Every identifier their customer records carry, for the files delivered again.
    records = wh.query(
        f"SELECT x.customer_id, x.source, x.source_record_id FROM core.customer_xref x "
        f"WHERE x.customer_id IN ({listed}) AND x.identity_kind = 'record'"
    )
    loyalty = wh.query(
        "SELECT DISTINCT loyalty_id FROM core.fact_identities "
        f"WHERE customer_id IN ({listed}) AND loyalty_id IS NOT NULL"
    )
    rows = []
    by = ("email", "phone", "customer_id", "source_record_id")
    for i, person in enumerate(people.itertuples(index=False)):
        row = dict.fromkeys(["email", "phone", "customer_id", "source", "source_record_id"], "")
        kind = by[i % len(by)]
        if kind == "email":
            row["email"] = person.email.upper()  # any spelling of the address
        elif kind == "phone":
            row["phone"] = person.phone
        elif kind == "customer_id":
            row["customer_id"] = person.customer_id
        else:
            row.update(source="shop_accounts", source_record_id=person.account_id)
        rows.append({"request_id": f"B-{i + 1:04d}", **row, "requested_at": "2026-11-19T09:00:00Z"})
    target = landing(root) / BENCH_REQUESTS
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(target, index=False)
    needles = {
        "customer_id": ids,
        "email": sorted({e.lower() for e in people["email"]}),
        "phone": sorted(set(people["phone"])),
        "record_id": sorted(set(records["source_record_id"].astype(str))),
        "loyalty_id": sorted(set(loyalty["loyalty_id"].astype(str))),
    }
    (root / "people.json").write_text(json.dumps(needles, indent=1), encoding="utf-8")
    return {
        "people": len(people),
        "by": {b: sum(1 for i in range(len(people)) if by[i % 4] == b) for b in by},
        "customer_records": len(records),
    }


# -- independent scan ------------------------------------------------------------------------


def independent_hits(root: Path) -> dict[str, int]:
    """Cells equal (trimmed, case-insensitive) to one of the people's emails, phones,
    customer ids or record ids, in every text column of every table, by plain SQL."""
    from cdp_assets.warehouse import Warehouse

    needles = json.loads((root / "people.json").read_text(encoding="utf-8"))
    values = sorted(
        {
            v.lower()
            for kind in ("customer_id", "email", "phone", "record_id")
            for v in needles[kind]
        }
    )
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    columns = wh.query(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('raw', 'staging', 'ops', 'core', 'analytics', 'ml', "
        "'activation') AND data_type = 'VARCHAR' "
        "AND table_schema || '.' || table_name NOT IN ('ops.suppression_list', 'ops.erasure_log')"
    )
    hits: dict[str, int] = {}
    with wh.transaction() as session:
        for schema, table, column in columns.itertuples(index=False):
            found = session.scalar(
                f'SELECT COUNT(*) FROM "{schema}"."{table}" '
                f'WHERE lower(trim("{column}")) IN ({listed})'
            )
            if found:
                hits[f"{schema}.{table}.{column}"] = int(found)
    return hits


# -- phases 3 and 5: the erasure job ---------------------------------------------------------


class Clock:
    """Accumulated seconds (wall and CPU) and calls of functions wrapped in a module's
    namespace."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, module: Any, name: str) -> None:
        fn = getattr(module, name, None)
        if fn is None:
            return  # not in this version of the code

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), cpu_seconds()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.cpu[name] += cpu_seconds() - cpu
                self.calls[name] += 1

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        setattr(module, name, timed)


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system, every thread): unlike wall time, it
    does not grow when other work shares the cores."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 1)


def _value(meta: Any) -> Any:
    return getattr(meta, "value", meta)


def erase(root: Path, verify: bool) -> dict:
    from cdp_assets.defs.privacy import erasure as privacy_defs

    configure(root)
    code = code_version()
    clock = Clock()
    from cdp_assets.privacy import erasure as privacy_domain

    for name in TIMED:
        clock.wrap(privacy_defs, name)
    for name in TIMED_DOMAIN:
        clock.wrap(privacy_domain, name)
    result, steps, wall = _run(ERASURE_JOB)
    meta: dict[str, Any] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.path == ["ops", "erasure_log"]:
            meta = {k: _value(v) for k, v in materialization.metadata.items()}
    checks = [
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == "no_erased_identifiers_remain"
    ]
    check = checks[0] if checks else None
    phases = {k: round(v, 2) for k, v in clock.seconds.items()}
    phases_cpu = {k: round(v, 1) for k, v in clock.cpu.items()}
    step = steps.get(ERASURE_STEP)
    files = "_file_traces" if "_file_traces" in phases else "export_traces"
    warehouse_check = phases.get("warehouse_traces", 0.0) + phases.get("verified_traces", 0.0)
    trace = warehouse_check + phases.get(files, 0.0) + phases.get("checksums", 0.0)
    touched = meta.get("tables_touched") or {}
    check_meta = {} if check is None else {k: _value(v) for k, v in check.metadata.items()}
    out = {
        "success": result.success,
        "job_wall_seconds": wall,
        "steps": steps,
        "erasure_step_seconds": step,
        "functions": phases,
        "functions_cpu": phases_cpu,
        "phase_cpu_seconds": cpu_seconds(),
        "calls": dict(clock.calls),
        "trace_check_seconds": round(trace, 2),
        "requests_processed": meta.get("requests_processed"),
        "people_erased": meta.get("people_erased"),
        "requests_without_match": meta.get("requests_without_match"),
        "rows_deleted": meta.get("rows_deleted"),
        "tables_touched": len(touched),
        "rows_deleted_by_table": touched,
        "export_rows_removed": meta.get("export_rows_removed"),
        "identifiers_suppressed": meta.get("identifiers_suppressed"),
        "check_passed": None if check is None else bool(check.passed),
        "check_tables_scanned": check_meta.get("tables_scanned"),
        "check_rows_scanned": check_meta.get("rows_scanned"),
        "check_files": check_meta.get("export_files_scanned", check_meta.get("files_scanned")),
        "check_tables_by_scan": check_meta.get("tables_by_scan"),
        "check_rows_read_in_full": check_meta.get("rows_read_in_full"),
        "check_files_by_scan": check_meta.get("files_by_scan"),
        "trace_files_seconds": phases.get(files, 0.0),
        "peak_rss_mb": round(peak_rss_mb()),
        "code": code,
    }
    if verify:
        out["independent_hits"] = independent_hits(root)
    return out


# -- phase 4: the same lines delivered again -------------------------------------------------


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class Matcher:
    """Does a landing line name one of the people? Field by field: an email, record id,
    customer id or loyalty id equal (case-insensitive), or a phone whose digits end the
    person's E.164 digits (national formats included)."""

    def __init__(self, needles: dict[str, list[str]]) -> None:
        self.exact = {
            v.lower()
            for kind in ("email", "record_id", "customer_id", "loyalty_id")
            for v in needles[kind]
        }
        self.phones = [_digits(p) for p in needles["phone"]]

    def field(self, value: object) -> bool:
        if value is None:
            return False
        text = str(value).strip().lower()
        if text in self.exact:
            return True
        digits = _digits(text).lstrip("0")
        return 8 <= len(digits) <= 15 and any(p.endswith(digits) for p in self.phones)

    def line(self, fields: list[object]) -> bool:
        return any(self.field(v) for v in fields)


def deliver_again(root: Path, matcher: Matcher) -> dict[str, int]:
    """Each landing file's lines naming one of the people (a CSV's header kept), written as a
    new file `again_<name>`: lines per source folder."""
    delivered: dict[str, int] = defaultdict(int)
    files = [p for p in landing(root).rglob("*") if p.suffix in (".csv", ".jsonl")]
    for path in sorted(files):
        if path.parent.name == "privacy" or path.name.startswith("again_"):
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        header = lines[:1] if path.suffix == ".csv" else []
        picked = []
        for line in lines[len(header) :]:
            if path.suffix == ".csv":
                fields: list[object] = next(csv.reader(io.StringIO(line)), [])
            else:
                try:
                    parsed = json.loads(line)
                except ValueError:
                    continue
                fields = list(parsed.values()) if isinstance(parsed, dict) else []
            if matcher.line(fields):
                picked.append(line)
        if picked:
            path.with_name("again_" + path.name).write_text("".join(header + picked), "utf-8")
            delivered[str(path.parent.relative_to(landing(root)))] += len(picked)
    return dict(delivered)


def again(root: Path) -> dict:
    from cdp_assets.warehouse import Warehouse

    configure(root)
    code = code_version()
    needles = json.loads((root / "people.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    delivered = deliver_again(root, Matcher(needles))
    scan_seconds = round(time.perf_counter() - started, 1)
    result, steps, wall = _run("ingest_sources")
    ledger = Warehouse(os.environ["CDP_WAREHOUSE_URL"]).query(
        "SELECT source, COUNT(*) AS files, SUM(rows_read) AS rows_read, "
        "SUM(rows_loaded) AS rows_loaded, SUM(rows_suppressed) AS rows_suppressed, "
        "SUM(rows_quarantined) AS rows_quarantined, SUM(exact_duplicates) AS exact_duplicates "
        "FROM ops.ingested_files WHERE batch_id LIKE :batch AND file LIKE '%again_%' "
        "GROUP BY source ORDER BY source",
        {"batch": f"%-{result.run_id[:8]}"},
    )
    per_source = {
        row.source: {k: int(getattr(row, k)) for k in ledger.columns if k != "source"}
        for row in ledger.itertuples(index=False)
    }
    raw_steps = {k: v for k, v in steps.items() if k.startswith("raw__")}
    staging_steps = {k: v for k, v in steps.items() if k.startswith("staging__")}
    return {
        "success": result.success,
        "lines_delivered": sum(delivered.values()),
        "lines_by_folder": delivered,
        "landing_scan_seconds": scan_seconds,
        "ingest_wall_seconds": wall,
        "raw_steps_seconds": round(sum(raw_steps.values()), 1),
        "staging_steps_seconds": round(sum(staging_steps.values()), 1),
        "slowest_steps": dict(sorted(steps.items(), key=lambda kv: -kv[1])[:5]),
        "rows_read": int(ledger["rows_read"].sum()),
        "rows_suppressed": int(ledger["rows_suppressed"].sum()),
        "rows_loaded": int(ledger["rows_loaded"].sum()),
        "rows_quarantined": int(ledger["rows_quarantined"].sum()),
        "by_source": per_source,
        "independent_hits": independent_hits(root),
        "peak_rss_mb": round(peak_rss_mb()),
        "code": code,
    }


# -- phase 6: where the time goes, table by table --------------------------------------------


def profile(root: Path) -> dict:
    """Where the time goes in the code as it is: resolution, then per table the candidate
    read and the deletion, and for the trace check the three ways a table can be checked
    (its checksum, the search for the identifiers just erased, a full read and hash)."""
    import dagster as dg
    import sqlalchemy as sa

    from cdp_assets.config import load_config, resolve_path
    from cdp_assets.privacy import erasure as er
    from cdp_assets.privacy.candidates import CandidateFilter
    from cdp_assets.privacy.identifiers import Identifiers, hash_matches, matches
    from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
    from cdp_assets.privacy.tables import personal_tables, table_values
    from cdp_assets.privacy.trace import export_traces, table_checksum
    from cdp_assets.warehouse import Warehouse

    code = code_version()
    copy = root / "profile" / WAREHOUSE_FILE
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(root / "pristine" / WAREHOUSE_FILE, copy)
    configure(root, copy)
    config = load_config()
    erasure_sources = config.sources_of_kind("erasure_requests")
    keys = [dg.AssetKey([layer, s.name]) for s in erasure_sources for layer in ("raw", "staging")]
    staged, _, _ = _run(ERASURE_JOB, asset_selection=keys)
    if not staged.success:
        raise SystemExit("staging the requests on the profile copy failed")

    salt = privacy_salt(config)
    seconds: dict[str, float] = {}
    tables: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def timed(name: str, fn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        value = fn(*args)
        seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - started, 3)
        return value

    def lap(started: float) -> float:
        return time.perf_counter() - started

    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    with wh.transaction() as session:
        timed("load_suppressed", load_suppressed, session, salt)
        pending = timed("pending_requests", er.pending_requests, session, config)
        identity = timed("read_identity_tables", er.read_identity_tables, session, config, pending)
        subjects = timed("resolve_all", er.resolve_all, session, config, pending, identity)
        identity_rows = {
            "xref": len(identity.xref),
            "fact_identities": len(identity.facts),
            "records": sum(len(f) for f in identity.records.values()),
        }
        processed = Identifiers()
        processed.add("record", (f"{r.source}:{r.request_id}" for r in pending))
        union = Identifiers()
        union.update(processed)
        erased_now = Identifiers()
        for subject in subjects:
            union.update(subject.identifiers)
            erased_now.update(subject.identifiers)
        rows = CandidateFilter(union, session.dialect)

        started_all = time.perf_counter()
        for ref in personal_tables(session):
            name = str(ref)
            started = time.perf_counter()
            values = table_values(session, config, ref, rows)
            tables[name]["erase_read"] += lap(started)
            if values is None or not len(values.keys):
                continue
            tables[name]["candidates"] = len(values.keys)
            started = time.perf_counter()
            doomed = matches(values.values, union, values.index)
            tables[name]["erase_match"] += lap(started)
            if doomed.any():
                started = time.perf_counter()
                er._attribute(values, subjects, doomed)
                tables[name]["erase_attribute"] += lap(started)
                started = time.perf_counter()
                tables[name]["deleted"] = er.delete_rows(session, ref, values.keys[doomed])
                tables[name]["erase_delete"] += lap(started)
        if session.table_exists(er.KEYS):
            session.conn.execute(sa.text(f"DROP TABLE {er.KEYS.sql}"))
        seconds["erase_subjects"] = round(lap(started_all), 3)
        added = er.suppression_rows(subjects, salt, er.now_utc())
        timed("append_suppression", er.append_suppression, session, added)
        suppressed = timed("load_suppressed", load_suppressed, session, salt)

        narrow = CandidateFilter(erased_now, session.dialect)
        for ref in personal_tables(session):
            name = str(ref)
            started = time.perf_counter()
            checksum = table_checksum(session, ref)
            tables[name]["checksum"] += lap(started)
            tables[name]["rows"] = int(checksum.split(":")[0])
            started = time.perf_counter()
            values = table_values(session, config, ref, narrow)
            if values is not None and len(values.keys):
                hash_matches(values.values, salt, suppressed, values.index)
            tables[name]["trace_narrow"] += lap(started)
            started = time.perf_counter()
            values = table_values(session, config, ref)
            tables[name]["trace_full_read"] += lap(started)
            if values is None or not len(values.keys):
                continue
            started = time.perf_counter()
            found = hash_matches(values.values, salt, suppressed, values.index)
            tables[name]["trace_full_hash"] += lap(started)
            tables[name]["traces"] = int(found.sum())
        exports = resolve_path(config, config.exports.dir)
        files = timed("export_traces", export_traces, exports, salt, suppressed)

    table_rows = []
    for name, parts in tables.items():
        row = {"table": name, **{k: round(v, 3) for k, v in parts.items()}}
        row["total"] = round(
            sum(v for k, v in parts.items() if k.startswith(("erase", "trace", "checksum"))), 3
        )
        table_rows.append(row)
    table_rows.sort(key=lambda r: -r["total"])
    kinds = ("erase_read", "erase_match", "erase_attribute", "erase_delete", "checksum")
    kinds += ("trace_narrow", "trace_full_read", "trace_full_hash")
    return {
        "requests": len(pending),
        "seconds": seconds,
        "identity_rows_read": identity_rows,
        "by_part": {k: round(sum(r.get(k, 0.0) for r in table_rows), 2) for k in kinds},
        "tables": table_rows,
        "export_files": len(files),
        "export_rows": int(files["rows"].sum()),
        "identifiers": {k: len(v) for k, v in union.values.items()},
        "peak_rss_mb": round(peak_rss_mb()),
        "code": code,
    }


def inflated(root: Path, factor: int) -> dict:
    """The erasure of the same requests on a copy of the pristine warehouse whose every
    personal table holds each of its rows `factor` times (a power of two): the SQL scans
    grow as they would with more people, and so do the requested people's rows (a pessimistic
    stand-in for a larger brand, measured where a larger demo cannot be built). The domain
    functions are called as the asset calls them, timed wall and CPU."""
    import dagster as dg
    import sqlalchemy as sa

    from cdp_assets.config import load_config
    from cdp_assets.defs.privacy.erasure import INTAKE_LAYERS
    from cdp_assets.privacy import erasure as er
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
    from cdp_assets.privacy.tables import personal_tables
    from cdp_assets.privacy.trace import checksums, verified_traces
    from cdp_assets.warehouse import Warehouse

    code = code_version()
    copy = root / "inflated" / WAREHOUSE_FILE
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(root / "pristine" / WAREHOUSE_FILE, copy)
    configure(root, copy)
    config = load_config()
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    rows = 0
    with wh.transaction() as session:
        for ref in personal_tables(session):
            for _ in range(max(factor.bit_length() - 1, 0)):
                session.conn.execute(sa.text(f"INSERT INTO {ref.sql} SELECT * FROM {ref.sql}"))
            rows += session.row_count(ref)
    erasure_sources = config.sources_of_kind("erasure_requests")
    keys = [dg.AssetKey([layer, s.name]) for s in erasure_sources for layer in ("raw", "staging")]
    staged, _, _ = _run(ERASURE_JOB, asset_selection=keys)
    if not staged.success:
        raise SystemExit("staging the requests on the inflated copy failed")
    salt = privacy_salt(config)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started, used = time.perf_counter(), cpu_seconds()
        value = fn(*args, **kwargs)
        wall[name] = round(wall.get(name, 0.0) + time.perf_counter() - started, 2)
        cpu[name] = round(cpu.get(name, 0.0) + cpu_seconds() - used, 1)
        return value

    started_all, cpu_all = time.perf_counter(), cpu_seconds()
    with wh.transaction() as session:
        before_list = timed("load_suppressed", load_suppressed, session, salt)
        before = timed("checksums", checksums, session, INTAKE_LAYERS, config, before_list)
        pending = timed("pending_requests", er.pending_requests, session, config)
        identity = timed("read_identity_tables", er.read_identity_tables, session, config, pending)
        subjects = timed("resolve_all", er.resolve_all, session, config, pending, identity)
        erasing = [s for s in subjects if not s.ambiguous]
        processed = Identifiers()
        processed.add("record", (f"{s.request.source}:{s.request.request_id}" for s in erasing))
        # Newer code: the trace check reuses the candidate rows the deletion kept.
        left = er.CandidatesLeft() if hasattr(er, "CandidatesLeft") else None
        extra = (left,) if left is not None else ()
        deleted = timed(
            "erase_subjects", er.erase_subjects, session, config, erasing, processed, *extra
        )
        added = er.suppression_rows(erasing, salt, er.now_utc())
        timed("append_suppression", er.append_suppression, session, added)
        suppressed = load_suppressed(session, salt)
        erased_now = Identifiers()
        for subject in erasing:
            erased_now.update(subject.identifiers)
        layers = ("raw", "staging", "ops", "core", "analytics", "ml", "activation")
        rebuilt = tuple(x for x in layers if x not in INTAKE_LAYERS)
        traces = timed(
            "verified_traces",
            verified_traces,
            session,
            config,
            salt,
            suppressed,
            layers,
            before,
            before_list,
            erased_now,
            set(deleted),
            rebuilt,
            *extra,
        )
        if session.table_exists(er.KEYS):
            session.conn.execute(sa.text(f"DROP TABLE {er.KEYS.sql}"))
    erase_wall, erase_cpu = time.perf_counter() - started_all, cpu_seconds() - cpu_all
    # The nightly check with nothing new: intake layers against the same list.
    started_all, cpu_all = time.perf_counter(), cpu_seconds()
    with wh.transaction() as session:
        suppressed = load_suppressed(session, salt)
        before = checksums(session, INTAKE_LAYERS, config, suppressed)
        nightly = verified_traces(
            session, config, salt, suppressed, INTAKE_LAYERS, before, suppressed,
            Identifiers(), set(), batch_proved=True,
        )  # fmt: skip
    nightly_wall, nightly_cpu = time.perf_counter() - started_all, cpu_seconds() - cpu_all
    return {
        "factor": factor,
        "rows": rows,
        "people_erased": len(erasing),
        "rows_deleted": sum(deleted.values()),
        "erase_wall_seconds": round(erase_wall, 1),
        "erase_cpu_seconds": round(erase_cpu, 1),
        "functions_wall": wall,
        "functions_cpu": cpu,
        "check_traces": int(traces["traces"].sum()),
        "check_by_scan": traces["scan"].value_counts().to_dict(),
        "nightly_check_wall_seconds": round(nightly_wall, 1),
        "nightly_check_cpu_seconds": round(nightly_cpu, 1),
        "nightly_by_scan": nightly["scan"].value_counts().to_dict(),
        "peak_rss_mb": round(peak_rss_mb()),
        "code": code,
    }


# -- phase 7: one more day, and the nightly check of the tables it changed --------------------


def newday(root: Path, seed: int) -> dict:
    """The warehouse after phase 5, copied, with one more day landed and ingested."""
    from cdp_assets.demo.extra_day import add_extra_day
    from cdp_assets.warehouse import Warehouse

    folder = root / "newday"
    folder.mkdir(exist_ok=True)
    copy = folder / WAREHOUSE_FILE
    shutil.copy(root / WAREHOUSE_FILE, copy)
    configure(root, copy)
    code = code_version()
    started = time.perf_counter()
    first = add_extra_day(root / "data", seed, END_DATE)
    land_seconds = round(time.perf_counter() - started, 1)
    result, steps, wall = _run("ingest_sources")
    if not result.success:
        raise SystemExit("ingest_sources of the first new day failed")
    settled = _nightly_check(root)  # what the first night's erasure step proves
    extra = add_extra_day(root / "data", seed, NEW_DAY)
    result, steps, wall = _run("ingest_sources")
    if not result.success:
        raise SystemExit("ingest_sources of the second new day failed")
    batches = Warehouse(os.environ["CDP_WAREHOUSE_URL"]).query(
        "SELECT source, SUM(rows_loaded) AS rows FROM ops.ingested_files "
        "WHERE batch_id LIKE :batch GROUP BY source ORDER BY source",
        {"batch": f"%-{result.run_id[:8]}"},
    )
    return {
        "landed_first": first.text(),
        "first_night_by_scan": settled["scan"].value_counts().to_dict(),
        "landed": extra.text(),
        "land_seconds": land_seconds,
        "ingest_wall_seconds": wall,
        "rows_loaded": {r.source: int(r.rows) for r in batches.itertuples(index=False)},
        "peak_rss_mb": round(peak_rss_mb()),
        "code": code,
    }


def _nightly_check(root: Path) -> Any:
    """The nightly trace check of the intake layers on the phase 7 warehouse (committed)."""
    from cdp_assets.config import load_config
    from cdp_assets.defs.privacy.erasure import INTAKE_LAYERS
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
    from cdp_assets.privacy.trace import checksums, verified_traces
    from cdp_assets.warehouse import Warehouse

    config = load_config()
    salt = privacy_salt(config)
    with Warehouse(os.environ["CDP_WAREHOUSE_URL"]).transaction() as session:
        suppressed = load_suppressed(session, salt)
        before = checksums(session, INTAKE_LAYERS, config, suppressed)
        return verified_traces(
            session, config, salt, suppressed, INTAKE_LAYERS, before, suppressed,
            Identifiers(), set(), batch_proved=True,
        )  # fmt: skip


def nightly(root: Path) -> dict:
    """The nightly trace check (no new request) on the warehouse phase 7 ingested."""
    from cdp_assets.config import load_config
    from cdp_assets.defs.privacy.erasure import INTAKE_LAYERS
    from cdp_assets.privacy.identifiers import Identifiers
    from cdp_assets.privacy.suppression import load_suppressed, privacy_salt
    from cdp_assets.privacy.trace import checksums, verified_traces
    from cdp_assets.warehouse import Warehouse

    copy = root / "newday" / WAREHOUSE_FILE
    configure(root, copy)
    code = code_version()
    config = load_config()
    salt = privacy_salt(config)
    wh = Warehouse(os.environ["CDP_WAREHOUSE_URL"])
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started, used = time.perf_counter(), cpu_seconds()
        value = fn(*args, **kwargs)
        wall[name] = round(time.perf_counter() - started, 2)
        cpu[name] = round(cpu_seconds() - used, 1)
        return value

    started, used = time.perf_counter(), cpu_seconds()
    with wh.transaction() as session:
        suppressed = timed("load_suppressed", load_suppressed, session, salt)
        before = timed("checksums", checksums, session, INTAKE_LAYERS, config, suppressed)
        found = timed(
            "verified_traces", verified_traces, session, config, salt, suppressed,
            INTAKE_LAYERS, before, suppressed, Identifiers(), set(), batch_proved=True,
        )  # fmt: skip
    total_wall, total_cpu = time.perf_counter() - started, cpu_seconds() - used
    read = (
        found["rows_read"]
        if "rows_read" in found
        else found["rows"].where(found["scan"] == "full", 0)
    )
    changed = found[found["scan"] != "unchanged"]
    return {
        "check_wall_seconds": round(total_wall, 1),
        "check_cpu_seconds": round(total_cpu, 1),
        "functions_wall": wall,
        "functions_cpu": cpu,
        "tables": len(found),
        "by_scan": found["scan"].value_counts().to_dict(),
        "rows_covered": int(found["rows"].sum()),
        "rows_read": int(read.sum()),
        "traces": int(found["traces"].sum()),
        "changed_tables": {
            t: [s, int(r), int(n)]
            for t, s, r, n in zip(
                changed["table"],
                changed["scan"],
                read[changed.index],
                changed["rows"],
                strict=True,
            )
        },  # fmt: skip
        "peak_rss_mb": round(peak_rss_mb()),
        "code": code,
    }


# -- output ----------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} s"


def report(args: argparse.Namespace, r: dict) -> None:
    e, a, c = r["erase"], r["again"], r["recheck"]
    print(
        f"\npeople {args.people:,} (seed {args.seed}, {args.history_days} days of history, as of "
        f"{END_DATE}), {args.requests} requests; cores: {os.cpu_count()}"
    )
    if "prepare" in r:
        p = r["prepare"]
        print(
            f"prepare: demo {p['demo_seconds']} s, nightly_refresh without ml "
            f"{p['pipeline_seconds']} s ({p['assets']} assets), peak {p['peak_rss_mb']:,} MB"
        )
    f = e["functions"]
    rows = [
        ("erasure job (wall, 3 steps)", _s(e["job_wall_seconds"])),
        ("ops/erasure_log step", _s(e["erasure_step_seconds"])),
        ("  resolution (pending + identity tables + resolve)",
         _s(sum(f.get(k, 0.0) for k in ("pending_requests", "read_identity_tables", "resolve",
                                         "resolve_all")))),
        ("  deletion (erase_subjects)", _s(f.get("erase_subjects"))),
        ("  export scrubbing", _s(f.get("_scrub_exports"))),
        ("  model store", _s(f.get("_erase_from_model_store"))),
        ("  suppression list + log", _s(sum(f.get(k, 0.0) for k in ("append_suppression", "log_rows", "load_suppressed")))),
        ("  interrupted scrubs finished (files)", _s(f.get("finish_interrupted_scrubs"))),
        ("  table checksums (ledger)", _s(f.get("checksums"))),
        ("  trace check: warehouse tables",
         _s(f.get("warehouse_traces", 0.0) + f.get("verified_traces", 0.0))),
        ("  tables by scan / rows read in full",
         f"{e.get('check_tables_by_scan')} / {e.get('check_rows_read_in_full')}"),
        ("  trace check: files (exports, model store)", _s(e["trace_files_seconds"])),
        ("people erased / requests", (f"{e['people_erased']} / {e['requests_processed']}"
         f" (no match: {e['requests_without_match']})")),
        ("rows deleted", f"{e['rows_deleted']:,}"),
        ("tables touched", f"{e['tables_touched']}"),
        ("export rows removed", f"{e['export_rows_removed']:,}"),
        ("identifiers on the suppression list", f"{e['identifiers_suppressed']:,}"),
        ("check passed", (f"{e['check_passed']} ({e['check_tables_scanned']} tables, "
         f"{e['check_rows_scanned']:,} rows, {e['check_files']} files)")),
        ("independent SQL scan hits", f"{sum(e['independent_hits'].values())}"),
        ("peak RSS (erase phase)", f"{e['peak_rss_mb']:,} MB"),
        ("lines delivered again", f"{a['lines_delivered']:,}  {a['lines_by_folder']}"),
        ("ingest_sources (wall)", (f"{_s(a['ingest_wall_seconds'])} (raw steps "
         f"{a['raw_steps_seconds']} s, staging steps {a['staging_steps_seconds']} s)")),
        ("rows read / suppressed / loaded / quarantined",
         (f"{a['rows_read']:,} / {a['rows_suppressed']:,} / {a['rows_loaded']:,} / "
         f"{a['rows_quarantined']:,}")),
        ("independent SQL scan hits after", f"{sum(a['independent_hits'].values())}"),
        ("peak RSS (ingest phase)", f"{a['peak_rss_mb']:,} MB"),
        ("re-run, no request: step", _s(c["erasure_step_seconds"])),
        ("  of which trace check (checksums + warehouse + files)", _s(c["trace_check_seconds"])),
        ("  tables by scan / files by scan",
         f"{c.get('check_tables_by_scan')} / {c.get('check_files_by_scan')}"),
        ("  of which erase_subjects with nothing to erase", _s(c["functions"].get("erase_subjects"))),
        ("  check passed", f"{c['check_passed']}"),
        ("peak RSS (re-run)", f"{c['peak_rss_mb']:,} MB"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for label, phase in (("erase", e), ("re-run", c)):
        print(
            f"\nCPU seconds, {label} phase: {phase.get('phase_cpu_seconds')} in all; "
            f"by function: {phase.get('functions_cpu')}"
        )
    print("\nsuppressed by source:", ", ".join(
        f"{s} {v['rows_suppressed']}/{v['rows_read']}" for s, v in a["by_source"].items()
    ))  # fmt: skip
    if "profile" in r:
        pr = r["profile"]
        print(
            f"\nprofile (copy of the pristine warehouse, same requests): {pr['seconds']}\n"
            f"identity rows read for {pr['requests']} requests: {pr['identity_rows_read']}\n"
            f"by part over all tables: {pr['by_part']}"
        )
        print(f"{'table':<36} {'rows':>10} {'cand.':>7} {'deleted':>7} {'read':>6} "
              f"{'match':>6} {'attrib':>6} {'delete':>6} {'chksum':>6} {'narrow':>6} "
              f"{'f.read':>6} {'f.hash':>6}")  # fmt: skip
        for t in pr["tables"][:15]:
            print(
                f"{t['table']:<36} {int(t.get('rows', 0)):>10,} {int(t.get('candidates', 0)):>7,} "
                f"{int(t.get('deleted', 0)):>7,} "
                + " ".join(
                    f"{t.get(k, 0.0):>6.2f}"
                    for k in ("erase_read", "erase_match", "erase_attribute", "erase_delete")
                    + ("checksum", "trace_narrow", "trace_full_read", "trace_full_hash")
                )
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "erasure")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--history-days", type=int, default=HISTORY_DAYS)
    parser.add_argument("--reuse", action="store_true", help="restart from out/pristine")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-table profile")
    parser.add_argument(
        "--inflate",
        type=int,
        default=0,
        help="also erase on a copy of the warehouse with every row repeated N times (2, 4, 8, …)",
    )
    parser.add_argument(
        "--new-day",
        action="store_true",
        help="also land and ingest one more day, then time the nightly trace check",
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.out.resolve()
    if args.phase:
        phases = {
            "prepare": lambda: prepare(root, args.people, args.seed, args.history_days),
            "requests": lambda: requests(root, args.requests),
            "erase": lambda: erase(root, verify=True),
            "again": lambda: again(root),
            "recheck": lambda: erase(root, verify=False),
            "profile": lambda: profile(root),
            "inflated": lambda: inflated(root, args.inflate),
            "newday": lambda: newday(root, args.seed),
            "nightly": lambda: nightly(root),
        }
        print(json.dumps(phases[args.phase](), default=str))
        return 0

    common = ["--out", str(root), "--people", str(args.people), "--seed", str(args.seed)]
    common += ["--requests", str(args.requests), "--history-days", str(args.history_days)]
    result: dict[str, Any] = {
        "people": args.people,
        "requests": args.requests,
        "seed": args.seed,
        "history_days": args.history_days,
        "cores": os.cpu_count(),
    }
    started = time.perf_counter()
    if args.reuse and (root / "pristine" / WAREHOUSE_FILE).exists():
        restore(root)
        result["reused"] = str(root / "pristine")
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        result["prepare"] = run_phase(__file__, "prepare", *common)
    result["pick"] = run_phase(__file__, "requests", *common)
    for phase in ("erase", "again", "recheck"):
        result[phase] = run_phase(__file__, phase, *common)
    if args.new_day:
        result["newday"] = run_phase(__file__, "newday", *common)
        result["nightly"] = run_phase(__file__, "nightly", *common)
        print(f"\nnew day: {json.dumps(result['newday'], default=str)}")
        print(f"nightly check: {json.dumps(result['nightly'], default=str)}")
    if not args.no_profile:
        result["profile"] = run_phase(__file__, "profile", *common)
    if args.inflate > 1:
        result["inflated"] = run_phase(
            __file__, "inflated", *common, "--inflate", str(args.inflate)
        )
        print(f"\ninflated ×{args.inflate}: {json.dumps(result['inflated'], default=str)}")
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    measured = ("erase", "again", "recheck", "profile", "newday", "nightly")
    versions = {k: result[k].pop("code") for k in measured if k in result}
    result["code"] = versions["erase"]
    result["code_changed_during_run"] = sorted(
        f"{phase}: {name} {version.get(name)}"
        for phase, version in versions.items()
        for name in set(version) | set(result["code"])
        if version.get(name) != result["code"].get(name)
    )
    report(args, result)
    if result["code_changed_during_run"]:
        print("\nWARNING: privacy code changed during the run (measured at the erase phase:")
        print(f"{result['code']}); later phases saw: {result['code_changed_during_run']}")
    (root / "results.json").write_text(json.dumps(result, indent=1, default=str), "utf-8")
    line = dict(result)
    if "profile" in line:  # the full per-table profile is in results.json
        line["profile"] = {**line["profile"], "tables": line["profile"]["tables"][:10]}
    print(json.dumps(line, default=str))
    ok = result["erase"]["check_passed"] and result["recheck"]["check_passed"]
    ok = ok and not result["erase"]["independent_hits"] and not result["again"]["independent_hits"]
    return 0 if ok and result["again"]["rows_loaded"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
