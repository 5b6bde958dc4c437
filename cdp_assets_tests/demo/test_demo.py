"""The demo generator: deterministic, and its ground truth is exactly what the real ingest and
staging code finds in its files."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cdp_assets.config import parse_config
from cdp_assets.contracts.canonical import LEDGER_DTYPES
from cdp_assets.demo import generate_demo
from cdp_assets.ingest import ingest_source
from cdp_assets.staging import stage_source

REPO = Path(__file__).resolve().parents[2]
END = dt.date(2026, 11, 20)
PEOPLE = 300
CUSTOMER_SOURCES = ("shop_accounts", "crm_contacts", "loyalty_members")


@dataclass
class PipelineRun:
    """Ingest + staging results of every source, concatenated."""

    quarantine: pd.DataFrame
    issues: pd.DataFrame
    ledger: pd.DataFrame
    staged: dict[str, pd.DataFrame]
    exact_duplicates: int


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_pipeline(data: Path) -> PipelineRun:
    """The real pure pipeline (ingest_source, then stage_source) over every configured source."""
    config_file = REPO / "cdp.yaml"
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    config = parse_config(raw, file=config_file, base_dir=data.parent)
    at = pd.Timestamp("2026-11-21T02:00:00Z")
    empty_ledger = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in LEDGER_DTYPES.items()})
    quarantines, issues, ledgers, staged = [], [], [], {}
    duplicates = 0
    for source in config.sources:
        batch = ingest_source(
            source,
            config,
            ledger=empty_ledger,
            known_row_hashes=set(),
            batch_id="b1",
            ingested_at=at,
        )
        result = stage_source(batch.rows, source, config, at.to_pydatetime())
        quarantines += [batch.quarantine, result.quarantine]
        issues.append(result.issues)
        ledgers.append(batch.ledger)
        staged[source.name] = result.staged
        duplicates += batch.exact_duplicates
    return PipelineRun(
        pd.concat(quarantines, ignore_index=True),
        pd.concat(issues, ignore_index=True),
        pd.concat(ledgers, ignore_index=True),
        staged,
        duplicates,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PipelineRun]:
    data = tmp_path_factory.mktemp("demo") / "data"
    generate_demo(people=PEOPLE, seed=7, end_date=END, out=data)
    return data, run_pipeline(data)


def _defects(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "ground_truth" / "defects.csv", dtype=str, keep_default_na=False)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    generate_demo(people=120, seed=3, end_date=END, out=tmp_path / "a")
    generate_demo(people=120, seed=3, end_date=END, out=tmp_path / "b")
    generate_demo(people=120, seed=4, end_date=END, out=tmp_path / "c")
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c


def test_ground_truth_files(demo: tuple[Path, PipelineRun]) -> None:
    data, _ = demo
    truth = data / "ground_truth"
    assert {p.name for p in truth.iterdir()} == {
        "identity.csv",
        "defects.csv",
        "people.csv",
        "README.md",
    }
    defects = _defects(data)
    assert list(defects.columns) == [
        "source",
        "file",
        "line",
        "source_record_id",
        "field",
        "rule",
        "expected_action",
        "value",
    ]
    assert set(defects["expected_action"]) == {
        "quarantine",
        "nulled",
        "exact_duplicate",
        "duplicate_file",
    }
    assert (defects.loc[defects["source"] == "crm_contacts", "expected_action"] == "nulled").all()
    people = pd.read_csv(truth / "people.csv", dtype=str)
    assert len(people) == PEOPLE and people["person_id"].is_unique


def test_quarantine_matches_defects_exactly(demo: tuple[Path, PipelineRun]) -> None:
    data, run = demo
    defects = _defects(data)
    expected = defects[defects["expected_action"] == "quarantine"]
    want = {(r.source, r.file, int(r.line), r.rule) for r in expected.itertuples()}
    got = {(r.source, r.file, int(r.line), r.rule) for r in run.quarantine.itertuples()}
    assert len(want) == len(expected) > 0
    assert sorted(got - want) == [] and sorted(want - got) == []


def test_nulled_issues_match_defects_exactly(demo: tuple[Path, PipelineRun]) -> None:
    data, run = demo
    defects = _defects(data)
    expected = defects[defects["expected_action"] == "nulled"]
    want = {(r.source, r.source_record_id, r.field, r.rule) for r in expected.itertuples()}
    nulled = run.issues[run.issues["action"] == "nulled"]
    got = {(r.source, r.record_id, r.field, r.rule) for r in nulled.itertuples()}
    assert len(want) == len(expected) > 0
    assert sorted(got - want) == [] and sorted(want - got) == []
    lined = expected[expected["line"] != ""]
    want_lines = {(r.source, r.file, int(r.line), r.field) for r in lined.itertuples()}
    got_lines = {
        (r.source, r.file, int(r.line), r.field)
        for r in nulled.itertuples()
        if r.file[:4] != "sql:"
    }
    assert want_lines == got_lines


def test_no_other_issue_than_shared_identifiers(demo: tuple[Path, PipelineRun]) -> None:
    _, run = demo
    other = run.issues[run.issues["action"] != "nulled"]
    assert set(other["rule"]) <= {"duplicate_identifier"}


def test_exact_duplicates_and_duplicate_file(demo: tuple[Path, PipelineRun]) -> None:
    data, run = demo
    defects = _defects(data)
    assert run.exact_duplicates == (defects["expected_action"] == "exact_duplicate").sum() > 0
    copies = defects[defects["expected_action"] == "duplicate_file"]
    assert len(copies) == 1
    ledger = run.ledger
    for r in copies.itertuples():
        row = ledger[(ledger["source"] == r.source) & (ledger["file"] == r.file)]
        assert row["status"].tolist() == ["duplicate_file"]
    assert set(ledger.loc[ledger["status"] == "duplicate_file", "file"]) == set(copies["file"])


def test_every_source_stages_rows(demo: tuple[Path, PipelineRun]) -> None:
    _, run = demo
    # The 11 generated sources, the inventory and the campaign responses.
    assert len(run.staged) == 13
    responses = "campaign_events"  # written by the campaign loop of `make demo`, not here
    assert all(len(frame) > 0 for name, frame in run.staged.items() if name != responses)


def test_latin1_file_loads_with_its_accents(demo: tuple[Path, PipelineRun]) -> None:
    _, run = demo
    ledger = run.ledger.set_index("file")
    assert ledger.loc["shop/accounts/accounts_eu_legacy.csv", "encoding"] in ("cp1252", "latin-1")
    accounts = run.staged["shop_accounts"]
    legacy = accounts[accounts["_file"] == "shop/accounts/accounts_eu_legacy.csv"]
    names = pd.concat([legacy["first_name"], legacy["last_name"]]).dropna()
    assert names.str.contains("[äöüßéèçëï]", regex=True).any()


def test_identity_covers_every_staged_record(demo: tuple[Path, PipelineRun]) -> None:
    data, run = demo
    identity = pd.read_csv(data / "ground_truth" / "identity.csv", dtype=str, keep_default_na=False)
    assert not identity.duplicated(["source", "source_record_id"]).any()
    known = set(zip(identity["source"], identity["source_record_id"], strict=True))
    for name, frame in run.staged.items():
        if name.endswith("_items") or name == "stock_levels":  # no person's records
            continue
        missing = [rid for rid in frame["record_id"] if (name, rid) not in known]
        assert missing == [], f"{name}: {missing[:3]}"
    customers = identity[identity["source"].isin(CUSTOMER_SOURCES)]
    assert (customers["person_id"] != "").all()


def test_households_share_a_landline_and_stores_a_phone(demo: tuple[Path, PipelineRun]) -> None:
    data, run = demo
    identity = pd.read_csv(data / "ground_truth" / "identity.csv", dtype=str, keep_default_na=False)
    owner = dict(
        zip(
            zip(identity["source"], identity["source_record_id"], strict=True),
            identity["person_id"],
            strict=True,
        )
    )
    phones = pd.concat(
        [run.staged[s][["source", "record_id", "phone"]] for s in CUSTOMER_SOURCES]
    ).dropna()
    phones["person"] = [
        owner[(s, r)] for s, r in zip(phones["source"], phones["record_id"], strict=True)
    ]
    people_per_phone = phones.groupby("phone")["person"].nunique()
    assert (people_per_phone >= 2).any(), "no landline shared by a household"
    pos = run.staged["pos_sales"].dropna(subset=["phone"])
    pos_people = [owner[("pos_sales", r)] for r in pos["record_id"]]
    per_phone = pd.Series(pos_people, index=pos["phone"].to_numpy()).groupby(level=0).nunique()
    assert per_phone.max() >= 2, "the store phone placeholder should be shared by several buyers"
    people = pd.read_csv(data / "ground_truth" / "people.csv", dtype=str)
    assert people["household_id"].notna().any()


def test_email_variants_fold_to_one_key(demo: tuple[Path, PipelineRun]) -> None:
    _, run = demo
    orders = run.staged["shop_orders"].dropna(subset=["email"])
    raw_variants = orders.groupby("email_key")["email"].nunique()
    assert (raw_variants >= 2).any(), "gmail dots / +tags should give several spellings per key"
    assert np.all(orders["email"] == orders["email"].str.strip().str.lower())
