"""The whole report: every section in order, the page, and its files.

Files: `<report_dir>/customer_insights_<as_of>.html` (one per analysis date: a backfill or a
re-run of a day replaces that day's copy) and `customer_insights_latest.html`, the page of the
latest run, whatever its date. Both are written to a temporary file and renamed, so a reader
never opens half a report.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cdp_assets.analytics.features import existing_core_tables
from cdp_assets.config import CDPConfig
from cdp_assets.reporting.insights import (
    campaigns,
    churn,
    cohorts,
    forecast,
    headline,
    segments,
    service,
    value,
)
from cdp_assets.reporting.insights.page import report_page
from cdp_assets.reporting.insights.sections import Section
from cdp_assets.warehouse import WarehouseSession

TITLE = "Customer insights"
FILE_STEM = "customer_insights"
LATEST_NAME = f"{FILE_STEM}_latest.html"


@dataclass(frozen=True)
class Report:
    as_of: dt.date
    sections: tuple[Section, ...]
    html: str

    @property
    def rendered(self) -> list[str]:
        return [s.name for s in self.sections if s.status == "rendered"]

    @property
    def skipped(self) -> list[str]:
        return [s.name for s in self.sections if s.status == "missing"]


def build_sections(
    session: WarehouseSession, config: CDPConfig, as_of: dt.date, salt: bytes
) -> list[Section]:
    tables = existing_core_tables(session)
    currency = config.base_currency
    analytics = config.analytics
    return [
        headline.build(session, as_of, config.reporting.period_days, currency, tables),
        segments.build(session, analytics.rfm_segments, analytics.support_sla_hours, tables),
        cohorts.build_cohorts(session, as_of),
        cohorts.build_acquisition(session, currency),
        value.build(session, salt, config.reporting.top_customers, currency),
        churn.build(session),
        service.build_surveys(session),
        service.build_support(session, as_of, analytics.support_sla_hours),
        campaigns.build(session, currency),
        forecast.build(session, config.timezone, currency, tables),
    ]


def build_report(
    session: WarehouseSession,
    config: CDPConfig,
    as_of: dt.date,
    salt: bytes,
    generated_at: dt.datetime | None = None,
) -> Report:
    sections = tuple(build_sections(session, config, as_of, salt))
    stamp = generated_at or dt.datetime.now(dt.UTC)
    return Report(as_of, sections, report_page(TITLE, as_of, stamp, sections))


def dated_name(as_of: dt.date) -> str:
    return f"{FILE_STEM}_{as_of.isoformat()}.html"


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report(report: Report, folder: Path) -> tuple[Path, Path]:
    """(dated copy, latest) written under `folder` (created if need be)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"reporting.report_dir: cannot create {folder}: {exc.strerror}") from exc
    dated, latest = folder / dated_name(report.as_of), folder / LATEST_NAME
    _write_atomically(dated, report.html)
    _write_atomically(latest, report.html)
    return dated, latest


def key_figures(report: Report) -> dict[str, float | int | str]:
    """Every section's key numbers, named `<section>.<figure>`, for the asset metadata."""
    return {f"{s.name}.{k}": v for s in report.sections for k, v in s.figures.items()}
