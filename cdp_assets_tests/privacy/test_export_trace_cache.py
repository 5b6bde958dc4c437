"""The erased-people scan of export files remembers the files it scanned: same table as
`export_traces`, but an unchanged file is not read again under the same suppression list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cdp_assets.privacy import export_trace_cache
from cdp_assets.privacy.export_trace_cache import CACHE_FILE, cached_export_traces
from cdp_assets.privacy.identifiers import Identifiers
from cdp_assets.privacy.trace import export_traces

SALT = b"test-salt"


def _suppressed(*emails: str) -> frozenset[str]:
    ids = Identifiers()
    ids.add("email", list(emails))
    return frozenset(ids.hashes(SALT)["identifier_hash"])


def _exports(tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    for export_id, emails in (
        ("e1", ["ann@example.com", "bob@example.com"]),
        ("e2", ["bob@example.com"]),
    ):
        folder = root / "esp" / "fans" / export_id
        folder.mkdir(parents=True)
        pd.DataFrame({"customer_id": ["C1"] * len(emails), "email": emails}).to_csv(
            folder / "full.csv", index=False
        )
    pd.DataFrame({"customer_id": ["C9"], "phone": ["+16502530000"]}).to_parquet(
        root / "sms.parquet"
    )
    return root


class Counting:
    """The real per-file scan, counting the files it reads."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: Path, salt: bytes, suppressed: frozenset[str]) -> tuple[int, int]:
        self.paths.append(path.name if path.suffix == ".parquet" else path.parent.name)
        return export_trace_cache.scan_file(path, salt, suppressed)


def test_same_table_as_export_traces_and_unchanged_files_are_not_read_again(
    tmp_path: Path,
) -> None:
    root = _exports(tmp_path)
    suppressed = _suppressed("ann@example.com")
    counting = Counting()
    first = cached_export_traces(root, SALT, suppressed, scan=counting)
    pd.testing.assert_frame_equal(first.traces, export_traces(root, SALT, suppressed))
    assert first.traces["traces"].tolist() == [1, 0, 0]
    assert (first.scanned, first.remembered) == (3, 0)

    again = cached_export_traces(root, SALT, suppressed, scan=counting)
    pd.testing.assert_frame_equal(again.traces, first.traces)
    assert (again.scanned, again.remembered) == (0, 3)
    assert len(counting.paths) == 3  # nothing read the second time


def test_a_rewritten_file_or_a_new_suppression_list_is_scanned_again(tmp_path: Path) -> None:
    root = _exports(tmp_path)
    cached_export_traces(root, SALT, _suppressed("ann@example.com"))
    # An erasure scrub rewrites a file: its new bytes are scanned, the others remembered.
    (root / "esp" / "fans" / "e1" / "full.csv").write_text("customer_id,email\nC2,cy@example.com\n")
    counting = Counting()
    scrubbed = cached_export_traces(root, SALT, _suppressed("ann@example.com"), scan=counting)
    assert counting.paths == ["e1"]
    assert scrubbed.traces["traces"].tolist() == [0, 0, 0]
    # Someone else erased: every file is scanned with the new list.
    counting = Counting()
    widened = _suppressed("ann@example.com", "bob@example.com")
    result = cached_export_traces(root, SALT, widened, scan=counting)
    assert sorted(counting.paths) == ["e1", "e2", "sms.parquet"]
    pd.testing.assert_frame_equal(result.traces, export_traces(root, SALT, widened))
    assert result.traces["traces"].tolist() == [0, 1, 0]


@pytest.mark.parametrize("content", ["not json", '{"version": 1, "suppression": "x", "files": []}'])
def test_an_unreadable_memory_is_rebuilt(tmp_path: Path, content: str) -> None:
    root = _exports(tmp_path)
    (root / CACHE_FILE).write_text(content)
    suppressed = _suppressed("ann@example.com")
    result = cached_export_traces(root, SALT, suppressed)
    assert result.scanned == 3
    pd.testing.assert_frame_equal(result.traces, export_traces(root, SALT, suppressed))


def test_nothing_erased_scans_nothing(tmp_path: Path) -> None:
    root = _exports(tmp_path)
    assert cached_export_traces(root, SALT, frozenset()).traces.empty
    assert not (root / CACHE_FILE).exists()
