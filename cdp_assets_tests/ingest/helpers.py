"""Helpers for ingestion tests: a cdp.yaml with a few sources over a tmp landing folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdp_assets.config import CDPConfig, parse_config


def make_config(tmp_path: Path, *sources: dict[str, Any]) -> CDPConfig:
    return parse_config(
        {"landing_dir": "landing", "sources": list(sources)},
        file=Path("cdp.yaml"),
        base_dir=tmp_path,
    )


def csv_source(**overrides: Any) -> dict[str, Any]:
    source = {
        "name": "shop_accounts",
        "kind": "customers",
        "format": "csv",
        "path": "shop_accounts/*.csv",
        "columns": {"source_record_id": "id", "email": "email"},
    }
    source.update(overrides)
    return source


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode(encoding)
    path.write_bytes(data)
    return path
