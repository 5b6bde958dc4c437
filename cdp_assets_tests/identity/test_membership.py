import numpy as np
import pandas as pd

from cdp_assets.identity.membership import string_isin, string_positions


def test_string_isin_answers_as_series_isin() -> None:
    values = pd.Series(["record|a|1", "ids|b|x", None, "anon|c|2"], dtype="string")
    for wanted in (
        {"record|a|1", "anon|c|2"},
        pd.Series(["ids|b|x", None], dtype="string"),
        np.array(["nothing"], dtype=object),
        set(),
    ):
        expected = values.isin(wanted).to_numpy(dtype=bool)
        np.testing.assert_array_equal(string_isin(values, wanted), expected)


def test_string_isin_of_nothing_is_empty() -> None:
    assert string_isin(pd.Series([], dtype="string"), ["a"]).shape == (0,)


def test_string_positions_finds_the_first_occurrence() -> None:
    values = pd.Series(["b", "x", None, "a"], dtype="string")
    wanted = pd.Series(["a", "b", "a", None], dtype="string")
    np.testing.assert_array_equal(string_positions(values, wanted), [1, -1, 3, 0])
    np.testing.assert_array_equal(string_positions(values, []), [-1, -1, -1, -1])
