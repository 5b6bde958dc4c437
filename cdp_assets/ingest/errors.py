"""The one error of ingestion: a source that cannot be read as configured."""

from __future__ import annotations

from cdp_assets.config import SourceConfig


class SourceReadError(Exception):
    """A source file (or sql result) cannot be read as configured.

    The message names the source's key path in cdp.yaml, the source, the file (relative to the
    landing folder) and the line where known, so it can be shown to the data team as it is.
    """


def where(source: SourceConfig, display_name: str, line: int | None = None) -> str:
    """`sources[3]: file shop/2026-01-02.csv (source shop_accounts), line 7`."""
    text = f"{source.key_path}: file {display_name} (source {source.name})"
    return text if line is None else f"{text}, line {line}"


class UnreadableFile(SourceReadError):
    """A landed file whose content cannot be read at all (no header, a corrupt parquet file,
    bytes of no encoding): the file is quarantined whole and the batch goes on. `line` is
    where reading stopped, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line
