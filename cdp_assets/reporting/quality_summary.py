"""Per-source ingestion and quality figures: what was read, loaded, staged and quarantined."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import pandas as pd

SUMMARY_COLUMNS = (
    "source",
    "files_ingested",
    "duplicate_files",
    "rows_read",
    "exact_duplicates",
    "rows_suppressed",
    "quarantined_ingest",
    "rows_loaded",
    "quarantined_staging",
    "records_superseded",
    "rows_staged",
    "rows_removed",
    "field_issues",
    "quarantine_share",
)


def quality_summary(
    sources: list[str],
    ledger: pd.DataFrame,
    quarantine: pd.DataFrame,
    issues: pd.DataFrame,
    staged_rows: Mapping[str, int],
    raw_rows: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row per source, where every row read went:
    rows_read = exact_duplicates + rows_suppressed (erased people) + quarantined_ingest +
    rows_loaded, and rows_loaded = quarantined_staging + records_superseded + rows_staged +
    rows_removed, where rows_removed are raw rows deleted since loading (erasure requests and
    retention; see ops.erasure_log and ops.retention_log). Without `raw_rows`, none are."""
    rows = []
    for source in sources:
        led = ledger[ledger["source"] == source]
        q = quarantine[quarantine["source"] == source]
        iss = issues[issues["source"] == source]
        read = int(led["rows_read"].sum())
        loaded = int(led["rows_loaded"].sum())
        quarantined = int(len(q))
        removed = loaded - int(raw_rows.get(source, loaded)) if raw_rows is not None else 0
        rows.append(
            {
                "source": source,
                "files_ingested": int((led["status"] == "ingested").sum()),
                "duplicate_files": int((led["status"] == "duplicate_file").sum()),
                "rows_read": read,
                "exact_duplicates": int(led["exact_duplicates"].sum()),
                "rows_suppressed": int(led["rows_suppressed"].fillna(0).sum()),
                "quarantined_ingest": int(led["rows_quarantined"].sum()),
                "rows_loaded": loaded,
                "quarantined_staging": int((q["stage"] == "staging").sum()),
                "records_superseded": int((iss["action"] == "superseded").sum()),
                "rows_staged": int(staged_rows.get(source, 0)),
                "rows_removed": removed,
                "field_issues": int((iss["action"] != "superseded").sum()),
                "quarantine_share": round(quarantined / read, 5) if read else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def top_quarantine_reasons(quarantine: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The most frequent (source, rule) pairs among quarantined rows."""
    if quarantine.empty:
        return pd.DataFrame(columns=["source", "rule", "rows"])
    counts = quarantine.groupby(["source", "rule"]).size().rename("rows").reset_index()
    return counts.sort_values(["rows", "source", "rule"], ascending=[False, True, True]).head(n)


def quarantine_share_plot(summary: pd.DataFrame) -> str:
    """A horizontal bar chart of quarantine share per source, as a markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = summary.sort_values("quarantine_share")
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(data), 3) + 1))
    ax.barh(data["source"], data["quarantine_share"] * 100, color="#c0504d")
    ax.set_xlabel("rows quarantined (% of rows read)")
    ax.set_title("Quarantine share per source")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![quarantine share](data:image/png;base64,{encoded})"
