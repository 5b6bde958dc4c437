"""The Dagster UI in a real browser (Playwright driving the system's Chromium), as a new user
meets it after `make demo` and `make ui`: the sensors' first look launches nothing, the asset
graph opens, an asset materializes from its page and its figures show."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from cdp_assets.reporting.insights.report import LATEST_NAME
from cdp_assets.warehouse import dispose_engines
from cdp_assets_tests.browser.ui import RunningUI, chromium_or_skip, dagster_dev, instance_home
from cdp_assets_tests.e2e.pipeline import REPO, DemoProject, make_demo_project, run_job
from cdp_assets_tests.reporting.insights_html import REPORT_SECTIONS

RFM = dg.AssetKey(["analytics", "rfm"])


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def demo_ui(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("ui")
    project = make_demo_project(root, f"duckdb:///{root / 'warehouse.duckdb'}", people=150)
    home = instance_home(root, REPO)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    assert run_job(project, instance).success  # what `make demo` leaves behind
    env = project.env() | {"CDP_SENSOR_INTERVAL_SECONDS": "2"}
    with dagster_dev(home, env, cwd=root, workspace=REPO / "workspace.yaml") as ui:
        yield {"project": project, "instance": instance, "ui": ui}
    instance.dispose()


@pytest.fixture
def page(chromium: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.console_errors = []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        yield page
        browser.close()


def _dismiss_welcome(page) -> None:
    """Dagster's first-visit newsletter dialog covers the page until skipped."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=10_000)
    except Exception:  # noqa: BLE001 - no dialog this time
        return
    skip.click()


def _run_ids(instance: dg.DagsterInstance) -> list[str]:
    return [r.run_id for r in instance.get_runs()]


def test_the_sensors_first_look_launches_nothing(demo_ui: dict) -> None:
    """`make ui` after `make demo`: the file sensors (no cursor yet) and the automation sensor
    tick every 2 s here; none of them redoes what the demo did."""
    instance: dg.DagsterInstance = demo_ui["instance"]
    before = _run_ids(instance)
    time.sleep(10)
    assert _run_ids(instance) == before
    log = demo_ui["ui"].log.read_text(encoding="utf-8")
    assert "does not match the name" not in log  # the code location is named in pyproject


def test_materialize_an_asset_from_its_page_and_read_its_figures(demo_ui: dict, page) -> None:
    ui: RunningUI = demo_ui["ui"]
    project: DemoProject = demo_ui["project"]
    instance: dg.DagsterInstance = demo_ui["instance"]

    page.goto(f"{ui.url}/asset-groups")
    _dismiss_welcome(page)
    page.get_by_text("Global asset lineage").wait_for(timeout=60_000)
    for group in ("raw", "staging", "core", "analytics", "ml", "activation"):
        page.get_by_text(group, exact=True).first.wait_for(timeout=30_000)

    before = instance.get_latest_materialization_event(RFM)
    rows = len(project.table("analytics", "rfm"))
    dispose_engines()  # the runs the UI launches write the DuckDB file
    page.goto(f"{ui.url}/assets/analytics/rfm")
    _dismiss_welcome(page)
    page.locator("button").filter(has_text=re.compile(r"^Materialize$")).first.click()
    page.get_by_text(re.compile(r"Launched run")).wait_for(timeout=30_000)
    page.get_by_role("link", name="View").first.click()
    page.wait_for_url(re.compile(r"/runs/"), timeout=30_000)
    page.get_by_text("Success", exact=True).first.wait_for(timeout=180_000)

    latest = instance.get_latest_materialization_event(RFM)
    assert latest is not None and latest.run_id != before.run_id
    page.goto(f"{ui.url}/assets/analytics/rfm")
    status = page.get_by_text("Row count").locator("xpath=..")
    status.get_by_text(str(rows), exact=True).wait_for(timeout=30_000)
    page.get_by_text("segments", exact=True).first.wait_for(timeout=30_000)
    assert page.console_errors == []


SECTIONS = REPORT_SECTIONS


def test_the_insights_report_renders_every_section_without_a_console_error(
    demo_ui: dict, page
) -> None:
    """The nightly run wrote the report; opened from disk (as a marketer would, no network)
    every section is there, rendered or saying which input is missing, and nothing errs."""
    project: DemoProject = demo_ui["project"]
    report = project.root / "reports" / LATEST_NAME
    assert report.exists()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    statuses = {
        s.get_attribute("id").removeprefix("section-"): s.get_attribute("data-status")
        for s in page.locator("section[id^=section-]").all()
    }
    assert set(statuses) == set(SECTIONS)
    assert set(statuses.values()) <= {"rendered", "missing"}
    # The nightly run builds everything but the models' scores (no promoted model yet).
    assert {"headline", "rfm", "cohorts", "acquisition"} <= {
        name for name, status in statuses.items() if status == "rendered"
    }
    for name in statuses:
        text = page.locator(f"#section-{name}").inner_text()
        assert len(text.split()) >= 6, name  # a sentence, not an empty box
    for image in page.locator("img").all():  # every chart decoded (inline PNG)
        assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    assert all(url.startswith(("file:", "data:")) for url in requests)
    assert page.console_errors == []
