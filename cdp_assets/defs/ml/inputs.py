"""What the model assets read from the warehouse: the features a model scores, the orders the
purchase models fit."""

from collections.abc import Sequence

import pandas as pd

from cdp_assets.contracts.features import FEATURE_DTYPES
from cdp_assets.defs.catalog import FEATURES, ORDERS_KEY, table_ref
from cdp_assets.warehouse import WarehouseSession


class StaleFeatures(ValueError):
    """The features table lacks a column the promoted model reads."""


def features_for(session: WarehouseSession, reads: Sequence[str], model: str) -> pd.DataFrame:
    """`analytics.customer_features` for a model that reads the columns `reads`. Raises
    StaleFeatures when the table lacks one of them that its contract has: a table built by an
    earlier version of the platform than the model's would otherwise be read with that column
    null for everyone, and every score would be wrong without a word."""
    if session.table_exists(FEATURES):
        present = set(session.columns(FEATURES))
        # only the table's own columns: a scorer derives others (the leads' days_known)
        missing = [name for name in reads if name in FEATURE_DTYPES and name not in present]
        if missing:
            raise StaleFeatures(
                f"{model}: {FEATURES} has no column {', '.join(missing)}, which the promoted "
                "model reads: the table was built by an earlier version of the platform. "
                "Materialize analytics/customer_features first (nightly_refresh does), then "
                "score again."
            )
    return session.read_table(FEATURES, dtypes=FEATURE_DTYPES)


def resolved_orders(session: WarehouseSession) -> pd.DataFrame:
    """The orders of resolved customers (core.orders): what the purchase models fit."""
    return session.query(
        "SELECT customer_id, ordered_at, net_amount_base, is_purchase "
        f"FROM {table_ref(ORDERS_KEY).sql} WHERE customer_id IS NOT NULL"
    )
