"""End to end: the `make demo` sequence on a small demo through the real jobs — every model
trained, promoted and scored, and the insights report those runs write."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from cdp_assets.config import load_config
from cdp_assets.defs.unchanged import RECOMPUTE_TAG
from cdp_assets.ml.churn import FeatureModel, _reference, fit_calibrated_boosting
from cdp_assets.ml.model_store import ModelStore
from cdp_assets.ml.snapshots import model_matrix
from cdp_assets.reporting.insights.report import LATEST_NAME, dated_name
from cdp_assets.reporting.summary import insights_report_lines
from cdp_assets_tests.e2e.pipeline import (
    END_DATE,
    DemoProject,
    load_definitions,
    make_demo_project,
    materialization_metadata,
    project_env,
    run_job,
)
from cdp_assets_tests.reporting.insights_html import (
    REPORT_SECTIONS,
    external_references,
    section_statuses,
)

CAMPAIGN_START = "2026-09-01"  # the demo campaigns' start (Makefile: CAMPAIGN_START)


class CampaignStart(DemoProject):
    """The same project as of the campaigns' start."""

    def env(self) -> dict[str, str]:
        return super().env() | {"CDP_AS_OF": CAMPAIGN_START}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The `make demo` sequence: a nightly run as of the campaigns' start (customers assigned
    to arms), then nightly, training (twice: the second must not replace the champion) and
    scoring as of the demo's end."""
    root = tmp_path_factory.mktemp("models")
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}", people=1500)
    start = CampaignStart(
        project.root, project.config_path, project.ground_truth, project.warehouse_url
    )
    with dg.instance_for_test() as instance:
        run_job(start, instance)
        nightly = run_job(project, instance)
        first = run_job(project, instance, job="train_models")
        again = run_job(project, instance, job="train_models")
        scored = run_job(project, instance, job="score_models")
        yield {
            "project": project,
            "nightly": nightly,
            "first": first,
            "again": again,
            "scored": scored,
            "instance": instance,
        }


def test_models_train_promote_and_score(trained: dict) -> None:
    project: DemoProject = trained["project"]
    assert all(trained[k].success for k in ("nightly", "first", "again", "scored"))
    store = ModelStore(project.root / "models")
    for name in ("churn", "leads", "ltv"):
        meta = materialization_metadata(trained["first"], f"ml/{name}_model")
        assert meta["status"] == "trained", meta
        assert store.champion(name) == meta["version"]
    # Retraining on the same data does not replace the champion: a tie keeps it.
    for name in ("churn", "leads", "ltv"):
        again = materialization_metadata(trained["again"], f"ml/{name}_model")
        assert again["promoted"] is False, again
        assert (
            store.champion(name)
            == materialization_metadata(trained["first"], f"ml/{name}_model")["version"]
        )
        assert len(store.versions(name)) >= 1

    features = project.table("analytics", "customer_features")
    buyers = set(features.loc[features["frequency"] > 0, "customer_id"])
    churn = project.table("ml", "churn_scores")
    assert set(churn["customer_id"]) == buyers
    assert churn["churn_probability"].between(0, 1).all()
    assert set(churn["risk_band"]) <= {"low", "medium", "high"}
    assert churn["top_reason_1"].notna().any()
    ltv = project.table("ml", "customer_ltv")
    assert set(ltv["customer_id"]) == buyers and (ltv["predicted_revenue"] >= 0).all()
    leads = project.table("ml", "lead_scores")
    assert not set(leads["customer_id"]) & buyers
    recommendations = project.table("ml", "product_recommendations")
    assert recommendations.groupby("customer_id")["rank"].max().max() <= 10
    assert recommendations[["customer_id", "product_id"]].drop_duplicates().shape[0] == len(
        recommendations
    )


def test_scoring_before_any_training_says_so(tmp_path: Path) -> None:
    project = make_demo_project(tmp_path, f"duckdb:///{tmp_path / 'w.duckdb'}", people=120)
    with dg.instance_for_test() as instance:
        result = run_job(project, instance)
    assert result.success
    meta = materialization_metadata(result, "ml/churn_scores")
    assert meta["status"].startswith("no promoted churn model yet")
    assert len(project.table("ml", "churn_scores")) == 0


def test_an_orders_only_setup_trains_churn_and_ltv_and_says_no_leads(tmp_path: Path) -> None:
    """Shop orders and their items alone, over three years: churn and lifetime value train,
    are promoted and score; there is no lead scoring, since nobody can be known before an
    order."""
    import yaml

    from cdp_assets.demo import generate_demo
    from cdp_assets_tests.e2e.pipeline import END_DATE, REPO

    generate_demo(people=1500, seed=11, end_date=END_DATE, out=tmp_path / "data", history_days=1095)
    full = yaml.safe_load((REPO / "cdp.yaml").read_text(encoding="utf-8"))
    sources = [s for s in full["sources"] if s["name"] in ("shop_orders", "shop_order_items")]
    sources[0].pop("customer_ref_source")  # no accounts source: references stand alone
    config = {k: full[k] for k in ("base_currency", "fx_rates", "timezone", "default_country")}
    config |= {"landing_dir": "data/landing", "sources": sources}
    config_path = tmp_path / "cdp.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    project = DemoProject(tmp_path, config_path, tmp_path, f"duckdb:///{tmp_path / 'wh.duckdb'}")
    with dg.instance_for_test() as instance:
        assert run_job(project, instance).success
        trained = run_job(project, instance, job="train_models")
        scored = run_job(project, instance, job="score_models")
    assert trained.success and scored.success
    store = ModelStore(tmp_path / "models")
    assert store.champion("churn") is not None and store.champion("ltv") is not None
    # Every customer comes from an order, so nobody can be a lead: there is no lead model.
    assert store.champion("leads") is None
    built = {e.asset_key.to_user_string() for e in trained.get_asset_materialization_events()}
    assert "ml/churn_model" in built and "ml/leads_model" not in built
    ltv = materialization_metadata(trained, "ml/ltv_model")
    evaluated = ltv["models_evaluated"].split(", ")
    assert {"bg_nbd_gamma_gamma", "gradient_boosting", "pareto_nbd_gamma_gamma"} <= set(evaluated)
    assert {"mbg_nbd_gamma_gamma", "learned_covariates_gamma_gamma"} <= set(evaluated)
    # The purchase model chosen on the selection split, corrected there.
    assert ltv["chosen_model"] == f"{ltv['purchase_model']}_gamma_gamma_corrected"
    assert "backtest_purchase_correction" in ltv
    assert ltv["mae_bg_nbd_gamma_gamma"] < ltv["mae_naive_baseline"]
    churn = materialization_metadata(trained, "ml/churn_model")
    assert churn["status"] == "trained"
    customers = project.table("core", "customer_profiles")
    scores = project.table("ml", "churn_scores")
    assert 0 < len(scores) <= len(customers)
    c360 = project.table("activation", "customer_360")
    assert c360["churn_probability"].notna().sum() == len(scores)
    assert c360["predicted_ltv"].notna().sum() == len(project.table("ml", "customer_ltv"))


# -- the insights report, built by the same runs ----------------------------------------------

SECTIONS = REPORT_SECTIONS


def test_nightly_and_scoring_write_the_report_with_every_section(trained: dict) -> None:
    project: DemoProject = trained["project"]
    folder = project.root / "reports"
    dated, latest = folder / dated_name(END_DATE), folder / LATEST_NAME
    assert dated.exists() and latest.exists()
    html = latest.read_text(encoding="utf-8")
    assert dated.read_text(encoding="utf-8") == html
    statuses = section_statuses(html)
    assert list(statuses) == list(SECTIONS)
    assert statuses == {name: "rendered" for name in SECTIONS}
    assert external_references(html) == []

    nightly = materialization_metadata(trained["nightly"], "activation/insights_report")
    scored = materialization_metadata(trained["scored"], "activation/insights_report")
    assert nightly["path"] == str(dated)
    assert scored["sections_rendered"] == len(SECTIONS) and scored["skipped"] == "-"
    # The headline's customers are the profiles that existed by the analysis date.
    profiles = project.table("core", "customer_profiles")
    assert scored["headline.customers"] == len(profiles)
    assert scored["churn.high_risk_customers"] == int(
        (project.table("ml", "churn_scores")["risk_band"] == "high").sum()
    )
    assert scored["ltv.customers_scored"] == len(project.table("ml", "customer_ltv"))
    # The campaigns' start keeps its own dated copy; `make summary` prints the latest.
    assert (folder / f"customer_insights_{CAMPAIGN_START}.html").exists()
    config = load_config(project.config_path)
    assert insights_report_lines(config)[-1].endswith(str(latest))


def test_the_report_names_no_customer(trained: dict) -> None:
    project: DemoProject = trained["project"]
    html = (project.root / "reports" / LATEST_NAME).read_text(encoding="utf-8")
    profiles = project.table("core", "customer_profiles")
    ids = set(profiles["customer_id"].dropna())
    assert ids and not any(customer_id in html for customer_id in ids)
    for column in ("email", "phone"):
        if column in profiles.columns:
            values = {v for v in profiles[column].dropna() if len(str(v)) > 5}
            assert not any(str(v) in html for v in values)
    assert "P-" in html  # the top customers are there, under pseudonyms


def test_the_page_parses_as_html(trained: dict) -> None:
    project: DemoProject = trained["project"]
    parser = HTMLParser()
    parser.feed((project.root / "reports" / LATEST_NAME).read_text(encoding="utf-8"))
    parser.close()
    assert Path(project.root / "reports").is_dir()


def _score_churn_again(trained: dict) -> dg.ExecuteInProcessResult:
    project: DemoProject = trained["project"]
    with project_env(project):
        return (
            load_definitions()
            .resolve_job_def("score_models")
            .execute_in_process(
                instance=trained["instance"],
                tags={RECOMPUTE_TAG: "true"},
                asset_selection=[dg.AssetKey(["ml", "churn_scores"])],
            )
        )


def test_rescoring_with_the_same_model_reuses_every_unmoved_customer(trained: dict) -> None:
    """Last in this module: it promotes boosted trees for churn (the demo's small data makes
    the logistic regression champion, which has no cells and keeps nothing) and scores twice
    more on the same features. The first of those computes every buyer and keeps them by cell
    row; the second finds every cell row kept, computes no one, and publishes the same scores."""
    project: DemoProject = trained["project"]
    store = ModelStore(project.root / "models")
    first = materialization_metadata(trained["scored"], "ml/churn_scores")
    assert first["reasons_computed"] == len(project.table("ml", "churn_scores")) > 0

    champion = store.load("churn").model
    features = project.table("analytics", "customer_features")
    matrix = model_matrix(features[features["frequency"] > 0], champion.features)
    recency = matrix[:, champion.features.index("recency_weeks")]
    label = (np.nan_to_num(recency, nan=0.0) > np.nanmedian(recency)).astype(int)
    boosted = FeatureModel(
        "gradient_boosting",
        fit_calibrated_boosting(matrix, label, groups=np.arange(len(label)) % 50),
        champion.features,
        _reference(matrix),
    )
    store.promote("churn", store.save("churn", boosted, {"test": "boosted trees"}))

    computed = _score_churn_again(trained)
    scores = project.table("ml", "churn_scores")
    assert materialization_metadata(computed, "ml/churn_scores")["reasons_computed"] == len(scores)
    kept = project.table("ml", "churn_scores_by_cells")
    assert 0 < len(kept) <= len(scores) and "customer_id" not in kept.columns
    reused = _score_churn_again(trained)
    assert materialization_metadata(reused, "ml/churn_scores")["reasons_computed"] == 0
    pd.testing.assert_frame_equal(
        project.table("ml", "churn_scores").sort_values("customer_id", ignore_index=True),
        scores.sort_values("customer_id", ignore_index=True),
    )


def test_checks_described_as_warnings_report_warnings(trained: dict) -> None:
    """A check whose description says it warns is evaluated with WARN severity: the model's
    `auc_above_floor` ("warn, does not block") was evaluated as an ERROR."""
    project: DemoProject = trained["project"]
    with project_env(project):
        graph = load_definitions().resolve_asset_graph()
    warns = {
        (key.asset_key.to_user_string(), key.name)
        for key in graph.asset_check_keys
        if "warn" in (graph.get_check_spec(key).description or "").lower()
    }
    evaluated = {
        (e.asset_key.to_user_string(), e.check_name): e.severity
        for run in ("nightly", "first", "scored")
        for e in trained[run].get_asset_check_evaluations()
    }
    assert ("ml/churn_model", "auc_above_floor") in warns & set(evaluated)
    errors = sorted(k for k in warns & set(evaluated) if evaluated[k] != dg.AssetCheckSeverity.WARN)
    assert not errors, "\n".join(f"{k}: {evaluated[k]}" for k in errors)
