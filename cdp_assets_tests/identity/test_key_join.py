import numpy as np
import pandas as pd
import pytest

from cdp_assets.identity import key_join
from cdp_assets.identity.key_join import outer_join_rows

KEY = ["source", "ref"]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    left = pd.DataFrame(
        {"source": ["a", "a", "b", "b", None], "ref": ["1", "2", None, "3", "9"]}, dtype="string"
    )
    right = pd.DataFrame(
        {"source": ["b", "a", "c", None, "a"], "ref": [None, "2", "7", "9", "2"]}, dtype="string"
    )
    return left, right


def _expected(left: pd.DataFrame, right: pd.DataFrame) -> set[tuple[int, int]]:
    merged = left.assign(left=range(len(left))).merge(
        right.assign(right=range(len(right))), on=KEY, how="outer"
    )
    return {
        (int(a), int(b))
        for a, b in zip(merged["left"].fillna(-1), merged["right"].fillna(-1), strict=True)
    }


def _pairs(rows: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(rows["left"].tolist(), rows["right"].tolist(), strict=True))


def test_outer_join_rows_is_the_outer_merge_by_position() -> None:
    left, right = _frames()
    rows = outer_join_rows(left, right, KEY)
    assert _pairs(rows) == _expected(left, right)
    assert (1, 1) in _pairs(rows) and (1, 4) in _pairs(rows)  # a key twice on one side
    assert (2, 0) in _pairs(rows) and (4, 3) in _pairs(rows)  # nulls join nulls
    assert len(rows) == len(_expected(left, right))


def test_hashes_that_collide_fall_back_to_the_exact_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    left, right = _frames()
    monkeypatch.setattr(key_join, "_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    rows = outer_join_rows(left, right, KEY)
    assert _pairs(rows) == _expected(left, right)
    assert len(rows) == len(_expected(left, right))


def test_nothing_on_either_side() -> None:
    left, right = _frames()
    rows = outer_join_rows(left.iloc[:0], right, KEY)
    assert _pairs(rows) == {(-1, i) for i in range(len(right))}
