"""The page as a whole: every section present with a stable id and status, missing inputs
said in a sentence, hostile text escaped, nothing loaded from the network, and the files."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from cdp_assets.config import ConfigError, parse_config
from cdp_assets.reporting.insights import page
from cdp_assets.reporting.insights.report import (
    LATEST_NAME,
    build_report,
    dated_name,
    key_figures,
    write_report,
)
from cdp_assets.reporting.insights.sections import Section, missing
from cdp_assets.reporting.summary import insights_report_lines
from cdp_assets.warehouse import Warehouse
from cdp_assets_tests.analytics.warehouse_fixtures import orders, profiles, write_core
from cdp_assets_tests.reporting.insights_html import (
    REPORT_SECTIONS,
    external_references,
    section_statuses,
)

AS_OF = dt.date(2025, 3, 31)
SECTIONS = list(REPORT_SECTIONS)


def _config(tmp_path: Path, **reporting: object):
    data = {"reporting": reporting} if reporting else {}
    return parse_config(data, file=tmp_path / "cdp.yaml", base_dir=tmp_path)


def test_an_empty_warehouse_gives_every_section_missing_with_a_reason(
    warehouse_url: str, tmp_path: Path
) -> None:
    with Warehouse(warehouse_url).transaction() as session:
        report = build_report(session, _config(tmp_path), AS_OF, b"salt")
    statuses = section_statuses(report.html)
    assert list(statuses) == SECTIONS
    assert set(statuses.values()) == {"missing"}
    assert report.rendered == [] and report.skipped == SECTIONS
    assert all(s.sentence.endswith(".") and len(s.sentence) > 15 for s in report.sections)
    assert external_references(report.html) == []


def test_an_orders_only_warehouse_renders_the_headline_and_says_the_rest_is_missing(
    warehouse_url: str, tmp_path: Path
) -> None:
    # 2 March is the first day of the 30 days ending on 31 March; 1 March is the day before.
    rows = [
        ("A", "A1", "2025-03-02 00:00", 10.0),
        ("B", "B1", "2025-03-20 10:00", 20.0),
        ("B", "B0", "2025-03-01 23:59", 5.0),
    ]
    warehouse = write_core(warehouse_url, orders=orders(rows), customer_profiles=profiles("A", "B"))
    with warehouse.transaction() as session:
        report = build_report(session, _config(tmp_path), AS_OF, b"salt")
    statuses = section_statuses(report.html)
    assert statuses["headline"] == "rendered"
    assert [n for n, s in statuses.items() if s == "missing"] == SECTIONS[1:]
    by_name = {s.name: s for s in report.sections}
    assert "No surveys are configured" in by_name["surveys"].sentence
    assert "ml.sales_forecast" in by_name["forecast"].sentence
    assert key_figures(report)["headline.revenue"] == 30.0
    assert external_references(report.html) == []


def test_hostile_text_is_escaped_everywhere() -> None:
    hostile = '<script>alert("x")</script>'
    sections = [
        Section("t", hostile, "rendered", hostile, page.table([hostile], [[hostile]])),
        missing("m", "Missing", f"because {hostile}"),
    ]
    html = page.report_page(hostile, AS_OF, dt.datetime(2025, 4, 1, tzinfo=dt.UTC), sections)
    assert "<script>" not in html
    # page title and heading, the nav link, the section heading, sentence, table header and
    # cell, the missing section's reason
    assert html.count("&lt;script&gt;") == 8
    assert section_statuses(html) == {"t": "rendered", "m": "missing"}


def test_figures_are_right_aligned_and_words_are_not() -> None:
    html = page.table(
        ["what", "value"],
        [
            ["Revenue", "16,103 USD"],
            ["Change", "-25.1 %"],
            ["Uplift", "+2.1 pp [+0.4, +3.8]"],
            ["Rate", "–"],
        ],
    )
    cells = re.findall(r"<td( class=\"n\")?>([^<]*)</td>", html)
    assert [(text, bool(n)) for n, text in cells] == [
        ("Revenue", False),
        ("16,103 USD", True),
        ("Change", False),
        ("-25.1 %", True),
        ("Uplift", False),
        ("+2.1 pp [+0.4, +3.8]", True),
        ("Rate", False),
        ("–", True),  # a figure that cannot be computed sits where the figure would
    ]


def test_only_inline_png_charts_are_accepted() -> None:
    assert page.image("data:image/png;base64,iVBORw0KGgo=", "a chart").startswith("<img src=")
    for source in ("https://cdn.example.com/chart.png", "chart.png", "javascript:alert(1)"):
        with pytest.raises(ValueError, match="inline PNG"):
            page.image(source, "a chart")


def test_external_reference_detection_finds_what_it_must() -> None:
    """The checker the other tests rely on fails on a CDN script, a stylesheet link, an
    https image and a CSS import."""
    for snippet in (
        '<script src="https://cdn.example.com/x.js"></script>',
        '<link rel="stylesheet" href="http://example.com/x.css">',
        '<img src="https://example.com/x.png">',
        "<style>@import 'x.css';</style>",
    ):
        assert external_references(f"<html><body>{snippet}</body></html>"), snippet


def test_write_report_keeps_a_dated_copy_and_the_latest(tmp_path: Path, warehouse_url: str) -> None:
    folder = tmp_path / "out" / "reports"
    with Warehouse(warehouse_url).transaction() as session:
        first = build_report(session, _config(tmp_path), AS_OF, b"salt")
        second = build_report(session, _config(tmp_path), AS_OF + dt.timedelta(days=1), b"salt")
    write_report(first, folder)
    dated, latest = write_report(second, folder)
    assert dated == folder / dated_name(AS_OF + dt.timedelta(days=1))
    assert latest == folder / LATEST_NAME
    assert (folder / dated_name(AS_OF)).read_text(encoding="utf-8") == first.html
    assert latest.read_text(encoding="utf-8") == second.html
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [dated_name(AS_OF), dated_name(AS_OF + dt.timedelta(days=1)), LATEST_NAME]
    )


def test_an_unusable_report_dir_names_the_config_key(tmp_path: Path, warehouse_url: str) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    with Warehouse(warehouse_url).transaction() as session:
        report = build_report(session, _config(tmp_path), AS_OF, b"salt")
    with pytest.raises(OSError, match="reporting.report_dir"):
        write_report(report, blocker / "inner")
    assert blocker.is_file()  # nothing written in its place


def test_reporting_config_defaults_and_bad_values(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config.reporting.report_dir == "reports"
    assert config.reporting.period_days == 30
    with pytest.raises(ConfigError, match="reporting.period_days"):
        _config(tmp_path, period_days=3)
    with pytest.raises(ConfigError, match="reporting.unknown"):
        _config(tmp_path, unknown=1)


def test_the_summary_prints_where_the_report_is(tmp_path: Path) -> None:
    config = _config(tmp_path, report_dir="out/reports")
    latest = tmp_path / "out" / "reports" / LATEST_NAME
    assert insights_report_lines(config) == [
        "",
        f"No insights report yet at {latest} (activation/insights_report).",
    ]
    latest.parent.mkdir(parents=True)
    latest.write_text("<html></html>", encoding="utf-8")
    assert insights_report_lines(config)[-1] == (
        f"Customer insights report (open it in a browser): {latest}"
    )
