"""End to end on the smallest configurations: every kind is optional."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from cdp_assets.identity.accuracy import pairwise_scores
from cdp_assets_tests.e2e.pipeline import (
    ORDERS_CSV,
    ORDERS_SOURCE,
    materialization_metadata,
    run_job,
    small_project,
)
from cdp_assets_tests.identity.probabilistic_records import synthetic_population


def test_a_single_orders_file_builds_customers_from_references(tmp_path: Path) -> None:
    project = small_project(tmp_path, [ORDERS_SOURCE], {"orders/2026.csv": ORDERS_CSV})
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    # The night built every input of the 360 this configuration has; those it has no asset
    # for (no order lines: no recommendations; only orders: no leads) are not "missing".
    missing = materialization_metadata(result, "activation/customer_360")["inputs_missing"]
    assert missing == "none"
    xref = project.table("core", "customer_xref")
    assert sorted(xref["source_record_id"]) == ["K1", "K2"]
    assert set(xref["match_rule"]) == {"own_record"}
    profiles = project.table("core", "customer_profiles").sort_values("customer_id")
    assert profiles["customer_id"].tolist() == ["C000000001", "C000000002"]
    assert profiles["sources"].tolist() == ["orders", "orders"]
    assert pd.Timestamp(profiles["first_seen"].iloc[0]) == pd.Timestamp(
        "2026-01-05 10:00", tz="UTC"
    )
    orders = project.table("core", "orders").set_index("order_id")
    k1 = xref.set_index("source_record_id").loc["K1", "customer_id"]
    assert orders.loc["O1", "customer_id"] == orders.loc["O2", "customer_id"] == k1
    assert pd.isna(orders.loc["O4", "customer_id"])  # no reference: an anonymous order
    assert orders["net_amount_base"].sum() == 20.00 + 30.00 + 15.50 + 9.99

    # Models on four orders: every training asset says "not enough data" instead of numbers,
    # and scoring says there is no promoted model; both jobs still succeed.
    with dg.instance_for_test() as instance:
        trained = run_job(project, instance, job="train_models")
        scored = run_job(project, instance, job="score_models")
    assert trained.success and scored.success
    statuses = {
        event.asset_key.to_user_string(): event.event_specific_data.materialization.metadata[
            "status"
        ].value
        for result in (trained, scored)
        for event in result.get_asset_materialization_events()
        if "status" in event.event_specific_data.materialization.metadata
    }
    for model in ("churn", "ltv"):
        assert statuses[f"ml/{model}_model"].startswith("not enough data"), statuses
    # Every customer comes from an order: nobody can be a lead, so there is no lead model.
    assert "ml/leads_model" not in statuses and "ml/lead_scores" not in statuses
    # Scoring says why there is no model: the training's own reason, "not enough data" once.
    assert statuses["ml/churn_scores"].startswith(
        "no promoted churn model: the last train_models run trained none (not enough data: churn: "
    )
    assert all(status.count("not enough data") <= 1 for status in statuses.values()), statuses
    assert "ml/product_recommendations" not in statuses  # no order_items source: no asset


def test_a_customers_only_source_without_emails_or_phones_is_matched(tmp_path: Path) -> None:
    # 300 people, 120 damaged duplicates (nicknames, typos, swaps, transposed dates, moves),
    # 40 household members sharing a surname and an address: names, addresses, birth dates only.
    records, person = synthetic_population(people=300, duplicates=120, households=40, seed=5)
    frame = records[["first_name", "last_name", "birth_date", "street", "city", "postal_code"]]
    frame = frame.assign(id=[f"M{i:04d}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "members.csv", index=False)
    project = small_project(
        tmp_path,
        [
            {
                "name": "members",
                "kind": "customers",
                "format": "csv",
                "path": "members/*.csv",
                "date_formats": {"birth_date": "%Y-%m-%d"},
                "columns": {
                    "source_record_id": "id",
                    "first_name": "first_name",
                    "last_name": "last_name",
                    "birth_date": "birth_date",
                    "street": "street",
                    "city": "city",
                    "postal_code": "postal_code",
                },
            }
        ],
        {"members/all.csv": (tmp_path / "members.csv").read_text(encoding="utf-8")},
    )
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
    xref = project.table("core", "customer_xref").set_index("source_record_id")
    predicted = xref["customer_id"].reindex(frame["id"]).reset_index(drop=True)
    scores = pairwise_scores(predicted, person.astype("string"))
    assert scores["pair_precision"] >= 0.98, scores
    assert scores["pair_recall"] >= 0.85, scores
    edges = project.table("core", "identity_edges")
    assert set(edges["rule"]) == {"probabilistic"}
    assert edges["evidence"].str.contains("birth_date=").any()


def test_a_source_whose_files_have_not_arrived_reports_no_shares(tmp_path: Path) -> None:
    """A new brand's web events folder is still empty: its tables have no rows, so no share
    of them is resolved or quarantined (they were reported as 1.0 and 0.0)."""
    events = {
        "name": "web_events",
        "kind": "events",
        "format": "jsonl",
        "path": "web/*.jsonl",
        "columns": {"event_id": "id", "event_type": "type", "occurred_at": "at"},
    }
    project = small_project(tmp_path, [ORDERS_SOURCE, events], {"orders/2026.csv": ORDERS_CSV})
    (tmp_path / "landing" / "web").mkdir()
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    staged = materialization_metadata(result, "staging/web_events")
    facts = materialization_metadata(result, "core/events")
    assert facts["dagster/row_count"] == 0 and "resolved_share" not in facts
    assert "quarantine_share" not in staged
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    quarantine = checks[("staging/web_events", "quarantine_share")]
    assert quarantine.passed and quarantine.metadata["rows_read"].value == 0
    assert "quarantine_share" not in quarantine.metadata
    resolved = checks[("core/events", "resolved_share")]
    assert resolved.passed and "resolved_share" not in resolved.metadata
    # the orders' figures are still there
    assert materialization_metadata(result, "core/orders")["resolved_share"] == 0.75
