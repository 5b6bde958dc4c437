"""End to end: as of a past date, a warehouse holding a year of later data gives exactly what a
warehouse that never saw that year gives.

One demo set runs a year past D. Warehouse A loads only what was known by the end of D (its
landing files cut by creation / event time, see `known_by`); warehouse B loads everything.
Both run the real Definitions as of D — A through CDP_AS_OF, B through the run tag
`cdp/as_of`, as a data team backfilling from the Dagster UI would — nightly, train, score.

Left out of both: erasure requests (an erasure applies now, whatever the analysis date) and
`retention_days` (retention deletes facts for good; a date whose look-back windows reach past
the retention cutoff cannot be recomputed, see the README).
"""

import csv
import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from cdp_assets.config.loader import AS_OF_TAG
from cdp_assets.warehouse import dispose_engines
from cdp_assets_tests.e2e.pipeline import (
    END_DATE,
    DemoProject,
    load_definitions,
    make_demo_project,
    project_env,
)

AS_OF = END_DATE - dt.timedelta(days=365)
CUTOFF = pd.Timestamp(AS_OF + dt.timedelta(days=1), tz="UTC")  # end of AS_OF (UTC)
PEOPLE = 400
# A year of history at AS_OF and a few hundred people: small enough for the limits below to
# let every model train (the defaults ask for 200 customers); whether a model is good does not
# matter here, only that both warehouses get the same one.
SMALL_MODELS = {
    "churn": {"min_customers": 30, "min_positives": 5, "auc_floor": 0.5, "max_calibration_error": 1},
    "leads": {"min_customers": 30, "min_positives": 5},
    "ltv": {"min_customers": 30, "min_positives": 5, "horizon_days": 120},
}
POS_TIMEZONE = "America/New_York"  # the demo cdp.yaml's pos_sales timezone


def _instant(value: object, timezone: str) -> pd.Timestamp | None:
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.tz_localize(timezone) if stamp.tzinfo is None else stamp


def _after_cutoff(values: pd.Series, timezone: str = "UTC") -> pd.Series:
    """True where a time is after the end of AS_OF; unparseable values are kept (they are
    quarantined or nulled alike in both warehouses)."""
    later = [
        stamp is not None and stamp >= CUTOFF
        for stamp in (None if v is None or pd.isna(v) else _instant(v, timezone) for v in values)
    ]
    return pd.Series(later, index=values.index, dtype=bool)


def _encoding(path: Path) -> str:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"  # the demo's legacy export
    return "utf-8"


def _cut_csv(path: Path, column: str, timezone: str = "UTC") -> set[str]:
    """Drops the records of one CSV file after the cutoff (malformed ones are kept as they are:
    the same defect in both warehouses); returns the first column's dropped ids."""
    encoding = _encoding(path)
    with path.open(newline="", encoding=encoding) as handle:
        header, *records = list(csv.reader(handle))
    at = header.index(column)
    stamps = pd.Series([r[at] if len(r) > at and r[at] else None for r in records], dtype="object")
    later = _after_cutoff(stamps, timezone).tolist()
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(r for r, late in zip(records, later, strict=True) if not late)
    return {r[0] for r, late in zip(records, later, strict=True) if late}


def _cut_items(folder: Path, dropped_orders: set[str]) -> None:
    for path in sorted(folder.glob("*.csv")):
        encoding = _encoding(path)
        with path.open(newline="", encoding=encoding) as handle:
            header, *records = list(csv.reader(handle))
        at = header.index("order_id")
        with path.open("w", newline="", encoding=encoding) as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(r for r in records if len(r) <= at or r[at] not in dropped_orders)


def _cut_jsonl(path: Path, column: str) -> None:
    """Drops the lines after the cutoff; malformed lines are kept as they are."""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            value = json.loads(line).get(column)
        except (json.JSONDecodeError, AttributeError):
            value = None
        stamp = None if value is None else _instant(value, "UTC")
        if stamp is None or stamp < CUTOFF:
            kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")


def known_by(landing: Path) -> None:
    """Cuts a landing folder down to what existed at the end of AS_OF: customer records created
    by then (with the versions they have now: the platform keeps a record's latest version),
    orders and their items, web events, survey responses and support tickets that happened by
    then."""
    for path in (landing / "shop" / "accounts").glob("*.csv"):
        _cut_csv(path, "created_at")
    with sqlite3.connect(landing / "crm" / "crm.sqlite") as crm:
        contacts = pd.read_sql("SELECT contact_id, created_at FROM contacts", crm)
        later = contacts.loc[_after_cutoff(contacts["created_at"]), "contact_id"].tolist()
        crm.executemany("DELETE FROM contacts WHERE contact_id = ?", [(c,) for c in later])
    _cut_jsonl(landing / "loyalty" / "members.jsonl", "joined_at")
    dropped = set()
    for path in (landing / "shop" / "orders").glob("*.csv"):
        dropped |= _cut_csv(path, "ordered_at")
    _cut_items(landing / "shop" / "order_items", dropped)
    dropped = set()
    for path in (landing / "pos" / "sales").glob("*.csv"):
        dropped |= _cut_csv(path, "sold_at", POS_TIMEZONE)
    _cut_items(landing / "pos" / "sale_items", dropped)
    for path in (landing / "web" / "events").glob("*.jsonl"):
        _cut_jsonl(path, "timestamp")
    for path in (landing / "surveys").glob("*.csv"):
        _cut_csv(path, "submitted_at")
    for path in (landing / "support").glob("*.csv"):
        _cut_csv(path, "opened_at")


def _run(
    project: DemoProject, instance: dg.DagsterInstance, job: str, tags: dict
) -> dg.ExecuteInProcessResult:
    with project_env(project):
        result = load_definitions().resolve_job_def(job).execute_in_process(
            instance=instance, tags=tags
        )
    dispose_engines()
    assert result.success, job
    return result


def _build(project: DemoProject, tags: dict) -> dict[str, dict]:
    """nightly, train, score; the metadata of every materialization, by asset."""
    metadata: dict[str, dict] = {}
    with dg.instance_for_test() as instance:
        for job in ("nightly_refresh", "train_models", "score_models"):
            for event in _run(project, instance, job, tags).get_asset_materialization_events():
                materialization = event.event_specific_data.materialization
                metadata[materialization.asset_key.to_user_string()] = {
                    k: v.value for k, v in materialization.metadata.items()
                }
    return metadata


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoProject]]:
    root = tmp_path_factory.mktemp("as_of")
    everything = make_demo_project(
        root / "b", f"duckdb:///{root / 'b' / 'warehouse.duckdb'}", people=PEOPLE
    )
    (everything.landing / "privacy" / "erasure_requests.csv").unlink()
    settings = yaml.safe_load(everything.config_path.read_text(encoding="utf-8"))
    for source in settings["sources"]:
        source.pop("retention_days", None)
    settings["models"] = settings.get("models", {}) | SMALL_MODELS
    everything.config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    known = root / "a"
    shutil.copytree(everything.root, known)
    shutil.copy(everything.config_path, known / "cdp.yaml")
    cut = DemoProject(
        known,
        known / "cdp.yaml",
        known / "data" / "ground_truth",
        f"duckdb:///{known / 'w.duckdb'}",
    )
    known_by(cut.landing)
    # A: the past date from the environment; B: from the run tag (over CDP_AS_OF = END_DATE).
    cut_env = cut.env() | {"CDP_AS_OF": AS_OF.isoformat()}
    cut.env = lambda: cut_env  # type: ignore[method-assign]
    metadata = {
        "known": _build(cut, tags={}),
        "everything": _build(everything, tags={AS_OF_TAG: AS_OF.isoformat()}),
    }
    yield {"known": cut, "everything": everything, "metadata": metadata}


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def _same(warehouses: dict, schema: str, table: str, keys: list[str], drop=()) -> None:
    known = warehouses["known"].table(schema, table).drop(columns=list(drop))
    everything = warehouses["everything"].table(schema, table).drop(columns=list(drop))
    print(schema, table, warehouses["metadata"]["known"].get(f"{schema}/{table}"))
    assert len(known) > 0, f"{schema}.{table} is empty: the comparison would prove nothing"
    pd.testing.assert_frame_equal(_sorted(known, keys), _sorted(everything, keys))


def test_the_later_year_is_really_there(warehouses: dict) -> None:
    orders = {k: p.table("core", "orders") for k, p in warehouses.items()}
    assert (orders["known"]["ordered_at"] < CUTOFF).all()
    assert (orders["everything"]["ordered_at"] >= CUTOFF).sum() > 100


def test_features_are_the_same(warehouses: dict) -> None:
    _same(warehouses, "analytics", "customer_features", ["customer_id"])


def test_rfm_segments_are_the_same(warehouses: dict) -> None:
    _same(warehouses, "analytics", "rfm", ["customer_id"])


def test_churn_scores_are_the_same(warehouses: dict) -> None:
    _same(warehouses, "ml", "churn_scores", ["customer_id"])


def test_ltv_is_the_same(warehouses: dict) -> None:
    _same(warehouses, "ml", "customer_ltv", ["customer_id"])
