"""`python -m cdp_assets.demo --extra-day`: one more day after the end date, as new files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from cdp_assets.demo.__main__ import main
from cdp_assets.demo.extra_day import add_extra_day
from cdp_assets.demo.generate import generate_demo

END = dt.date(2026, 11, 20)
DAY = "2026-11-21"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(600, 7, END, out, history_days=120)
    return out


def _csv(path: Path) -> pd.DataFrame:
    """A landing CSV as text (the demo's malformed lines and other encodings skipped)."""
    return pd.read_csv(
        path, dtype=str, keep_default_na=False, on_bad_lines="skip", encoding="latin-1"
    )


def _all_csv(folder: Path) -> pd.DataFrame:
    return pd.concat([_csv(p) for p in sorted(folder.glob("*.csv"))], ignore_index=True)


def _data_rows(folder: Path) -> int:
    """Lines of the folder's CSV files, less their header lines."""
    return sum(p.read_bytes().count(b"\n") - 1 for p in folder.glob("*.csv"))


def _landing_copy(demo: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(demo / "landing", tmp_path / "landing")
    return tmp_path


def test_extra_day_adds_about_one_percent_dated_the_next_day(demo: Path, tmp_path: Path) -> None:
    out = _landing_copy(demo, tmp_path)
    landing = out / "landing"
    old_orders = _all_csv(landing / "shop" / "orders")
    old_accounts = _all_csv(landing / "shop" / "accounts")
    order_rows = _data_rows(landing / "shop" / "orders")
    account_rows = _data_rows(landing / "shop" / "accounts")
    summary = add_extra_day(out, 7, END)

    orders = _csv(landing / "shop" / "orders" / f"orders_{DAY}.csv")
    assert len(orders) == round(0.01 * order_rows) > 0
    assert orders["ordered_at"].str.startswith(DAY).all()
    assert not set(orders["order_number"]) & set(old_orders["order_number"])
    assert orders["order_number"].is_unique
    items = _csv(landing / "shop" / "order_items" / f"items_{DAY}.csv")
    assert set(items["order_id"]) <= set(orders["order_number"]) and len(items) > 0

    events_path = landing / "web" / "events" / f"events_{DAY}.jsonl"
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    assert all(e["timestamp"].startswith(DAY) for e in events)
    assert len({e["event_id"] for e in events}) == len(events)

    accounts = _csv(landing / "shop" / "accounts" / f"accounts_{DAY}.csv")
    known = set(old_accounts["account_id"])
    new = accounts[~accounts["account_id"].isin(known)]
    changed = accounts[accounts["account_id"].isin(known)]
    assert len(new) == len(changed) == round(0.005 * account_rows) > 0
    assert new["created_at"].str.startswith(DAY).all()
    assert not set(new["email"]) & set(old_accounts["email"])
    # A changed record is a new version: no earlier version of the account has its values.
    earlier = set(map(tuple, old_accounts[list(accounts.columns)].itertuples(index=False)))
    assert not any(row in earlier for row in changed.itertuples(index=False, name=None))
    assert sum(summary.rows.values()) == len(orders) + len(items) + len(events) + len(accounts)


def test_extra_day_is_deterministic_and_replaces_its_own_files(demo: Path, tmp_path: Path) -> None:
    first = _landing_copy(demo, tmp_path / "a")
    second = _landing_copy(demo, tmp_path / "b")
    add_extra_day(first, 7, END)
    add_extra_day(second, 7, END)
    add_extra_day(second, 7, END)  # again: the same files, not a second day's worth
    for path in sorted((first / "landing").rglob(f"*_{DAY}.*")):
        twin = second / "landing" / path.relative_to(first / "landing")
        assert path.read_bytes() == twin.read_bytes(), path.name
    assert len(list((second / "landing").rglob(f"*_{DAY}.*"))) == 4


def test_extra_day_without_a_demo_is_a_clear_error(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        main(["--extra-day", "--out", str(tmp_path / "nothing")])
    assert "no demo landing folder" in capsys.readouterr().err


def test_extra_day_draws_only_on_the_demo_own_monthly_files(demo: Path, tmp_path: Path) -> None:
    """Other files with a month in their name (a re-delivery of a few people's lines, as
    `bench/erasure.py` lands) are not the demo's history: one more day must not be drawn
    from them alone."""
    out = _landing_copy(demo, tmp_path)
    orders_dir = out / "landing" / "shop" / "orders"
    events_dir = out / "landing" / "web" / "events"
    latest_orders = sorted(orders_dir.glob("orders_????-??.csv"))[-1]
    few = _csv(latest_orders).head(2)
    few.to_csv(orders_dir / "again_orders_2026-12.csv", index=False)
    latest_events = sorted(events_dir.glob("events_????-??.jsonl"))[-1]
    first_line = latest_events.read_text(encoding="utf-8").splitlines()[0]
    (events_dir / "again_events_2026-12.jsonl").write_text(first_line + "\n", encoding="utf-8")

    add_extra_day(out, 7, END)

    orders = _csv(orders_dir / f"orders_{DAY}.csv")
    assert orders["email"].nunique() > 2
    events = (events_dir / f"events_{DAY}.jsonl").read_text(encoding="utf-8").splitlines()
    assert len({json.loads(line).get("anonymous_id") for line in events}) > 1
