"""Ingestion: reading landed files and sql sources as text, the file ledger, raw batches.

Pure Python/pandas; the Dagster wiring is in `cdp_assets.defs.ingestion`.
"""

from cdp_assets.ingest.batch import IngestBatch, check_mapped_columns, ingest_source
from cdp_assets.ingest.errors import SourceReadError
from cdp_assets.ingest.ledger import content_hash, discover_files
from cdp_assets.ingest.naming import raw_column_name, raw_names
from cdp_assets.ingest.readers import ReadResult, read_source_file, read_sql_source
from cdp_assets.ingest.row_hash import frame_content_hash, row_hashes

__all__ = [
    "IngestBatch",
    "ReadResult",
    "SourceReadError",
    "check_mapped_columns",
    "content_hash",
    "discover_files",
    "frame_content_hash",
    "ingest_source",
    "raw_column_name",
    "raw_names",
    "read_source_file",
    "read_sql_source",
    "row_hashes",
]
