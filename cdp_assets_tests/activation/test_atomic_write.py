"""activation.atomic: readers see the old or the new file, never a half or missing one."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cdp_assets.activation.atomic import (
    write_atomically,
    write_bytes_atomically,
    write_json_atomically,
)

SIZE = 4 * 1024 * 1024  # large enough that a non-atomic write would be seen half-done


def test_reader_sees_only_complete_old_or_new_contents(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    contents = (b"a" * SIZE, b"b" * (SIZE - 1) + b"\n")
    write_bytes_atomically(path, contents[0])
    stop = threading.Event()
    seen: dict[str, int] = {"old": 0, "new": 0}
    problems: list[str] = []

    def read_loop() -> None:
        while not stop.is_set():
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                problems.append("missing")
                continue
            if data == contents[0]:
                seen["old"] += 1
            elif data == contents[1]:
                seen["new"] += 1
            else:
                problems.append(f"partial read of {len(data)} bytes")

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for i in range(40):
            # writing through a slow callback leaves the half-written file on the temp path only
            def write(temporary: Path, data: bytes = contents[(i + 1) % 2]) -> None:
                with temporary.open("wb") as handle:
                    for start in range(0, len(data), 256 * 1024):
                        handle.write(data[start : start + 256 * 1024])
                        handle.flush()

            write_atomically(path, write)
    finally:
        stop.set()
        reader.join()
    assert problems == []
    assert seen["old"] + seen["new"] > 0
    assert path.read_bytes() == contents[0]  # 40 writes: ends on the first content again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


def test_failing_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    write_bytes_atomically(path, b"old\n")

    def failing(temporary: Path) -> None:
        temporary.write_bytes(b"half a fi")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomically(path, failing)
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_failing_first_write_creates_nothing(tmp_path: Path) -> None:
    def failing(temporary: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "new.json", failing)
    assert list(tmp_path.iterdir()) == []


def test_temporary_file_is_hidden_and_in_the_same_folder(tmp_path: Path) -> None:
    seen: list[Path] = []
    write_atomically(tmp_path / "sub" / "x.txt", lambda t: (seen.append(t), t.write_text("x")))
    assert seen[0].parent == tmp_path / "sub"
    assert seen[0].name.startswith(".")
    assert (tmp_path / "sub" / "x.txt").read_text() == "x"


def test_json_is_sorted_and_indented(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json_atomically(path, {"b": 1, "a": {"d": None, "c": "é"}})
    assert path.read_text(encoding="utf-8") == (
        '{\n  "a": {\n    "c": "é",\n    "d": null\n  },\n  "b": 1\n}\n'
    )
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": 1, "a": {"d": None, "c": "é"}}
