"""The demo's history length: `--history-days` (and `generate_demo(history_days=...)`) decides
how far back the orders go; the default stays HISTORY_DAYS."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from cdp_assets.demo import generate_demo
from cdp_assets.demo.__main__ import main
from cdp_assets.demo.settings import HISTORY_DAYS, MIN_HISTORY_DAYS, DemoSettings

END = dt.date(2026, 11, 20)
PEOPLE = 200
# Orders start when the history does (legacy customers buy from its first day); with a few
# hundred people the earliest one falls within a few weeks of it.
SLACK_DAYS = 45


def order_days(data: Path) -> pd.Series:
    """The day of every shop order and store sale in the landing files, leaving out the values
    the ground truth lists as injected defects (future and early dates, unparseable ones)."""
    landing = data / "landing"
    defects = pd.read_csv(data / "ground_truth" / "defects.csv", dtype=str, keep_default_na=False)
    injected = set(defects.loc[defects["source"].isin(["shop_orders", "pos_sales"]), "value"])
    parts = [
        pd.read_csv(f, dtype=str, usecols=[column])[column]
        for pattern, column in (("shop/orders/*.csv", "ordered_at"), ("pos/sales/*.csv", "sold_at"))
        for f in sorted(landing.glob(pattern))
    ]
    values = pd.concat(parts, ignore_index=True).dropna()
    text = values[~values.isin(injected)].str.slice(0, 10)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").dropna().dt.date


def test_cli_history_days_reach_back_that_far(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data"
    args = ["--people", str(PEOPLE), "--seed", "5", "--end-date", END.isoformat()]
    main([*args, "--history-days", "1095", "--out", str(out)])
    assert "1095 days to 2026-11-20" in capsys.readouterr().out
    days = order_days(out)
    start = END - dt.timedelta(days=1095)
    assert start <= days.min() <= start + dt.timedelta(days=SLACK_DAYS)
    assert END - dt.timedelta(days=SLACK_DAYS) <= days.max() <= END
    readme = (out / "ground_truth" / "README.md").read_text(encoding="utf-8")
    assert "--history-days 1095" in readme and f"from {start} to {END}" in readme


def test_default_history_is_unchanged(tmp_path: Path) -> None:
    assert DemoSettings().history_days == HISTORY_DAYS == 730
    generate_demo(people=PEOPLE, seed=5, end_date=END, out=tmp_path / "data")
    days = order_days(tmp_path / "data")
    start = END - dt.timedelta(days=HISTORY_DAYS)
    assert start <= days.min() <= start + dt.timedelta(days=SLACK_DAYS)


def test_a_short_history_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--history-days", str(MIN_HISTORY_DAYS - 1), "--out", "unused"])
    assert exit_info.value.code == 2
    assert f"at least {MIN_HISTORY_DAYS}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--history-days", "three years", "--out", "unused"])
    with pytest.raises(ValueError, match="history_days"):
        DemoSettings(history_days=MIN_HISTORY_DAYS - 1)
