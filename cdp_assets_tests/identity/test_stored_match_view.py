"""An incremental resolution writes only the rows of the stored match view
(`core.identity_match_records`) that differ, and the table it leaves is the one writing the
view whole leaves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdp_assets.defs.identity.resolution import STORED_VIEW_DTYPES
from cdp_assets.identity.changed_records import (
    MATCH_VIEW_DTYPES,
    record_changes,
    stored_view_changes,
)

KEY = ["source", "record_id"]


def _stored(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in STORED_VIEW_DTYPES:
        if column not in frame:
            frame[column] = None
    frame["rows_written"] = len(frame)
    return frame[list(STORED_VIEW_DTYPES)].astype(STORED_VIEW_DTYPES)


def _row(record_id: str, street: str, customer: str, record_hash: int) -> dict[str, object]:
    return {
        "source": "shop",
        "record_id": record_id,
        "first_name": "Ada",
        "last_name": f"Lovelace{record_id}",
        "street": street,
        "birth_date": pd.Timestamp("1980-01-02"),
        "customer_id": customer,
        "record_hash": record_hash,
    }


def _applied(previous: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    """The stored table after the incremental write: deletions, insertions, row count."""
    changes = record_changes(now[list(MATCH_VIEW_DTYPES)], previous[list(MATCH_VIEW_DTYPES)])
    written = stored_view_changes(now, previous, changes)
    assert written is not None
    gone = previous[KEY].merge(written.delete.assign(_gone=True), on=KEY, how="left")["_gone"]
    table = pd.concat([previous[gone.isna().to_numpy()], written.insert], ignore_index=True)
    table["rows_written"] = written.rows_written
    return table.astype(STORED_VIEW_DTYPES)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY, ignore_index=True)


def _previous() -> pd.DataFrame:
    return _stored([_row(f"r{i}", f"{i} Elm Road", f"C{i}", 100 + i) for i in range(6)])


def test_one_changed_row_is_the_only_row_written() -> None:
    previous = _previous()
    rows = [_row(f"r{i}", f"{i} Elm Road", f"C{i}", 100 + i) for i in range(6)]
    rows[3] = _row("r3", "3 Elm Road b", "C3", 999)
    now = _stored(rows).iloc[::-1].reset_index(drop=True)  # any row order
    changes = record_changes(now[list(MATCH_VIEW_DTYPES)], previous[list(MATCH_VIEW_DTYPES)])
    written = stored_view_changes(now, previous, changes)
    assert written is not None
    assert written.insert["record_id"].tolist() == ["r3"]
    assert written.insert["street"].tolist() == ["3 Elm Road b"]
    assert written.delete.to_dict("records") == [{"source": "shop", "record_id": "r3"}]
    pd.testing.assert_frame_equal(_sorted(_applied(previous, now)), _sorted(now))


def test_new_removed_and_reassigned_rows_are_written_and_the_rest_kept() -> None:
    previous = _previous()
    rows = [_row(f"r{i}", f"{i} Elm Road", f"C{i}", 100 + i) for i in range(6) if i != 4]
    rows[1]["customer_id"] = "C0"  # merged into C0: same view, another customer
    rows[2]["record_hash"] = 7  # a field the matcher does not read changed (loyalty id)
    rows.append(_row("r9", "9 Elm Road", "C0", 109))
    now = _stored(rows)
    changes = record_changes(now[list(MATCH_VIEW_DTYPES)], previous[list(MATCH_VIEW_DTYPES)])
    written = stored_view_changes(now, previous, changes)
    assert written is not None
    assert sorted(written.insert["record_id"]) == ["r1", "r2", "r9"]
    assert sorted(written.delete["record_id"]) == ["r1", "r2", "r4"]
    assert written.rows_written == 6
    pd.testing.assert_frame_equal(_sorted(_applied(previous, now)), _sorted(now))


def test_nothing_changed_writes_no_row() -> None:
    previous = _previous()
    changes = record_changes(previous[list(MATCH_VIEW_DTYPES)], previous)
    written = stored_view_changes(previous, previous, changes)
    assert written is not None and len(written.insert) == len(written.delete) == 0


def test_a_key_twice_writes_the_view_whole() -> None:
    previous = _previous()
    now = _stored([_row("r0", "0 Elm Road", "C0", 100)] * 2)
    changes = record_changes(now[list(MATCH_VIEW_DTYPES)], previous[list(MATCH_VIEW_DTYPES)])
    assert stored_view_changes(now, previous, changes) is None
    # Compared by key as before: both rows of r0 are one unchanged record.
    assert not changes.touched.any()
    assert sorted(changes.ghosts["record_id"]) == ["r1", "r2", "r3", "r4", "r5"]


def test_positions_match_the_key_comparison() -> None:
    """Touched records and ghosts found by row position are those found by key."""
    rng = np.random.default_rng(3)
    previous = _stored([_row(f"r{i}", f"{i} Elm", f"C{i}", i) for i in range(200)])
    rows = [
        _row(f"r{i}", f"{i} Elm" + (" b" if rng.random() < 0.1 else ""), f"C{i}", i)
        for i in range(200)
        if rng.random() > 0.05
    ]
    rows += [_row(f"n{i}", "1 Oak", "C1", i) for i in range(7)]
    now = _stored(rows).sample(frac=1, random_state=1).reset_index(drop=True)
    changes = record_changes(now[list(MATCH_VIEW_DTYPES)], previous[list(MATCH_VIEW_DTYPES)])
    old = dict(zip(previous["record_id"], previous["street"], strict=True))
    expected = [old.get(r) != s for r, s in zip(now["record_id"], now["street"], strict=True)]
    np.testing.assert_array_equal(changes.touched, np.array(expected))
    ghosts = set(previous["record_id"]) - {
        r for r, t in zip(now["record_id"], changes.touched, strict=True) if not t
    }
    assert set(changes.ghosts["record_id"]) == ghosts
    assert changes.ghosts["record_id"].tolist() == [
        r for r in previous["record_id"] if r in ghosts
    ]  # in the stored view's order
    pd.testing.assert_frame_equal(_sorted(_applied(previous, now)), _sorted(now))
