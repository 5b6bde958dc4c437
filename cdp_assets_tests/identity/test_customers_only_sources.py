"""Through the real Definitions: customers-only sources without emails or phones (issue #13).

One run holds two sources mapped from identifier-poor files: "store_cards" has duplicates of
its own (one source deduplicated) and "catalogue" holds damaged copies of some of the same
people (two sources linked). Truth is known from the generator.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from cdp_assets.identity.accuracy import pairwise_scores
from cdp_assets_tests.e2e.pipeline import DemoProject, run_job
from cdp_assets_tests.identity.probabilistic_records import synthetic_population

COLUMNS = ("first_name", "last_name", "birth_date", "street", "city", "postal_code")


def _source(name: str) -> dict:
    return {
        "name": name,
        "kind": "customers",
        "format": "csv",
        "path": f"{name}/*.csv",
        "date_formats": {"birth_date": "%Y-%m-%d"},
        "columns": {"source_record_id": "id", **{column: column for column in COLUMNS}},
    }


def _write(root: Path, name: str, frame: pd.DataFrame) -> None:
    folder = root / "landing" / name
    folder.mkdir(parents=True)
    frame.to_csv(folder / "all.csv", index=False)


def test_one_source_deduplicated_and_two_sources_linked(tmp_path: Path) -> None:
    records, person = synthetic_population(people=240, duplicates=100, households=30, seed=23)
    frame = records[list(COLUMNS)].assign(person=person.to_numpy())
    # Every person's first record goes to store_cards; the second record of every other
    # person to the catalogue, the rest stay in store_cards (its own duplicates).
    rank = frame.groupby("person").cumcount()
    to_catalogue = (rank == 1) & (frame["person"] % 2 == 0)
    source = pd.Series("store_cards", index=frame.index).where(~to_catalogue, "catalogue")
    frame = frame.assign(source=source, id=[f"R{i:04d}" for i in range(len(frame))])
    for name in ("store_cards", "catalogue"):
        _write(tmp_path, name, frame.loc[frame["source"] == name, ["id", *COLUMNS]])
    config = {
        "landing_dir": "landing",
        "timezone": "UTC",
        "sources": [_source("store_cards"), _source("catalogue")],
    }
    config_path = tmp_path / "cdp.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    project = DemoProject(tmp_path, config_path, tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}")

    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success

    xref = project.table("core", "customer_xref").set_index("source_record_id")
    frame["customer"] = xref["customer_id"].reindex(frame["id"]).to_numpy()
    assert frame["customer"].notna().all()
    truth = frame["person"].astype("string")
    overall = pairwise_scores(frame["customer"], truth)
    assert overall["pair_precision"] >= 0.98, overall
    assert overall["pair_recall"] >= 0.9, overall
    # Both kinds of pair exist and are found: within store_cards and across the two sources.
    for within in (True, False):
        pairs = _pairs(frame, within_source=within)
        assert len(pairs) >= 20
        linked = pairs["customer_l"] == pairs["customer_r"]
        assert linked.mean() >= 0.9, (within, linked.mean())

    edges = project.table("core", "identity_edges")
    assert set(edges["rule"]) == {"probabilistic"}
    # Each link says how much of its weight the rarity of the shared names gave.
    assert edges["evidence"].str.contains(r"name frequency [+-]\d+\.\d bits", regex=True).any()
    weights = _materialization(result, "core/customer_xref").metadata["match_weights"].value
    header = weights.splitlines()[0]
    for column in ("field", "level", "m", "u", "weight"):
        assert column in header
    assert "| birth_date | transposed |" in weights
    assert "email_key" not in weights  # no data in either source: not shown
    assert "| null |" not in weights


def _pairs(frame: pd.DataFrame, within_source: bool) -> pd.DataFrame:
    """True pairs (same person) of records, within one source or across the two."""
    pairs = frame.merge(frame, on="person", suffixes=("_l", "_r"))
    pairs = pairs[pairs["id_l"] < pairs["id_r"]]
    same_source = pairs["source_l"] == pairs["source_r"]
    return pairs[same_source if within_source else ~same_source]


def _materialization(result: dg.ExecuteInProcessResult, key: str) -> dg.AssetMaterialization:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == key:
            return materialization
    raise AssertionError(f"no materialization of {key}")
