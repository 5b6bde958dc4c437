"""Property-based fuzzing of every file reader through the raw step: no exception escapes, and
every record of every file is loaded, quarantined or counted as an exact duplicate (the
ledger's per-file accounting and the `batch_conservation` check), matching the records
countable from the bytes. A small seeded set; bench/fuzz_readers.py runs 10,000+ files."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from cdp_assets.warehouse import Warehouse
from cdp_assets_tests.ingest.fuzz_files import fuzz_config, ingest_generated, landed_files


@seed(12)
@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(landed_files(), min_size=1, max_size=5))
def test_generated_files_never_stop_the_raw_step_and_every_record_is_accounted_for(
    tmp_path_factory, files
) -> None:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    config = fuzz_config(tmp_path)
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    counts = ingest_generated(tmp_path, wh, config, files, batch=0)
    assert counts.files == len(files)
    assert (
        counts.rows_read == counts.rows_loaded + counts.rows_quarantined + counts.exact_duplicates
    )
