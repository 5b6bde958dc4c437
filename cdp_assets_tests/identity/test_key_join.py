import numpy as np
import pandas as pd

from cdp_assets.identity.key_join import distinct_sorted, first_positions, outer_join_rows

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


def test_many_random_keys_give_the_outer_merge_in_row_order() -> None:
    rng = np.random.default_rng(7)
    values = np.array(["a", "b", "é", "", None], dtype=object)

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({column: rng.choice(values, n) for column in KEY}, dtype="string")

    left, right = frame(300), frame(200)
    rows = outer_join_rows(left, right, KEY)
    assert _pairs(rows) == _expected(left, right)
    assert len(rows) == len(_expected(left, right))  # every pair once, duplicates included
    ordered = rows.assign(left=rows["left"].where(rows["left"] >= 0, len(left)))
    assert ordered.equals(ordered.sort_values(["left", "right"]))


def test_nothing_on_either_side() -> None:
    left, right = _frames()
    rows = outer_join_rows(left.iloc[:0], right, KEY)
    assert _pairs(rows) == {(-1, i) for i in range(len(right))}


def test_first_positions_finds_the_first_row_with_the_key() -> None:
    left, right = _frames()
    found = first_positions(left, right, KEY)
    # a@1: none; a@2: rows 1 and 4 of right, the first; b@null: row 0; b@3: none; null@9: 3
    assert found.tolist() == [-1, 1, 0, -1, 3]
    assert first_positions(left.iloc[:0], right, KEY).tolist() == []
    assert first_positions(left, right.iloc[:0], KEY).tolist() == [-1] * len(left)


def test_distinct_sorted_is_drop_duplicates_then_sort_values() -> None:
    rng = np.random.default_rng(11)
    values = np.array(["Z", "z", "é", "e", "ß", "", "10", "9", None], dtype=object)
    frame = pd.DataFrame({column: rng.choice(values, 400) for column in KEY}, dtype="string")
    expected = frame.drop_duplicates().sort_values(KEY, ignore_index=True)
    got = distinct_sorted(frame, KEY)
    assert got.equals(expected.astype("string"))
    assert got["source"].dropna().unique().tolist()[:3] == ["", "10", "9"]  # code point order
