"""Stock on hand at the end date: one count per product and location (each store, and the
online warehouse as an empty store_id) that sold the product in the last year.

On-hand units are the location's recent weekly sales of the product times a weeks-of-cover
draw: most lines have a few weeks of cover (log-normal around 6 weeks), about one in ten is
nearly out (under 1.5 weeks), about one in twelve is overstocked (20-40 weeks), and a few are
already at zero. Counts are taken at 22:00 UTC on the end date.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cdp_assets.demo.catalogue import Catalogue
from cdp_assets.demo.commerce import Orders
from cdp_assets.demo.places import STORES
from cdp_assets.demo.settings import DemoSettings

INVENTORY_FILE = "inventory/stock_{end_date}.csv"
RECENT_DAYS = 28  # the sales rate the stock was planned on
LISTED_DAYS = 365  # a location lists the products it sold within this many days
NEARLY_OUT, OVERSTOCKED, EMPTY = 0.10, 0.08, 0.02


def _cover_weeks(rng: np.random.Generator, n: int) -> np.ndarray:
    u = rng.random(n)
    usual = rng.lognormal(np.log(6.0), 0.45, n)
    nearly_out = rng.uniform(0.1, 1.5, n)
    overstocked = rng.uniform(20.0, 40.0, n)
    cover = np.where(u < NEARLY_OUT, nearly_out, usual)
    cover = np.where((u >= NEARLY_OUT) & (u < NEARLY_OUT + OVERSTOCKED), overstocked, cover)
    return np.where(u >= 1 - EMPTY, 0.0, cover)


def stock_counts(
    rng: np.random.Generator, orders: Orders, catalogue: Catalogue, settings: DemoSettings
) -> pd.DataFrame:
    """The inventory file's rows: product_id, store_id (empty online), on_hand, counted_at."""
    day = orders.second[orders.item_order] // 86_400
    location = orders.store[orders.item_order]  # -1: the online warehouse
    listed = day > settings.end_day - LISTED_DAYS
    recent = day > settings.end_day - RECENT_DAYS
    key = (location + 1) * len(catalogue) + orders.item_product
    keys = np.unique(key[listed])
    units = pd.Series(orders.item_quantity[recent], index=key[recent]).groupby(level=0).sum()
    weekly = units.reindex(keys, fill_value=0).to_numpy(float) / (RECENT_DAYS / 7)
    on_hand = np.round(weekly * _cover_weeks(rng, len(keys))).astype(np.int64)
    # A line that sold nothing lately still holds a few units on the shelf.
    on_hand = np.where(weekly == 0, rng.integers(0, 6, len(keys)), on_hand)
    store_ids = np.array([""] + [s.store_id for s in STORES], dtype=object)
    product_ids = np.array(catalogue.product_id, dtype=object)
    return pd.DataFrame(
        {
            "product": product_ids[keys % len(catalogue)],
            "store": store_ids[keys // len(catalogue)],
            "on_hand": on_hand,
            "as_of": f"{settings.end_date.isoformat()}T22:00:00Z",
        }
    )


def write_inventory(
    rng: np.random.Generator,
    orders: Orders,
    catalogue: Catalogue,
    settings: DemoSettings,
    landing: Path,
) -> int:
    """Writes the inventory file under `landing`; returns its row count."""
    path = landing / INVENTORY_FILE.format(end_date=settings.end_date.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = stock_counts(rng, orders, catalogue, settings)
    frame.to_csv(path, index=False, lineterminator="\n")
    return len(frame)
