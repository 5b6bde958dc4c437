"""activation.audience_exports' figures: `rows_exported` counts the rows of the files written
by the run; the rows of unchanged exports (no file written) are shown apart."""

from __future__ import annotations

import pandas as pd

from cdp_assets.defs.activation.exports import EXPORT_LOG_DTYPES, export_figures
from cdp_assets.warehouse import coerce_frame


def _log(unchanged: list[bool | None], rows: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"unchanged": unchanged, "rows": rows})
    for column in EXPORT_LOG_DTYPES:
        if column not in frame:
            frame[column] = None
    return coerce_frame(frame[list(EXPORT_LOG_DTYPES)], EXPORT_LOG_DTYPES)


def test_rows_exported_are_those_of_the_files_written() -> None:
    log = _log([False, True, None, True], [1_000, 1_309, 440, 1_000])  # None: a new export

    assert export_figures(log, published=True) == {
        "files_written": 2,
        "rows_exported": 1_440,
        "rows_in_unchanged_exports": 2_309,
    }


def test_nothing_is_exported_when_the_checks_stop_publication() -> None:
    log = _log([False, True], [1_000, 1_309])

    assert export_figures(log, published=False) == {
        "files_written": 0,
        "rows_exported": 0,
        "rows_in_unchanged_exports": 1_309,  # published earlier, still in place
    }
    assert export_figures(_log([], []), published=True) == {
        "files_written": 0,
        "rows_exported": 0,
        "rows_in_unchanged_exports": 0,
    }
