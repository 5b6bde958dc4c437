"""End to end: the insights report through the real Definitions on a small demo, the way
`make demo` builds it — a nightly run as of the campaigns' start (customers assigned to arms),
then nightly, training and scoring as of the demo's end — and the HTML parsed: every section
present, rendered unless its input does not exist (the demo has no sales forecast yet), and
nothing loaded from anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from cdp_assets.config import load_config
from cdp_assets.reporting.insights.report import LATEST_NAME, dated_name
from cdp_assets.reporting.summary import insights_report_lines
from cdp_assets_tests.e2e.pipeline import END_DATE, DemoProject, make_demo_project, run_job
from cdp_assets_tests.reporting.insights_html import external_references, section_statuses

SECTIONS = (
    "headline",
    "rfm",
    "cohorts",
    "acquisition",
    "ltv",
    "churn",
    "surveys",
    "support",
    "campaigns",
    "forecast",
)


CAMPAIGN_START = "2026-09-01"  # the demo campaigns' start (Makefile: CAMPAIGN_START)


class CampaignStart(DemoProject):
    """The same project as of the campaigns' start."""

    def env(self) -> dict[str, str]:
        return super().env() | {"CDP_AS_OF": CAMPAIGN_START}


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("insights")
    # Enough people for the lifetime-value model to train and be promoted.
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}", people=1200)
    with dg.instance_for_test() as instance:
        run_job(
            CampaignStart(
                project.root, project.config_path, project.ground_truth, project.warehouse_url
            ),
            instance,
        )
        nightly = run_job(project, instance)
        run_job(project, instance, job="train_models")
        scored = run_job(project, instance, job="score_models")
        yield {"project": project, "nightly": nightly, "scored": scored}


def _report_metadata(result: dg.ExecuteInProcessResult) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == "activation/insights_report":
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError("activation/insights_report was not materialized")


def test_nightly_and_scoring_write_the_report_with_every_section(reported: dict) -> None:
    project: DemoProject = reported["project"]
    folder = project.root / "reports"
    dated, latest = folder / dated_name(END_DATE), folder / LATEST_NAME
    assert dated.exists() and latest.exists()
    html = latest.read_text(encoding="utf-8")
    assert dated.read_text(encoding="utf-8") == html
    statuses = section_statuses(html)
    assert list(statuses) == list(SECTIONS)
    assert statuses == {name: "rendered" for name in SECTIONS}
    assert external_references(html) == []

    nightly = _report_metadata(reported["nightly"])
    scored = _report_metadata(reported["scored"])
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


def test_the_report_names_no_customer(reported: dict) -> None:
    project: DemoProject = reported["project"]
    html = (project.root / "reports" / LATEST_NAME).read_text(encoding="utf-8")
    profiles = project.table("core", "customer_profiles")
    ids = set(profiles["customer_id"].dropna())
    assert ids and not any(customer_id in html for customer_id in ids)
    for column in ("email", "phone"):
        if column in profiles.columns:
            values = {v for v in profiles[column].dropna() if len(str(v)) > 5}
            assert not any(str(v) in html for v in values)
    assert "P-" in html  # the top customers are there, under pseudonyms


def test_the_page_parses_as_html(reported: dict) -> None:
    project: DemoProject = reported["project"]
    parser = HTMLParser()
    parser.feed((project.root / "reports" / LATEST_NAME).read_text(encoding="utf-8"))
    parser.close()
    assert Path(project.root / "reports").is_dir()
