"""Point-in-time training sets: features as of past cutoffs, labels from the window after.

A cutoff is a date; its features are `customer_features(as_of=cutoff)`, which read only facts
strictly before UTC midnight after the cutoff day (the cutoff *instant*). Its label reads the
facts in `[cutoff instant, cutoff instant + horizon)`, so nothing a label sees reaches the
features of the same row.

Cutoffs (`cutoff_dates`): the latest is `as_of - horizon`, the last date whose label window
has fully happened; it is the holdout. The training cutoffs come before it, the latest of
them `holdout_gap_days` (default: one horizon) earlier, so that every training label is known
by the holdout cutoff: a model evaluated on the holdout has seen nothing of its future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence

import numpy as np
import pandas as pd

from cdp_assets.analytics.features import AsOf, customer_features, existing_core_tables
from cdp_assets.config import ChurnConfig, LeadsConfig, LtvConfig
from cdp_assets.warehouse import TableRef, WarehouseSession

LABEL = "label"
CUTOFF = "cutoff"

# Features the models read. Profile fields (loyalty tier and points, consents) are left out:
# the golden profile holds their current value, which may have changed after a cutoff (a
# loyalty card signed at the first purchase would leak the lead label).
# Web engagement, service and survey figures: what both churn and lead scores read.
ENGAGEMENT_FEATURES: tuple[str, ...] = (
    "sessions_30d",
    "sessions_90d",
    "product_views_30d",
    "product_views_90d",
    "add_to_carts_30d",
    "add_to_carts_90d",
    "abandoned_carts_30d",
    "abandoned_carts_90d",
    "hours_since_abandoned_cart",
    "tickets_90d",
    "tickets_total",
    "unresolved_tickets",
    "sla_breaches",
    "latest_nps",
    "latest_csat",
)
# Recency and tenure in whole weeks and 30-day months rather than days: the boosted trees
# split day counts at nearly every day where buyers are dense, so each new analysis date moved
# 65 % of the buyers to another cell and their reasons were computed again every night; in
# weeks and months 16 % move, with the same holdout accuracy (bench/churn_day_steps.py).
CHURN_FEATURES: tuple[str, ...] = (
    "recency_weeks",
    "frequency",
    "monetary",
    "average_order_value",
    "tenure_months",
    "mean_days_between_orders",
    "std_days_between_orders",
    "cancelled_orders",
    "category_count",
    "top_category_share",
    "web_orders",
    "app_orders",
    "store_orders",
    "store_share",
    *ENGAGEMENT_FEATURES,
)
LEAD_FEATURES: tuple[str, ...] = ("days_known", "cancelled_orders", *ENGAGEMENT_FEATURES)

# (session, cutoff, features at the cutoff, existing core tables) -> the population's rows of
# the features (extra columns allowed) with a 0/1 `label` column.
LabelFn = Callable[[WarehouseSession, dt.date, pd.DataFrame, Collection[str]], pd.DataFrame]


# -- cutoffs ---------------------------------------------------------------------------------


def cutoff_dates(
    as_of: dt.date,
    horizon_days: int,
    n: int,
    spacing_days: int,
    holdout_gap_days: int | None = None,
) -> list[dt.date]:
    """`n` cutoffs, oldest first; the last (the holdout) is `as_of - horizon_days`.

    The n - 1 training cutoffs are `spacing_days` apart, the latest of them
    `holdout_gap_days` (default `horizon_days`) before the holdout. Pass 0 for evenly spaced
    cutoffs whose training labels may overlap the holdout's future.
    """
    if n < 1:
        raise ValueError("at least one cutoff is needed")
    if horizon_days < 1 or spacing_days < 1:
        raise ValueError("horizon_days and spacing_days must be positive")
    gap = horizon_days if holdout_gap_days is None else holdout_gap_days
    holdout = as_of - dt.timedelta(days=horizon_days)
    first_training = holdout - dt.timedelta(days=gap if gap > 0 else spacing_days)
    training = [first_training - dt.timedelta(days=k * spacing_days) for k in range(n - 1)]
    return sorted(training) + [holdout]


def config_cutoffs(as_of: dt.date, config: ChurnConfig | LeadsConfig | LtvConfig) -> list[dt.date]:
    """The cutoffs of a model's settings: `training_cutoffs` of them plus the holdout."""
    return cutoff_dates(
        as_of, config.horizon_days, config.training_cutoffs + 1, config.cutoff_spacing_days
    )


def cutoff_instant(cutoff: dt.date) -> pd.Timestamp:
    """UTC midnight after `cutoff`: the first instant that is not in its features."""
    return pd.Timestamp(AsOf(cutoff).cutoff)


# -- labels ----------------------------------------------------------------------------------


def purchasers_in_window(
    session: WarehouseSession, cutoff: dt.date, horizon_days: int, tables: Collection[str]
) -> set[str]:
    """Customers with a purchase in `[cutoff instant, cutoff instant + horizon_days)`."""
    if "orders" not in tables:
        return set()
    at = AsOf(cutoff)
    found = session.query(
        f"SELECT DISTINCT customer_id FROM {TableRef('core', 'orders').sql} "
        f"WHERE is_purchase AND customer_id IS NOT NULL AND ordered_at >= {at.instant()} "
        f"AND ordered_at < {at.instant(-horizon_days)}"
    )
    return set(found["customer_id"].astype(str))


def churn_labels(horizon_days: int) -> LabelFn:
    """Customers with a purchase by the cutoff; label 1 when none follows within the horizon."""

    def label(
        session: WarehouseSession,
        cutoff: dt.date,
        features: pd.DataFrame,
        tables: Collection[str],
    ) -> pd.DataFrame:
        buyers = features[features["frequency"] > 0].copy()
        bought = purchasers_in_window(session, cutoff, horizon_days, tables)
        buyers[LABEL] = (~buyers["customer_id"].isin(bought)).astype(np.int8)
        return buyers

    return label


def first_seen(session: WarehouseSession) -> pd.DataFrame:
    """customer_id, first_seen (UTC) from core.customer_profiles (empty when not published)."""
    ref = TableRef("core", "customer_profiles")
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="string"),
            "first_seen": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )
    if not session.table_exists(ref) or "first_seen" not in session.columns(ref):
        return empty
    seen = session.query(f"SELECT customer_id, first_seen FROM {ref.sql}")
    seen["first_seen"] = pd.to_datetime(seen["first_seen"], utc=True)
    return seen


def with_days_known(features: pd.DataFrame, seen: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """`features` plus `days_known`: days from first_seen to the end of `as_of` (NaN when
    unknown; negative when first seen later)."""
    frame = features.copy()
    # A join, not Series.map: map cannot take an empty datetime mapping (no profiles yet).
    known = seen.drop_duplicates("customer_id").set_index("customer_id")["first_seen"]
    when = known.reindex(frame["customer_id"].astype(seen["customer_id"].dtype)).to_numpy()
    delta = cutoff_instant(as_of) - pd.to_datetime(pd.Series(when, index=frame.index), utc=True)
    frame["days_known"] = delta.dt.total_seconds().to_numpy(dtype=np.float64) / 86_400.0
    return frame


def lead_labels(horizon_days: int) -> LabelFn:
    """People first seen before the cutoff who had bought nothing by it; label 1 when their
    first purchase falls within the horizon."""

    def label(
        session: WarehouseSession,
        cutoff: dt.date,
        features: pd.DataFrame,
        tables: Collection[str],
    ) -> pd.DataFrame:
        frame = with_days_known(features, first_seen(session), cutoff)
        leads = frame[(frame["frequency"] == 0) & (frame["days_known"] > 0)].copy()
        bought = purchasers_in_window(session, cutoff, horizon_days, tables)
        leads[LABEL] = leads["customer_id"].isin(bought).astype(np.int8)
        return leads

    return label


# -- snapshots -------------------------------------------------------------------------------


def training_snapshots(
    session: WarehouseSession,
    cutoffs: Sequence[dt.date],
    label_fn: LabelFn,
    sla_hours: float = 24.0,
    tables: Collection[str] | None = None,
) -> pd.DataFrame:
    """The labelled population of every cutoff, stacked, with a `cutoff` column (a date).

    Rows are in the order of their content (features and label, then customer_id): customer
    ids are numbered over the whole identity graph, so a warehouse holding later data numbers
    the same people differently, and a model whose fit depends on row order (cross-validation
    folds, tie-breaking) would then differ for the same past date.

    The cutoffs are kept in `frame.attrs["cutoffs"]` so that an empty holdout is told
    apart from a missing one (see `split_holdout`).
    """
    if tables is None:
        tables = existing_core_tables(session)
    parts = []
    for cutoff in sorted(cutoffs):
        features = customer_features(session, cutoff, sla_hours, tables)
        rows = label_fn(session, cutoff, features, tables)
        rows.insert(0, CUTOFF, cutoff)
        parts.append(in_content_order(rows))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[CUTOFF, LABEL])
    frame.attrs["cutoffs"] = sorted(cutoffs)
    return frame


def in_content_order(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` sorted by their values (customer_id last), with a fresh index: an order that does
    not depend on how customer ids were numbered."""
    content = [c for c in rows.columns if c != "customer_id"]
    order = content + (["customer_id"] if "customer_id" in rows.columns else [])
    return rows.sort_values(order, na_position="last", kind="mergesort", ignore_index=True)


def snapshot_cutoffs(snapshots: pd.DataFrame) -> list[dt.date]:
    """The cutoffs a snapshot frame was built for, oldest first."""
    listed = snapshots.attrs.get("cutoffs")
    if listed:
        return sorted(listed)
    return sorted(set(snapshots[CUTOFF])) if len(snapshots) else []


def split_holdout(
    snapshots: pd.DataFrame, holdout_cutoff: dt.date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout rows): the holdout is the latest cutoff unless given."""
    cutoffs = snapshot_cutoffs(snapshots)
    if holdout_cutoff is None:
        if not cutoffs:
            return snapshots.iloc[0:0], snapshots.iloc[0:0]
        holdout_cutoff = cutoffs[-1]
    is_holdout = snapshots[CUTOFF] == holdout_cutoff
    later = snapshots[CUTOFF] > holdout_cutoff
    return snapshots[~is_holdout & ~later], snapshots[is_holdout]


def model_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The named columns as a float64 matrix; nulls (and absent columns) become NaN."""
    matrix = np.full((len(frame), len(columns)), np.nan, dtype=np.float64)
    for j, column in enumerate(columns):
        if column in frame.columns:
            values = frame[column]
            if isinstance(values.dtype, pd.BooleanDtype) or values.dtype == bool:
                values = values.astype("Float64")
            matrix[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    return matrix
