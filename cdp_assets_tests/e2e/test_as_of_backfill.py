"""End to end: as of a past date D, a warehouse holding a year of later orders and events gives
what a warehouse that never saw them gives.

One demo set runs a year past D. Warehouse A loads the orders (with their items), POS sales,
web events, survey responses and support tickets that happened by the end of D (the landing
files cut by event time, see `known_by`); warehouse B loads everything. Both hold the same
customer records (accounts, CRM contacts, loyalty members), customers created after D included:
the platform keeps the latest version of a record, not its history, so profile attributes are
the latest known in any warehouse (README, "Looking at a past date"); customers whose records
and facts all come after D must be left out of both warehouses' as-of outputs.
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
    "churn": {
        "min_customers": 30,
        "min_positives": 5,
        "auc_floor": 0.5,
        "max_calibration_error": 1,
    },
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
    """Cuts a landing folder's facts down to those that happened by the end of AS_OF: orders
    and their items, POS sales and theirs, web events, survey responses, support tickets.
    Customer records stay whole (see the module docstring)."""
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
        result = (
            load_definitions().resolve_job_def(job).execute_in_process(instance=instance, tags=tags)
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


def _records(project: DemoProject) -> pd.DataFrame:
    xref = project.table("core", "customer_xref")
    xref["record"] = xref["source"] + ":" + xref["source_record_id"].astype(str)
    return xref[["record", "customer_id"]]


def _stitched_later(landing: Path) -> set[str]:
    """Anonymous ids with web events by the end of AS_OF that identify themselves (log in,
    give an email) only after it."""
    first_event: dict[str, pd.Timestamp] = {}
    first_identified: dict[str, pd.Timestamp] = {}
    for path in (landing / "web" / "events").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            anonymous, at = event.get("anonymous_id"), _instant(event.get("timestamp"), "UTC")
            if not anonymous or at is None:
                continue
            first_event[anonymous] = min(first_event.get(anonymous, at), at)
            if event.get("user_id") or event.get("email"):
                first_identified[anonymous] = min(first_identified.get(anonymous, at), at)
    return {
        anonymous
        for anonymous, at in first_identified.items()
        if at >= CUTOFF and first_event[anonymous] < CUTOFF
    }


@pytest.fixture(scope="module")
def stable_keys(warehouses: dict) -> dict[str, pd.Series | set[str]]:
    """customer_id → the customer's first source record (`source:record id`) among the records
    warehouse A knows, in each warehouse. Customer ids are numbered over the whole identity
    graph, so B's ids differ from A's; its clusters of A's records do not (see the test below).
    A customer of B without any record A knows maps to nothing.

    Also the keys of the two kinds of customer the platform cannot place in time (README,
    "Looking at a past date"): `undated` — no dated record or fact by AS_OF in A (B dates them
    by a later fact and leaves them out); `stitched` — anonymous web visits before AS_OF whose
    visitor identified only after it (B attributes those visits to them, A cannot)."""
    known = _records(warehouses["known"])
    everything = _records(warehouses["everything"])
    keys_known = known.groupby("customer_id")["record"].min()
    keys_everything = (
        everything[everything["record"].isin(set(known["record"]))]
        .groupby("customer_id")["record"]
        .min()
    )
    profiles = warehouses["known"].table("core", "customer_profiles")
    undated = set(profiles.loc[profiles["first_seen"].isna(), "customer_id"].map(keys_known))
    later = {f"web_events:{a}" for a in _stitched_later(warehouses["everything"].landing)}
    stitched_ids = everything.loc[everything["record"].isin(later), "customer_id"]
    return {
        "known": keys_known,
        "everything": keys_everything,
        "undated": undated,
        "stitched": set(stitched_ids.map(keys_everything).dropna()),
    }


def test_identity_clusters_the_known_records_alike(warehouses: dict, stable_keys: dict) -> None:
    known = _records(warehouses["known"])
    everything = _records(warehouses["everything"]).set_index("record")["customer_id"]
    key_in_known = known["customer_id"].map(stable_keys["known"])
    key_in_everything = known["record"].map(everything).map(stable_keys["everything"])
    assert len(known) > 300
    assert (key_in_known == key_in_everything).all()


def test_few_customers_cannot_be_placed_in_time(stable_keys: dict) -> None:
    # The demo plants one account whose future created_at staging nulls, and a few visitors
    # who log in long after their first visits.
    assert 1 <= len(stable_keys["undated"]) <= 3
    assert len(stable_keys["stitched"]) <= 5


WEB_COLUMNS = [
    f"{what}_{days}d"
    for what in ("sessions", "product_views", "add_to_carts", "abandoned_carts")
    for days in (30, 90)
] + ["hours_since_abandoned_cart"]


def _keyed(project: DemoProject, table: str, keys: pd.Series, drop: tuple[str, ...]):
    schema, _, name = table.partition(".")
    frame = project.table(schema, name).drop(columns=list(drop))
    frame["customer_id"] = frame["customer_id"].map(keys).astype("string")
    return frame


def _same(
    warehouses: dict,
    stable_keys: dict,
    table: str,
    order: list[str],
    drop: tuple[str, ...] = (),
    stitched_columns: list[str] | None = None,
) -> None:
    """`table` in A equals `table` in B, keyed by stable key, except: A's undated customers
    (B has none of them); the stitched customers' `stitched_columns` (None: their rows)."""
    known, everything = (
        _keyed(warehouses[w], table, stable_keys[w], drop) for w in ("known", "everything")
    )
    assert len(known) > 0, f"{table} is empty: the comparison would prove nothing"
    assert everything["customer_id"].notna().all(), "B has a customer A never knew"
    assert not everything["customer_id"].isin(stable_keys["undated"]).any()
    known = known[~known["customer_id"].isin(stable_keys["undated"])]
    frames = []
    for frame in (known, everything):
        stitched = frame["customer_id"].isin(stable_keys["stitched"])
        if stitched_columns is None:
            frame = frame[~stitched]
        else:
            frame = frame.copy()
            frame.loc[stitched, stitched_columns] = None
        frames.append(frame.sort_values(order).reset_index(drop=True))
    pd.testing.assert_frame_equal(*frames)


def test_the_later_year_is_really_there(warehouses: dict, stable_keys: dict) -> None:
    orders = {k: warehouses[k].table("core", "orders") for k in ("known", "everything")}
    assert (orders["known"]["ordered_at"] < CUTOFF).all()
    assert (orders["everything"]["ordered_at"] >= CUTOFF).sum() > 100
    profiles = warehouses["everything"].table("core", "customer_profiles")
    features = warehouses["everything"].table("analytics", "customer_features")
    assert (profiles["first_seen"] >= CUTOFF).sum() > 50  # in B, left out of as-of outputs
    assert len(features) == (profiles["first_seen"] < CUTOFF).sum()


def test_features_are_the_same(warehouses: dict, stable_keys: dict) -> None:
    _same(
        warehouses,
        stable_keys,
        "analytics.customer_features",
        ["customer_id"],
        stitched_columns=WEB_COLUMNS,
    )


def test_rfm_segments_are_the_same(warehouses: dict, stable_keys: dict) -> None:
    _same(warehouses, stable_keys, "analytics.rfm", ["customer_id"], stitched_columns=[])


def test_churn_scores_are_the_same(warehouses: dict, stable_keys: dict) -> None:
    # Same model; a stitched customer's own score follows their web figures.
    _same(warehouses, stable_keys, "ml.churn_scores", ["customer_id"], drop=("model_version",))


def test_ltv_is_the_same(warehouses: dict, stable_keys: dict) -> None:
    _same(
        warehouses,
        stable_keys,
        "ml.customer_ltv",
        ["customer_id"],
        drop=("model_version",),
        stitched_columns=[],
    )


def test_lead_scores_are_the_same(warehouses: dict, stable_keys: dict) -> None:
    _same(warehouses, stable_keys, "ml.lead_scores", ["customer_id"], drop=("model_version",))


def test_recommendations_are_the_same(warehouses: dict, stable_keys: dict) -> None:
    # Product views are web events: a stitched customer's own recommendations may differ.
    _same(warehouses, stable_keys, "ml.product_recommendations", ["customer_id", "rank"])


def test_audiences_are_the_same(warehouses: dict, stable_keys: dict) -> None:
    _same(warehouses, stable_keys, "activation.audience_membership", ["audience", "customer_id"])


def test_customer_360_is_the_same(warehouses: dict, stable_keys: dict) -> None:
    # last_seen is the golden profile's, as known now; lead_probability: see above.
    _same(
        warehouses,
        stable_keys,
        "activation.customer_360",
        ["customer_id"],
        drop=("last_seen", "lead_probability"),
    )


def test_product_demand_is_the_same(warehouses: dict) -> None:
    """Products, not customers: the whole table is equal, row for row."""
    known, everything = (
        warehouses[w]
        .table("ml", "product_demand")
        .sort_values(["product_id", "period_start"])
        .reset_index(drop=True)
        for w in ("known", "everything")
    )
    assert len(known) > 0, "ml.product_demand is empty: the comparison would prove nothing"
    pd.testing.assert_frame_equal(known, everything)
