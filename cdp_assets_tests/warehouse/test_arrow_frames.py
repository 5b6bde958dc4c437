"""DuckDB results read through Arrow have the frames DuckDB's `.df()` gives, to the dtype."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cdp_assets.warehouse import Warehouse, dispose_engines
from cdp_assets.warehouse.arrow_frames import arrow_readable, frame_of_arrow

ROWS = """SELECT * FROM (VALUES
  (1, 1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UBIGINT, true, 1.5::FLOAT, 2.5::DOUBLE,
   'text', NULL::VARCHAR, DATE '2024-02-29', TIMESTAMP '2024-01-02 03:04:05.123456',
   TIMESTAMPTZ '2024-01-02 03:04:05+02'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(id, tiny, small, int_, big, ubig, flag, flt, dbl, txt, nothing, day, ts, tstz)"""

QUERIES = {
    "every handled type, with nulls": ROWS,
    "no nulls: plain numpy dtypes": f"SELECT * FROM ({ROWS}) WHERE id = 1",
    "empty result": f"SELECT * FROM ({ROWS}) WHERE false",
    "a million rows of text": "SELECT i, 'customer-' || i AS id, "
    "CASE WHEN i % 7 = 0 THEN NULL ELSE 'x' || (i % 13) END AS tag FROM range(1000000) r(i)",
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_the_arrow_frame_equals_duckdbs_df(query: str) -> None:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    relation = connection.sql(query)
    assert arrow_readable([str(t) for t in relation.types], relation.columns)
    pd.testing.assert_frame_equal(
        frame_of_arrow(relation.to_arrow_table()), connection.execute(query).df()
    )


def test_other_types_are_left_to_df(tmp_path: Path) -> None:
    """Decimals, huge integers, lists and repeated names are read by `.df()` (decimals as
    float64, as ever); the warehouse's query gives the same either way, parameters included."""
    query = "SELECT 1.5::DECIMAL(38, 9) AS amount, 7::HUGEINT AS huge, [1, 2] AS list, $n AS n"
    connection = duckdb.connect()
    relation = connection.sql(query, params={"n": 3})
    assert not arrow_readable([str(t) for t in relation.types], relation.columns)
    repeated = connection.sql("SELECT 1 AS x, 2 AS x")
    assert not arrow_readable([str(t) for t in repeated.types], repeated.columns)
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with warehouse.transaction() as session:
        frame = session.query(query.replace("$n", ":n"), {"n": 3})
        plain = session.query("SELECT :n AS n, 'a' AS s", {"n": 3})
        repeated = session.query("SELECT 1 AS x, 2 AS x")
    dispose_engines()
    assert frame["amount"].dtype == "float64" and frame.loc[0, "amount"] == 1.5
    assert frame.loc[0, "list"].tolist() == [1, 2] and frame.loc[0, "n"] == 3
    assert plain.to_dict("records") == [{"n": 3, "s": "a"}]
    assert list(repeated.columns) == ["x", "x_1"]  # as `.df()` names them
