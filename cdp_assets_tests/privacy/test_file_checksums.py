"""`FileChecksums`: a file's SHA-256 read once while its bytes stay put, across steps too."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from cdp_assets.activation.atomic import write_bytes_atomically
from cdp_assets.privacy import file_checksums
from cdp_assets.privacy.file_checksums import MEMO_FILE, FileChecksums


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the files whose bytes were hashed."""
    seen: list[str] = []
    plain = file_checksums.file_checksum

    def counting(path: Path) -> str:
        seen.append(path.name)
        return plain(path)

    monkeypatch.setattr(file_checksums, "file_checksum", counting)
    return seen


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _aged(path: Path, seconds: float = 30.0) -> None:
    """Modified `seconds` ago (as a file written by an earlier night)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _step(root: Path, *paths: Path) -> list[str]:
    """One step's checksums of `paths` with `root` remembered; its memo saved."""
    checksums = FileChecksums(remember=(root,))
    found = [checksums(p) for p in paths]
    checksums.save()
    return found


def test_a_later_step_trusts_the_memo_of_a_file_that_stayed_put(tmp_path: Path, reads) -> None:
    export = tmp_path / "esp" / "vip" / "full.csv"
    export.parent.mkdir(parents=True)
    export.write_text("email\nann@example.com\n")
    _aged(export)
    assert _step(tmp_path, export) == [_sha(export)] and reads == ["full.csv"]
    assert _step(tmp_path, export) == [_sha(export)] and reads == ["full.csv"]
    memo = json.loads((tmp_path / MEMO_FILE).read_text())
    assert list(memo["files"]) == ["esp/vip/full.csv"]
    assert oct((tmp_path / MEMO_FILE).stat().st_mode & 0o777) == "0o600"


def test_a_file_modified_within_a_second_of_its_checksum_is_read_again(
    tmp_path: Path, reads
) -> None:
    """Racily clean (a coarse clock may not show a rewrite in the same tick): read again
    until a checksum is taken more than a second after its last change."""
    fresh = tmp_path / "fresh.csv"
    fresh.write_text("email\nbob@example.com\n")
    _step(tmp_path, fresh)
    _step(tmp_path, fresh)
    assert reads == ["fresh.csv", "fresh.csv"]
    _aged(fresh)
    _step(tmp_path, fresh)
    _step(tmp_path, fresh)
    assert reads == ["fresh.csv"] * 3


def test_changed_bytes_are_read_again_whatever_the_times_say(tmp_path: Path, reads) -> None:
    """Rewritten in place with the same size and the old modification time put back: the
    status-change time gives it away. Replaced atomically: another inode."""
    in_place = tmp_path / "in_place.csv"
    in_place.write_text("email\ncat@example.com\n")
    _aged(in_place)
    before = in_place.stat()
    first = _step(tmp_path, in_place)
    time.sleep(0.02)
    in_place.write_text("email\ndan@example.com\n")
    os.utime(in_place, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert in_place.stat().st_size == before.st_size
    assert _step(tmp_path, in_place) == [_sha(in_place)] != first
    replaced = tmp_path / "replaced.csv"
    replaced.write_text("email\neve@example.com\n")
    _aged(replaced)
    _step(tmp_path, replaced)
    write_bytes_atomically(replaced, b"email\nfay@example.com\n", 0o600)
    _aged(replaced)
    assert _step(tmp_path, replaced) == [_sha(replaced)]
    assert reads == ["in_place.csv", "in_place.csv", "replaced.csv", "replaced.csv"]


def test_a_damaged_memo_is_rebuilt_and_removed_files_are_forgotten(tmp_path: Path, reads) -> None:
    kept, gone = tmp_path / "kept.csv", tmp_path / "gone.csv"
    for path in (kept, gone):
        path.write_text("email\ngil@example.com\n")
        _aged(path)
    _step(tmp_path, kept, gone)
    gone.unlink()
    _step(tmp_path, kept)
    assert list(json.loads((tmp_path / MEMO_FILE).read_text())["files"]) == ["kept.csv"]
    (tmp_path / MEMO_FILE).write_text('{"version": 1, "files": {"kept.csv": [1, 2]}}')
    assert _step(tmp_path, kept) == [_sha(kept)]
    assert reads == ["kept.csv", "gone.csv", "kept.csv"]


def test_files_outside_the_remembered_folders_are_hashed_once_per_step(
    tmp_path: Path, reads
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("email\nhal@example.com\n")
    _aged(outside)
    remembered = tmp_path / "exports"
    remembered.mkdir()
    for _ in range(2):
        checksums = FileChecksums(remember=(remembered,))
        assert checksums(outside) == checksums(outside) == _sha(outside)
        checksums.save()
    assert reads == ["outside.csv", "outside.csv"]
    assert not (remembered / MEMO_FILE).exists()


def test_the_fault_harness_catches_a_memo_that_vouches_for_other_bytes(tmp_path: Path) -> None:
    """The kill-and-rerun suite compares memos by soundness (no two runs share inodes and
    times): an entry that matches a file's stat but not its bytes is reported."""
    from cdp_assets_tests.fault.harness import checksum_memo_soundness

    export = tmp_path / "full.csv"
    export.write_text("email\nivy@example.com\n")
    _aged(export)
    _step(tmp_path, export)
    assert checksum_memo_soundness(tmp_path / MEMO_FILE) == "sound"
    memo = json.loads((tmp_path / MEMO_FILE).read_text())
    memo["files"]["full.csv"][4] = "0" * 64
    (tmp_path / MEMO_FILE).write_text(json.dumps(memo))
    assert checksum_memo_soundness(tmp_path / MEMO_FILE) == ["full.csv"]
